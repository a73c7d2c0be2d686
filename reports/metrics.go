package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Metric is one scrape of the portal's /metrics (metrics.csv).
type Metric struct {
	SimTime          time.Time
	WallUnixMS       int64
	DeferredBacklog  float64
	SignersAvailable float64
	InFlight         float64
	FraudEvents      float64
}

var metricsColumns = []string{"sim_time", "wall_unix_ms", "deferred_backlog", "signers_available", "in_flight", "fraud_events"}

// maxMetrics bounds memory for very long or very finely scraped runs.
const maxMetrics = 1 << 15

func readMetrics(r io.Reader, path string) ([]Metric, error) {
	cr, col, err := openCSV(bufio.NewReader(r), path, metricsColumns)
	if err != nil {
		return nil, err
	}
	var out []Metric
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		var m Metric
		if m.SimTime, err = time.Parse(time.RFC3339, rec[col[0]]); err != nil {
			return nil, fmt.Errorf("%s:%d: sim_time %q is not RFC 3339", path, line, rec[col[0]])
		}
		if m.WallUnixMS, err = strconv.ParseInt(rec[col[1]], 10, 64); err != nil {
			return nil, fmt.Errorf("%s:%d: wall_unix_ms %q is not an integer", path, line, rec[col[1]])
		}
		for k, dst := range []*float64{&m.DeferredBacklog, &m.SignersAvailable, &m.InFlight, &m.FraudEvents} {
			// An empty cell is a gauge the scrape did not return.
			if rec[col[2+k]] == "" {
				*dst = math.NaN()
				continue
			}
			v, err := strconv.ParseFloat(rec[col[2+k]], 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, fmt.Errorf("%s:%d: %s %q is not a number", path, line, metricsColumns[2+k], rec[col[2+k]])
			}
			*dst = v
		}
		out = append(out, m)
		if len(out) >= maxMetrics {
			out = halveMetrics(out)
		}
	}
	return out, nil
}

// halveMetrics merges scrape pairs, keeping the worst of each (highest
// backlog, fewest signers) so a short incident stays visible.
func halveMetrics(ms []Metric) []Metric {
	n := len(ms) / 2
	for i := range n {
		a, b := ms[2*i], ms[2*i+1]
		a.DeferredBacklog = nanMax(a.DeferredBacklog, b.DeferredBacklog)
		a.InFlight = nanMax(a.InFlight, b.InFlight)
		a.SignersAvailable = nanMin(a.SignersAvailable, b.SignersAvailable)
		a.FraudEvents = nanMax(a.FraudEvents, b.FraudEvents)
		ms[i] = a
	}
	if len(ms)%2 == 1 {
		ms[n] = ms[len(ms)-1]
		n++
	}
	return ms[:n]
}

func nanMax(a, b float64) float64 {
	if math.IsNaN(a) {
		return b
	}
	if math.IsNaN(b) {
		return a
	}
	return math.Max(a, b)
}

func nanMin(a, b float64) float64 {
	if math.IsNaN(a) {
		return b
	}
	if math.IsNaN(b) {
		return a
	}
	return math.Min(a, b)
}
