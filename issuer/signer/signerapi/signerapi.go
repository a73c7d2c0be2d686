// Package signerapi is the signer's contract: the body of POST /v1/sign
// and of its answer, the deadline header, and the signer's settings with
// their profile presets (what `golive serve --config` reads under
// "signer"). It imports no implementation, so the portal's signer client
// and the scenario parser share it without linking the signer.
package signerapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/duration"
)

// Routes of a signer replica.
const (
	PathSign  = "/v1/sign"
	PathReady = "/readyz"
)

// DeadlineHeader carries the caller's absolute deadline (RFC 3339 with
// nanoseconds); it bounds how long a request waits for an HSM slot.
const DeadlineHeader = "X-Request-Deadline"

// SignRequest is the body of POST /v1/sign.
type SignRequest struct {
	Type    dcc.Type        `json:"type"`
	Payload json.RawMessage `json:"payload"`
	// IssuedAt zero: the signer's clock; ExpiresAt zero: the signer's
	// maximum validity for the type.
	IssuedAt  time.Time `json:"issued_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RequestID string    `json:"request_id,omitempty"`
}

// SignResponse is the 201 body of POST /v1/sign.
type SignResponse struct {
	HC1    string `json:"hc1"`
	Kid    string `json:"kid"`    // base64
	Signer string `json:"signer"` // the replica's name, e.g. "dsc-1"
	// IssuedAt and ExpiresAt are what was signed; ExpiresAt may be earlier
	// than asked (clamped by the signer).
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Profile names.
const (
	ProfileHardened  = "hardened"
	ProfileNaive2021 = "naive-2021"
)

// Profiles lists the preset names.
func Profiles() []string { return []string{ProfileHardened, ProfileNaive2021} }

// Duration is written "50ms" in settings (package duration).
type Duration = duration.Duration

// Settings are a signer replica's behaviours that differ between the
// profiles, in file form (the "signer" object of serve's settings).
type Settings struct {
	// HSMSlots bounds concurrent signatures (the 2021 HSM had 10).
	HSMSlots int `json:"hsm_slots"`
	// HSMLatency is added to every signature while it holds a slot.
	HSMLatency Duration `json:"hsm_latency"`
	// Shed answers 503 + Retry-After at once when every slot is busy;
	// false queues without bound (naive-2021).
	Shed bool `json:"shed"`
	// ShedRetryAfter is the Retry-After sent when shedding (rounded up to
	// whole seconds on the wire; at least 1 s).
	ShedRetryAfter Duration `json:"shed_retry_after"`
	// RejectUnmeetable answers 504 at once to deadlines shorter than the
	// HSM latency.
	RejectUnmeetable bool `json:"reject_unmeetable"`
	// LockoutMark waiting requests lock the portal out for LockoutFor of
	// business-day time (0: never), as the 2021 backend did.
	LockoutMark int      `json:"lockout_mark"`
	LockoutFor  Duration `json:"lockout_for"`
	// ClampValidity shortens over-long validity instead of refusing it
	// with 400 validity_too_long.
	ClampValidity bool `json:"clamp_validity"`
	// IssuedAtSkew is how far issued_at may lie from the signer's clock.
	IssuedAtSkew Duration `json:"issued_at_skew"`
}

// HardenedSettings is the preset of a signer built to survive overload: it
// sheds load at once with Retry-After, refuses deadlines it cannot meet,
// refuses (rather than silently shortens) over-long validity and never
// locks its client out.
func HardenedSettings() Settings {
	return Settings{
		HSMSlots:         10,
		HSMLatency:       Duration(50 * time.Millisecond),
		Shed:             true,
		ShedRetryAfter:   Duration(time.Second),
		RejectUnmeetable: true,
		ClampValidity:    false,
		IssuedAtSkew:     Duration(5 * time.Minute),
	}
}

// Naive2021Settings is the preset modelled on the 2021 central backend:
// the same 10-slot HSM, an unbounded queue, and past 1,000 waiting
// requests a lockout of the portal for 5 h 3 min (it cut the portal off
// from 11:59 to 17:02 on 15 June 2021).
func Naive2021Settings() Settings {
	return Settings{
		HSMSlots:         10,
		HSMLatency:       Duration(50 * time.Millisecond),
		Shed:             false,
		ShedRetryAfter:   Duration(time.Second),
		RejectUnmeetable: false,
		LockoutMark:      1000,
		LockoutFor:       Duration(5*time.Hour + 3*time.Minute),
		ClampValidity:    true,
		IssuedAtSkew:     Duration(5 * time.Minute),
	}
}

// SettingsForProfile returns the preset named name.
func SettingsForProfile(name string) (Settings, error) {
	switch name {
	case ProfileHardened:
		return HardenedSettings(), nil
	case ProfileNaive2021:
		return Naive2021Settings(), nil
	}
	return Settings{}, fmt.Errorf("signer: unknown profile %q (want %s)", name, strings.Join(Profiles(), " or "))
}
