// Package signer is the central signing service: it re-validates what the
// portal sends, models the HSM (a fixed number of slots, each signature
// holding one for a while) and signs DCC payloads into HC1 strings with its
// document signer certificate.
//
// Two profiles show the difference between 2021 and a hardened service:
// naive-2021 queues without bound and, when the queue passes a mark, locks
// the portal out for hours (as the central backend did on 15 June 2021);
// hardened sheds at once with 503 + Retry-After and refuses requests whose
// deadline it cannot meet.
package signer

import (
	"fmt"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
)

// Profile names.
const (
	ProfileHardened  = "hardened"
	ProfileNaive2021 = "naive-2021"
)

// Config tunes a signer. Every behaviour that differs between the profiles
// is its own field; HardenedConfig and Naive2021Config are the presets.
type Config struct {
	// Profile names the preset for logs and metrics; it changes nothing.
	Profile string
	// Name identifies this replica's key in responses ("dsc-1"); empty
	// means the DSC's subject common name.
	Name string

	// HSMSlots is how many signatures the HSM computes at once (the 2021
	// backend's HSM had 10).
	HSMSlots int
	// HSMLatency is added to every signature while it holds a slot.
	HSMLatency time.Duration

	// Shed rejects a request at once with 503 + Retry-After when every slot
	// is busy; false queues it without bound (naive-2021).
	Shed bool
	// ShedRetryAfter is the Retry-After sent when shedding (rounded up to
	// whole seconds on the wire; at least 1 s).
	ShedRetryAfter time.Duration
	// RejectUnmeetable answers 504 at once when a request's deadline is
	// closer than HSMLatency, instead of trying anyway.
	RejectUnmeetable bool

	// LockoutMark: when more than this many requests wait for a slot, the
	// signer locks the portal out for LockoutFor (0 disables; only useful
	// when Shed is false, since shedding keeps the queue empty).
	LockoutMark int
	// LockoutFor is how long a lockout lasts, in Clock time.
	LockoutFor time.Duration

	// MaxValidity bounds expires_at - issued_at per certificate type; a
	// type missing from the map cannot be signed.
	MaxValidity map[dcc.Type]time.Duration
	// ClampValidity shortens a validity above MaxValidity to the maximum;
	// false refuses it with 400 validity_too_long. Either way expires_at is
	// clamped to the DSC's NotAfter, which the portal cannot know.
	ClampValidity bool
	// IssuedAtSkew is how far issued_at may lie from the signer's clock.
	IssuedAtSkew time.Duration

	// Country is the CWT issuer claim and the country every structured
	// UVCI must name.
	Country string
	// AuthToken is the portal-to-signer shared secret (Bearer); required.
	AuthToken string
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// Clock is the signer's time source (time.Now when nil).
	Clock func() time.Time
}

// Day is 24 hours, for validity periods.
const Day = 24 * time.Hour

func defaultMaxValidity() map[dcc.Type]time.Duration {
	return map[dcc.Type]time.Duration{
		dcc.TypeVaccination: 365 * Day,
		dcc.TypeTest:        3 * Day,
		dcc.TypeRecovery:    365 * Day,
	}
}

// HardenedConfig is the preset of a signer built to survive overload: it
// sheds load at once with Retry-After, refuses deadlines it cannot meet,
// refuses (rather than silently shortens) over-long validity and never
// locks its client out.
func HardenedConfig() Config {
	return Config{
		Profile:          ProfileHardened,
		HSMSlots:         10,
		HSMLatency:       50 * time.Millisecond,
		Shed:             true,
		ShedRetryAfter:   time.Second,
		RejectUnmeetable: true,
		MaxValidity:      defaultMaxValidity(),
		ClampValidity:    false,
		IssuedAtSkew:     5 * time.Minute,
		Country:          "DE",
		MaxBodyBytes:     64 << 10,
	}
}

// Naive2021Config is the preset modelled on the 2021 central backend: the
// same 10-slot HSM, an unbounded queue, and past 1,000 waiting requests a
// lockout of the portal for 5 h 3 min (it cut the portal off from 11:59 to
// 17:02 on 15 June 2021).
func Naive2021Config() Config {
	return Config{
		Profile:          ProfileNaive2021,
		HSMSlots:         10,
		HSMLatency:       50 * time.Millisecond,
		Shed:             false,
		ShedRetryAfter:   time.Second,
		RejectUnmeetable: false,
		LockoutMark:      1000,
		LockoutFor:       5*time.Hour + 3*time.Minute,
		MaxValidity:      defaultMaxValidity(),
		ClampValidity:    true,
		IssuedAtSkew:     5 * time.Minute,
		Country:          "DE",
		MaxBodyBytes:     64 << 10,
	}
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.HSMSlots <= 0 {
		c.HSMSlots = 10
	}
	if c.HSMLatency < 0 {
		return c, fmt.Errorf("signer: negative HSMLatency %v", c.HSMLatency)
	}
	if c.ShedRetryAfter <= 0 {
		c.ShedRetryAfter = time.Second
	}
	if c.LockoutMark < 0 || c.LockoutFor < 0 {
		return c, fmt.Errorf("signer: negative lockout setting")
	}
	if c.MaxValidity == nil {
		c.MaxValidity = defaultMaxValidity()
	}
	if c.IssuedAtSkew <= 0 {
		c.IssuedAtSkew = 5 * time.Minute
	}
	if c.Country == "" {
		c.Country = "DE"
	}
	if c.AuthToken == "" {
		return c, fmt.Errorf("signer: AuthToken is required (the signer never serves an unauthenticated client)")
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Profile == "" {
		c.Profile = "custom"
	}
	return c, nil
}
