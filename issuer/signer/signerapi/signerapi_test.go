package signerapi_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/signer/signerapi"
)

// TestSettingsFileNames: the JSON names are what `golive serve --config`
// files and the scenario engine write under "signer"; renaming one breaks
// every such file.
func TestSettingsFileNames(t *testing.T) {
	raw, err := json.Marshal(signerapi.Naive2021Settings())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	want := []string{"clamp_validity", "hsm_latency", "hsm_slots", "issued_at_skew", "lockout_for", "lockout_mark",
		"reject_unmeetable", "shed", "shed_retry_after"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settings keys %v, want %v", got, want)
	}
	if m["lockout_for"] != "5h3m0s" || m["hsm_latency"] != "50ms" {
		t.Errorf("durations not written as Go duration text: %s", raw)
	}
	var back signerapi.Settings
	if err := json.Unmarshal(raw, &back); err != nil || back != signerapi.Naive2021Settings() {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestSettingsForProfile(t *testing.T) {
	h, err := signerapi.SettingsForProfile(signerapi.ProfileHardened)
	if err != nil {
		t.Fatal(err)
	}
	n, err := signerapi.SettingsForProfile(signerapi.ProfileNaive2021)
	if err != nil {
		t.Fatal(err)
	}
	// What separates 2021 from the hardened signer.
	if !h.Shed || n.Shed || !h.RejectUnmeetable || n.RejectUnmeetable || h.ClampValidity || !n.ClampValidity {
		t.Errorf("shedding, deadlines or clamping not distinct: hardened %+v, naive %+v", h, n)
	}
	if h.LockoutMark != 0 || n.LockoutMark != 1000 || n.LockoutFor.D() != 5*time.Hour+3*time.Minute {
		t.Errorf("lockout: hardened %d, naive %d for %v; want none, and 1000 for 5h3m", h.LockoutMark, n.LockoutMark, n.LockoutFor.D())
	}
	if _, err := signerapi.SettingsForProfile("paranoid"); err == nil || !strings.Contains(err.Error(), "hardened or naive-2021") {
		t.Errorf("unknown profile: %v", err)
	}
}
