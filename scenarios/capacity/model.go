package capacity

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
)

// System is what the analytic model knows about the target: the HSM model
// of its signers, the portal's admission limit, and the per-pharmacy
// controls that may refuse a load spread over Pharmacies accounts.
type System struct {
	Signers    int
	HSMSlots   int           // per signer
	HSMLatency time.Duration // per signature
	// IssueConcurrency is the portal's admission limit on issuance (0:
	// none): at most that many requests in flight, each holding its slot
	// at least one signature long. Portals replicas each have their own
	// (0 is one portal).
	IssueConcurrency int
	Portals          int
	// Shed is true when a signer refuses a request at once while all its
	// slots are busy (the hardened signer) instead of queueing it; MaxLoss
	// is the share of requests the SLO lets fail (1 - min success).
	Shed    bool
	MaxLoss float64

	Pharmacies int
	// QuotaRate and QuotaBurst are the per-pharmacy quota (rate 0: off).
	QuotaRate  float64
	QuotaBurst int
	// SuspendAfter is the anomaly detector's volume floor, the requests
	// one pharmacy may make within SuspendWindow (wall time) before it is
	// suspended (0: suspension off or held out).
	SuspendAfter  int
	SuspendWindow time.Duration
}

// HSMRate is what the HSM model signs per second across all signers (0:
// no HSM model).
func (s System) HSMRate() float64 {
	if s.HSMLatency <= 0 || s.HSMSlots <= 0 {
		return 0
	}
	return float64(max(s.Signers, 1)*s.HSMSlots) / s.HSMLatency.Seconds()
}

// SheddingRate is what the signers carry when each sheds at full slots
// and at most MaxLoss of the requests may be refused: a loss system whose
// refusals follow Erlang B, so a replica of c slots carries A/latency where
// B(c, A) = MaxLoss. It ignores the portal's retry on another replica
// (which helps) and the Retry-After that takes a shedding replica out for a
// while (which hurts). 0 when the signers queue or there is no HSM model.
func (s System) SheddingRate() float64 {
	if !s.Shed || s.MaxLoss <= 0 || s.MaxLoss >= 1 || s.HSMLatency <= 0 || s.HSMSlots <= 0 {
		return 0
	}
	lo, hi := 0.0, float64(s.HSMSlots)
	for hi-lo > 1e-9*float64(s.HSMSlots) {
		if a := (lo + hi) / 2; ErlangB(s.HSMSlots, a) > s.MaxLoss {
			hi = a
		} else {
			lo = a
		}
	}
	return float64(max(s.Signers, 1)) * lo / s.HSMLatency.Seconds()
}

// ErlangB is the probability that all c servers are busy when A Erlangs of
// traffic are offered and refused requests are lost.
func ErlangB(c int, a float64) float64 {
	b := 1.0
	for k := 1; k <= c; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return b
}

// CPU is what the run's processes used during a step (CPU seconds and
// run-queue wait by part, other jobs' CPU); capacity.json's format owns it.
type CPU = rundir.CapacityCPU

// starvedRatio: processes that wait at least this long for a CPU per CPU
// second they get are starved; below it the CPU had room for them.
const starvedRatio = 0.25

// CPUCost is the measured CPU price of one request and the cores there
// were to pay it with.
type CPUCost = rundir.CapacityCPUCost

// Cost derives the CPU price of a request from a step and its CPU use;
// ok is false when nothing was measured.
func Cost(st Step, c CPU) (CPUCost, bool) {
	if st.Requests <= 0 || c.Wall <= 0 || len(c.Seconds) == 0 {
		return CPUCost{}, false
	}
	out := CPUCost{PerRequest: map[string]float64{}, AtRPS: st.Offered, Cores: c.Cores}
	for part, s := range c.Seconds {
		v := s / float64(st.Requests)
		out.PerRequest[part] = v
		out.Total += v
	}
	out.Available = max(float64(c.Cores)-c.Other/c.Wall, 0.1)
	return out, out.Total > 0
}

// Bound is one resource's analytic limit on the rate.
type Bound = rundir.CapacityBound

// Resources the model knows.
const (
	ResourceHSM        = "HSM"
	ResourceShedding   = "HSM slots (signers shed when full)"
	ResourceCPU        = "CPU"
	ResourceAdmission  = "portal admission limit"
	ResourceQuota      = "per-pharmacy quota"
	ResourceSuspension = "fraud anomaly suspension"
	ResourceGenerator  = "load generator"
	ResourceUnknown    = "unknown"
)

