package spec

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/golive-dev/golive/chaos/fault"
)

// A compressed clock shortens every simulated span by the timescale, but
// the waits that decide how a span plays out stay wall time: a client's
// timeout, its backoff, the Retry-After it honours, the portal's deadline
// for a signature. A 45-minute cut-off at x600 lasts 4.5 s, shorter than a
// 30 s Retry-After, so a client's retry lands after the fault and the
// outage looks harmless. ClockCheck finds such spans before a run.

// ClockWarning says that at some timescale one span of the scenario (a
// fault window, a phase) lasts less wall time than a wait that decides its
// outcome.
type ClockWarning struct {
	// Span names the span: "fault blackhole portal->signers 11:30-11:45".
	Span string
	// Sim is its simulated length, Wall its length at the timescale.
	Sim, Wall time.Duration
	// Wait is the longest deciding wait, named by WaitName ("class issue:
	// client timeout").
	Wait     time.Duration
	WaitName string
	// MaxTimescale is the largest timescale at which the span lasts at
	// least Wait on the wall.
	MaxTimescale float64
}

func (w ClockWarning) String() string {
	return fmt.Sprintf("%s lasts %s on the wall (%s simulated), shorter than %s (%s); it needs x%s or less",
		w.Span, roundDur(w.Wall), roundDur(w.Sim), w.WaitName, roundDur(w.Wait), fmtScale(w.MaxTimescale))
}

// ClockReport is the outcome of ClockCheck.
type ClockReport struct {
	// Timescale is the one checked.
	Timescale float64
	// Warnings lists the spans too short at Timescale, longest wait first.
	Warnings []ClockWarning
	// MaxTimescale is the largest timescale at which no span is too short
	// (+Inf when nothing bounds it).
	MaxTimescale float64
}

// Meaningful reports whether the timescale keeps every span at least as
// long as the waits that decide it.
func (r ClockReport) Meaningful() bool { return len(r.Warnings) == 0 }

// Advice is the one-line suggestion after the warnings.
func (r ClockReport) Advice(s *Scenario) string {
	if math.IsInf(r.MaxTimescale, 1) || r.Meaningful() {
		return ""
	}
	return fmt.Sprintf("the largest timescale that keeps the scenario meaningful is x%s (%s wall); or set client.scale_waits: true to count backoff and Retry-After on the simulated clock",
		fmtScale(r.MaxTimescale), s.Clock.WallDuration(r.MaxTimescale).Round(time.Second))
}

// deciding is one wait and what it is.
type deciding struct {
	d    time.Duration
	name string
}

// ClockCheck checks every fault window, and every phase that overlaps one,
// at timescale (<= 0: the scenario's) for profile ("": the scenario's). A
// span counts only when some class has demand in it; the waits that decide
// it are those of the classes with demand there:
//   - how long one customer action can last: its attempts, each bounded by
//     the client's timeout or, for a fault behind the portal (a signer, a
//     link from the portal), by the portal's own signing deadline, since
//     the portal answers first; plus the backoff between them;
//   - the Retry-After of a deferred ticket, when the profile defers and the
//     class polls its tickets honouring Retry-After.
//
// Backoff and Retry-After do not count for a class that keeps its waits on
// the simulated clock (client.scale_waits): they shrink with the span.
func (s *Scenario) ClockCheck(profile string, timescale float64) (ClockReport, error) {
	if timescale <= 0 {
		timescale = s.Clock.Timescale
	}
	rep := ClockReport{Timescale: timescale, MaxTimescale: math.Inf(1)}
	if s.Capacity != nil {
		return rep, nil // a capacity search steps on the wall clock
	}
	if profile == "" {
		profile = s.System.Profile
	}
	pc, err := s.PortalConfig(profile)
	if err != nil {
		return rep, err
	}
	var deferredRetryAfter time.Duration
	if pc.DeferOnSignerUnavailable {
		deferredRetryAfter = pc.DeferredRetryAfter.D()
	}
	portalDeadline := pc.SignCallTimeout.D()
	if dl := pc.IssueDeadline.D(); dl > 0 && dl < portalDeadline {
		portalDeadline = dl
	}
	check := func(span string, from, to time.Time, behindPortal bool) {
		sim := to.Sub(from)
		if sim <= 0 {
			return
		}
		var worst deciding
		for _, c := range s.Traffic {
			if c.Demand.Total(from, to) <= 0 {
				continue
			}
			for _, w := range classWaits(c, behindPortal, portalDeadline, deferredRetryAfter) {
				if w.d > worst.d {
					worst = w
				}
			}
		}
		if worst.d <= 0 {
			return
		}
		max := sim.Seconds() / worst.d.Seconds()
		rep.MaxTimescale = math.Min(rep.MaxTimescale, max)
		wall := time.Duration(float64(sim) / timescale)
		if wall < worst.d {
			rep.Warnings = append(rep.Warnings, ClockWarning{Span: span, Sim: sim, Wall: wall,
				Wait: worst.d, WaitName: worst.name, MaxTimescale: max})
		}
	}
	type window struct {
		from, to time.Time
		behind   bool
	}
	var faults []window
	for _, f := range s.Faults {
		if f.Kind.Spec().Window == fault.WindowNone || !f.End.After(f.At) {
			continue
		}
		w := window{f.At, f.End, behindPortal(f.Target)}
		faults = append(faults, w)
		check(fmt.Sprintf("fault %s %s %s", f.Kind, f.Target, s.spanText(w.from, w.to)), w.from, w.to, w.behind)
	}
	// A phase without a fault is decided by service times, not by these
	// waits; one that overlaps a fault is decided like the fault, unless
	// it is the fault's own window (already checked).
	for _, p := range s.Phases {
		for _, w := range faults {
			if p.Start.Before(w.to) && w.from.Before(p.End) && !(p.Start.Equal(w.from) && p.End.Equal(w.to)) {
				check(fmt.Sprintf("phase %s %s", p.Name, s.spanText(p.Start, p.End)), p.Start, p.End, w.behind)
				break
			}
		}
	}
	sort.SliceStable(rep.Warnings, func(i, j int) bool { return rep.Warnings[i].MaxTimescale < rep.Warnings[j].MaxTimescale })
	return rep, nil
}

