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
// "signers" for every replica; with several portals "portal-2", and
// "portal" or "portals" for every one) or a link "from->to"
// ("client->portal", "client->portal-2", "portal->signer-2",
// "portal->signers"). The portals share their links to the signers.
type Target string

// Link splits a link target; ok is false for a component.
func (t Target) Link() (from, to string, ok bool) {
	return strings.Cut(string(t), "->")
}

// RegistryTarget is the registry cluster as a fault target: only
// kill-primary takes it, and it kills whichever node is primary.
const RegistryTarget Target = "registry"

// Expand lists the single components or links t covers in a topology of
// replicas signers and one portal: "signers" -> signer-1..signer-N,
// "portal->signers" -> portal->signer-1..N. It is nil when t names nothing
// that exists.
func (t Target) Expand(replicas int) []string {
	return t.ExpandIn(System{Signers: replicas, Portals: 1})
}

// ExpandIn is Expand in sys's topology: with several portals "portal"
// and "portals" cover portal-1..portal-N, and "client->portal" every
// client link.
func (t Target) ExpandIn(sys System) []string {
	replicas, portals := sys.Signers, max(sys.Portals, 1)
	numbered := func(c, prefix string, n int) []string {
		k, err := strconv.Atoi(strings.TrimPrefix(c, prefix))
		if err == nil && k >= 1 && k <= n && strconv.Itoa(k) == strings.TrimPrefix(c, prefix) {
			return []string{c}
		}
		return nil
	}
	all := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, i+1)
		}
		return out
	}
	expand := func(c string) []string {
		switch {
		case c == string(RegistryTarget):
			return []string{c}
		case c == "portal" || c == "portals":
			if portals == 1 {
				return []string{"portal"}
			}
			return all("portal-", portals)
		case strings.HasPrefix(c, "portal-"):
			if portals > 1 {
				return numbered(c, "portal-", portals)
			}
		case c == "signers":
			return all("signer-", replicas)
		case strings.HasPrefix(c, "signer-"):
			return numbered(c, "signer-", replicas)
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
		if to == "portal" || to == "portals" || strings.HasPrefix(to, "portal-") {
			ends = expand(to)
		}
	case "portal":
		if !strings.HasPrefix(to, "portal") {
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
func targetsFor(k fault.Kind, sys System) string {
	if k == fault.KillPrimary {
		return string(RegistryTarget)
	}
	if sys.Portals > 1 {
		if k.Network() {
			return fmt.Sprintf("client->portal, client->portal-1..%d, portal->signers, portal->signer-1..%d", sys.Portals, sys.Signers)
		}
		return fmt.Sprintf("portal (every one), portal-1..%d, signers, signer-1..%d", sys.Portals, sys.Signers)
	}
	if k.Network() {
		return fmt.Sprintf("client->portal, portal->signers, portal->signer-1..%d", sys.Signers)
	}
	return fmt.Sprintf("portal, signers, signer-1..%d", sys.Signers)
}