// Bounds lists every limit the model can compute, lowest first. cost may
// be nil (CPU not measured); step is the wall time of a step (for the
// controls, which count per pharmacy within a step).
func (s System) Bounds(cost *CPUCost, step time.Duration) []Bound {
	var out []Bound
	if r := s.HSMRate(); r > 0 {
		out = append(out, Bound{Resource: ResourceHSM, RPS: r,
			Basis: fmt.Sprintf("%d %s x %d slots / %s", max(s.Signers, 1), map[bool]string{true: "signer", false: "signers"}[s.Signers <= 1], s.HSMSlots, s.HSMLatency)})
	}
	if r := s.SheddingRate(); r > 0 {
		out = append(out, Bound{Resource: ResourceShedding, RPS: r,
			Basis: fmt.Sprintf("Erlang B: each signer refuses at most %s with %d slots at %.0f/s", pct(s.MaxLoss), s.HSMSlots, r/float64(max(s.Signers, 1)))})
	}
	if cost != nil && cost.Total > 0 {
		basis := fmt.Sprintf("%.1f free cores / %.2f ms CPU per request, measured at %.0f/s", cost.Available, cost.Total*1000, cost.AtRPS)
		if cost.Cores > 0 && float64(cost.Cores)-cost.Available > 0.2 {
			// Other jobs took part of the machine: what it would give
			// the run alone, at the same price per request.
			basis += fmt.Sprintf("; %.0f/s with all %d cores", float64(cost.Cores)/cost.Total, cost.Cores)
		}
		out = append(out, Bound{Resource: ResourceCPU, RPS: cost.Available / cost.Total, Basis: basis})
	}
	if s.IssueConcurrency > 0 && s.HSMLatency > 0 {
		portals := max(s.Portals, 1)
		basis := fmt.Sprintf("%d in flight / %s a signature at least", s.IssueConcurrency, s.HSMLatency)
		if portals > 1 {
			basis = fmt.Sprintf("%d portals x %s", portals, basis)
		}
		out = append(out, Bound{Resource: ResourceAdmission, RPS: float64(portals*s.IssueConcurrency) / s.HSMLatency.Seconds(),
			Basis: basis})
	}
	if s.Pharmacies > 0 && s.QuotaRate > 0 && step > 0 {
		r := float64(s.Pharmacies) * (s.QuotaRate + float64(s.QuotaBurst)/step.Seconds())
		out = append(out, Bound{Resource: ResourceQuota, RPS: r, Control: true,
			Basis: fmt.Sprintf("%d pharmacies x (%.4g/s + a burst of %d per %s step)", s.Pharmacies, s.QuotaRate, s.QuotaBurst, step)})
	}
	if s.Pharmacies > 0 && s.SuspendAfter > 0 && step > 0 {
		w := step
		if s.SuspendWindow > 0 && s.SuspendWindow < w {
			w = s.SuspendWindow
		}
		out = append(out, Bound{Resource: ResourceSuspension, RPS: float64(s.Pharmacies*s.SuspendAfter) / w.Seconds(), Control: true,
			Basis: fmt.Sprintf("%d pharmacies x %d requests per %s before a suspension", s.Pharmacies, s.SuspendAfter, w)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].RPS < out[j].RPS })
	return out
}

// Binding names the resource that set the capacity.
type Binding = rundir.CapacityBinding

// explainedShare: a capacity at least this share of the lowest analytic
// bound is that bound at work (the SLO's latency margin and measurement
// noise take the rest); below it something the model does not know binds.
const explainedShare = 0.75

