// Package reports turns a run directory (docs/run-format.md) into the
// artefacts people and CI read: report.html with embedded charts, summary.md
// for pull-request comments and junit.xml for test dashboards. It reads only
// files on disk, so a report can be rebuilt long after the run.
package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/golive-dev/golive/scenarios/verdict"
)

// File names inside a run directory.
const (
	SummaryFile    = "summary.json"
	TimeseriesFile = "timeseries.csv"
	MetricsFile    = "metrics.csv"
	EventsFile     = "events.json"
	HistogramFile  = "histogram.hdr"
	CapacityFile   = "capacity.json"
)

// Run is everything a report needs from one run directory. Optional parts
// are nil when their file is missing; Notes says which ones and why.
type Run struct {
	// Dir is the run directory; Name the profile (or the directory's base
	// name when summary.json names none).
	Dir, Name string

	Summary  *Summary
	Events   *Events   // nil without events.json
	Series   *Series   // nil without timeseries.csv
	Metrics  []Metric  // nil without metrics.csv
	Hist     *Latency  // nil without histogram.hdr
	Capacity *Capacity // nil without capacity.json

	// Notes are human-readable remarks about missing optional inputs.
	Notes []string

	// Profiles holds every profile of a comparison (this run included),
	// ordered by name; empty for a single run.
	Profiles []*Run
}

// Summary mirrors summary.json (schema golive.summary/v1).
type Summary struct {
	Schema  string `json:"schema"`
	Verdict string `json:"verdict"`
	// Reasons say why the verdict is fail.
	Reasons []string `json:"reasons"`
	// Judgement: verdict_text, reproduces, inconclusive, evidence.
	verdict.Judgement
	Scenario    string  `json:"scenario"`
	Target      string  `json:"target"`
	Profile     string  `json:"profile"`
	Seed        int64   `json:"seed"`
	Timescale   float64 `json:"timescale"`
	Started     string  `json:"started"`
	WallSeconds float64 `json:"wall_seconds"`
	Sim         struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"sim"`
	Requests     Requests                `json:"requests"`
	OfferedRate  Rate                    `json:"offered_rate"`
	Goodput      Rate                    `json:"goodput"`
	LatencyMS    Percentiles             `json:"latency_ms"`
	LateSends    int64                   `json:"late_sends"`
	DroppedSends int64                   `json:"dropped_sends"`
	Consistency  Consistency             `json:"consistency"`
	Security     Security                `json:"security"`
	Thresholds   []Threshold             `json:"thresholds"`
	NamedChecks  []NamedCheck            `json:"checks"`
	Classes      map[string]ClassSummary `json:"classes"`
	Phases       []PhaseSummary          `json:"phases"`
}

// Requests counts request attempts by outcome.
type Requests struct {
	Total              int64   `json:"total"`
	OK                 int64   `json:"ok"`
	Deferred           int64   `json:"deferred"`
	Rejected           int64   `json:"rejected"`
	Overload           int64   `json:"overload"`
	Error              int64   `json:"error"`
	Timeout            int64   `json:"timeout"`
	Transport          int64   `json:"transport"`
	Retries            int64   `json:"retries"`
	RetryAmplification float64 `json:"retry_amplification"`
}

// Rate is a mean and a peak in requests per simulated second.
type Rate struct {
	Mean float64 `json:"mean"`
	Peak float64 `json:"peak"`
}

// Percentiles are latencies in milliseconds; zero means not reported.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Consistency is the history check: what the portal acknowledged against
// what the store holds afterwards.
type Consistency struct {
	Acknowledged   int64 `json:"acknowledged"`
	Verified       int64 `json:"verified"`
	Lost           int64 `json:"lost"`
	Duplicates     int64 `json:"duplicates"`
	TicketsPending int64 `json:"tickets_pending"`
}

// Security is the outcome of the forged-credential traffic.
type Security struct {
	FraudAttempts     int64 `json:"fraud_attempts"`
	FraudIssued       int64 `json:"fraud_issued"`
	FraudRevoked      int64 `json:"fraud_revoked"`
	FraudEscaped      int64 `json:"fraud_escaped"`
	AccountsSuspended int64 `json:"accounts_suspended"`
}

// Threshold is one evaluated threshold expression.
type Threshold struct {
	Expr  string `json:"expr"`
	OK    bool   `json:"ok"`
	Value string `json:"value"`
	Scope string `json:"scope"`
}

// NamedCheck is one of the scenario's named checks (fraud_contained, ...).
type NamedCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// ClassSummary is summary.json's per-class block.
type ClassSummary struct {
	Requests  int64       `json:"requests"`
	LatencyMS Percentiles `json:"latency_ms"`
}

// PhaseSummary is summary.json's per-phase block.
type PhaseSummary struct {
	Name      string      `json:"name"`
	Requests  int64       `json:"requests"`
	LatencyMS Percentiles `json:"latency_ms"`
}

// Events mirrors events.json.
type Events struct {
	Phases []Phase           `json:"phases"`
	Faults []Fault           `json:"faults"`
	Probes []json.RawMessage `json:"probes"`
}

// Phase is a named span of the scenario on the simulated clock.
type Phase struct {
	Name      string    `json:"name"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	WallStart string    `json:"wall_start,omitempty"`
	WallEnd   string    `json:"wall_end,omitempty"`
}

