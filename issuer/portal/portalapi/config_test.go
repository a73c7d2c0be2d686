package portalapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

func TestConfigForProfile(t *testing.T) {
	h, err := portalapi.ConfigForProfile("hardened")
	if err != nil {
		t.Fatal(err)
	}
	n, err := portalapi.ConfigForProfile("naive-2021")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := portalapi.ConfigForProfile("paranoid"); err == nil {
		t.Error("unknown profile accepted")
	}
	for _, c := range []portalapi.Config{h, n} {
		if err := c.Validate(); err != nil {
			t.Errorf("preset %s invalid: %v", c.Profile, err)
		}
	}
	// The switches that make the difference between 2021 and now: on in
	// hardened, off in naive-2021.
	switches := []struct {
		name            string
		hardened, naive bool
	}{
		{"check Telematik-ID format", h.OnboardingCheckTelematikFormat, n.OnboardingCheckTelematikFormat},
		{"verify register", h.OnboardingVerifyRegister, n.OnboardingVerifyRegister},
		{"code to register address", h.ActivationToRegisterAddress, n.ActivationToRegisterAddress},
		{"idempotency key required", h.RequireIdempotencyKey, n.RequireIdempotencyKey},
		{"defer on signer outage", h.DeferOnSignerUnavailable, n.DeferOnSignerUnavailable},
		{"quota", h.PharmacyQuota.Enabled, n.PharmacyQuota.Enabled},
		{"anomaly detection", h.Anomaly.Enabled, n.Anomaly.Enabled},
		{"suspend on anomaly", h.Anomaly.SuspendPharmacy, n.Anomaly.SuspendPharmacy},
		{"revoke after anomaly", h.Anomaly.RevokeSinceAnomaly, n.Anomaly.RevokeSinceAnomaly},
		{"bounded issue route", h.Limits.Issue.MaxConcurrent > 0, n.Limits.Issue.MaxConcurrent > 0},
		{"deadline on the issue route", h.IssueDeadline > 0, n.IssueDeadline > 0},
		{"stay ready without signers", !h.ReadyRequiresSigner, !n.ReadyRequiresSigner},
		{"answer instead of hanging", !h.RetrySignUntilTimeout, !n.RetrySignUntilTimeout},
	}
	for _, c := range switches {
		if !c.hardened || c.naive {
			t.Errorf("%s: hardened %v, naive-2021 %v; want on and off", c.name, c.hardened, c.naive)
		}
	}
	if h.AccessTokenTTL.D() != time.Minute || n.AccessTokenTTL.D() < 8*time.Hour {
		t.Errorf("access tokens: hardened %v, naive %v; want 60 s and a working day", h.AccessTokenTTL, n.AccessTokenTTL)
	}
}

func TestConfigJSON(t *testing.T) {
	c := portalapi.HardenedConfig()
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"access_token_ttl":"1m0s"`, `"opening_hours":"08:00-20:00"`, `"defer_on_signer_unavailable":true`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("JSON lacks %s: %s", want, raw)
		}
	}
	var back portalapi.Config
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.AccessTokenTTL != c.AccessTokenTTL || back.Limits != c.Limits || back.Anomaly != c.Anomaly {
		t.Errorf("round trip changed the config: %+v", back)
	}

	tests := []struct {
		name    string
		json    string
		wantErr string
		check   func(portalapi.Config) bool
	}{
		{"override one field", `{"access_token_ttl":"5m"}`, "", func(c portalapi.Config) bool {
			return c.AccessTokenTTL.D() == 5*time.Minute && c.RequireIdempotencyKey
		}},
		{"nested override", `{"anomaly":{"enabled":false,"opening_hours":"07:00-22:00","time_zone":"Europe/Berlin","off_hours_limit":3,"off_hours_window":"24h","volume_window":"1h","volume_floor":100,"baseline_factor":4,"baseline_window":"168h"}}`, "",
			func(c portalapi.Config) bool { return !c.Anomaly.Enabled && c.Anomaly.OffHoursLimit == 3 }},
		{"unknown field", `{"acces_token_ttl":"5m"}`, "unknown field", nil},
		{"bad duration", `{"access_token_ttl":"soon"}`, "duration", nil},
		{"numeric duration", `{"access_token_ttl":60}`, "unmarshal", nil},
		{"invalid value", `{"access_token_ttl":"0s"}`, "token lifetimes", nil},
		{"bad opening hours", `{"anomaly":{"enabled":true,"opening_hours":"8-20","time_zone":"Europe/Berlin","off_hours_limit":3,"off_hours_window":"24h","volume_window":"1h","volume_floor":100,"baseline_factor":4,"baseline_window":"168h"}}`, "opening_hours", nil},
		{"bad time zone", `{"anomaly":{"enabled":true,"opening_hours":"08:00-20:00","time_zone":"Mars/Olympus","off_hours_limit":3,"off_hours_window":"24h","volume_window":"1h","volume_floor":100,"baseline_factor":4,"baseline_window":"168h"}}`, "time_zone", nil},
		{"volume floor 0, by its name", `{"anomaly":{"volume_floor":0}}`, "volume_floor", nil},
		{"baseline shorter than the volume window", `{"anomaly":{"baseline_window":"30m"}}`, "baseline_window", nil},
		{"bad anomaly ignored while disabled", `{"anomaly":{"enabled":false,"volume_floor":0}}`, "", func(c portalapi.Config) bool { return c.Anomaly.VolumeFloor == 0 }},
		{"trailing data", `{} {}`, "trailing", nil},
		{"deadline shorter than the signer call", `{"issue_deadline":"1s","sign_call_timeout":"2s"}`, "issue_deadline", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := portalapi.HardenedConfig()
			err := c.ApplyJSON([]byte(tc.json))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("override not applied: %+v", c)
			}
		})
	}
}
