package capacity

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/loadgen/balance"
)

// HTTPProbe runs vegeta at a constant rate against the targets Targeter
// makes. Workers are not capped (vegeta's default grows them), so a slow
// target shows up as latency, not as a lower offered rate.
type HTTPProbe struct {
	Targeter vegeta.Targeter
	Duration time.Duration // per step for Run (default 3 s)
	Timeout  time.Duration // per request (default 2 s)
	// OK says which status codes count as goodput (default 2xx).
	OK func(code uint16) bool
	// Observe, when set, sees every result (e.g. to time 503s).
	Observe func(*vegeta.Result)
	// Replicas are the base URLs of several portals: requests go to each
	// in turn (loadgen/balance), as the pharmacies' clients spread them.
	// Empty or one: the targets' own URL.
	Replicas []string
}

// probeKeepAlive is the TCP keep-alive period of the probe's connections
// to several portals (vegeta's own default).
const probeKeepAlive = 30 * time.Second

// probeConnections bounds the probe's idle connections per host (vegeta's
// Connections): no step is limited by connection reuse.
const probeConnections = 10000

// Run is a Probe: Step for h.Duration.
func (h HTTPProbe) Run(ctx context.Context, rate float64) (Step, error) {
	if h.Duration <= 0 {
		h.Duration = 3 * time.Second
	}
	return h.Step(ctx, Plan{Rate: rate, Duration: h.Duration})
}

// Step holds p.Rate for p.Duration and counts what came back: the outcome
// mix, the problem codes of refusals, latency percentiles and goodput.
// A targeter error stops vegeta; the step then says so in Err.
func (h HTTPProbe) Step(ctx context.Context, p Plan) (Step, error) {
	if h.Timeout <= 0 {
		h.Timeout = 2 * time.Second
	}
	ok := h.OK
	if ok == nil {
		ok = func(c uint16) bool { return c >= 200 && c < 300 }
	}
	if p.Rate < 1 {
		return Step{}, fmt.Errorf("rate %.2f/s is below 1/s", p.Rate)
	}
	if p.Duration <= 0 {
		return Step{}, fmt.Errorf("step duration %v is not positive", p.Duration)
	}
	var tmu sync.Mutex
	var terr error
	targeter := func(t *vegeta.Target) error {
		err := h.Targeter(t)
		if err != nil {
			tmu.Lock()
			if terr == nil {
				terr = err
			}
			tmu.Unlock()
		}
		return err
	}
	opts := []func(*vegeta.Attacker){vegeta.Timeout(h.Timeout), vegeta.KeepAlive(true), vegeta.Connections(probeConnections)}
	if len(h.Replicas) > 1 {
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: probeConnections,
			DialContext: (&net.Dialer{Timeout: h.Timeout, KeepAlive: probeKeepAlive}).DialContext}
		spread, err := balance.New(h.Replicas, tr)
		if err != nil {
			return Step{}, fmt.Errorf("capacity: %w", err)
		}
		defer spread.CloseIdleConnections()
		opts = append(opts, vegeta.Client(&http.Client{Timeout: h.Timeout, Transport: spread}))
	}
	atk := vegeta.NewAttacker(opts...)
	// A rate with a fraction (bisection) keeps it: per nanosecond-exact
	// intervals rather than a rounded per-second count.
	pacer := vegeta.ConstantPacer{Freq: int(math.Round(p.Rate * 1000)), Per: time.Second * 1000}
	if pacer.Freq%1000 == 0 {
		pacer = vegeta.ConstantPacer{Freq: pacer.Freq / 1000, Per: time.Second}
	}
	st := Step{Offered: p.Rate, Planned: int64(math.Round(p.Rate * p.Duration.Seconds()))}
	var m vegeta.Metrics
	var good int64
	start := time.Now()
	var last time.Time
	results := atk.Attack(targeter, pacer, p.Duration, "capacity")
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
				st.Requests = int64(m.Requests)
				st.P50, st.P90, st.P99 = m.Latencies.P50, m.Latencies.P90, m.Latencies.P99
				if m.Requests > 0 {
					st.Success = float64(good) / float64(m.Requests)
				}
				// Goodput over the sending window: the planned one, or
				// the shorter one when the load stopped early.
				st.Duration = p.Duration
				tmu.Lock()
				if terr != nil {
					st.Err = "the load generator could not build a request: " + terr.Error()
					st.Duration = max(last.Sub(start), time.Millisecond)
				}
				tmu.Unlock()
				st.Goodput = float64(good) / st.Duration.Seconds()
				return st, nil
			}
			if r.Error != "" && r.Method == "" {
				// The targeter failed (vegeta stops): no request went out.
				continue
			}
			m.Add(r)
			if r.Timestamp.After(last) {
				last = r.Timestamp
			}
			if ok(r.Code) {
				good++
			}
			st.count(r)
			if h.Observe != nil {
				h.Observe(r)
			}
		}
	}
}

// count adds one result to the outcome mix and the problem codes.
func (st *Step) count(r *vegeta.Result) {
	var out loadgen.Outcome
	switch {
	case r.Code == 0 && isTimeout(r.Error):
		out = loadgen.OutcomeTimeout
	case r.Code == 0:
		out = loadgen.OutcomeTransport
	default:
		out = loadgen.ClassifyStatus(int(r.Code))
	}
	addOutcome(&st.Outcomes, out)
	if r.Code >= 400 {
		var pb struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(r.Body, &pb)
		key := ProblemKey(int(r.Code), pb.Code)
		if st.Problems == nil {
			st.Problems = map[string]int64{}
		}
		st.Problems[key]++
		if IsControl(key) {
			st.Controls++
		}
	}
}

// isTimeout recognises net/http's client timeout in a vegeta error.
func isTimeout(err string) bool {
	return strings.Contains(err, "Client.Timeout") || strings.Contains(err, "deadline exceeded") || strings.Contains(err, "timeout")
}
