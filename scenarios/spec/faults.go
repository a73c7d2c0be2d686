package spec

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FaultKind names what a fault does.
type FaultKind string

// Process faults act on a component (portal, signer-N, signers); network
// faults act on a link (client->portal, portal->signer-N, portal->signers)
// through a proxy.
const (
	// FaultKill kills the target (SIGKILL). With a window it is started
	// again at Until; without one it stays down until a restart fault or
	// the end of the run.
	FaultKill FaultKind = "kill"
	// FaultStop stops the target gracefully (SIGTERM); window as for kill.
	FaultStop FaultKind = "stop"
	// FaultRestart stops (if running) and starts the target at At; it has
	// no window.
	FaultRestart FaultKind = "restart"
	// FaultPause freezes the target's processes for the window.
	FaultPause FaultKind = "pause"
	// FaultCPU limits the target to Params.CPUs for the window.
	FaultCPU FaultKind = "cpu"
	// FaultPartition cuts the link: connections are refused.
	FaultPartition FaultKind = "partition"
	// FaultLatency delays data on the link by Params.Latency ± Jitter.
	FaultLatency FaultKind = "latency"
	// FaultBandwidth limits the link to Params.RateKBps.
	FaultBandwidth FaultKind = "bandwidth"
	// FaultBlackhole accepts connections and passes no data: callers hang
	// until their own timeout (the 2021 "create PDF" that never answered).
	FaultBlackhole FaultKind = "blackhole"
	// FaultReset resets connections after Params.After.
	FaultReset FaultKind = "reset"
)

// FaultKinds lists every kind.
func FaultKinds() []FaultKind {
	return []FaultKind{FaultKill, FaultStop, FaultRestart, FaultPause, FaultCPU,
		FaultPartition, FaultLatency, FaultBandwidth, FaultBlackhole, FaultReset}
}

// Network reports whether the kind acts on a link rather than a component.
func (k FaultKind) Network() bool {
	switch k {
	case FaultPartition, FaultLatency, FaultBandwidth, FaultBlackhole, FaultReset:
		return true
	}
	return false
}

// kindSpec is what a kind requires: whether it has a window and which
// params it takes (required ones first).
type kindSpec struct {
	window   windowRule
	required []string
	optional []string
}

type windowRule int

const (
	windowRequired windowRule = iota
	windowOptional
	windowForbidden
)

var faultKinds = map[FaultKind]kindSpec{
	FaultKill:      {window: windowOptional},
	FaultStop:      {window: windowOptional},
	FaultRestart:   {window: windowForbidden},
	FaultPause:     {window: windowRequired},
	FaultCPU:       {window: windowRequired, required: []string{"cpus"}},
	FaultPartition: {window: windowRequired},
	FaultLatency:   {window: windowRequired, required: []string{"latency"}, optional: []string{"jitter", "toxicity"}},
	FaultBandwidth: {window: windowRequired, required: []string{"rate_kbps"}, optional: []string{"toxicity"}},
	FaultBlackhole: {window: windowRequired, optional: []string{"toxicity"}},
	FaultReset:     {window: windowRequired, optional: []string{"after", "toxicity"}},
}

// Fault is one scheduled fault on the simulated clock.
type Fault struct {
	Kind   FaultKind
	Target Target
	// At is when the fault is injected.
	At time.Time
	// Until is when it is undone; the zero time for a restart, and for a
	// kill or stop that lasts until a restart or the run's end.
	Until time.Time
	// End is when the fault's effect ends, for reports and Active: Until
	// when set; for an open kill or stop, the first later restart that
	// reaches its target, else the clock's end; At for a restart.
	End    time.Time
	Params FaultParams
	Pos    Pos
}

// Windowed reports whether the fault is undone at Until.
func (f Fault) Windowed() bool { return !f.Until.IsZero() }

// Active reports whether the fault is in effect at simulated time t, in
// [At, End); a restart is an instant and never active.
func (f Fault) Active(t time.Time) bool {
	return f.Kind != FaultRestart && !t.Before(f.At) && t.Before(f.End)
}

// FaultParams are the kind-specific settings; durations are wall time.
type FaultParams struct {
	Latency  time.Duration // latency: added delay (YAML latency)
	Jitter   time.Duration // latency: ± spread (jitter)
	RateKBps int64         // bandwidth: KB per second (rate_kbps)
	After    time.Duration // reset: how long a connection lives (after)
	// Toxicity is the fraction of connections a network fault affects
	// (toxicity, default 1).
	Toxicity float64
	CPUs     float64 // cpu: CPU limit in cores (cpus)
}

// Target names what a fault acts on: a component ("portal", "signer-2",
// "signers" for every replica) or a link "from->to" ("client->portal",
// "portal->signer-2", "portal->signers").
type Target string

// Link splits a link target; ok is false for a component.
func (t Target) Link() (from, to string, ok bool) {
	return strings.Cut(string(t), "->")
}

// Expand lists the single components or links t covers in a topology of
// replicas signers: "signers" -> signer-1..signer-N, "portal->signers" ->
// portal->signer-1..N. It is nil when t names nothing that exists.
func (t Target) Expand(replicas int) []string {
	expand := func(c string) []string {
		switch {
		case c == "portal":
			return []string{c}
		case c == "signers":
			out := make([]string, replicas)
			for i := range out {
				out[i] = fmt.Sprintf("signer-%d", i+1)
			}
			return out
		case strings.HasPrefix(c, "signer-"):
			n, err := strconv.Atoi(strings.TrimPrefix(c, "signer-"))
			if err == nil && n >= 1 && n <= replicas && strconv.Itoa(n) == strings.TrimPrefix(c, "signer-") {
				return []string{c}
			}
		}
		return nil
	}
	from, to, link := t.Link()
	if !link {
		return expand(string(t))
	}
	var ends []string
	switch from {
	case "client":
		if to == "portal" {
			ends = []string{"portal"}
		}
	case "portal":
		if to != "portal" {
			ends = expand(to)
		}
	}
	if len(ends) == 0 {
		return nil
	}
	out := make([]string, len(ends))
	for i, e := range ends {
		out[i] = from + "->" + e
	}
	return out
}

// Signers lists the signer replicas (1-based) the target reaches, as a
// component or as the far end of a link.
func (t Target) Signers(replicas int) []int {
	var out []int
	for _, e := range t.Expand(replicas) {
		if _, to, ok := strings.Cut(e, "->"); ok {
			e = to
		}
		if n, ok := strings.CutPrefix(e, "signer-"); ok {
			i, _ := strconv.Atoi(n)
			out = append(out, i)
		}
	}
	return out
}

// targetsFor lists the valid targets of a kind, for error messages.
func targetsFor(k FaultKind, replicas int) string {
	if k.Network() {
		return fmt.Sprintf("client->portal, portal->signers, portal->signer-1..%d", replicas)
	}
	return fmt.Sprintf("portal, signers, signer-1..%d", replicas)
}
