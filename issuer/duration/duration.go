// Package duration holds Duration, the time.Duration that settings files
// and --config bodies write as Go duration text ("60s", "1h30m"). Both the
// portal's and the signer's settings use it, so it lives apart from either
// role's contract package.
package duration

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written as "60s", "12h0m0s" in JSON, so
// --print-config is readable and --config files are writable by hand.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes Go duration syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go duration syntax ("1h30m", "250ms", "0").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}
