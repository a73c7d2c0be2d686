package portal

import (
	"math"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/fraud"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// TestAnomalyValidationAgreesWithDetector: portalapi checks the anomaly
// settings without package fraud (so a scenario is refused before any
// server starts) and the detector checks its own Config when the portal
// builds it. The two must accept and refuse the same settings.
func TestAnomalyValidationAgreesWithDetector(t *testing.T) {
	d := func(v time.Duration) portalapi.Duration { return portalapi.Duration(v) }
	variants := []struct {
		name string
		edit func(*portalapi.AnomalyConfig)
	}{
		{"preset", func(*portalapi.AnomalyConfig) {}},
		{"all day", func(a *portalapi.AnomalyConfig) { a.OpeningHours = "00:00-24:00" }},
		{"opening at 24:00", func(a *portalapi.AnomalyConfig) { a.OpeningHours = "24:00-24:00" }},
		{"no dash", func(a *portalapi.AnomalyConfig) { a.OpeningHours = "08:00" }},
		{"minutes 60", func(a *portalapi.AnomalyConfig) { a.OpeningHours = "08:60-20:00" }},
		{"UTC", func(a *portalapi.AnomalyConfig) { a.TimeZone = "UTC" }},
		{"unknown zone", func(a *portalapi.AnomalyConfig) { a.TimeZone = "Mars/Olympus" }},
		{"no off-hours tolerance", func(a *portalapi.AnomalyConfig) { a.OffHoursLimit = 0 }},
		{"negative off-hours limit", func(a *portalapi.AnomalyConfig) { a.OffHoursLimit = -1 }},
		{"zero off-hours window", func(a *portalapi.AnomalyConfig) { a.OffHoursWindow = 0 }},
		{"volume window 1m", func(a *portalapi.AnomalyConfig) { a.VolumeWindow = d(time.Minute) }},
		{"volume window 59s", func(a *portalapi.AnomalyConfig) { a.VolumeWindow = d(59 * time.Second) }},
		{"volume floor 1", func(a *portalapi.AnomalyConfig) { a.VolumeFloor = 1 }},
		{"volume floor 0", func(a *portalapi.AnomalyConfig) { a.VolumeFloor = 0 }},
		{"baseline factor 1", func(a *portalapi.AnomalyConfig) { a.BaselineFactor = 1 }},
		{"baseline factor +Inf", func(a *portalapi.AnomalyConfig) { a.BaselineFactor = math.Inf(1) }},
		{"baseline factor NaN", func(a *portalapi.AnomalyConfig) { a.BaselineFactor = math.NaN() }},
		{"baseline factor 0.99", func(a *portalapi.AnomalyConfig) { a.BaselineFactor = 0.99 }},
		{"baseline window = volume window", func(a *portalapi.AnomalyConfig) { a.BaselineWindow = a.VolumeWindow }},
		{"baseline window < volume window", func(a *portalapi.AnomalyConfig) { a.BaselineWindow = a.VolumeWindow - 1 }},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			a := portalapi.HardenedConfig().Anomaly
			v.edit(&a)
			contractErr := a.Validate()
			_, detectorErr := fraud.FromAnomaly(a)
			if (contractErr == nil) != (detectorErr == nil) {
				t.Errorf("portalapi says %v, the detector says %v", contractErr, detectorErr)
			}
		})
	}
}
