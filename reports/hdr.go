package reports

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// HistogramUnitMS is the milliseconds per recorded histogram value:
// histogram.hdr records latencies in microseconds (see FORMAT.md).
const HistogramUnitMS = 0.001

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
	sc := bufio.NewScanner(r)
	// A histogram with a wide range is tens of kilobytes of base64.
	sc.Buffer(make([]byte, 64<<10), 32<<20)
	l := &Latency{ByClass: map[string]*hdrhistogram.Histogram{}}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		class, enc, ok := strings.Cut(text, ",")
		if !ok || class == "" || enc == "" {
			return nil, fmt.Errorf("%s:%d: want class,base64", path, line)
		}
		h, err := decodeHistogram(enc)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: class %s: %w", path, line, class, err)
		}
		if prev := l.ByClass[class]; prev != nil {
			// Several lines of one class (e.g. one per loadgen worker) merge.
			prev.Merge(h)
			continue
		}
		l.ByClass[class] = h
		l.Classes = append(l.Classes, class)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
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

// decodeHistogram wraps hdrhistogram.Decode, which panics on short or
// corrupt input instead of returning an error.
func decodeHistogram(enc string) (h *hdrhistogram.Histogram, err error) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(raw) < 8 {
		return nil, fmt.Errorf("only %d bytes, too short for an HdrHistogram V2 encoding", len(raw))
	}
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("corrupt HdrHistogram encoding: %v", p)
		}
	}()
	h, err = hdrhistogram.Decode([]byte(enc))
	if err != nil {
		return nil, fmt.Errorf("decode HdrHistogram: %w", err)
	}
	return h, nil
}
