package finderapi

import (
	"errors"
	"fmt"
	"time"

	"github.com/golive-dev/golive/issuer/duration"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// Duration is written "2s" in settings (package duration).
type Duration = duration.Duration

// RouteLimit is admission control as the portal's routes have it: at most
// MaxConcurrent requests computing an answer, MaxQueue more waiting for at
// most MaxQueueWait; MaxConcurrent 0 means no limit.
type RouteLimit = portalapi.RouteLimit

// Config is every behaviour of the finder that differs between the
// profiles; HardenedConfig and Naive2021Config are the presets. In `golive
// serve` settings it is the "finder" object.
type Config struct {
	// Profile names the preset the config started from (logs).
	Profile string `json:"profile"`
	// MarkStatus marks pharmacies whose issuance is delayed, failing or
	// suspended, with the time of their last success. False is the 2021
	// finder: every onboarded pharmacy is listed as issuing.
	MarkStatus bool `json:"mark_status"`
	// RefreshInterval is how often the finder rebuilds its snapshot of
	// the registry; answers are never computed from the registry
	// directly, so a spike of searches costs the registry nothing.
	RefreshInterval Duration `json:"refresh_interval"`
	// RefreshTimeout bounds one rebuild.
	RefreshTimeout Duration `json:"refresh_timeout"`
	// MaxAge is Cache-Control max-age (0: no-cache, revalidate every
	// time), StaleWhileRevalidate its stale-while-revalidate.
	MaxAge               Duration `json:"max_age"`
	StaleWhileRevalidate Duration `json:"stale_while_revalidate"`
	// StaleIfError is Cache-Control stale-if-error, and how long after
	// its last good snapshot the finder itself keeps answering from that
	// snapshot (marked stale) while the registry fails; past it, or at
	// 0, such requests get 503 registry_unavailable.
	StaleIfError Duration `json:"stale_if_error"`
	// Limit is the admission control of searches whose answer is not
	// cached. A search turned away gets the previous snapshot's answer
	// to the same query when there is one (marked stale), else 503.
	Limit RouteLimit `json:"limit"`
	// CacheEntries is how many rendered answers the finder keeps per
	// snapshot (0: none; every search is computed).
	CacheEntries int `json:"cache_entries"`
}

// HardenedConfig is the finder of the reference design: statuses follow
// the registry within two seconds, answers are cacheable for 30 s and
// served stale for an hour while the registry fails, searches are
// admitted like any other route and answered from a cache first.
func HardenedConfig() Config {
	return Config{
		Profile:              portalapi.ProfileHardened,
		MarkStatus:           true,
		RefreshInterval:      Duration(2 * time.Second),
		RefreshTimeout:       Duration(5 * time.Second),
		MaxAge:               Duration(30 * time.Second),
		StaleWhileRevalidate: Duration(30 * time.Second),
		StaleIfError:         Duration(time.Hour),
		Limit:                RouteLimit{MaxConcurrent: 16, MaxQueue: 64, MaxQueueWait: Duration(50 * time.Millisecond)},
		CacheEntries:         20000,
	}
}

// Naive2021Config is the 2021 finder: every onboarded pharmacy is listed
// as issuing whatever happens to its issuance, nothing is cacheable, no
// admission control, and a registry failure fails every search.
func Naive2021Config() Config {
	return Config{
		Profile:         portalapi.ProfileNaive2021,
		MarkStatus:      false,
		RefreshInterval: Duration(2 * time.Second),
		RefreshTimeout:  Duration(5 * time.Second),
		MaxAge:          0,
		StaleIfError:    0,
		Limit:           RouteLimit{},
		CacheEntries:    0,
	}
}

// ConfigForProfile returns the preset named name (the portal's profile
// names).
func ConfigForProfile(name string) (Config, error) {
	return portalapi.Preset("finder", name, HardenedConfig, Naive2021Config)
}

// Validate checks for values that cannot work, by their JSON names.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.RefreshInterval.D() < 10*time.Millisecond {
		bad("refresh_interval must be at least 10ms")
	}
	if c.RefreshTimeout <= 0 {
		bad("refresh_timeout must be positive")
	}
	if c.MaxAge < 0 || c.StaleWhileRevalidate < 0 || c.StaleIfError < 0 {
		bad("max_age, stale_while_revalidate and stale_if_error must not be negative")
	}
	if err := c.Limit.Validate("limit"); err != nil {
		errs = append(errs, err)
	}
	if c.CacheEntries < 0 || c.CacheEntries > 1_000_000 {
		bad("cache_entries must be 0..1000000")
	}
	return errors.Join(errs...)
}