// Fault is one injected fault. A zero End means it was never undone and
// lasted to the end of the run.
type Fault struct {
	Kind      string         `json:"kind"`
	Target    string         `json:"target"`
	Start     time.Time      `json:"start"`
	End       time.Time      `json:"end"`
	Params    map[string]any `json:"params"`
	Error     string         `json:"error"`
	WallStart string         `json:"wall_start,omitempty"`
	WallEnd   string         `json:"wall_end,omitempty"`
}

// Label names a fault on charts.
func (f Fault) Label() string {
	if f.Target == "" {
		return f.Kind
	}
	return f.Kind + " " + f.Target
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
		return nil, fmt.Errorf("%s is not a run directory: no %s in it or in any sub-directory", dir, SummaryFile)
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
			c, err := loadCapacity(filepath.Join(dir, CapacityFile))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			if c != nil {
				primary.Capacity = c
				primary.Notes = removeNote(primary.Notes, CapacityFile)
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
	sumPath := filepath.Join(dir, SummaryFile)
	data, err := os.ReadFile(sumPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotRunDir
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sumPath, err)
	}
	var s Summary
	if err := decodeJSON(sumPath, data, &s); err != nil {
		return nil, err
	}
	r := &Run{Dir: dir, Name: s.Profile, Summary: &s}
	if r.Name == "" {
		r.Name = filepath.Base(dir)
	}
	missing := func(file, what string) {
		r.Notes = append(r.Notes, fmt.Sprintf("%s is missing: %s", file, what))
	}

	evPath := filepath.Join(dir, EventsFile)
	switch data, err := os.ReadFile(evPath); {
	case errors.Is(err, fs.ErrNotExist):
		missing(EventsFile, "no phases or fault windows")
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", evPath, err)
	default:
		var ev Events
		if err := decodeJSON(evPath, data, &ev); err != nil {
			return nil, err
		}
		if err := ev.validate(evPath); err != nil {
			return nil, err
		}
		r.Events = &ev
	}

	var phases []Phase
	if r.Events != nil {
		phases = r.Events.Phases
	}
	tsPath := filepath.Join(dir, TimeseriesFile)
	switch f, err := os.Open(tsPath); {
	case errors.Is(err, fs.ErrNotExist):
		missing(TimeseriesFile, "the load, latency and status charts and the per-phase tables are omitted")
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", tsPath, err)
	default:
		series, err := readTimeseries(f, tsPath, s.Sim.Start, phases)
		f.Close()
		if err != nil {
			return nil, err
		}
		r.Series = series
	}

	mPath := filepath.Join(dir, MetricsFile)
	switch f, err := os.Open(mPath); {
	case errors.Is(err, fs.ErrNotExist):
		missing(MetricsFile, "the backlog and signer chart is omitted")
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

	hPath := filepath.Join(dir, HistogramFile)
	switch f, err := os.Open(hPath); {
	case errors.Is(err, fs.ErrNotExist):
		missing(HistogramFile, "the latency distribution chart is omitted and class percentiles come from summary.json")
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

	c, err := loadCapacity(filepath.Join(dir, CapacityFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		missing(CapacityFile, "capacity headroom not measured")
	case err != nil:
		return nil, err
	default:
		r.Capacity = c
	}
	return r, nil
}

func (ev *Events) validate(path string) error {
	for i, p := range ev.Phases {
		if p.Name == "" {
			return fmt.Errorf("%s: phase %d has no name", path, i+1)
		}
		if !p.End.IsZero() && p.End.Before(p.Start) {
			return fmt.Errorf("%s: phase %q ends (%s) before it starts (%s)", path, p.Name, p.End.Format(time.RFC3339), p.Start.Format(time.RFC3339))
		}
	}
	for i, f := range ev.Faults {
		if f.Kind == "" {
			return fmt.Errorf("%s: fault %d has no kind", path, i+1)
		}
		if !f.End.IsZero() && f.End.Before(f.Start) {
			return fmt.Errorf("%s: fault %q ends before it starts", path, f.Label())
		}
	}
	return nil
}

// decodeJSON unmarshals data strictly enough to catch typos in numbers and
// reports where a syntax or type error sits.
func decodeJSON(path string, data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off >= 0 {
		line, col := lineCol(data, off)
		return fmt.Errorf("%s:%d:%d: %w", path, line, col, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return line, col
}
