package threshold

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/golive-dev/golive/loadgen"
)

// TimeseriesHeader is the header of timeseries.csv (docs/run-format.md).
var TimeseriesHeader = []string{"sim_time", "class", "offered", "sent", "late", "dropped",
	"ok", "deferred", "rejected", "overload", "error", "timeout", "transport",
	"p50_ms", "p90_ms", "p99_ms", "max_ms", "retries"}

// HdrUnit is the unit of the values in histogram.hdr: microseconds.
const HdrUnit = time.Microsecond

// RunDir is a Source reading a run directory: summary.json for whole-run
// figures, histogram.hdr for exact whole-run percentiles, timeseries.csv
// for phases and windows, events.json for the phases. Missing files mean
// "unknown", not errors; unreadable or malformed ones are errors. Files are
// read once, on first use.
type RunDir struct {
	Dir string

	once struct{ sum, ts, ev, hdr sync.Once }
	sum  map[string]any
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
	_, errS := os.Stat(filepath.Join(dir, "summary.json"))
	_, errT := os.Stat(filepath.Join(dir, "timeseries.csv"))
	if errS != nil && errT != nil {
		return nil, fmt.Errorf("%s is not a run directory: it has neither summary.json nor timeseries.csv", dir)
	}
	return r, nil
}

// Summary returns summary.json decoded generically (nil when absent).
func (r *RunDir) Summary() (map[string]any, error) {
	r.once.sum.Do(func() {
		b, err := os.ReadFile(filepath.Join(r.Dir, "summary.json"))
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			r.errs.sum = err
			return
		}
		if err := json.Unmarshal(b, &r.sum); err != nil {
			r.errs.sum = fmt.Errorf("%s: %w", filepath.Join(r.Dir, "summary.json"), err)
		}
	})
	return r.sum, r.errs.sum
}

// Buckets implements Source.
func (r *RunDir) Buckets() ([]Bucket, error) {
	r.once.ts.Do(func() {
		p := filepath.Join(r.Dir, "timeseries.csv")
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			r.errs.ts = err
			return
		}
		defer f.Close()
		r.ts, err = ReadTimeseries(f)
		if err != nil {
			r.errs.ts = fmt.Errorf("%s: %w", p, err)
		}
	})
	return r.ts, r.errs.ts
}

// Phases implements Source.
func (r *RunDir) Phases() ([]Phase, error) {
	r.once.ev.Do(func() {
		p := filepath.Join(r.Dir, "events.json")
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			r.errs.ev = err
			return
		}
		var ev struct {
			Phases []struct {
				Name       string
				Start, End time.Time
			}
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			r.errs.ev = fmt.Errorf("%s: %w", p, err)
			return
		}
		for _, ph := range ev.Phases {
			r.ev = append(r.ev, Phase{ph.Name, ph.Start, ph.End})
		}
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
			unit := float64(HdrUnit) / float64(time.Millisecond)
			switch q {
			case 0:
				return h.Mean() * unit, "histogram.hdr", true, nil
			case 1:
				return float64(h.Max()) * unit, "histogram.hdr", true, nil
			}
			return float64(h.ValueAtQuantile(q*100)) * unit, "histogram.hdr", true, nil
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
		return v, "summary.json", true, nil
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
	"retry_amplification": {"requests", "retry_amplification"},
}

// Figure implements Source.
func (r *RunDir) Figure(name string) (float64, bool, error) {
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
		p := filepath.Join(r.Dir, "histogram.hdr")
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			r.errs.hdr = err
			return
		}
		defer f.Close()
		r.hdr, err = ReadHistograms(f)
		if err != nil {
			r.errs.hdr = fmt.Errorf("%s: %w", p, err)
		}
	})
	return r.hdr, r.errs.hdr
}

// ReadHistograms reads histogram.hdr: one "class,base64" line per class,
// each an HdrHistogram V2 compressed histogram; lines starting with # are
// comments.
func ReadHistograms(rd io.Reader) (map[string]*hdrhistogram.Histogram, error) {
	return loadgen.ReadHistograms(rd)
}

// ReadTimeseries reads timeseries.csv. Columns are found by header name,
// so added columns do not break old readers.
func ReadTimeseries(rd io.Reader) ([]Bucket, error) {
	cr := csv.NewReader(rd)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"sim_time", "class"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("header lacks %q", need)
		}
	}
	var out []Bucket
	line := 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		line++
		if err != nil {
			return nil, err
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return rec[i]
			}
			return ""
		}
		var b Bucket
		if b.Start, err = time.Parse(time.RFC3339Nano, get("sim_time")); err != nil {
			return nil, fmt.Errorf("line %d: sim_time: %w", line, err)
		}
		b.Class = get("class")
		ints := []struct {
			name string
			dst  *int64
		}{{"offered", &b.Offered}, {"sent", &b.Sent}, {"late", &b.Late}, {"dropped", &b.Dropped}, {"retries", &b.Retries}}
		for i, o := range Outcomes {
			ints = append(ints, struct {
				name string
				dst  *int64
			}{o.Name, &b.Counts[i]})
		}
		for _, f := range ints {
			s := get(f.name)
			if s == "" {
				continue
			}
			if *f.dst, err = strconv.ParseInt(s, 10, 64); err != nil {
				return nil, fmt.Errorf("line %d: %s: %w", line, f.name, err)
			}
		}
		for _, f := range []struct {
			name string
			dst  *float64
		}{{"p50_ms", &b.P50}, {"p90_ms", &b.P90}, {"p99_ms", &b.P99}, {"max_ms", &b.Max}} {
			s := get(f.name)
			if s == "" {
				continue
			}
			if *f.dst, err = strconv.ParseFloat(s, 64); err != nil || math.IsNaN(*f.dst) {
				return nil, fmt.Errorf("line %d: %s: bad number %q", line, f.name, s)
			}
		}
		out = append(out, b)
	}
}

// WriteTimeseries writes buckets as timeseries.csv.
func WriteTimeseries(w io.Writer, bs []Bucket) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(TimeseriesHeader); err != nil {
		return err
	}
	ms := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, b := range bs {
		rec := []string{b.Start.Format(time.RFC3339Nano), b.Class, i64(b.Offered), i64(b.Sent), i64(b.Late), i64(b.Dropped)}
		for _, c := range b.Counts {
			rec = append(rec, i64(c))
		}
		rec = append(rec, ms(b.P50), ms(b.P90), ms(b.P99), ms(b.Max), i64(b.Retries))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
