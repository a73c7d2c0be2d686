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
	"github.com/golive-dev/golive/issuer/signer/signerapi"
)

// Config tunes a signer. Every behaviour that differs between the profiles
// is its own field, set from signerapi.Settings (ApplySettings);
// HardenedConfig and Naive2021Config are the presets.
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

	// ExtraSignWork (percent, 0 = none) makes the signer process spend
	// that much more CPU on the same work, burnt in the signature path
	// (extraWork). It exists only to build a deliberately costlier signer
	// for calibrating the A/B gate (docs/gate.md); issuer/server sets it
	// from EnvExtraSignWork and nothing else does.
	ExtraSignWork int
}

// EnvExtraSignWork is the environment variable issuer/server reads into
// Config.ExtraSignWork: a test-only knob, documented in docs/gate.md.
const EnvExtraSignWork = "GOLIVE_TEST_SIGNER_EXTRA_WORK_PERCENT"

// Day is 24 hours, for validity periods.
const Day = 24 * time.Hour

func defaultMaxValidity() map[dcc.Type]time.Duration {
	return map[dcc.Type]time.Duration{
		dcc.TypeVaccination: 365 * Day,
		dcc.TypeTest:        3 * Day,
		dcc.TypeRecovery:    365 * Day,
	}
}

// HardenedConfig is the preset of a signer built to survive overload
// (signerapi.HardenedSettings).
func HardenedConfig() Config {
	c := Config{Profile: signerapi.ProfileHardened}
	c.ApplySettings(signerapi.HardenedSettings())
	return c.withBase()
}

// Naive2021Config is the preset modelled on the 2021 central backend
// (signerapi.Naive2021Settings).
func Naive2021Config() Config {
	c := Config{Profile: signerapi.ProfileNaive2021}
	c.ApplySettings(signerapi.Naive2021Settings())
	return c.withBase()
}

// withBase sets what both presets share and settings files do not carry.
func (c Config) withBase() Config {
	c.MaxValidity = defaultMaxValidity()
	c.Country = "DE"
	c.MaxBodyBytes = 64 << 10
	return c
}

// ApplySettings writes every behaviour s holds into c.
func (c *Config) ApplySettings(s signerapi.Settings) {
	c.HSMSlots, c.HSMLatency = s.HSMSlots, s.HSMLatency.D()
	c.Shed, c.ShedRetryAfter, c.RejectUnmeetable = s.Shed, s.ShedRetryAfter.D(), s.RejectUnmeetable
	c.LockoutMark, c.LockoutFor = s.LockoutMark, s.LockoutFor.D()
	c.ClampValidity, c.IssuedAtSkew = s.ClampValidity, s.IssuedAtSkew.D()
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
	if c.ExtraSignWork < 0 || c.ExtraSignWork > 1000 {
		return c, fmt.Errorf("signer: ExtraSignWork %d%%: want 0 to 1000", c.ExtraSignWork)
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
