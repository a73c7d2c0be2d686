package engine

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
)

// Scrape is one reading of the portal's /metrics.
type Scrape struct {
	Sim, Wall        time.Time
	DeferredBacklog  float64
	SignersAvailable float64
	InFlight         float64
	FraudEvents      float64
	// OK is false when the portal did not answer (down, paused, cut off).
	OK bool
}

// parseMetrics reads the gauges the reports plot from Prometheus text.
func parseMetrics(r io.Reader) (Scrape, error) {
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Scrape{}, fmt.Errorf("parsing /metrics: %w", err)
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
	return Scrape{
		DeferredBacklog:  sum("portal_deferred_backlog"),
		SignersAvailable: sum("portal_signers_available"),
		InFlight:         sum("portal_in_flight_requests"),
		FraudEvents:      sum("portal_fraud_events_total"),
		OK:               true,
	}, nil
}

// scraper reads /metrics every interval and keeps the readings.
type scraper struct {
	url  string
	http *http.Client
	sim  func(time.Time) time.Time

	mu   sync.Mutex
	list []Scrape
}

func (s *scraper) once(ctx context.Context) Scrape {
	now := time.Now()
	sc := Scrape{Wall: now, Sim: s.sim(now)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
	if err == nil {
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

func (s *scraper) readings() []Scrape {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Scrape(nil), s.list...)
}

// writeMetricsCSV writes metrics.csv (docs/run-format.md).
func writeMetricsCSV(w io.Writer, list []Scrape) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"sim_time", "wall_unix_ms", "deferred_backlog", "signers_available", "in_flight", "fraud_events", "up"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, s := range list {
		up := "1"
		if !s.OK {
			up = "0"
		}
		_ = cw.Write([]string{s.Sim.Format(time.RFC3339), strconv.FormatInt(s.Wall.UnixMilli(), 10),
			f(s.DeferredBacklog), f(s.SignersAvailable), f(s.InFlight), f(s.FraudEvents), up})
	}
	cw.Flush()
	return cw.Error()
}
