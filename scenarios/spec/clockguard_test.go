package spec

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestClockCheckOutageTuesday(t *testing.T) {
	s := mustBuiltin(t, "outage-tuesday")

	// Hardened defers and tells the client to come back after 30 s: the
	// 15-minute first cut (900 s) stays longer than that up to x30.
	rep, err := s.ClockCheck("hardened", 3600)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Meaningful() || len(rep.Warnings) != 2 {
		t.Fatalf("x3600: want both cut-offs flagged, got %+v", rep.Warnings)
	}
	if rep.MaxTimescale != 30 {
		t.Fatalf("hardened: largest meaningful timescale %v, want 30 (900 s / 30 s Retry-After)", rep.MaxTimescale)
	}
	w := rep.Warnings[0]
	if w.Sim != 15*time.Minute || w.Wall != 250*time.Millisecond || w.Wait != 30*time.Second {
		t.Fatalf("first warning %+v: want the 15 min cut, 250 ms wall, 30 s wait", w)
	}
	if !strings.Contains(w.String(), "x30 or less") || !strings.Contains(rep.Advice(s), "x30 (25m0s wall)") {
		t.Fatalf("warning %q / advice %q do not name the timescale", w, rep.Advice(s))
	}
	if rep, _ := s.ClockCheck("hardened", 30); !rep.Meaningful() {
		t.Fatalf("x30 must be meaningful for hardened: %+v", rep.Warnings)
	}

	// naive-2021 does not defer: three attempts bounded by the portal's
	// 4 s signing deadline and 1 s + 2 s backoff decide it (15 s).
	rep, err = s.ClockCheck("naive-2021", 3600)
	if err != nil {
		t.Fatal(err)
	}
	if rep.MaxTimescale != 60 || rep.Warnings[0].Wait != 15*time.Second {
		t.Fatalf("naive-2021: max x%v, first wait %v; want x60 and 15 s", rep.MaxTimescale, rep.Warnings[0].Wait)
	}
}

func TestClockCheckWithoutFaultsIsUnbounded(t *testing.T) {
	s := mustBuiltin(t, "launch-day")
	rep, err := s.ClockCheck("", 100000)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Meaningful() || !math.IsInf(rep.MaxTimescale, 1) || rep.Advice(s) != "" {
		t.Fatalf("launch-day has no fault: want no warning, got %+v", rep)
	}
}

const clockYAML = `name: clocky
clock: {date: 2021-06-15, start: "10:00", end: "12:00", timescale: 600}
system: {profile: %s}
traffic:
  - name: issue
    kind: issue
    demand: [{at: "10:00", rate: 5}, {at: "12:00", rate: 5}]
    client: {timeout: 10s, retries: {max: 1, backoff_base: 5s, backoff_max: 5s}%s}
faults:
  - {kind: kill, target: portal, at: "10:30", until: "10:40"}
phases:
  - {name: around, from: "10:20", until: "10:50"}
  - {name: quiet, from: "11:00", until: "12:00"}
`

func TestClockCheckFrontFaultUsesClientWaits(t *testing.T) {
	s, err := Parse([]byte(strings.NewReplacer("%s", "").Replace(
		strings.Replace(clockYAML, "%s", "naive-2021", 1))), "clocky.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.ClockCheck("", 0)
	if err != nil {
		t.Fatal(err)
	}
	// A killed portal: two 10 s attempts and 5 s backoff (25 s) against
	// 600 s of fault (1 s wall at x600) and 1,800 s of the phase around it;
	// the quiet phase has no fault and is not checked.
	if len(rep.Warnings) != 2 || rep.MaxTimescale != 24 {
		t.Fatalf("want the fault and the phase around it, max x24; got %+v (max %v)", rep.Warnings, rep.MaxTimescale)
	}
	if rep.Warnings[0].Wait != 25*time.Second || !strings.HasPrefix(rep.Warnings[0].Span, "fault kill portal 10:30-10:40") {
		t.Fatalf("first warning %+v", rep.Warnings[0])
	}
	if !strings.HasPrefix(rep.Warnings[1].Span, "phase around 10:20-10:50") {
		t.Fatalf("second warning %+v", rep.Warnings[1])
	}
}

func TestClockCheckScaleWaitsDropsBackoff(t *testing.T) {
	src := strings.Replace(clockYAML, "%s", "naive-2021", 1)
	src = strings.Replace(src, "%s", ", scale_waits: true", 1)
	s, err := Parse([]byte(src), "clocky.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Class("issue"); !c.Client.ScaleWaits {
		t.Fatal("scale_waits not parsed")
	}
	rep, err := s.ClockCheck("", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Only the two 10 s attempts remain wall time: 600 s / 20 s = x30.
	if rep.MaxTimescale != 30 || rep.Warnings[0].Wait != 20*time.Second {
		t.Fatalf("scale_waits: want 20 s wait and x30, got %+v (max %v)", rep.Warnings, rep.MaxTimescale)
	}
}
