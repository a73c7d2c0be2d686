package reports

import (
	"errors"
	"fmt"
	"io"

	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/golive-dev/golive/reports/rundir"
)

// HistogramUnitMS is the milliseconds per recorded histogram value
// (rundir.HistogramUnit).
const HistogramUnitMS = float64(rundir.HistogramUnit) / float64(time.Millisecond)

// Latency is histogram.hdr: the whole-run latency distribution per class
// and all classes merged.
type Latency struct {
	Classes []string // in file order
	ByClass map[string]*hdrhistogram.Histogram
	All     *hdrhistogram.Histogram
}

// PercentileMS is the latency at percentile p (0-100) of class ("" for all
// classes), in milliseconds.
func (l *Latency) PercentileMS(class string, p float64) float64 {
	h := l.All
	if class != "" {
		h = l.ByClass[class]
	}
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return float64(h.ValueAtPercentile(p)) * HistogramUnitMS
}

// MaxMS is the highest latency recorded for class ("" for all).
func (l *Latency) MaxMS(class string) float64 {
	h := l.All
	if class != "" {
		h = l.ByClass[class]
	}
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return float64(h.Max()) * HistogramUnitMS
}

func readHistograms(r io.Reader, path string) (*Latency, error) {
	l := &Latency{ByClass: map[string]*hdrhistogram.Histogram{}}
	err := rundir.ReadHistogramLines(r, func(class string, h *hdrhistogram.Histogram) error {
		if prev := l.ByClass[class]; prev != nil {
			// Several lines of one class (e.g. one per loadgen worker) merge.
			prev.Merge(h)
			return nil
		}
		l.ByClass[class] = h
		l.Classes = append(l.Classes, class)
		return nil
	})
	var le *rundir.HistogramLineError
	if errors.As(err, &le) {
		return nil, fmt.Errorf("%s:%d: %w", path, le.Line, le.Err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(l.Classes) == 0 {
		return nil, fmt.Errorf("%s: no histogram lines", path)
	}
	var lo, hi, sig int64 = 1 << 62, 1, 1
	for _, h := range l.ByClass {
		lo = min(lo, h.LowestTrackableValue())
		hi = max(hi, h.HighestTrackableValue())
		sig = max(sig, h.SignificantFigures())
	}
	l.All = hdrhistogram.New(max(lo, 1), hi, int(sig))
	for _, c := range l.Classes {
		l.All.Merge(l.ByClass[c])
	}
	return l, nil
}
