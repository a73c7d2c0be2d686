package rundir

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// MetricsColumns are metrics.csv's columns in file order.
var MetricsColumns = []string{"sim_time", "wall_unix_ms", "deferred_backlog", "signers_available", "in_flight", "fraud_events", "up"}

// Scrape is one reading of the portal's /metrics: one row of metrics.csv.
// A gauge the scrape did not return reads as NaN.
type Scrape struct {
	Sim, Wall        time.Time
	DeferredBacklog  float64
	SignersAvailable float64
	InFlight         float64
	FraudEvents      float64
	// Up is false when the portal did not answer (down, paused, cut off).
	Up bool
}

// WriteMetrics writes metrics.csv.
func WriteMetrics(w io.Writer, list []Scrape) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(MetricsColumns)
	f := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	for _, s := range list {
		up := "1"
		if !s.Up {
			up = "0"
		}
		// Whole seconds, as before: scrapes are a wall second (many
		// simulated seconds) apart.
		_ = cw.Write([]string{s.Sim.Format(time.RFC3339), strconv.FormatInt(s.Wall.UnixMilli(), 10),
			f(s.DeferredBacklog), f(s.SignersAvailable), f(s.InFlight), f(s.FraudEvents), up})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("metrics.csv: %w", err)
	}
	return nil
}

// WriteMetricsFile writes dir/metrics.csv.
func WriteMetricsFile(dir string, list []Scrape) (err error) {
	f, err := os.Create(filepath.Join(dir, MetricsFile))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	bw := bufio.NewWriter(f)
	if err := WriteMetrics(bw, list); err != nil {
		return err
	}
	return bw.Flush()
}

// ReadMetrics calls fn for every row of a metrics.csv stream (path names
// it in errors). The up column may be missing (every scrape answered).
func ReadMetrics(r io.Reader, path string, fn func(Scrape) error) error {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.ReuseRecord = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: empty file, want the header %v", path, MetricsColumns)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	pos := map[string]int{}
	for i, h := range head {
		pos[h] = i
	}
	col := make([]int, len(MetricsColumns))
	var missing []string
	for i, name := range MetricsColumns {
		p, ok := pos[name]
		if !ok {
			p = -1
			if name != "up" {
				missing = append(missing, name)
			}
		}
		col[i] = p
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s:1: header lacks column(s) %v (have %v)", path, missing, head)
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		s := Scrape{Up: true}
		if s.Sim, err = time.Parse(time.RFC3339Nano, rec[col[0]]); err != nil {
			return fmt.Errorf("%s:%d: sim_time %q is not RFC 3339", path, line, rec[col[0]])
		}
		ms, err := strconv.ParseInt(rec[col[1]], 10, 64)
		if err != nil {
			return fmt.Errorf("%s:%d: wall_unix_ms %q is not an integer", path, line, rec[col[1]])
		}
		s.Wall = time.UnixMilli(ms)
		for k, dst := range [...]*float64{&s.DeferredBacklog, &s.SignersAvailable, &s.InFlight, &s.FraudEvents} {
			cell := rec[col[2+k]]
			if cell == "" {
				*dst = math.NaN()
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				return fmt.Errorf("%s:%d: %s %q is not a number", path, line, MetricsColumns[2+k], cell)
			}
			*dst = v
		}
		if p := col[6]; p >= 0 {
			s.Up = rec[p] != "0"
		}
		if err := fn(s); err != nil {
			return err
		}
	}
}