// Bind decides which resource bound the search's result: a control or the
// generator when the step that set the capacity failed because of them,
// else the lowest analytic bound of the system, checked against the
// measured capacity.
func Bind(res Result, bounds []Bound) Binding {
	b := Binding{MeasuredRPS: res.Capacity}
	limit, failed := res.Limit()
	if failed {
		switch limit.Cause {
		case CauseControls:
			b.Resource = ResourceSuspension
			for _, k := range problemKeys(limit) {
				if IsControl(k) {
					_, code := splitProblem(k)
					b.Resource = ControlCodes[code]
					break
				}
			}
			for _, bd := range bounds {
				if bd.Resource == b.Resource {
					b.AnalyticRPS, b.Basis = bd.RPS, bd.Basis
				}
			}
			b.Why = fmt.Sprintf("At %.1f/s %s of the requests were refused by a control (%s), not for lack of capacity; hold the control out to measure the system.",
				limit.Offered, pct(float64(limit.Controls)/float64(max(limit.Requests, 1))), b.Resource)
			share(&b)
			return b
		case CauseGenerator, CauseEvidence:
			b.Resource = ResourceGenerator
			b.Why = fmt.Sprintf("At %.1f/s the load itself failed: %s.", limit.Offered, strings.Join(limit.Reasons, "; "))
			return b
		}
	}
	var sys []Bound
	for _, bd := range bounds {
		if !bd.Control {
			sys = append(sys, bd)
		}
	}
	if len(sys) == 0 {
		b.Resource = ResourceUnknown
		b.Why = "The model knows no limit of this system (no HSM model, CPU not measured)."
		return b
	}
	low := sys[0]
	starvation := ""
	if low.Resource == ResourceCPU && failed && limit.CPU != nil {
		// On a machine shared with busy jobs the CPU bound is about what
		// the run got; whether it was short of CPU shows in how long its
		// threads waited for one at the failing step.
		if r, ok := limit.CPU.WaitRatio(); ok {
			if r < starvedRatio && len(sys) > 1 {
				starvation = fmt.Sprintf(" The CPU bound (%.0f/s) is not it: at %.1f/s the run's threads waited only %.2f s for a CPU per CPU second.", low.RPS, limit.Offered, r)
				low = sys[1]
			} else {
				starvation = fmt.Sprintf(" At %.1f/s the run's threads waited %.2f s for a CPU per CPU second they got: CPU-starved.", limit.Offered, r)
			}
		}
	}
	b.Resource, b.AnalyticRPS, b.Basis = low.Resource, low.RPS, low.Basis
	share(&b)
	switch {
	case !failed:
		b.Why = fmt.Sprintf("No step failed: the capacity is at least %.0f/s, the search's maximum.", res.Capacity)
	case b.Share >= explainedShare:
		b.Why = fmt.Sprintf("The lowest analytic bound; the capacity found is %.0f%% of it.", 100*b.Share)
		if b.Share > 1.1 {
			b.Why = strings.TrimSuffix(b.Why, ".") + " (above it: the model overestimates this resource's cost)."
		}
	default:
		b.Why = fmt.Sprintf("The lowest analytic bound, but the capacity found is only %.0f%% of it: the SLO fails (%s) before it saturates, or a resource the model does not know binds.",
			100*b.Share, strings.Join(limit.Reasons, "; "))
	}
	b.Why += starvation
	return b
}

// share sets b.Share from the two rates.
func share(b *Binding) {
	if b.AnalyticRPS > 0 {
		b.Share = b.MeasuredRPS / b.AnalyticRPS
	}
}

func problemKeys(st Step) []string {
	keys := make([]string, 0, len(st.Problems))
	for k := range st.Problems {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return st.Problems[keys[i]] > st.Problems[keys[j]] })
	return keys
}

// Reserve is the margin sizing keeps over the forecast peak: a quarter for
// the surge's noise.
const Reserve = 1.25

// SpareSigners is the replicas sizing keeps beyond what carries the
// target, so that losing one keeps it (N+1): advice never ends at one
// replica, a single point of failure.
const SpareSigners = 1

// The bases of a per-replica rate (rundir.CapacitySizing.PerSignerBasis).
const (
	BasisMeasured = "measured"
	BasisHSMModel = "hsm model"
)

// Sizing is the advice: what the forecast peak needs, from measured rates.
type Sizing = rundir.CapacitySizing

