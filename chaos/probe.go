package chaos

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"

	"github.com/golive-dev/golive/reports/rundir"
)

// Probe is one steady-state check's outcome, as events.json records it
// (package rundir owns the format).
type Probe = rundir.ProbeCheck

// IssueFunc performs one real issuance against the portal; the engine
// supplies it (a pharmacy's certificate request).
type IssueFunc func(ctx context.Context) error

// Deviations are the failed probes.
func Deviations(ps []Probe) []Probe {
	var out []Probe
	for _, p := range ps {
		if !p.OK {
			out = append(out, p)
		}
	}
	return out
}

// SteadyState checks the steady-state hypothesis: every component's ready
// path answers 200 and one issuance succeeds. Each check is retried until
// it passes or within has passed (0: checked once), so a component that
// is still recovering from an undo gets its chance; what never passes is
// a deviation to report. issue may be nil (no issuance check).
func SteadyState(ctx context.Context, t Target, phase string, within time.Duration, issue IssueFunc) []Probe {
	hc := &http.Client{Timeout: 2 * time.Second}
	// A testbed serving HTTPS is checked against its own CA.
	if s, ok := t.(testbed.TLSServer); ok && s.CA() != nil {
		tr := &http.Transport{TLSClientConfig: s.CA().ClientConfig()}
		defer tr.CloseIdleConnections()
		hc.Transport = tr
	}
	var out []Probe
	for _, c := range t.Components() {
		url := c.URL + c.ReadyPath
		out = append(out, probe(ctx, phase, "ready "+c.Name, within, func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered %d", url, resp.StatusCode)
			}
			return nil
		}))
	}
	if issue != nil {
		out = append(out, probe(ctx, phase, "issue", within, issue))
	}
	return out
}

func probe(ctx context.Context, phase, check string, within time.Duration, f func(context.Context) error) Probe {
	start := time.Now()
	deadline := start.Add(within)
	p := Probe{Phase: phase, Check: check, Time: start}
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := f(cctx)
		cancel()
		if err == nil {
			p.OK = true
			break
		}
		p.Error = err.Error()
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if p.OK {
		p.Error = ""
	}
	p.Elapsed = float64(time.Since(start).Microseconds()) / 1000
	return p
}
