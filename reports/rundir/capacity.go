package rundir

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Capacity is capacity.json: a step search for the highest offered rate
// the target serves within its SLO, and the sizing advice. Every rate is
// per wall second: a step holds a constant rate on the real clock.
type Capacity struct {
	SLO struct {
		P99MS       float64 `json:"p99_ms"`
		MinSuccess  float64 `json:"min_success"`
		MinGoodput  float64 `json:"min_goodput"`
		MinRequests int64   `json:"min_requests"`
	} `json:"slo"`
	ForecastScenario string         `json:"forecast_scenario,omitempty"`
	ForecastPeakRPS  float64        `json:"forecast_peak_rps"`
	CapacityRPS      float64        `json:"capacity_rps"`
	Bounded          bool           `json:"bounded"`
	Headroom         float64        `json:"headroom"`
	KneeRPS          float64        `json:"knee_rps"`
	Steps            []CapacityStep `json:"steps"`
	Verdict          string         `json:"verdict"`
	Profile          string         `json:"profile"`
	Target           string         `json:"target"`
	// Signers and HSMSlots describe the measured system; SignerRPS is
	// what its HSM model can sign per second and replica (slots /
	// latency), the analytic figure; MeasuredSignerRPS is the capacity per
	// replica, the one sizing uses.
	Signers int `json:"signers"`
	// Portals and Registry are the measured system's portal replicas and
	// registry backend ("sqlite", "postgres"); added 2026-12-02, absent
	// from older files (read as 1 portal on sqlite).
	Portals           int     `json:"portals,omitempty"`
	Registry          string  `json:"registry,omitempty"`
	HSMSlots          int     `json:"hsm_slots"`
	HSMLatencyMS      float64 `json:"hsm_latency_ms"`
	SignerRPS         float64 `json:"signer_rps_each"`
	MeasuredSignerRPS float64 `json:"measured_signer_rps_each"`
	// NeededSigners = ceil(forecast peak x reserve / Sizing.PerSignerRPS);
	// NeededHSMSlots is the slots each current replica would need instead.
	NeededSigners  int    `json:"needed_signers"`
	NeededHSMSlots int    `json:"needed_hsm_slots_each"`
	Advice         string `json:"advice"`
	// Apply is the command-line change that applies the advice ("--signers
	// 1"); empty when none is needed or none would help.
	Apply string `json:"apply,omitempty"`

	Scenario string `json:"scenario,omitempty"`
	// SystemFrom names the scenario whose system section was measured.
	SystemFrom string `json:"system_from,omitempty"`
	Pharmacies int    `json:"pharmacies,omitempty"`
	// ControlsHeldOut lists the controls turned off for the search.
	ControlsHeldOut []string `json:"controls_held_out,omitempty"`
	// Bounds are the analytic model's limits, lowest first; Binding the
	// resource that set the capacity; CPUCost the measured CPU price of a
	// request (nil: not measured on this target).
	Bounds  []CapacityBound  `json:"bounds,omitempty"`
	Binding CapacityBinding  `json:"binding"`
	CPUCost *CapacityCPUCost `json:"cpu_cost,omitempty"`
	Sizing  *CapacitySizing  `json:"sizing,omitempty"`
	// Consistency is the after-search check of every 201.
	Consistency *CapacityConsistency `json:"consistency,omitempty"`
	Started     time.Time            `json:"started"`
	WallSeconds float64              `json:"wall_seconds"`
	Notes       []string             `json:"notes,omitempty"`
}

// CapacityStep is one offered rate held steady during the search.
type CapacityStep struct {
	Rate float64 `json:"rate"`
	// Goodput is certificates issued (201) per second during the step.
	Goodput float64 `json:"goodput"`
	P99MS   float64 `json:"p99_ms"`
	Success float64 `json:"success"`
	OK      bool    `json:"ok"`

	DurationS     float64          `json:"duration_s"`
	Planned       int64            `json:"planned"`
	Requests      int64            `json:"requests"`
	P50MS         float64          `json:"p50_ms"`
	P90MS         float64          `json:"p90_ms"`
	Outcomes      CapacityOutcomes `json:"outcomes"`
	Problems      map[string]int64 `json:"problems,omitempty"`
	Controls      int64            `json:"controls"`
	ControlEvents int64            `json:"control_events"`
	// Cause is why a failed step failed: slo, controls, generator or
	// too_few_requests; Reasons one line per missed condition.
	Cause   string       `json:"cause,omitempty"`
	Reasons []string     `json:"reasons,omitempty"`
	Error   string       `json:"error,omitempty"`
	Notes   []string     `json:"notes,omitempty"`
	CPU     *CapacityCPU `json:"cpu,omitempty"`
	// CPUMSPerRequest is the run's CPU time per request (all parts).
	CPUMSPerRequest float64 `json:"cpu_ms_per_request,omitempty"`
}

