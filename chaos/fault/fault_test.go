package fault

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

// TestTableIsWellFormed checks what register cannot express as a panic:
// the rules a new entry must follow.
func TestTableIsWellFormed(t *testing.T) {
	for _, k := range Kinds() {
		s := k.Spec()
		if s.Acts == 0 || s.Window == 0 {
			t.Errorf("%s: Acts and Window must be set", k)
		}
		// Toxicity is how a toxic picks its connections: every toxic
		// takes it, nothing else does.
		_, tox := s.Param("toxicity")
		if tox != (s.Toxic != nil) {
			t.Errorf("%s: takes toxicity %v, is a toxic %v", k, tox, s.Toxic != nil)
		}
		if s.Toxic != nil && s.Toxic.Stream != "upstream" && s.Toxic.Stream != "downstream" {
			t.Errorf("%s: stream %q", k, s.Toxic.Stream)
		}
		seenOptional := false
		for _, p := range s.Params {
			if p.Required && seenOptional {
				t.Errorf("%s: required %s after an optional parameter", k, p.Name)
			}
			seenOptional = seenOptional || !p.Required
			// A zero value means "not given", so a parameter whose
			// default is not zero must refuse zero.
			if p.Default != 0 && p.Check(0) == nil {
				t.Errorf("%s.%s: default %v but accepts 0", k, p.Name, p.Default)
			}
			if p.Default != 0 && p.Check(p.Default) != nil {
				t.Errorf("%s.%s: refuses its default %v", k, p.Name, p.Default)
			}
			if p.Event == "" {
				t.Errorf("%s.%s: no events.json key", k, p.Name)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		kind  Kind
		p     Params
		param string // "" when valid
		msg   string
	}{
		{Latency, Params{Latency: 100 * time.Millisecond, Jitter: 50 * time.Millisecond, Toxicity: 0.25}, "", ""},
		{Latency, Params{}, "latency", "latency needs the parameter latency"},
		{Latency, Params{Latency: 10 * time.Millisecond, Jitter: 20 * time.Millisecond}, "jitter", "20ms exceeds latency 10ms"},
		{Latency, Params{Latency: 1500 * time.Microsecond}, "latency", "1.5ms is finer than the fault proxy's resolution of 1ms"},
		{Latency, Params{Latency: time.Second, CPUs: 1}, "cpus", "latency takes no parameter cpus"},
		{Bandwidth, Params{RateKBps: 1 << 31}, "rate_kbps", "2147483648 is outside 1..1073741824"},
		{Reset, Params{Toxicity: 1.5}, "toxicity", "1.5 is outside 0..1"},
		{Reset, Params{Toxicity: -0.5}, "toxicity", "-0.5 is outside 0..1"},
		{Reset, Params{After: 2 * time.Second}, "", ""},
		{Blackhole, Params{}, "", ""},
		{CPU, Params{CPUs: 0.001}, "cpus", "0.001 is outside 0.01..64"},
		{CPU, Params{}, "cpus", "cpu needs the parameter cpus"},
		{Kill, Params{After: time.Second}, "after", "kill takes no parameter after"},
	} {
		err := c.kind.Spec().Validate(c.p)
		var fe *Error
		switch {
		case c.param == "" && err != nil:
			t.Errorf("%s %+v: %v", c.kind, c.p, err)
		case c.param == "":
		case !errors.As(err, &fe) || fe.Param != c.param || fe.Msg != c.msg:
			t.Errorf("%s %+v: %v, want %s: %s", c.kind, c.p, err, c.param, c.msg)
		}
	}
	if err := Toxicity().Check(0); err == nil || !strings.Contains(err.Error(), "remove the fault") {
		t.Errorf("toxicity 0: %v", err)
	}
}

// Toxicity is the toxicity parameter, for the tests.
func Toxicity() Param { p, _ := Latency.Spec().Param("toxicity"); return p }

// TestEventKeysAreStable pins events.json's faults[].params: the keys
// reports and older runs use, durations in milliseconds, toxicity only
// when it is not the default.
func TestEventKeysAreStable(t *testing.T) {
	for _, c := range []struct {
		kind Kind
		p    Params
		want map[string]float64
	}{
		{Latency, Params{Latency: 200 * time.Millisecond, Jitter: 50 * time.Millisecond}, map[string]float64{"latency_ms": 200, "jitter_ms": 50}},
		{Latency, Params{Latency: 200 * time.Millisecond, Toxicity: 0.25}, map[string]float64{"latency_ms": 200, "toxicity": 0.25}},
		{Bandwidth, Params{RateKBps: 64, Toxicity: 1}, map[string]float64{"rate_kbps": 64}},
		{Reset, Params{After: 1500 * time.Millisecond}, map[string]float64{"timeout_ms": 1500}},
		{CPU, Params{CPUs: 0.5}, map[string]float64{"cpus": 0.5}},
		{Blackhole, Params{}, nil},
		{Kill, Params{}, nil},
	} {
		if got := c.kind.Spec().Event(c.p); !maps.Equal(got, c.want) {
			t.Errorf("%s %+v: %v, want %v", c.kind, c.p, got, c.want)
		}
	}
	if got := Latency.Spec().Format(Params{Latency: 200 * time.Millisecond, Toxicity: 0.25}); got != "latency=200ms toxicity=0.25" {
		t.Errorf("Format: %q", got)
	}
}

func TestWithDefaults(t *testing.T) {
	p := Reset.Spec().WithDefaults(Params{After: time.Second})
	if p.Toxicity != 1 || p.After != time.Second {
		t.Errorf("%+v", p)
	}
	if p := Kill.Spec().WithDefaults(Params{}); p != (Params{}) {
		t.Errorf("kill takes no params, got %+v", p)
	}
}
