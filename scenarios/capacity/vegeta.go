package capacity

import (
	"context"
	"fmt"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// HTTPProbe is a Probe that runs vegeta at a constant rate for Duration
// against the targets Targeter makes. Workers are not capped (vegeta's
// default grows them), so a slow target shows up as latency, not as a
// lower offered rate.
type HTTPProbe struct {
	Targeter vegeta.Targeter
	Duration time.Duration // per step (default 3 s)
	Timeout  time.Duration // per request (default 2 s)
	// OK says which status codes count as goodput (default 2xx).
	OK func(code uint16) bool
	// Observe, when set, sees every result (e.g. to time 503s).
	Observe func(*vegeta.Result)
}

// Run is the Probe.
func (h HTTPProbe) Run(ctx context.Context, rate float64) (Step, error) {
	if h.Duration <= 0 {
		h.Duration = 3 * time.Second
	}
	if h.Timeout <= 0 {
		h.Timeout = 2 * time.Second
	}
	ok := h.OK
	if ok == nil {
		ok = func(c uint16) bool { return c >= 200 && c < 300 }
	}
	if rate < 1 {
		return Step{}, fmt.Errorf("rate %.2f/s is below 1/s", rate)
	}
	atk := vegeta.NewAttacker(vegeta.Timeout(h.Timeout), vegeta.KeepAlive(true), vegeta.Connections(10000))
	pacer := vegeta.ConstantPacer{Freq: int(rate + 0.5), Per: time.Second}
	var m vegeta.Metrics
	var good int
	results := atk.Attack(h.Targeter, pacer, h.Duration, "capacity")
	for {
		select {
		case <-ctx.Done():
			atk.Stop()
			for range results {
			}
			return Step{}, ctx.Err()
		case r, more := <-results:
			if !more {
				m.Close()
				st := Step{Offered: rate, P99: m.Latencies.P99}
				if m.Requests > 0 {
					st.Success = float64(good) / float64(m.Requests)
				}
				st.Goodput = float64(good) / h.Duration.Seconds()
				return st, nil
			}
			m.Add(r)
			if ok(r.Code) {
				good++
			}
			if h.Observe != nil {
				h.Observe(r)
			}
		}
	}
}
