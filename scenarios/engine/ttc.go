package engine

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
)

// Time to certificate is what a customer at the counter experiences: from
// the first attempt of an action to the certificate being available,
// directly (a 201, after any retries) or through a ticket that the portal
// signed later. It is measured in the customer's real-world time:
//   - a direct answer at its wall-clock duration, since the system under
//     test serves real-world rates in real time;
//   - a deferred certificate from the action's simulated instant to its
//     ticket's completion on the simulated clock, since the outage and the
//     backlog it waited out are scheduled there (a 5-hour cut-off is 5
//     hours for the customer, whatever the timescale).
//
// A customer whose certificate was not available by the end of the
// scenario's clock left without one: their time is beyond the run.

// certWait is one customer action of a legitimate issuing class.
type certWait struct {
	class string
	at    time.Time     // simulated instant of the first attempt
	wait  time.Duration // time to certificate; waitNone when none in the run
}

// waitNone marks an action that left without a certificate.
const waitNone = time.Duration(math.MaxInt64)

// certWaits collects certWait records from concurrent observers and the
// drain. A deferred action is recorded when its ticket's fate is known.
type certWaits struct {
	mu  sync.Mutex
	all []certWait
	end time.Time // the scenario clock's end
}

func (c *certWaits) add(w certWait) {
	c.mu.Lock()
	c.all = append(c.all, w)
	c.mu.Unlock()
}

// direct records an action answered without a ticket: with a certificate
// after wall time d when got, else none.
func (c *certWaits) direct(class string, at time.Time, d time.Duration, got bool) {
	if !got {
		d = waitNone
	}
	c.add(certWait{class: class, at: at, wait: d})
}

// deferred records an action whose ticket completed at the simulated
// instant done (zero: never), counting it without a certificate when that
// was after the scenario's end.
func (c *certWaits) deferred(class string, at, done time.Time) {
	d := waitNone
	if !done.IsZero() && !done.After(c.end) {
		d = max(done.Sub(at), 0)
	}
	c.add(certWait{class: class, at: at, wait: d})
}

// TimeToCert is summary.json's time_to_cert_ms (package rundir owns the format).
type TimeToCert = rundir.TimeToCert

// timeToCert summarises ws with nearest-rank percentiles, a customer
// without a certificate ranking above every other.
func timeToCert(ws []certWait) TimeToCert {
	var t TimeToCert
	ds := make([]time.Duration, 0, len(ws))
	for _, w := range ws {
		ds = append(ds, w.wait)
		if w.wait == waitNone {
			t.WithoutCert++
		}
	}
	t.Actions = int64(len(ds))
	t.WithCert = t.Actions - t.WithoutCert
	if t.Actions == 0 {
		return t
	}
	t.LeftShare = float64(t.WithoutCert) / float64(t.Actions)
	slices.Sort(ds)
	at := func(q float64) *float64 {
		d := rundir.NearestRank(ds, q)
		if d == waitNone {
			return nil
		}
		v := float64(d.Microseconds()) / 1000
		return &v
	}
	t.P50, t.P90, t.P99, t.Max = at(0.50), at(0.90), at(0.99), at(1)
	return t
}

// byClassAndPhase summarises the waits of the whole run, of each class and
// of each phase (by the action's simulated instant).
func (c *certWaits) summaries(phases []rundir.Phase) (run TimeToCert, classes map[string]TimeToCert, perPhase map[string]TimeToCert) {
	c.mu.Lock()
	all := slices.Clone(c.all)
	c.mu.Unlock()
	run = timeToCert(all)
	byClass := map[string][]certWait{}
	for _, w := range all {
		byClass[w.class] = append(byClass[w.class], w)
	}
	classes = map[string]TimeToCert{}
	for name, ws := range byClass {
		classes[name] = timeToCert(ws)
	}
	perPhase = map[string]TimeToCert{}
	for _, p := range phases {
		var ws []certWait
		for _, w := range all {
			if !w.at.Before(p.Start) && w.at.Before(p.End) {
				ws = append(ws, w)
			}
		}
		perPhase[p.Name] = timeToCert(ws)
	}
	return run, classes, perPhase
}