// Size turns a measured capacity into advice for a forecast peak. When the
// replicas bound the run (HSM, shedding), the per-replica rate is the
// measured one (capacity / signers): what a replica delivered in this
// system, whatever its HSM model allows. When something else bound it (the
// CPU of a shared machine, say), the measured rate per replica only says
// how much the others let through, and sizing replicas from it would add
// replicas that do not help: the HSM model's rate (slots / latency) is
// used, or the measured one when that is higher. The count carries the
// target with SpareSigners more (N+1).
func Size(capacity float64, sys System, peak float64, b Binding, cost *CPUCost) Sizing {
	signers, slots := max(sys.Signers, 1), max(sys.HSMSlots, 1)
	z := Sizing{PeakRPS: peak, Reserve: Reserve, TargetRPS: peak * Reserve}
	if peak <= 0 {
		z.Advice = "no forecast demand to size for"
		return z
	}
	if capacity <= 0 {
		z.Advice = fmt.Sprintf("no capacity measured (even the first rate failed; binding: %s): lower capacity.start_rate or look at the first step's reasons", b.Resource)
		return z
	}
	z.PerSignerRPS, z.PerSignerBasis = capacity/float64(signers), BasisMeasured
	replicasBound := b.Resource == ResourceHSM || b.Resource == ResourceShedding
	if model := float64(slots) / sys.HSMLatency.Seconds(); !replicasBound && sys.HSMLatency > 0 && model > z.PerSignerRPS {
		z.PerSignerRPS, z.PerSignerBasis = model, BasisHSMModel
	}
	z.PerSlotRPS = z.PerSignerRPS / float64(slots)
	z.NeededSigners = max(int(math.Ceil(z.TargetRPS/z.PerSignerRPS-1e-9)), 1)
	z.SpareSigners = SpareSigners
	z.RecommendedSigners = z.NeededSigners + z.SpareSigners
	z.NeededSlots = max(int(math.Ceil(z.TargetRPS/(float64(signers)*z.PerSlotRPS)-1e-9)), 1)
	if cost != nil && cost.Total > 0 {
		z.NeededCores = z.TargetRPS * cost.Total
	}
	headroom := capacity / peak
	replicas := func(n int) string {
		if n == 1 {
			return "1 signer replica"
		}
		return fmt.Sprintf("%d signer replicas", n)
	}
	covers := "cover"
	if z.NeededSigners == 1 {
		covers = "covers"
	}
	spare := fmt.Sprintf("; keep %s (%d+%d: one can fail)", replicas(z.RecommendedSigners), z.NeededSigners, z.SpareSigners)
	switch {
	case capacity >= z.TargetRPS:
		z.Advice = fmt.Sprintf("capacity %.0f/s covers the forecast peak %.1f/s %.1fx (binding: %s); %s of %d HSM slots %s %.1f/s (the peak x%.2f) at the %s %.1f/s per replica (now %d)",
			capacity, peak, headroom, b.Resource, replicas(z.NeededSigners), slots, covers, z.TargetRPS, Reserve, z.PerSignerBasis, z.PerSignerRPS, signers) + spare
		if z.RecommendedSigners != signers {
			z.Apply = fmt.Sprintf("--signers %d", z.RecommendedSigners)
		}
	case replicasBound:
		z.Advice = fmt.Sprintf("capacity %.0f/s is %.2fx the forecast peak %.1f/s (binding: HSM): run %s (now %d) or %d HSM slots each, for %.1f/s (the peak x%.2f) at the measured %.1f/s per replica",
			capacity, headroom, peak, replicas(z.NeededSigners), signers, z.NeededSlots, z.TargetRPS, Reserve, z.PerSignerRPS) + spare
		z.Apply = fmt.Sprintf("--signers %d", z.RecommendedSigners)
	case b.Resource == ResourceCPU && cost != nil:
		z.Advice = fmt.Sprintf("capacity %.0f/s is %.2fx the forecast peak %.1f/s (binding: CPU): more signer replicas do not help; %.1f/s (the peak x%.2f) needs about %.1f cores at the measured %.2f ms CPU per request",
			capacity, headroom, peak, z.TargetRPS, Reserve, z.NeededCores, cost.Total*1000)
		if z.NeededCores <= cost.Available {
			// Enough CPU seconds, yet the SLO failed: the threads waited
			// for a CPU that other jobs held.
			z.Advice += fmt.Sprintf(" and %.1f were free, but other jobs held %.1f of %d cores and the issuer's threads waited for them: give it cores of its own",
				cost.Available, float64(cost.Cores)-cost.Available, cost.Cores)
		} else {
			z.Advice += fmt.Sprintf(" (%.1f were free)", cost.Available)
		}
	default:
		z.Advice = fmt.Sprintf("capacity %.0f/s is %.2fx the forecast peak %.1f/s, bound by %s: %s", capacity, headroom, peak, b.Resource, b.Why)
	}
	return z
}
