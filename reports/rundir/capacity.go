package rundir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Capacity is capacity.json: a step search for the highest offered rate
// the target serves within its SLO, and the sizing advice. Every rate is
// per wall second: a step holds a constant rate on the real clock.
type Capacity struct {
	SLO struct {
		P99MS      float64 `json:"p99_ms"`
		MinSuccess float64 `json:"min_success"`
	} `json:"slo"`
	ForecastScenario string         `json:"forecast_scenario,omitempty"`
	ForecastPeakRPS  float64        `json:"forecast_peak_rps"`
	CapacityRPS      float64        `json:"capacity_rps"`
	Bounded          bool           `json:"bounded"`
	Headroom         float64        `json:"headroom"`
	KneeRPS          float64        `json:"knee_rps"`
	Steps            []CapacityStep `json:"steps"`
	Verdict          string         `json:"verdict"`
	Profile          string         `json:"profile"`
	Target           string         `json:"target"`
	// Signers and HSMSlots describe the measured system; SignerRPS is
	// what its HSM model can sign per second (slots / latency each).
	Signers   int     `json:"signers"`
	HSMSlots  int     `json:"hsm_slots"`
	SignerRPS float64 `json:"signer_rps_each"`
	// NeededSigners and NeededHSMSlots are what the forecast peak needs
	// with the HSM model at its limit.
	NeededSigners  int    `json:"needed_signers"`
	NeededHSMSlots int    `json:"needed_hsm_slots_each"`
	Advice         string `json:"advice"`
}

// CapacityStep is one offered rate held steady during the search.
type CapacityStep struct {
	Rate float64 `json:"rate"`
	// Goodput is certificates issued (201) per second during the step.
	Goodput float64 `json:"goodput"`
	P99MS   float64 `json:"p99_ms"`
	Success float64 `json:"success"`
	OK      bool    `json:"ok"`
}

// HeadroomRatio is capacity over forecast peak (1.25 = 25 % to spare). It
// falls back to computing it when the file left headroom out; ok is false
// when neither is known.
func (c *Capacity) HeadroomRatio() (ratio float64, ok bool) {
	if c == nil {
		return 0, false
	}
	if c.Headroom > 0 {
		return c.Headroom, true
	}
	if c.CapacityRPS > 0 && c.ForecastPeakRPS > 0 {
		return c.CapacityRPS / c.ForecastPeakRPS, true
	}
	return 0, false
}

// ReadCapacity reads a capacity.json file; a missing file is an error
// wrapping fs.ErrNotExist, a negative figure an error naming the file.
func ReadCapacity(path string) (*Capacity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Capacity
	if err := decodeJSON(path, data, &c); err != nil {
		return nil, err
	}
	for i, s := range c.Steps {
		if s.Rate < 0 || s.Goodput < 0 || s.P99MS < 0 {
			return nil, fmt.Errorf("%s: step %d has a negative rate, goodput or p99", path, i+1)
		}
	}
	if c.CapacityRPS < 0 || c.ForecastPeakRPS < 0 || c.Headroom < 0 {
		return nil, fmt.Errorf("%s: capacity_rps, forecast_peak_rps and headroom must not be negative", path)
	}
	return &c, nil
}

// WriteCapacity writes dir/capacity.json.
func WriteCapacity(dir string, c *Capacity) error {
	return writeJSON(filepath.Join(dir, CapacityFile), c)
}
