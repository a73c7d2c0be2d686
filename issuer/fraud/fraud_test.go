package fraud

import (
	"testing"
	"time"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestOffHours(t *testing.T) {
	loc := berlin(t)
	d, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	overnight := DefaultConfig()
	overnight.OpenFrom, overnight.OpenUntil = 18*time.Hour, 2*time.Hour
	dn, err := New(overnight)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		d    *Detector
		at   time.Time
		want bool
	}{
		{"morning before opening", d, time.Date(2021, 7, 20, 7, 59, 0, 0, loc), true},
		{"opening minute", d, time.Date(2021, 7, 20, 8, 0, 0, 0, loc), false},
		{"afternoon", d, time.Date(2021, 7, 20, 15, 0, 0, 0, loc), false},
		{"closing minute", d, time.Date(2021, 7, 20, 20, 0, 0, 0, loc), true},
		{"night 22:30 (the 2021 abuse)", d, time.Date(2021, 7, 20, 22, 30, 0, 0, loc), true},
		{"22:30 Berlin given in UTC", d, time.Date(2021, 7, 20, 20, 30, 0, 0, time.UTC), true},
		{"10:00 Berlin given in UTC", d, time.Date(2021, 7, 20, 8, 0, 0, 0, time.UTC), false},
		{"DST change day afternoon", d, time.Date(2021, 3, 28, 14, 0, 0, 0, loc), false},
		{"open across midnight: 23:00", dn, time.Date(2021, 7, 20, 23, 0, 0, 0, loc), false},
		{"open across midnight: 01:00", dn, time.Date(2021, 7, 20, 1, 0, 0, 0, loc), false},
		{"open across midnight: 12:00", dn, time.Date(2021, 7, 20, 12, 0, 0, 0, loc), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.OffHours(tc.at); got != tc.want {
				t.Errorf("OffHours(%v) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

// series issues n certificates from start, every step.
func series(start time.Time, n int, step time.Duration) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = start.Add(time.Duration(i) * step)
	}
	return out
}

// history is a normal pharmacy: perHour certificates every opening hour of
// days days, ending the day before end.
func history(loc *time.Location, end time.Time, days, perHour int) []time.Time {
	var out []time.Time
	y, m, d := end.In(loc).Date()
	for day := days; day >= 1; day-- {
		for h := 8; h < 20; h++ {
			base := time.Date(y, m, d-day, h, 0, 0, 0, loc)
			out = append(out, series(base, perHour, time.Hour/time.Duration(perHour))...)
		}
	}
	return out
}

func TestObserve(t *testing.T) {
	loc := berlin(t)
	day := func(h, m int) time.Time { return time.Date(2021, 7, 20, h, m, 0, 0, loc) }
	cat := func(parts ...[]time.Time) []time.Time {
		var out []time.Time
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name      string
		events    []time.Time
		wantKind  Kind // "" = no anomaly at all
		wantAt    int  // index of the tripping event
		wantSince int  // index of the first event of the anomaly
		wantLimit int  // the limit reported
		mutate    func(*Config)
	}{
		{name: "daytime work below the floor", events: series(day(8, 0), 100, 6*time.Minute)},
		{name: "night burst every 2 minutes from 21:00",
			events:   cat(series(day(9, 0), 30, 10*time.Minute), series(day(21, 0), 50, 2*time.Minute)),
			wantKind: KindOffHours, wantAt: 30 + 10, wantSince: 30, wantLimit: 10},
		{name: "night duty: 10 a night for a week",
			events: func() []time.Time {
				var out []time.Time
				for d := 0; d < 7; d++ {
					out = append(out, series(time.Date(2021, 7, 10+d, 22, 0, 0, 0, loc), 10, 10*time.Minute)...)
				}
				return out
			}()},
		{name: "new pharmacy above the floor within an hour",
			events:   series(day(10, 0), 200, 10*time.Second),
			wantKind: KindVolume, wantAt: 120, wantSince: 0, wantLimit: 120},
		{name: "busy pharmacy (40/h baseline) at 4x its baseline is fine",
			events: cat(history(loc, day(10, 0), 7, 40), series(day(10, 0), 160, 20*time.Second))},
		{name: "busy pharmacy (40/h baseline) above 5x its baseline",
			events:   cat(history(loc, day(8, 0), 7, 40), series(day(8, 0), 250, 10*time.Second)),
			wantKind: KindVolume, wantAt: 7*12*40 + 200, wantSince: 7 * 12 * 40, wantLimit: 200},
		{name: "small pharmacy (2/h) keeps the floor",
			events: cat(history(loc, day(10, 0), 7, 2), series(day(10, 0), 100, 30*time.Second))},
		{name: "stricter off-hours limit",
			events:   series(day(5, 0), 5, time.Minute),
			mutate:   func(c *Config) { c.OffHoursLimit = 2 },
			wantKind: KindOffHours, wantAt: 2, wantSince: 0, wantLimit: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			d, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got *Anomaly
			gotAt := -1
			for i, at := range tc.events {
				if a := d.Observe("ph-1", at); a != nil {
					got, gotAt = a, i
					break
				}
			}
			if tc.wantKind == "" {
				if got != nil {
					t.Fatalf("unexpected anomaly at event %d: %v", gotAt, got)
				}
				return
			}
			if got == nil {
				t.Fatalf("no anomaly, want %s at event %d", tc.wantKind, tc.wantAt)
			}
			if got.Kind != tc.wantKind || gotAt != tc.wantAt || got.Limit != tc.wantLimit {
				t.Errorf("anomaly %v at event %d, want %s at %d with limit %d", got, gotAt, tc.wantKind, tc.wantAt, tc.wantLimit)
			}
			if !got.Since.Equal(tc.events[tc.wantSince]) {
				t.Errorf("Since = %v, want event %d (%v)", got.Since, tc.wantSince, tc.events[tc.wantSince])
			}
			if got.Pharmacy != "ph-1" || !got.At.Equal(tc.events[gotAt]) || got.Count != got.Limit+1 {
				t.Errorf("anomaly fields %+v", got)
			}
		})
	}
}

func TestPharmaciesAreIndependentAndResettable(t *testing.T) {
	loc := berlin(t)
	d, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	night := time.Date(2021, 7, 20, 22, 0, 0, 0, loc)
	for i := range 10 {
		if a := d.Observe("thief", night.Add(time.Duration(i)*time.Minute)); a != nil {
			t.Fatalf("anomaly too early: %v", a)
		}
		if a := d.Observe("honest", night.Add(time.Duration(i)*time.Minute)); a != nil {
			t.Fatalf("anomaly too early: %v", a)
		}
	}
	if a := d.Observe("thief", night.Add(11*time.Minute)); a == nil {
		t.Fatal("11th night certificate not flagged")
	}
	// The anomaly cleared the thief's state: a reinstated pharmacy starts afresh.
	if a := d.Observe("thief", night.Add(12*time.Minute)); a != nil {
		t.Fatalf("state not cleared after anomaly: %v", a)
	}
	d.Reset("honest")
	for i := range 10 {
		if a := d.Observe("honest", night.Add(time.Duration(20+i)*time.Minute)); a != nil {
			t.Fatalf("Reset did not clear history: %v", a)
		}
	}
}

func TestMaxPharmaciesBoundsMemory(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPharmacies = 3
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2021, 7, 20, 10, 0, 0, 0, cfg.Location)
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		d.Observe(p, at)
	}
	if d.Len() != 3 {
		t.Fatalf("Len = %d, want 3", d.Len())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no location", func(c *Config) { c.Location = nil }},
		{"open past midnight", func(c *Config) { c.OpenFrom = 25 * time.Hour }},
		{"negative limit", func(c *Config) { c.OffHoursLimit = -1 }},
		{"no window", func(c *Config) { c.OffHoursWindow = 0 }},
		{"tiny volume window", func(c *Config) { c.VolumeWindow = time.Second }},
		{"zero floor", func(c *Config) { c.VolumeFloor = 0 }},
		{"factor below 1", func(c *Config) { c.BaselineFactor = 0.5 }},
		{"baseline shorter than window", func(c *Config) { c.BaselineWindow = time.Minute }},
		{"no pharmacies", func(c *Config) { c.MaxPharmacies = 0 }},
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			if _, err := New(c); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}