// CapacityOutcomes counts a step's answers the way summary.json's
// requests classify attempts.
type CapacityOutcomes struct {
	OK        int64 `json:"ok"`        // 201 (any 2xx but 202)
	Deferred  int64 `json:"deferred"`  // 202: a ticket, no certificate yet
	Rejected  int64 `json:"rejected"`  // 4xx other than 429
	Overload  int64 `json:"overload"`  // 429, 503
	Error     int64 `json:"error"`     // other 5xx
	Timeout   int64 `json:"timeout"`   // the client gave up
	Transport int64 `json:"transport"` // no HTTP answer
}

// Total is the number of attempts counted.
func (o CapacityOutcomes) Total() int64 {
	return o.OK + o.Deferred + o.Rejected + o.Overload + o.Error + o.Timeout + o.Transport
}

// String is the mix in a fixed order, e.g. "ok 398 · deferred 0 · ...".
func (o CapacityOutcomes) String() string {
	return fmt.Sprintf("ok %d · deferred %d · rejected %d · overload %d · error %d · timeout %d · transport %d",
		o.OK, o.Deferred, o.Rejected, o.Overload, o.Error, o.Timeout, o.Transport)
}

// CapacityCPU is what the run's processes used during a step.
type CapacityCPU struct {
	// Seconds is CPU time by part of the run ("portal", "signers",
	// "proxy", "generator") during the step.
	Seconds map[string]float64 `json:"seconds"`
	// Wall is the step's wall time in seconds, Cores the machine's CPUs
	// and Other the CPU seconds processes outside the run used meanwhile
	// (other jobs on a shared machine).
	Wall  float64 `json:"wall_s"`
	Cores int     `json:"cores"`
	Other float64 `json:"other_s"`
	// Waited is the time the parts' threads were runnable but waited for
	// a CPU (empty when the target cannot tell): CPU starvation, as
	// opposed to a CPU the run merely used.
	Waited map[string]float64 `json:"waited_s,omitempty"`
}

// WaitRatio is seconds waited for a CPU per CPU second used, over all
// parts; ok is false when the wait was not measured.
func (c CapacityCPU) WaitRatio() (float64, bool) {
	if len(c.Waited) == 0 {
		return 0, false
	}
	var used, waited float64
	for p, s := range c.Seconds {
		used += s
		waited += c.Waited[p]
	}
	if used <= 0 {
		return 0, false
	}
	return waited / used, true
}

// CapacityCPUCost is the measured CPU price of one request and what the
// machine had to pay it with.
type CapacityCPUCost struct {
	// PerRequest is CPU seconds per request by part; Total their sum.
	PerRequest map[string]float64 `json:"per_request_s"`
	Total      float64            `json:"total_s"`
	// Available is the cores the run could use (the machine's Cores minus
	// what other processes used during the step).
	Available float64 `json:"available_cores"`
	Cores     int     `json:"cores"`
	// AtRPS is the offered rate of the step it was measured at.
	AtRPS float64 `json:"at_rps"`
}

// String is "2.10 ms CPU per request (portal 1.20 + signers 0.50 ... ms)".
func (c CapacityCPUCost) String() string {
	parts := make([]string, 0, len(c.PerRequest))
	for p := range c.PerRequest {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return c.PerRequest[parts[i]] > c.PerRequest[parts[j]] })
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(" + ")
		}
		fmt.Fprintf(&b, "%s %.2f", p, c.PerRequest[p]*1000)
	}
	return fmt.Sprintf("%.2f ms CPU per request (%s ms)", c.Total*1000, b.String())
}

// CapacityBound is one resource's analytic limit on the rate.
type CapacityBound struct {
	Resource string  `json:"resource"`
	RPS      float64 `json:"rps"`
	Basis    string  `json:"basis"` // how it follows from configuration or measurement
	// Control marks a policy (quota, fraud suspension): it limits what one
	// account may do, not what the system can do.
	Control bool `json:"control,omitempty"`
}

// CapacityBinding names the resource that set the capacity.
type CapacityBinding struct {
	Resource    string  `json:"resource"`
	AnalyticRPS float64 `json:"analytic_rps"` // the model's limit for it (0: none)
	MeasuredRPS float64 `json:"measured_rps"` // the capacity found
	// Share is MeasuredRPS / AnalyticRPS.
	Share float64 `json:"share"`
	Basis string  `json:"basis,omitempty"`
	// Why explains the choice.
	Why string `json:"why"`
}

