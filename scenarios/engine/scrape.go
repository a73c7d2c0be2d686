package engine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/golive-dev/golive/reports/rundir"
)

// parseMetrics reads the gauges the reports plot from Prometheus text.
func parseMetrics(r io.Reader) (rundir.Scrape, error) {
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return rundir.Scrape{}, fmt.Errorf("parsing /metrics: %w", err)
	}
	sum := func(name string) float64 {
		f, ok := fams[name]
		if !ok {
			return 0
		}
		var v float64
		for _, m := range f.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				v += m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				v += m.GetCounter().GetValue()
			}
		}
		return v
	}
	return rundir.Scrape{
		DeferredBacklog:  sum("portal_deferred_backlog"),
		SignersAvailable: sum("portal_signers_available"),
		InFlight:         sum("portal_in_flight_requests"),
		FraudEvents:      sum("portal_fraud_events_total"),
		Up:               true,
	}, nil
}

// scraper reads /metrics every interval and keeps the readings.
type scraper struct {
	url   string
	token string // bearer token of a guarded /metrics ("": none)
	http  *http.Client
	sim   func(time.Time) time.Time

	mu   sync.Mutex
	list []rundir.Scrape
}

func (s *scraper) once(ctx context.Context) rundir.Scrape {
	now := time.Now()
	sc := rundir.Scrape{Wall: now, Sim: s.sim(now)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
	if err == nil {
		if s.token != "" {
			req.Header.Set("Authorization", "Bearer "+s.token)
		}
		var resp *http.Response
		if resp, err = s.http.Do(req); err == nil {
			if resp.StatusCode == http.StatusOK {
				if parsed, perr := parseMetrics(resp.Body); perr == nil {
					parsed.Wall, parsed.Sim = sc.Wall, sc.Sim
					sc = parsed
				}
			}
			resp.Body.Close()
		}
	}
	s.mu.Lock()
	s.list = append(s.list, sc)
	s.mu.Unlock()
	return sc
}

// run scrapes until ctx ends.
func (s *scraper) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, min(every, 2*time.Second))
		s.once(rctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *scraper) readings() []rundir.Scrape {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rundir.Scrape(nil), s.list...)
}
