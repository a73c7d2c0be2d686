package threshold

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/golive-dev/golive/reports/rundir"
)

// RunDir is a Source reading a run directory through package rundir:
// summary.json for whole-run figures, the timescale and the goodput
// classes, histogram.hdr for exact whole-run percentiles, timeseries.csv
// for phases and windows, events.json for the phases. Missing files mean
// "unknown", not errors; unreadable or malformed ones (a summary.json of
// a newer major schema included) are errors. Files are read once, on
// first use.
type RunDir struct {
	Dir string

	once struct{ sum, ts, ev, hdr sync.Once }
	sum  map[string]any
	typ  *rundir.Summary
	ts   []Bucket
	ev   []Phase
	hdr  map[string]*hdrhistogram.Histogram
	errs struct{ sum, ts, ev, hdr error }
}

// OpenRunDir checks that dir is a run directory (it holds summary.json or
// timeseries.csv) and returns a Source for it.
func OpenRunDir(dir string) (*RunDir, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("run directory %s: not a directory", dir)
	}
	r := &RunDir{Dir: dir}
	_, errS := os.Stat(filepath.Join(dir, rundir.SummaryFile))
	_, errT := os.Stat(filepath.Join(dir, rundir.TimeseriesFile))
	if errS != nil && errT != nil {
		return nil, fmt.Errorf("%s is not a run directory: it has neither %s nor %s", dir, rundir.SummaryFile, rundir.TimeseriesFile)
	}
	return r, nil
}

func (r *RunDir) loadSummary() {
	r.once.sum.Do(func() {
		path := filepath.Join(r.Dir, rundir.SummaryFile)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			r.errs.sum = err
			return
		}
		if r.typ, err = rundir.DecodeSummary(path, b); err != nil {
			r.errs.sum = err
			return
		}
		// The generic form tells a key that is absent from one that is 0.
		r.errs.sum = decodeMap(path, b, &r.sum)
	})
}

// Summary returns summary.json decoded generically (nil when absent).
func (r *RunDir) Summary() (map[string]any, error) {
	r.loadSummary()
	return r.sum, r.errs.sum
}

// Timescale is the run's simulated seconds per wall second from
// summary.json (1 when unknown): rates are per wall second.
func (r *RunDir) Timescale() (float64, error) {
	r.loadSummary()
	if r.errs.sum != nil || r.typ == nil || r.typ.Timescale <= 0 {
		return 1, r.errs.sum
	}
	return r.typ.Timescale, nil
}

// RunSeconds is the scenario's simulated day from summary.json (0 when
// unknown): the whole run's rates divide by it, as summary.json's do.
func (r *RunDir) RunSeconds() (float64, error) {
	r.loadSummary()
	if r.typ == nil {
		return 0, r.errs.sum
	}
	return r.typ.Sim.Seconds(), r.errs.sum
}

// GoodputClasses are the classes goodput and offered load count
// (summary.json's goodput_classes; nil: every class).
func (r *RunDir) GoodputClasses() ([]string, error) {
	r.loadSummary()
	if r.typ == nil {
		return nil, r.errs.sum
	}
	return r.typ.GoodputClasses, r.errs.sum
}

// Buckets implements Source.
func (r *RunDir) Buckets() ([]Bucket, error) {
	r.once.ts.Do(func() {
		rows, err := rundir.ReadTimeseriesFile(r.Dir)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		r.ts, r.errs.ts = rows, err
	})
	return r.ts, r.errs.ts
}

// Phases implements Source.
func (r *RunDir) Phases() ([]Phase, error) {
	r.once.ev.Do(func() {
		ev, err := rundir.ReadEvents(r.Dir)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			r.errs.ev = err
			return
		}
		r.ev = ev.Phases
	})
	return r.ev, r.errs.ev
}

