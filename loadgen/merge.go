package loadgen

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/golive-dev/golive/reports/rundir"
)

// MergeSource is one worker's run directory (results.gob and
// results.meta.csv as Run writes them).
type MergeSource struct {
	Dir string
	// Partial accepts a damaged tail: a worker that was killed may have
	// left half a record. Reading stops there and Merged says how far it got.
	Partial bool
}

// Merged is what MergeFiles read from one source.
type Merged struct {
	Records  uint64 // records read (attempts and dropped sends)
	Requests uint64 // of those, attempts on the wire (Totals.Requests counts these)
	// Damaged is the error that stopped a Partial source early ("": none).
	Damaged string
}

// MergeFiles merges several workers' results into dst's results.gob and
// results.meta.csv, in order of completion time (each source is in that
// order already; the merge keeps it across sources), and aggregates the
// merged stream into timeseries.csv and histogram.hdr with the same
// Aggregator a single Run feeds: every count, rate and percentile is the
// one a single process would compute from the same records, and HDR
// histograms are built from every record, never averaged. One source is
// copied in its own order.
func MergeFiles(dst string, srcs []MergeSource, cfg AggregatorConfig) (t Totals, per []Merged, err error) {
	if len(srcs) == 0 {
		return Totals{}, nil, errors.New("loadgen: nothing to merge")
	}
	per = make([]Merged, len(srcs))
	h := &mergeHeap{}
	for i, s := range srcs {
		rf, err := os.Open(filepath.Join(s.Dir, rundir.ResultsFile))
		var mf *os.File
		if err == nil {
			defer rf.Close()
			mf, err = os.Open(filepath.Join(s.Dir, rundir.MetaFile))
		}
		if err != nil {
			if s.Partial { // a worker lost before it wrote anything
				per[i].Damaged = err.Error()
				continue
			}
			return Totals{}, per, fmt.Errorf("loadgen: merging worker %d: %w", i, err)
		}
		defer mf.Close()
		rr, err := NewRecordReader(rf, mf)
		if err != nil {
			if s.Partial {
				per[i].Damaged = err.Error()
				continue
			}
			return Totals{}, per, fmt.Errorf("loadgen: merging %s: %w", s.Dir, err)
		}
		head := &mergeHead{src: i, rr: rr, partial: s.Partial}
		ok, err := head.advance(&per[i])
		if err != nil {
			return Totals{}, per, fmt.Errorf("loadgen: merging %s: %w", s.Dir, err)
		}
		if ok {
			heap.Push(h, head)
		}
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return Totals{}, per, fmt.Errorf("loadgen: %w", err)
	}
	w, err := CreateWriter(dst)
	if err != nil {
		return Totals{}, per, err
	}
	tf, err := os.Create(filepath.Join(dst, rundir.TimeseriesFile))
	if err != nil {
		w.Close()
		return Totals{}, per, fmt.Errorf("loadgen: %w", err)
	}
	cfg.Timeseries = tf
	agg, err := NewAggregator(cfg)
	if err != nil {
		w.Close()
		tf.Close()
		return Totals{}, per, err
	}
	var werr error
	for h.Len() > 0 && werr == nil {
		head := (*h)[0]
		r := head.rec
		werr = w.Write(&r)
		agg.Add(&r)
		ok, err := head.advance(&per[head.src])
		switch {
		case err != nil:
			werr = fmt.Errorf("loadgen: merging %s: %w", srcs[head.src].Dir, err)
		case ok:
			heap.Fix(h, 0)
		default:
			heap.Pop(h)
		}
	}
	err = errors.Join(werr, agg.Close(), w.Close(), tf.Close())
	if err != nil {
		return agg.Totals(), per, err
	}
	hf, err := os.Create(filepath.Join(dst, rundir.HistogramFile))
	if err != nil {
		return agg.Totals(), per, fmt.Errorf("loadgen: %w", err)
	}
	if err := errors.Join(agg.WriteHistograms(hf), hf.Close()); err != nil {
		return agg.Totals(), per, err
	}
	return agg.Totals(), per, nil
}

// mergeHead is a source's next record.
type mergeHead struct {
	src     int
	rr      *RecordReader
	partial bool
	rec     Record
}

// advance reads the head's next record; false at the end (or at the
// damaged tail of a partial source).
func (m *mergeHead) advance(c *Merged) (bool, error) {
	r, err := m.rr.Next()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		if m.partial {
			c.Damaged = err.Error()
			return false, nil
		}
		return false, err
	}
	m.rec = *r
	c.Records++
	if !r.Dropped() {
		c.Requests++
	}
	return true, nil
}

type mergeHeap []*mergeHead

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	a, b := h[i].rec.End(), h[j].rec.End()
	if !a.Equal(b) {
		return a.Before(b)
	}
	return h[i].src < h[j].src
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(*mergeHead)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