// String is "HSM (600/s analytic: 3 signers x 10 slots / 50ms; 540/s
// measured, 90%)".
func (b CapacityBinding) String() string {
	if b.AnalyticRPS <= 0 {
		return fmt.Sprintf("%s (%.0f/s measured): %s", b.Resource, b.MeasuredRPS, b.Why)
	}
	return fmt.Sprintf("%s (%.0f/s analytic: %s; %.0f/s measured, %.0f%%)", b.Resource, b.AnalyticRPS, b.Basis, b.MeasuredRPS, 100*b.Share)
}

// CapacitySizing is the advice: what the forecast peak needs, from
// measured rates.
type CapacitySizing struct {
	PeakRPS   float64 `json:"peak_rps"`
	Reserve   float64 `json:"reserve"`
	TargetRPS float64 `json:"target_rps"` // PeakRPS x Reserve
	// PerSignerRPS is the measured capacity per signer replica, PerSlotRPS
	// per HSM slot: what the needed counts are computed from.
	PerSignerRPS float64 `json:"per_signer_rps"`
	PerSlotRPS   float64 `json:"per_slot_rps"`
	// NeededSigners = ceil(TargetRPS / PerSignerRPS); NeededSlots is the
	// HSM slots each of the current signers would need instead.
	NeededSigners int `json:"needed_signers"`
	NeededSlots   int `json:"needed_slots_each"`
	// SpareSigners is the replicas kept beyond NeededSigners so that one
	// can fail and the target still holds (N+1: no single point of
	// failure); RecommendedSigners = NeededSigners + SpareSigners is what
	// Apply sets.
	SpareSigners       int `json:"spare_signers,omitempty"`
	RecommendedSigners int `json:"recommended_signers,omitempty"`
	// PerSignerBasis says where PerSignerRPS comes from: "measured"
	// (capacity / signers, when the replicas bound the run) or "hsm model"
	// (slots / latency, when something else bound it and the measured
	// rate per replica says less than a replica can do).
	PerSignerBasis string `json:"per_signer_basis,omitempty"`
	// NeededCores is the CPU the target rate costs at the measured price
	// per request (0: not measured).
	NeededCores float64 `json:"needed_cores,omitempty"`
	Advice      string  `json:"advice"`
	// Apply is the command-line change that applies the advice to a
	// second run ("--signers 2"); empty when no flag does.
	Apply string `json:"apply,omitempty"`
}

// CapacityConsistency is the after-search check of the search's 201s.
type CapacityConsistency struct {
	Acknowledged int    `json:"acknowledged"`
	Verified     int    `json:"verified"`
	Lost         int    `json:"lost"`
	Duplicates   int    `json:"duplicates"`
	Unverified   int    `json:"unverified"`
	Error        string `json:"error,omitempty"`
}

// HeadroomRatio is capacity over forecast peak (1.25 = 25 % to spare). It
// falls back to computing it when the file left headroom out; ok is false
// when neither is known.
func (c *Capacity) HeadroomRatio() (ratio float64, ok bool) {
	if c == nil {
		return 0, false
	}
	if c.Headroom > 0 {
		return c.Headroom, true
	}
	if c.CapacityRPS > 0 && c.ForecastPeakRPS > 0 {
		return c.CapacityRPS / c.ForecastPeakRPS, true
	}
	return 0, false
}

// ReadCapacity reads a capacity.json file; a missing file is an error
// wrapping fs.ErrNotExist, a negative figure an error naming the file.
func ReadCapacity(path string) (*Capacity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Capacity
	if err := decodeJSON(path, data, &c); err != nil {
		return nil, err
	}
	for i, s := range c.Steps {
		if s.Rate < 0 || s.Goodput < 0 || s.P99MS < 0 {
			return nil, fmt.Errorf("%s: step %d has a negative rate, goodput or p99", path, i+1)
		}
	}
	if c.CapacityRPS < 0 || c.ForecastPeakRPS < 0 || c.Headroom < 0 {
		return nil, fmt.Errorf("%s: capacity_rps, forecast_peak_rps and headroom must not be negative", path)
	}
	return &c, nil
}

// WriteCapacity writes dir/capacity.json.
func WriteCapacity(dir string, c *Capacity) error {
	return writeJSON(filepath.Join(dir, CapacityFile), c)
}