// Latency implements Source: exact from histogram.hdr when present, else
// the percentiles summary.json states.
func (r *RunDir) Latency(class string, q float64) (float64, string, bool, error) {
	hs, err := r.histograms()
	if err != nil {
		return 0, "", false, err
	}
	if len(hs) > 0 {
		var h *hdrhistogram.Histogram
		if class != "" {
			h = hs[class]
		} else {
			for _, c := range hs {
				if h == nil {
					h = hdrhistogram.New(c.LowestTrackableValue(), c.HighestTrackableValue(), int(c.SignificantFigures()))
				}
				h.Merge(c)
			}
		}
		if h != nil && h.TotalCount() > 0 {
			unit := float64(rundir.HistogramUnit) / float64(time.Millisecond)
			switch q {
			case 0:
				return h.Mean() * unit, rundir.HistogramFile, true, nil
			case 1:
				return float64(h.Max()) * unit, rundir.HistogramFile, true, nil
			}
			return float64(h.ValueAtQuantile(q*100)) * unit, rundir.HistogramFile, true, nil
		}
	}
	sum, err := r.Summary()
	if err != nil || sum == nil {
		return 0, "", false, err
	}
	key := "max"
	switch q {
	case 0:
		key = "mean"
	case 1:
	default:
		key = "p" + trimFloat(q*100)
	}
	path := []string{"latency_ms", key}
	if class != "" {
		path = []string{"classes", class, "latency_ms", key}
	}
	if v, ok := lookup(sum, path...); ok {
		return v, rundir.SummaryFile, true, nil
	}
	return 0, "", false, nil
}

// figurePaths says where summary.json keeps each whole-run figure.
var figurePaths = map[string][]string{
	"lost": {"consistency", "lost"}, "duplicates": {"consistency", "duplicates"},
	"acknowledged": {"consistency", "acknowledged"}, "tickets_pending": {"consistency", "tickets_pending"},
	"fraud_issued": {"security", "fraud_issued"}, "fraud_escaped": {"security", "fraud_escaped"},
	"fraud_revoked": {"security", "fraud_revoked"},
	"goodput":       {"goodput", "mean"}, "offered": {"offered_rate", "mean"},
	"late_sends": {"late_sends"}, "dropped_sends": {"dropped_sends"},
	"retry_amplification":    {"requests", "retry_amplification"},
	"recovery_goodput_ratio": {"recovery", "goodput_ratio"},
	"past_timeout":           {"requests", "past_timeout"},
	"came_in_vain":           {"came_in_vain"},
}

// Figure implements Source. A cost figure is named with its component,
// "cpu_per_issue(portal)".
func (r *RunDir) Figure(name string) (float64, bool, error) {
	if metric, class, ok := strings.Cut(strings.TrimSuffix(name, ")"), "("); ok {
		if _, known := classFigures[metric]; known {
			sum, err := r.Summary()
			if err != nil || sum == nil {
				return 0, false, err
			}
			v, ok := lookup(sum, "classes", class, metric)
			return v, ok, nil
		}
	}
	if metric, comp, ok := strings.Cut(strings.TrimSuffix(name, ")"), "("); ok {
		key, known := costFigures[metric]
		if !known {
			return 0, false, nil
		}
		sum, err := r.Summary()
		if err != nil || sum == nil {
			return 0, false, err
		}
		path := []string{"cost", "components", comp, key}
		if comp == "system" || comp == "signers" {
			path = []string{"cost", comp, key}
		}
		v, ok := lookup(sum, path...)
		return v, ok, nil
	}
	path, known := figurePaths[name]
	if !known {
		return 0, false, nil
	}
	sum, err := r.Summary()
	if err != nil || sum == nil {
		return 0, false, err
	}
	v, ok := lookup(sum, path...)
	return v, ok, nil
}

func lookup(m map[string]any, path ...string) (float64, bool) {
	var cur any = m
	for _, k := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		if cur, ok = obj[k]; !ok {
			return 0, false
		}
	}
	v, ok := cur.(float64)
	return v, ok
}

func (r *RunDir) histograms() (map[string]*hdrhistogram.Histogram, error) {
	r.once.hdr.Do(func() {
		p := filepath.Join(r.Dir, rundir.HistogramFile)
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			r.errs.hdr = err
			return
		}
		defer f.Close()
		r.hdr, err = rundir.ReadHistograms(f)
		if err != nil {
			r.errs.hdr = fmt.Errorf("%s: %w", p, err)
		}
	})
	return r.hdr, r.errs.hdr
}

func decodeMap(path string, b []byte, m *map[string]any) error {
	if err := json.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
