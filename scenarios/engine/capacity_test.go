package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/scenarios/capacity"
	"github.com/golive-dev/golive/scenarios/spec"
)

func builtin(t *testing.T, name string) *spec.Scenario {
	t.Helper()
	sc, err := spec.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestCapacityHoldsControlsOut: by default the search measures the system
// without the per-pharmacy quota and the anomaly suspension (detection
// stays on), and says so; KeepControls measures them as configured.
func TestCapacityHoldsControlsOut(t *testing.T) {
	sc := builtin(t, "capacity")
	su, err := resolveCapacity(CapacityOptions{Scenario: sc})
	if err != nil {
		t.Fatal(err)
	}
	a := su.portal.Anomaly
	if su.portal.PharmacyQuota.Enabled || a.SuspendPharmacy || a.RevokeSinceAnomaly || !a.Enabled {
		t.Errorf("held out: quota %v, suspend %v, revoke %v, detection %v", su.portal.PharmacyQuota.Enabled, a.SuspendPharmacy, a.RevokeSinceAnomaly, a.Enabled)
	}
	if len(su.heldOut) != 2 {
		t.Errorf("held out list %q", su.heldOut)
	}
	kept, err := resolveCapacity(CapacityOptions{Scenario: sc, KeepControls: true})
	if err != nil {
		t.Fatal(err)
	}
	if !kept.portal.PharmacyQuota.Enabled || !kept.portal.Anomaly.SuspendPharmacy || len(kept.heldOut) != 0 {
		t.Errorf("kept controls: quota %v, suspend %v, held out %q", kept.portal.PharmacyQuota.Enabled, kept.portal.Anomaly.SuspendPharmacy, kept.heldOut)
	}
}

// TestCapacitySystemChoice: the system is the capacity scenario's unless
// the forecast's is asked for; --signers and --hsm-slots change it; an SLO
// no step can meet is a setup error.
func TestCapacitySystemChoice(t *testing.T) {
	sc, fc := builtin(t, "capacity"), builtin(t, "launch-day")
	su, err := resolveCapacity(CapacityOptions{Scenario: sc, Forecast: fc})
	if err != nil {
		t.Fatal(err)
	}
	if su.systemFrom != "capacity" || su.sc.System.Signers != 3 || su.sc.System.HSM.Latency != 50*time.Millisecond {
		t.Errorf("default system from %s: %+v", su.systemFrom, su.sc.System)
	}
	if sc.System.Signers != 3 {
		t.Error("resolving changed the scenario itself")
	}
	su, err = resolveCapacity(CapacityOptions{Scenario: sc, Forecast: fc, Signers: 1, HSMSlots: 20})
	if err != nil || su.sc.System.Signers != 1 || su.sc.System.HSM.Slots != 20 || sc.System.Signers != 3 {
		t.Errorf("overrides: %+v, %v (scenario now %d signers)", su.sc.System, err, sc.System.Signers)
	}

	// launch-day's own system signs in 450 ms: the capacity SLO's 200 ms
	// cannot be met, and the error says how to fix it.
	_, err = resolveCapacity(CapacityOptions{Scenario: sc, Forecast: fc, SystemFromForecast: true})
	if !errors.Is(err, ErrCapacitySetup) || !strings.Contains(err.Error(), "450ms") || !strings.Contains(err.Error(), "--slo") {
		t.Fatalf("unreachable SLO: %v", err)
	}
	su, err = resolveCapacity(CapacityOptions{Scenario: sc, Forecast: fc, SystemFromForecast: true, SLO: sloOf(3 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if su.systemFrom != "launch-day" || su.sc.System.Signers != 1 || su.sc.System.HSM.Latency != 450*time.Millisecond {
		t.Errorf("forecast system from %s: %+v", su.systemFrom, su.sc.System)
	}
	if su.sc.Capacity != sc.Capacity {
		t.Error("the search settings must stay the capacity scenario's")
	}
	if _, err := resolveCapacity(CapacityOptions{Scenario: sc, SystemFromForecast: true}); !errors.Is(err, ErrCapacitySetup) {
		t.Errorf("forecast system without a forecast: %v", err)
	}
	if _, err := resolveCapacity(CapacityOptions{Scenario: fc}); !errors.Is(err, ErrCapacitySetup) {
		t.Errorf("a scenario without a capacity section: %v", err)
	}
}

// TestCapacityTopology: --portals and --registry change the measured
// system; several portals imply PostgreSQL and refuse SQLite; the tiers
// price replicas together.
func TestCapacityTopology(t *testing.T) {
	sc := builtin(t, "capacity")
	su, err := resolveCapacity(CapacityOptions{Scenario: sc, Portals: 3})
	if err != nil {
		t.Fatal(err)
	}
	if su.sc.System.Portals != 3 || su.sc.System.Registry != spec.RegistryPostgres || sc.System.Portals > 1 {
		t.Errorf("3 portals: %+v (scenario now %d portals)", su.sc.System, sc.System.Portals)
	}
	su, err = resolveCapacity(CapacityOptions{Scenario: sc, Registry: spec.RegistryPostgres})
	if err != nil || su.sc.System.Portals > 1 || su.sc.System.Registry != spec.RegistryPostgres {
		t.Errorf("postgres, one portal: %+v, %v", su.sc.System, err)
	}
	if _, err := resolveCapacity(CapacityOptions{Scenario: sc, Portals: 2, Registry: spec.RegistrySQLite}); !errors.Is(err, ErrCapacitySetup) {
		t.Errorf("2 portals on SQLite: %v, want a setup error", err)
	}
	for name, want := range map[string]string{"portal": "portal", "portal-2": "portal", "signer-3": "signers",
		"registry-1": "registry", "registry-2": "registry", "proxy": "proxy"} {
		if got := capacityPart(name); got != want {
			t.Errorf("capacityPart(%s) = %s, want %s", name, got, want)
		}
	}
}

func sloOf(p99 time.Duration) capacity.SLO { return capacity.SLO{P99: p99} }

// TestCPUReadingSince: the run's parts are priced from their own
// counters; what the machine did beyond them is other jobs' work.
func TestCPUReadingSince(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := cpuReading{at: t0, ok: true, machine: 10 * time.Second,
		parts: map[string]time.Duration{"portal": time.Second, "signers": time.Second, "generator": 0}}
	b := cpuReading{at: t0.Add(20 * time.Second), ok: true, machine: 40 * time.Second,
		parts: map[string]time.Duration{"portal": 13 * time.Second, "signers": 7 * time.Second, "generator": 2 * time.Second}}
	c := b.since(a)
	if c == nil || c.Wall != 20 || c.Seconds["portal"] != 12 || c.Seconds["signers"] != 6 || c.Seconds["generator"] != 2 || c.Other != 10 {
		t.Fatalf("since: %+v", c)
	}
	if (cpuReading{}).since(a) != nil || b.since(cpuReading{}) != nil {
		t.Error("a failed reading priced a step")
	}
	// Counters read at slightly different moments may make the machine's
	// delta smaller than the parts': other jobs never count negative.
	b.machine = 25 * time.Second
	if c := b.since(a); c.Other != 0 {
		t.Errorf("other %v, want 0", c.Other)
	}
}
