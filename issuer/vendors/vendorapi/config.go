package vendorapi

import (
	"errors"
	"fmt"
	"time"

	"github.com/golive-dev/golive/issuer/duration"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// Duration is written "2s" in settings (package duration).
type Duration = duration.Duration

// Config is every behaviour of vendor access; HardenedConfig and
// Naive2021Config are the presets. In `golive serve` settings it is the
// "vendors" object.
type Config struct {
	// Profile names the preset the config started from (logs).
	Profile string `json:"profile"`
	// Enabled mounts the vendor routes (serve --vendors). Off, they are
	// not mounted (404) and the vendors file is not read.
	Enabled bool `json:"enabled"`
	// DelegationRequired lets a vendor issue only for pharmacies that
	// delegated to it (403 not_delegated otherwise). Off, as a portal that
	// trusts every vendor with every pharmacy would, any active pharmacy
	// named in X-On-Behalf-Of is served.
	DelegationRequired bool `json:"delegation_required"`
	// Quota is each vendor's own token bucket, so a vendor's burst (its
	// pharmacies' backlog, a retry storm in its software) is told to come
	// back (429 vendor_quota with Retry-After) instead of taking the
	// signing capacity every other vendor's pharmacies need.
	Quota Quota `json:"quota"`
	// FormatCheck names a field sent in a format the portal does not take
	// (a date as DD.MM.YYYY, a field name of the vendor's own) with 422
	// incompatible_format before the payload reaches issuance. Off, the
	// portal's generic validation answers (400 validation_failed or
	// invalid_json), which tells a vendor less.
	FormatCheck bool `json:"format_check"`
	// ClockSkew is how far an assertion's iat may lie in the future and
	// its exp in the past.
	ClockSkew Duration `json:"clock_skew"`
	// Audience is the aud assertions must carry.
	Audience string `json:"audience"`
	// MaxVendors bounds the registered vendors; MaxDelegations a
	// pharmacy's vendors.
	MaxVendors     int `json:"max_vendors"`
	MaxDelegations int `json:"max_delegations"`
}

// Quota is a token bucket per vendor.
type Quota struct {
	Enabled bool    `json:"enabled"`
	Rate    float64 `json:"rate"` // requests per second
	Burst   int     `json:"burst"`
}

// HardenedConfig is the reference design: delegation scoping, a quota per
// vendor (10 requests a second, bursts of 20: a vendor's share, not the
// whole signing capacity), and incompatible formats named.
func HardenedConfig() Config {
	return Config{
		Profile:            portalapi.ProfileHardened,
		DelegationRequired: true,
		Quota:              Quota{Enabled: true, Rate: 10, Burst: 20},
		FormatCheck:        true,
		ClockSkew:          Duration(30 * time.Second),
		Audience:           Audience,
		MaxVendors:         100,
		MaxDelegations:     8,
	}
}

// Naive2021Config is vendor access bolted on as in a hurry: every vendor
// may act for every pharmacy, no vendor has a quota of its own, and a bad
// field gets the portal's generic answer.
func Naive2021Config() Config {
	c := HardenedConfig()
	c.Profile = portalapi.ProfileNaive2021
	c.DelegationRequired = false
	c.Quota.Enabled = false
	c.FormatCheck = false
	return c
}

// ConfigForProfile returns the preset named name (the portal's profile names).
func ConfigForProfile(name string) (Config, error) {
	return portalapi.Preset("vendors", name, HardenedConfig, Naive2021Config)
}

// Validate checks for values that cannot work, by their JSON names.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Quota.Enabled && (!(c.Quota.Rate > 0) || c.Quota.Rate > 1e6 || c.Quota.Burst < 1 || c.Quota.Burst > 1e6) {
		bad("quota.rate must be in (0, 1000000] and quota.burst 1..1000000")
	}
	if c.ClockSkew < 0 || c.ClockSkew.D() > 5*time.Minute {
		bad("clock_skew must be 0 to 5m")
	}
	if c.Audience == "" || len(c.Audience) > 128 {
		bad("audience must have 1 to 128 characters")
	}
	if c.MaxVendors < 1 || c.MaxVendors > 10000 {
		bad("max_vendors must be 1..10000")
	}
	if c.MaxDelegations < 1 || c.MaxDelegations > 100 {
		bad("max_delegations must be 1..100")
	}
	return errors.Join(errs...)
}
