package rundir

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Events is events.json: the phases, the faults as applied, the probes.
type Events struct {
	Phases []Phase `json:"phases"`
	Faults []Fault `json:"faults"`
	Probes []Probe `json:"probes"`
	// Failovers are the registry's promotions (a PostgreSQL registry
	// with a standby): additive, absent before.
	Failovers []Failover `json:"failovers,omitempty"`
}

// Phase is a named span of the scenario on the simulated clock, with the
// wall times it ran at. A zero End means it lasted to the end of the run.
type Phase struct {
	Name      string    `json:"name"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	WallStart time.Time `json:"wall_start,omitzero"`
	WallEnd   time.Time `json:"wall_end,omitzero"`
}

// Contains reports whether t falls in the phase.
func (p Phase) Contains(t time.Time) bool {
	return !t.Before(p.Start) && (p.End.IsZero() || t.Before(p.End))
}

// Fault is one applied fault: the injector's record with its times on the
// simulated clock beside the wall clock. A zero End means it was never
// undone and lasted to the end of the run. Params use the fault
// vocabulary of docs/scenarios.md (latency_ms, jitter_ms, ...).
type Fault struct {
	Kind      string             `json:"kind"`
	Target    string             `json:"target"`
	Start     time.Time          `json:"start"`
	End       time.Time          `json:"end,omitzero"`
	WallStart time.Time          `json:"wall_start,omitzero"`
	WallEnd   time.Time          `json:"wall_end,omitzero"`
	Params    map[string]float64 `json:"params,omitempty"`
	Error     string             `json:"error,omitempty"`
}

// Label names a fault on charts.
func (f Fault) Label() string {
	if f.Target == "" {
		return f.Kind
	}
	return f.Kind + " " + f.Target
}

// ReadEvents reads dir's events.json; a missing file is an error wrapping
// fs.ErrNotExist.
func ReadEvents(dir string) (*Events, error) {
	path := filepath.Join(dir, EventsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ev Events
	if err := decodeJSON(path, data, &ev); err != nil {
		return nil, err
	}
	if err := ev.validate(path); err != nil {
		return nil, err
	}
	return &ev, nil
}

// WriteEvents writes dir/events.json.
func WriteEvents(dir string, ev *Events) error {
	return writeJSON(filepath.Join(dir, EventsFile), ev)
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
