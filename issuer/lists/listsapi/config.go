package listsapi

import (
	"errors"
	"fmt"
	"time"

	"github.com/golive-dev/golive/issuer/duration"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// Duration is written "30s" in settings (package duration).
type Duration = duration.Duration

// RouteLimit is admission control as the portal's routes have it.
type RouteLimit = portalapi.RouteLimit

// Config is every behaviour of the lists that differs between the
// profiles; in `golive serve` settings it is the "lists" object.
type Config struct {
	// Profile names the preset the config started from (logs).
	Profile string `json:"profile"`
	// RefreshInterval is how often the revocation list is read from the
	// registry again: certificates expire off it, and other processes may
	// revoke. Revocations the portal in this process makes are on the
	// list before its answer goes out.
	RefreshInterval Duration `json:"refresh_interval"`
	// TrustListMaxAge and RevocationsMaxAge are Cache-Control max-age of
	// the trust list and of the revocation lists (0: no-cache, apps
	// revalidate every time, which costs a 304).
	TrustListMaxAge   Duration `json:"trust_list_max_age"`
	RevocationsMaxAge Duration `json:"revocations_max_age"`
	// StaleIfError is Cache-Control stale-if-error of every list: how long
	// an app or a cache may keep using a list while the issuer fails.
	StaleIfError Duration `json:"stale_if_error"`
	// DeltaHistory is how many past revocation list versions a delta can
	// start from; older ones get the full list (Full).
	DeltaHistory int `json:"delta_history"`
	// Limit is the admission control of every list route.
	Limit RouteLimit `json:"limit"`
}

// HardenedConfig: lists cacheable for a minute (trust list an hour),
// usable for a day while the issuer fails, deltas from the last 1000
// versions, admission controlled.
func HardenedConfig() Config {
	return Config{
		Profile:           portalapi.ProfileHardened,
		RefreshInterval:   Duration(30 * time.Second),
		TrustListMaxAge:   Duration(time.Hour),
		RevocationsMaxAge: Duration(time.Minute),
		StaleIfError:      Duration(24 * time.Hour),
		DeltaHistory:      1000,
		Limit:             RouteLimit{MaxConcurrent: 32, MaxQueue: 128, MaxQueueWait: Duration(100 * time.Millisecond)},
	}
}

// Naive2021Config: what the 2021 portal did: every download revalidates
// (no-cache), no stale-if-error, no admission control.
func Naive2021Config() Config {
	return Config{
		Profile:         portalapi.ProfileNaive2021,
		RefreshInterval: Duration(30 * time.Second),
		DeltaHistory:    1000,
	}
}

// ConfigForProfile returns the preset named name (the portal's profile
// names).
func ConfigForProfile(name string) (Config, error) {
	return portalapi.Preset("lists", name, HardenedConfig, Naive2021Config)
}

// Validate checks for values that cannot work, by their JSON names.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.RefreshInterval.D() < 10*time.Millisecond {
		bad("refresh_interval must be at least 10ms")
	}
	if c.TrustListMaxAge < 0 || c.RevocationsMaxAge < 0 || c.StaleIfError < 0 {
		bad("trust_list_max_age, revocations_max_age and stale_if_error must not be negative")
	}
	if c.DeltaHistory < 1 || c.DeltaHistory > 100000 {
		bad("delta_history must be 1..100000")
	}
	if err := c.Limit.Validate("limit"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
