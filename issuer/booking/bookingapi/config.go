package bookingapi

import (
	"errors"
	"fmt"
	"time"

	"github.com/golive-dev/golive/issuer/duration"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// Duration is written "2s" in settings (package duration).
type Duration = duration.Duration

// RouteLimit is admission control as the portal's routes have it.
type RouteLimit = portalapi.RouteLimit

// Config is every behaviour of the booking component; HardenedConfig and
// Naive2021Config are the presets. In `golive serve` settings it is the
// "booking" object. Times that say when (delays of a notice, the warning
// horizon) are on the business clock, which a scenario compresses.
type Config struct {
	// Profile names the preset the config started from (logs).
	Profile string `json:"profile"`
	// Enabled serves the booking routes. Off, they are not mounted (404).
	Enabled bool `json:"enabled"`
	// FollowIssuance makes the component watch issuance: when no signer
	// has answered for IssuanceDownAfter and the portal cannot defer
	// (a visit would be in vain), it cancels the booked appointments of
	// the next WarnHorizon and notifies their citizens through each
	// pharmacy's channel, without waiting for staff to notice. Off (the
	// 2021 booking portals) only staff cancel.
	FollowIssuance bool `json:"follow_issuance"`
	// IssuanceDownAfter is how long issuance must have been down before
	// the component warns (business time): a blip is not worth a
	// cancellation.
	IssuanceDownAfter Duration `json:"issuance_down_after"`
	// WarnHorizon is how far ahead the component cancels while issuance
	// is down (business time).
	WarnHorizon Duration `json:"warn_horizon"`
	// FollowInterval is how often (wall time) the component looks at
	// issuance.
	FollowInterval Duration `json:"follow_interval"`
	// DefaultChannel is a pharmacy's channel until its staff choose one.
	DefaultChannel Channel `json:"default_channel"`
	// EmailReadFraction is the share of citizens who read an e-mail
	// before their appointment; EmailReadDelay how long after it was
	// sent they read it (business time). SMSDelay is an SMS's.
	EmailReadFraction float64  `json:"email_read_fraction"`
	EmailReadDelay    Duration `json:"email_read_delay"`
	SMSDelay          Duration `json:"sms_delay"`
	// CitizenRate and CitizenBurst are each source address's token
	// bucket on the citizens' routes (429 rate_limited beyond).
	CitizenRate  float64 `json:"citizen_rate"`
	CitizenBurst int     `json:"citizen_burst"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// Limit is the admission control of every booking request.
	Limit RouteLimit `json:"limit"`
}

// HardenedConfig is the reference design's booking: it follows issuance
// and warns booked customers itself when a visit would be in vain.
func HardenedConfig() Config {
	return Config{
		Profile:           portalapi.ProfileHardened,
		FollowIssuance:    true,
		IssuanceDownAfter: Duration(10 * time.Minute),
		WarnHorizon:       Duration(3 * time.Hour),
		FollowInterval:    Duration(time.Second),
		DefaultChannel:    ChannelEmail,
		EmailReadFraction: 0.6,
		EmailReadDelay:    Duration(30 * time.Minute),
		SMSDelay:          Duration(time.Minute),
		CitizenRate:       50,
		CitizenBurst:      200,
		MaxBodyBytes:      256 << 10,
		Limit:             RouteLimit{MaxConcurrent: 8, MaxQueue: 64, MaxQueueWait: Duration(200 * time.Millisecond)},
	}
}

// Naive2021Config is a 2021 booking portal: it knows nothing of
// issuance; only staff cancel, through whatever channel they have.
func Naive2021Config() Config {
	c := HardenedConfig()
	c.Profile = portalapi.ProfileNaive2021
	c.FollowIssuance = false
	return c
}

// ConfigForProfile returns the preset named name (the portal's profile
// names).
func ConfigForProfile(name string) (Config, error) {
	return portalapi.Preset("booking", name, HardenedConfig, Naive2021Config)
}

// Validate checks for values that cannot work, by their JSON names.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.IssuanceDownAfter < 0 || c.WarnHorizon < 0 || c.EmailReadDelay < 0 || c.SMSDelay < 0 {
		bad("issuance_down_after, warn_horizon, email_read_delay and sms_delay must not be negative")
	}
	if c.FollowInterval.D() < 10*time.Millisecond {
		bad("follow_interval must be at least 10ms")
	}
	if !c.DefaultChannel.Valid() {
		bad("default_channel %q is not none, email or sms", c.DefaultChannel)
	}
	if !(c.EmailReadFraction >= 0 && c.EmailReadFraction <= 1) {
		bad("email_read_fraction must be 0..1")
	}
	if !(c.CitizenRate > 0 && c.CitizenRate <= 1e6) || c.CitizenBurst < 1 {
		bad("citizen_rate must be above 0 (per second) and citizen_burst at least 1")
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		bad("max_body_bytes must be 1KiB..64MiB")
	}
	if err := c.Limit.Validate("limit"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
