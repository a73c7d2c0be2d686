package spec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golive-dev/golive/chaos/fault"
)

// Fault is one scheduled fault on the simulated clock.
type Fault struct {
	Kind   fault.Kind
	Target Target
	// At is when the fault is injected.
	At time.Time
	// Until is when it is undone; the zero time for a restart, and for a
	// kill or stop that lasts until a restart or the run's end.
	Until time.Time
	// End is when the fault's effect ends, for reports and Active: Until
	// when set; for an open kill or stop, the first later restart that
	// reaches its target, else the clock's end; At for a restart.
	End time.Time
	// Params are wall time; the parser fills in the defaults.
	Params fault.Params
	Pos    Pos
}

// Windowed reports whether the fault is undone at Until.
func (f Fault) Windowed() bool { return !f.Until.IsZero() }

// Active reports whether the fault is in effect at simulated time t, in
// [At, End); a restart is an instant and never active.
func (f Fault) Active(t time.Time) bool {
	return f.Kind.Spec().Window != fault.WindowNone && !t.Before(f.At) && t.Before(f.End)
}

// Target names what a fault acts on: a component ("portal", "signer-2",
// "signers" for every replica) or a link "from->to" ("client->portal",
// "portal->signer-2", "portal->signers").
type Target string

// Link splits a link target; ok is false for a component.
func (t Target) Link() (from, to string, ok bool) {
	return strings.Cut(string(t), "->")
}

// RegistryTarget is the registry cluster as a fault target: only
// kill-primary takes it, and it kills whichever node is primary.
const RegistryTarget Target = "registry"

// Expand lists the single components or links t covers in a topology of
// replicas signers: "signers" -> signer-1..signer-N, "portal->signers" ->
// portal->signer-1..N. It is nil when t names nothing that exists.
func (t Target) Expand(replicas int) []string {
	expand := func(c string) []string {
		switch {
		case c == "portal", c == string(RegistryTarget):
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
func targetsFor(k fault.Kind, replicas int) string {
	if k == fault.KillPrimary {
		return string(RegistryTarget)
	}
	if k.Network() {
		return fmt.Sprintf("client->portal, portal->signers, portal->signer-1..%d", replicas)
	}
	return fmt.Sprintf("portal, signers, signer-1..%d", replicas)
}
