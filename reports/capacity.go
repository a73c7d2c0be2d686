package reports

import (
	"fmt"
	"os"
)

// Capacity mirrors capacity.json: the result of a step search for the
// highest offered rate the target serves within its SLO (see FORMAT.md).
type Capacity struct {
	SLO struct {
		P99MS      float64 `json:"p99_ms"`
		MinSuccess float64 `json:"min_success"`
	} `json:"slo"`
	ForecastPeakRPS float64        `json:"forecast_peak_rps"`
	CapacityRPS     float64        `json:"capacity_rps"`
	Headroom        float64        `json:"headroom"`
	Steps           []CapacityStep `json:"steps"`
	KneeRPS         float64        `json:"knee_rps"`
}

// CapacityStep is one offered rate held steady during the search.
type CapacityStep struct {
	Rate    float64 `json:"rate"`
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

func loadCapacity(path string) (*Capacity, error) {
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
