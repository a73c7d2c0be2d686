package mailoutapi

import (
	"strings"
	"testing"
)

// Both presets validate; values that cannot work are named by their JSON
// keys.
func TestConfigValidate(t *testing.T) {
	for _, name := range []string{"hardened", "naive-2021"} {
		c, err := ConfigForProfile(name)
		if err != nil || c.Validate() != nil || c.Enabled {
			t.Fatalf("%s: %+v %v %v (the preset must be valid and off)", name, c, err, c.Validate())
		}
	}
	if h, n := HardenedConfig(), Naive2021Config(); !h.Yield || h.MaxRate <= 0 || n.Yield || n.MaxRate != 0 {
		t.Fatalf("hardened yields and caps its rate, naive-2021 does neither: %+v %+v", h, n)
	}
	if _, err := ConfigForProfile("fast"); err == nil {
		t.Fatal("unknown profile accepted")
	}
	for _, tc := range []struct {
		mutate func(*Config)
		key    string
	}{
		{func(c *Config) { c.Workers = 0 }, "workers"},
		{func(c *Config) { c.MaxRate = -1 }, "max_rate"},
		{func(c *Config) { c.ClaimBatch = 0 }, "claim_batch"},
		{func(c *Config) { c.Lease = 0 }, "lease"},
		{func(c *Config) { c.MaxItems = 0 }, "max_items"},
		{func(c *Config) { c.MaxBodyBytes = 10 }, "max_body_bytes"},
		{func(c *Config) { c.MaxPendingItems = 10 }, "max_pending_items"},
		{func(c *Config) { c.Limit.MaxQueue = -1 }, "limit"},
	} {
		c := HardenedConfig()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v", tc.key, err)
		}
	}
}
