package gate

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
)

// The per-second comparison takes medians of per-second values, and most
// seconds of a compressed run hold one or two requests: a p99 regression
// confined to one phase (a cut-off where requests hang for 4 s) moves the
// median of the per-second p99s by a few percent. The tail check compares
// the tails themselves, from histograms of every attempt of the whole run
// and of each phase (merged over the pooled baselines).

// tailQuantile is the tail compared.
const tailQuantile = 0.99

// minTailRequests is the fewest attempts in a scope for its p99 to be
// compared: with fewer, the top 1 % is one or two requests.
const minTailRequests = 200

// Histogram bounds, as loadgen's: 1 µs to 10 min, 3 significant figures.
const (
	tailLowest  = 1
	tailHighest = int64(10 * time.Minute / time.Microsecond)
	tailFigures = 3
)

// tails is the latency histogram (µs, from the intended send) of every
// attempt of a run, and one per phase.
type tails struct {
	whole   *hdrhistogram.Histogram
	phases  map[string]*hdrhistogram.Histogram
	order   []string // phase names in run order
	noPhase string   // why there are no phase histograms, if there are none
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(tailLowest, tailHighest, tailFigures)
}

// readTails reads results.gob with results.meta.csv, and events.json for
// the phases' wall-clock windows. errNoResults when the run has no
// results.gob.
func readTails(dir string) (*tails, error) {
	res, err := os.Open(filepath.Join(dir, rundir.ResultsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoResults
	}
	if err != nil {
		return nil, err
	}
	defer res.Close()
	meta, err := os.Open(filepath.Join(dir, rundir.MetaFile))
	if err != nil {
		return nil, err
	}
	defer meta.Close()
	t := &tails{whole: newHist(), phases: map[string]*hdrhistogram.Histogram{}}
	windows, err := phaseWindows(dir)
	if err != nil {
		t.noPhase = err.Error()
	}
	for _, w := range windows {
		t.order = append(t.order, w.name)
		t.phases[w.name] = newHist()
	}
	err = loadgen.ReadRecords(res, meta, func(r *loadgen.Record) error {
		if r.Dropped() {
			return nil
		}
		us := min(max(r.ResponseTime().Microseconds(), tailLowest), tailHighest)
		_ = t.whole.RecordValue(us)
		for _, w := range windows {
			if !r.Intended.Before(w.start) && r.Intended.Before(w.end) {
				_ = t.phases[w.name].RecordValue(us)
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return t, nil
}

var errNoResults = errors.New("no results.gob")

type phaseWindow struct {
	name       string
	start, end time.Time
}

// phaseWindows reads the phases' wall-clock windows from events.json.
func phaseWindows(dir string) ([]phaseWindow, error) {
	ev, err := rundir.ReadEvents(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no phases: %w", err)
	}
	if err != nil {
		return nil, err
	}
	var out []phaseWindow
	for _, p := range ev.Phases {
		if p.WallStart.IsZero() || !p.WallEnd.After(p.WallStart) {
			continue
		}
		out = append(out, phaseWindow{p.Name, p.WallStart, p.WallEnd})
	}
	return out, nil
}

// merge pools the baselines' tails.
func merge(ts []*tails) *tails {
	out := &tails{whole: newHist(), phases: map[string]*hdrhistogram.Histogram{}}
	for _, t := range ts {
		out.whole.Merge(t.whole)
		for _, name := range t.order {
			h, ok := out.phases[name]
			if !ok {
				h = newHist()
				out.phases[name] = h
				out.order = append(out.order, name)
			}
			h.Merge(t.phases[name])
		}
		if out.noPhase == "" {
			out.noPhase = t.noPhase
		}
	}
	return out
}

// compareTails checks the whole run's p99 and each phase's (the phases both
// sides have) against the pooled baselines.
func compareTails(bases []string, runDir string, maxRegression, alpha float64) ([]Check, error) {
	var bts []*tails
	for _, b := range bases {
		t, err := readTails(b)
		if errors.Is(err, errNoResults) {
			return []Check{{Kind: "regression", Name: "p99 tail", OK: true, Value: "n/a",
				Detail: "not compared: the baseline " + b + " has no results.gob"}}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		bts = append(bts, t)
	}
	rt, err := readTails(runDir)
	if errors.Is(err, errNoResults) {
		return []Check{{Kind: "regression", Name: "p99 tail", OK: true, Value: "n/a",
			Detail: "not compared: the run has no results.gob"}}, nil
	}
	if err != nil {
		return nil, err
	}
	bt := merge(bts)
	out := []Check{tailCheck("p99 tail", "run", bt.whole, rt.whole, maxRegression, alpha)}
	for _, name := range rt.order {
		bh, ok := bt.phases[name]
		if !ok {
			continue
		}
		out = append(out, tailCheck("p99 tail", "phase "+name, bh, rt.phases[name], maxRegression, alpha))
	}
	return out, nil
}

// tailCheck is a test of the tail beyond the limit: t is the baseline's
// p99 moved by the allowed regression. Under "no regression beyond the
// limit" at most 1 % of the run's attempts lie above t, as of the
// baseline's; a one-sided two-proportion z-test asks whether the run has
// significantly more above t than the baseline, and the check fails when
// it has AND the run's own p99 lies beyond t.
func tailCheck(name, scope string, base, run *hdrhistogram.Histogram, maxRegression, alpha float64) Check {
	c := Check{Kind: "regression", Name: name, Scope: scope, OK: true}
	nx, ny := base.TotalCount(), run.TotalCount()
	if nx < minTailRequests || ny < minTailRequests {
		c.Value = "n/a"
		c.Detail = fmt.Sprintf("not compared: %d and %d attempts (need %d for a p99)", ny, nx, minTailRequests)
		return c
	}
	bp := float64(base.ValueAtQuantile(tailQuantile * 100))
	rp := float64(run.ValueAtQuantile(tailQuantile * 100))
	limit := bp * (1 + maxRegression)
	kx, ky := above(base, limit), above(run, limit)
	p := twoProportionGreater(kx, nx, ky, ny)
	effect := ratio(rp, bp) - 1
	c.OK = !(p < alpha && rp > limit)
	c.Value = fmtPct(effect)
	c.Detail = fmt.Sprintf("p99 %s vs %s baseline (%d vs %d attempts); %.2f%% vs %.2f%% above %s, p=%.2g; fails when p<%g and p99 > +%g%%",
		fmtMicros(rp), fmtMicros(bp), ny, nx, 100*float64(ky)/float64(ny), 100*float64(kx)/float64(nx), fmtMicros(limit), p, alpha, maxRegression*100)
	return c
}

// fmtMicros prints a latency in µs as a duration with three significant
// digits: 4s, 119ms, 131ms, 850µs.
func fmtMicros(us float64) string {
	d := time.Duration(us * float64(time.Microsecond))
	unit := time.Duration(1)
	for lim := time.Duration(1000); d >= lim && unit < time.Millisecond*10; lim *= 10 {
		unit *= 10
	}
	return d.Round(unit).String()
}

// above counts the values of h greater than v.
func above(h *hdrhistogram.Histogram, v float64) int64 {
	var n int64
	for _, b := range h.Distribution() {
		// A bar whose range starts above v lies wholly above it; the
		// bar holding v is counted as not above (histogram resolution).
		if float64(b.From) > v {
			n += b.Count
		}
	}
	return n
}

// twoProportionGreater is the one-sided p-value of "the proportion ky/ny is
// greater than kx/nx" by the pooled normal approximation.
func twoProportionGreater(kx, nx, ky, ny int64) float64 {
	px, py := float64(kx)/float64(nx), float64(ky)/float64(ny)
	pool := float64(kx+ky) / float64(nx+ny)
	se := math.Sqrt(pool * (1 - pool) * (1/float64(nx) + 1/float64(ny)))
	if se == 0 {
		if py > px {
			return 0
		}
		return 1
	}
	z := (py - px) / se
	return 0.5 * math.Erfc(z/math.Sqrt2)
}
