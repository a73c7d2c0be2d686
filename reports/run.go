// Package reports turns a run directory (docs/run-format.md) into the
// artefacts people and CI read: report.html with embedded charts, summary.md
// for pull-request comments and junit.xml for test dashboards. It reads only
// files on disk, so a report can be rebuilt long after the run.
package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/golive-dev/golive/reports/rundir"
)

// Run is everything a report needs from one run directory, read through
// package rundir. Optional parts are nil when their file is missing; Notes
// says which ones and why.
type Run struct {
	// Dir is the run directory; Name the profile (or the directory's base
	// name when summary.json names none).
	Dir, Name string

	Summary  *rundir.Summary
	Events   *rundir.Events   // nil without events.json
	Series   *Series          // nil without timeseries.csv
	Metrics  []rundir.Scrape  // nil without metrics.csv
	Hist     *Latency         // nil without histogram.hdr
	Capacity *rundir.Capacity // nil without capacity.json

	// Notes are human-readable remarks about missing optional inputs.
	Notes []string

	// Profiles holds every profile of a comparison (this run included),
	// ordered by name; empty for a single run.
	Profiles []*Run
}

// Timescale is the run's simulated seconds per wall second (1 when the
// summary does not say): the per-wall-second rates divide by it.
func (r *Run) Timescale() float64 {
	if r.Summary == nil || r.Summary.Timescale <= 0 {
		return 1
	}
	return r.Summary.Timescale
}

// Load reads one run directory. When dir holds sub-directories that are run
// directories themselves (DIR/naive-2021, DIR/hardened), they are loaded as
// the profiles of a comparison and the returned Run is the primary one: dir
// itself when it is a run directory, else the "hardened" profile, else the
// last by name. Missing optional files leave their field nil with a note;
// a malformed file is an error naming the file and line.
func Load(dir string) (*Run, error) {
	own, err := loadOne(dir)
	if err != nil && !errors.Is(err, errNotRunDir) {
		return nil, err
	}
	profiles, err := loadProfiles(dir)
	if err != nil {
		return nil, err
	}
	if own == nil && len(profiles) == 0 {
		return nil, fmt.Errorf("%s is not a run directory: no %s in it or in any sub-directory", dir, rundir.SummaryFile)
	}
	primary := own
	if primary == nil {
		primary = profiles[len(profiles)-1]
		for _, p := range profiles {
			if p.Name == "hardened" {
				primary = p
			}
		}
		// A capacity search run once for the whole comparison sits beside
		// the profiles rather than inside one.
		if primary.Capacity == nil {
			c, err := rundir.ReadCapacity(filepath.Join(dir, rundir.CapacityFile))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			if c != nil {
				primary.Capacity = c
				primary.Notes = removeNote(primary.Notes, rundir.CapacityFile)
			}
		}
	}
	if own != nil && len(profiles) > 0 {
		profiles = append(profiles, own)
	}
	if len(profiles) > 1 {
		// Baselines first by name, the primary last: read left to right
		// as before and after.
		sort.SliceStable(profiles, func(i, j int) bool {
			if (profiles[i] == primary) != (profiles[j] == primary) {
				return profiles[j] == primary
			}
			return profiles[i].Name < profiles[j].Name
		})
		primary.Profiles = profiles
	}
	return primary, nil
}

var errNotRunDir = errors.New("not a run directory")

func loadProfiles(dir string) ([]*Run, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read run directory: %w", err)
	}
	var out []*Run
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		r, err := loadOne(filepath.Join(dir, e.Name()))
		if errors.Is(err, errNotRunDir) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.Summary.Profile == "" {
			r.Name = e.Name()
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func removeNote(notes []string, file string) []string {
	out := notes[:0]
	for _, n := range notes {
		if !bytes.Contains([]byte(n), []byte(file)) {
			out = append(out, n)
		}
	}
	return out
}

// loadOne reads the files of a single run directory.
func loadOne(dir string) (*Run, error) {
	s, err := rundir.ReadSummary(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotRunDir
	}
	if err != nil {
		return nil, err
	}
	r := &Run{Dir: dir, Name: s.Profile, Summary: s}
	if r.Name == "" {
		r.Name = filepath.Base(dir)
	}
	missing := func(file, what string) {
		if s.Kind == rundir.KindCapacity && file != rundir.CapacityFile {
			// A capacity search writes no per-second files; its steps
			// are the capacity table.
			return
		}
		r.Notes = append(r.Notes, fmt.Sprintf("%s is missing: %s", file, what))
	}

	switch ev, err := rundir.ReadEvents(dir); {
	case errors.Is(err, fs.ErrNotExist):
		missing(rundir.EventsFile, "no phases or fault windows")
	case err != nil:
		return nil, err
	default:
		r.Events = ev
	}

	var phases []rundir.Phase
	if r.Events != nil {
		phases = r.Events.Phases
	}
	tsPath := filepath.Join(dir, rundir.TimeseriesFile)
	switch f, err := os.Open(tsPath); {
	case errors.Is(err, fs.ErrNotExist):
		missing(rundir.TimeseriesFile, "the load, latency and status charts and the per-phase tables are omitted")
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", tsPath, err)
	default:
		series, err := readTimeseries(f, tsPath, s.Sim.Start, phases, s.GoodputClasses)
		f.Close()
		if err != nil {
			return nil, err
		}
		r.Series = series
	}

	mPath := filepath.Join(dir, rundir.MetricsFile)
	switch f, err := os.Open(mPath); {
	case errors.Is(err, fs.ErrNotExist):
		missing(rundir.MetricsFile, "the backlog and signer chart is omitted")
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", mPath, err)
	default:
		m, err := readMetrics(f, mPath)
		f.Close()
		if err != nil {
			return nil, err
		}
		r.Metrics = m
	}

	hPath := filepath.Join(dir, rundir.HistogramFile)
	switch f, err := os.Open(hPath); {
	case errors.Is(err, fs.ErrNotExist):
		missing(rundir.HistogramFile, "the latency distribution chart is omitted and class percentiles come from summary.json")
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", hPath, err)
	default:
		h, err := readHistograms(f, hPath)
		f.Close()
		if err != nil {
			return nil, err
		}
		r.Hist = h
	}

	c, err := rundir.ReadCapacity(filepath.Join(dir, rundir.CapacityFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		missing(rundir.CapacityFile, "capacity headroom not measured")
	case err != nil:
		return nil, err
	default:
		r.Capacity = c
	}
	return r, nil
}
