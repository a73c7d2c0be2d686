package threshold

import (
	"strings"
	"testing"
)

// TestClassFigures: cache_hit_rate, dead_listings and the other class
// figures are read from summary.json's classes.<name>, need a class, take
// nothing else, and a class without the figure is not judged.
func TestClassFigures(t *testing.T) {
	dir := writeRun(t, map[string]any{"classes": map[string]any{
		"lists":  map[string]any{"requests": 1000, "not_modified": 950, "cache_hit_rate": 0.95, "bytes": 12345, "signature_failures": 0},
		"finder": map[string]any{"requests": 400, "dead_listings": 7},
		"issue":  map[string]any{"requests": 10},
	}}, nil, false)
	rd, err := OpenRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		src   string
		ok    bool
		value string
	}{
		{"cache_hit_rate(lists) >= 90%", true, "95%"},
		{"cache_hit_rate(lists) >= 0.96", false, "95%"},
		{"dead_listings(finder) == 0", false, "7"},
		{"dead_listings(finder) > 0", true, "7"},
		{"signature_failures(lists) == 0", true, "0"},
		{"not_modified(lists) >= 900", true, "950"},
		{"bytes(lists) < 20000", true, "12345"},
	} {
		res, err := Evaluate(rd, MustParse(tc.src))
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if res.OK != tc.ok || res.Value != tc.value {
			t.Errorf("%s: ok %v value %q, want %v %q", tc.src, res.OK, res.Value, tc.ok, tc.value)
		}
	}
	// A class that does not report the figure: not judged, not passed.
	if _, err := Evaluate(rd, MustParse("cache_hit_rate(issue) >= 90%")); err == nil || !strings.Contains(err.Error(), "not in the run's summary") {
		t.Errorf("cache_hit_rate of an issue class: %v", err)
	}
	for _, tc := range []struct{ src, want string }{
		{"dead_listings == 0", "needs a class"},
		{"cache_hit_rate(lists, status>=500) > 1%", `expected ")" after the class`},
		{"cache_hit_rate(lists) > 1ms", "fits only a latency"},
		{"dead_listings(finder) == 0 over 1m", "only for the whole run"},
		{"dead_listing(finder) == 0", `did you mean "dead_listings"`},
	} {
		if _, err := Parse(tc.src); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.want)
		}
	}
	e := MustParse("cache_hit_rate(listz) >= 90%")
	if err := e.Check(Names{Classes: []string{"lists", "finder"}}); err == nil || !strings.Contains(err.Error(), `did you mean "lists"`) {
		t.Errorf("unknown class: %v", err)
	}
}
