package reports

import (
	"io"
	"math"

	"github.com/golive-dev/golive/reports/rundir"
)

// maxMetrics bounds memory for very long or very finely scraped runs.
const maxMetrics = 1 << 15

// readMetrics reads metrics.csv, halving the scrapes whenever maxMetrics
// are held.
func readMetrics(r io.Reader, path string) ([]rundir.Scrape, error) {
	var out []rundir.Scrape
	err := rundir.ReadMetrics(r, path, func(m rundir.Scrape) error {
		out = append(out, m)
		if len(out) >= maxMetrics {
			out = halveMetrics(out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// halveMetrics merges scrape pairs, keeping the worst of each (highest
// backlog, fewest signers) so a short incident stays visible.
func halveMetrics(ms []rundir.Scrape) []rundir.Scrape {
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