// classWaits lists the waits that decide how a span plays out for class c:
// how long a customer action's attempts and the backoff between them last
// (a retry that lands after the span sees none of it), and the Retry-After
// of a deferred ticket, after which the customer comes back for it.
func classWaits(c Class, behindPortal bool, portalDeadline, deferredRetryAfter time.Duration) []deciding {
	if c.Kind.Slow() { // attackers wait for nothing
		return nil
	}
	cl := c.Client
	attempt, what := cl.Timeout, "timeout"
	if behindPortal && portalDeadline > 0 && portalDeadline < cl.Timeout {
		attempt, what = portalDeadline, "the portal's signing deadline"
	}
	var backoff time.Duration
	if !cl.ScaleWaits {
		for n := 1; n <= cl.Retries.Max; n++ {
			backoff += cl.Retries.Backoff(n)
		}
	}
	tries := time.Duration(cl.Retries.Max + 1)
	name := fmt.Sprintf("class %s: an action's attempts (%d x %s, %s)", c.Name, cl.Retries.Max+1, roundDur(attempt), what)
	if backoff > 0 {
		name = fmt.Sprintf("class %s: an action's attempts and backoff (%d x %s, %s, + %s)", c.Name, cl.Retries.Max+1, roundDur(attempt), what, roundDur(backoff))
	}
	ws := []deciding{{tries*attempt + backoff, name}}
	if !cl.ScaleWaits && cl.PollTickets && cl.HonourRetryAfter && c.Kind.Issues() && deferredRetryAfter > 0 {
		ws = append(ws, deciding{deferredRetryAfter, fmt.Sprintf("class %s: the Retry-After of a deferred ticket", c.Name)})
	}
	return ws
}

// behindPortal reports whether a fault on t reaches clients only through
// the portal (a signer, or a link that leaves the portal).
func behindPortal(t Target) bool {
	if from, _, ok := t.Link(); ok {
		return from == "portal"
	}
	name := string(t)
	return name == "signers" || strings.HasPrefix(name, "signer")
}

// spanText prints a simulated span as "11:30-11:45" on the scenario's day.
func (s *Scenario) spanText(from, to time.Time) string {
	loc := s.Clock.Location
	if loc == nil {
		loc = time.UTC
	}
	return from.In(loc).Format("15:04") + "-" + to.In(loc).Format("15:04")
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// fmtScale prints a timescale bound rounded down to a whole number (at
// least 1 decimal below 1).
func fmtScale(x float64) string {
	if x >= 1 {
		return fmt.Sprintf("%.0f", math.Floor(x))
	}
	return fmt.Sprintf("%.2f", math.Floor(x*100)/100)
}
