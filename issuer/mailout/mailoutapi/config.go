package mailoutapi

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

// Config is every behaviour of the mail-out; HardenedConfig and
// Naive2021Config are the presets. In `golive serve` settings it is the
// "mailout" object.
type Config struct {
	// Profile names the preset the config started from (logs).
	Profile string `json:"profile"`
	// Enabled serves the batch API and runs its worker. Off, the routes
	// are not mounted (404) and nothing of the registry's mail-out tables
	// is read.
	Enabled bool `json:"enabled"`
	// Yield makes batch signing wait for gaps in interactive issuance
	// (overload.Lanes); false signs as fast as the worker can, competing
	// with pharmacies as the 2021 system did.
	Yield bool `json:"yield"`
	// Quiet is how long interactive issuance must have been idle before a
	// batch item starts (Yield only).
	Quiet Duration `json:"quiet"`
	// MaxRate caps batch signing, items per second over all workers (0:
	// no cap). Gaps alone let a batch fill every idle moment; each item
	// then costs the registry's writer and the core a little, and a
	// pharmacy request that arrives meanwhile waits for it. A cap keeps
	// those collisions rare; a mail-out has hours, not seconds.
	MaxRate float64 `json:"max_rate"`
	// Workers sign items at once (each waits for its own gap).
	Workers int `json:"workers"`
	// ClaimBatch is how many items a worker takes from the registry per
	// claim; RecordBatch how many signed items it records per write.
	// Fewer, larger writes keep the registry's writer free for pharmacies.
	ClaimBatch  int `json:"claim_batch"`
	RecordBatch int `json:"record_batch"`
	// Lease is how long claimed items stay with this process before
	// another (or this one after a restart) takes them again.
	Lease Duration `json:"lease"`
	// RetryAfter is the back-off of an item no signer could sign.
	RetryAfter Duration `json:"retry_after"`
	// SignTimeout bounds one item's signature.
	SignTimeout Duration `json:"sign_timeout"`
	// Idle is how long the worker sleeps when nothing is due.
	Idle Duration `json:"idle"`
	// MaxItems bounds a job (413 too_many_items); MaxBodyBytes its body.
	MaxItems     int   `json:"max_items"`
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// MaxPendingItems bounds a centre's unfinished items over all its
	// jobs (503 backlog_full).
	MaxPendingItems int `json:"max_pending_items"`
	// Limit is the admission control of the API's requests (not of the
	// signing, which Yield governs).
	Limit RouteLimit `json:"limit"`
}

// HardenedConfig is the reference design's mail-out: batch signing only
// in gaps of pharmacy traffic and at most 50 items a second (180 000
// letters an hour), each batch of 512 recorded together with the next
// claim in one write.
func HardenedConfig() Config {
	return Config{
		Profile:         portalapi.ProfileHardened,
		Enabled:         false,
		Yield:           true,
		Quiet:           Duration(5 * time.Millisecond),
		MaxRate:         50,
		Workers:         1,
		ClaimBatch:      512,
		RecordBatch:     512,
		Lease:           Duration(time.Minute),
		RetryAfter:      Duration(2 * time.Second),
		SignTimeout:     Duration(4 * time.Second),
		Idle:            Duration(200 * time.Millisecond),
		MaxItems:        5000,
		MaxBodyBytes:    8 << 20,
		MaxPendingItems: 50000,
		Limit:           RouteLimit{MaxConcurrent: 4, MaxQueue: 16, MaxQueueWait: Duration(100 * time.Millisecond)},
	}
}

// Naive2021Config is a mail-out without priority: batch items sign as
// fast as four workers go, beside the pharmacies.
func Naive2021Config() Config {
	c := HardenedConfig()
	c.Profile = portalapi.ProfileNaive2021
	c.Yield = false
	c.MaxRate = 0
	c.Workers = 4
	c.RecordBatch = 1
	return c
}

// ConfigForProfile returns the preset named name (the portal's profile
// names).
func ConfigForProfile(name string) (Config, error) {
	return portalapi.Preset("mailout", name, HardenedConfig, Naive2021Config)
}

// Validate checks for values that cannot work, by their JSON names.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.MaxRate < 0 || c.MaxRate > 1e6 {
		bad("max_rate must be 0 (no cap) to 1000000 items per second")
	}
	if c.Workers < 1 || c.Workers > 64 {
		bad("workers must be 1..64")
	}
	if c.ClaimBatch < 1 || c.ClaimBatch > 1000 || c.RecordBatch < 1 || c.RecordBatch > 1000 {
		bad("claim_batch and record_batch must be 1..1000")
	}
	if c.Lease.D() < time.Second {
		bad("lease must be at least 1s")
	}
	if c.Quiet < 0 || c.RetryAfter <= 0 || c.SignTimeout <= 0 || c.Idle <= 0 {
		bad("quiet must not be negative; retry_after, sign_timeout and idle must be positive")
	}
	if c.MaxItems < 1 || c.MaxItems > 100000 {
		bad("max_items must be 1..100000")
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 256<<20 {
		bad("max_body_bytes must be 1KiB..256MiB")
	}
	if c.MaxPendingItems < c.MaxItems {
		bad("max_pending_items must be at least max_items")
	}
	if err := c.Limit.Validate("limit"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// TokenPrefix starts every centre token ("mc_" + 43 characters of
// base64url), so a token pasted in the wrong place is recognisable. The
// issuer keeps only the token's SHA-256 (auth.HashToken).
const TokenPrefix = "mc_"
