package threshold

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		src   string
		check func(e *Expr) bool
	}{
		{"p99(issue) < 500ms", func(e *Expr) bool {
			return e.Metric.Kind == Latency && e.Metric.Quantile == 0.99 && e.Metric.Filter.Class == "issue" &&
				e.Op == Less && e.Value == 500 && e.Scope == WholeRun
		}},
		{"p99 < 2s", func(e *Expr) bool { return e.Metric.Filter.Class == "" && e.Value == 2000 }},
		{"p99.9(verify) <= 1m", func(e *Expr) bool {
			return e.Metric.Quantile > 0.9989 && e.Metric.Quantile < 0.9991 && e.Value == 60000 && e.Op == LessEq
		}},
		{"max < 3s", func(e *Expr) bool { return e.Metric.Quantile == 1 && e.Value == 3000 }},
		{"mean < 80ms", func(e *Expr) bool { return e.Metric.Quantile == 0 && e.Metric.WholeRunOnly && e.Value == 80 }},
		{"rate(status>=500) < 1%", func(e *Expr) bool {
			s := e.Metric.Filter.Status
			return e.Metric.Kind == Fraction && s != nil && s.Op == GreaterEq && s.Code == 500 && e.Value == 0.01
		}},
		{"rate(status==503) < 0.5%", func(e *Expr) bool { return e.Metric.Filter.Status.Code == 503 && e.Value == 0.005 }},
		{"rate(outcome==timeout) < 0.001", func(e *Expr) bool { return e.Metric.Filter.Outcome.Name == "timeout" && e.Value == 0.001 }},
		{"rate(class=issue, status>=500) < 1%", func(e *Expr) bool { return e.Metric.Filter.Class == "issue" && e.Metric.Filter.Status.Code == 500 }},
		{"count(outcome!=ok) == 0", func(e *Expr) bool { return e.Metric.Kind == Count && e.Metric.Filter.Outcome.Op == NotEqual }},
		{"goodput >= 0.95*offered", func(e *Expr) bool {
			return e.Metric.Name == "goodput" && e.Factor != nil && e.Factor.Name == "offered" && e.Value == 0.95 && e.Op == GreaterEq
		}},
		{"goodput >= 0.95*offered over 1m", func(e *Expr) bool { return e.Scope == Window && e.Window == time.Minute }},
		{"rate(status>=500) < 1% over 1m30s abortOnFail", func(e *Expr) bool { return e.Window == 90*time.Second && e.Abort }},
		{"p99 < 500ms per phase", func(e *Expr) bool { return e.Scope == PerPhase && !e.Abort }},
		{"lost == 0", func(e *Expr) bool { return e.Metric.WholeRunOnly && e.Op == Equal && e.Value == 0 }},
		{"fraud_escaped == 0", func(e *Expr) bool { return e.Metric.Name == "fraud_escaped" }},
		{"retry_amplification <= 1.5", func(e *Expr) bool { return e.Metric.Kind == Ratio && e.Value == 1.5 }},
		{"late_sends != 3", func(e *Expr) bool { return e.Op == NotEqual && e.Value == 3 }},
		{"  p50(issue-vac)<.5s  ", func(e *Expr) bool {
			return e.Metric.Filter.Class == "issue-vac" && e.Value == 500 && e.Src == "p50(issue-vac)<.5s"
		}},
	} {
		e, err := Parse(tc.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.src, err)
			continue
		}
		if !tc.check(e) {
			t.Errorf("Parse(%q) = %+v (metric %+v), not what was written", tc.src, e, e.Metric)
		}
	}
}

// TestParseDurationUnits: wherever a time appears (a latency limit, a
// window), every unit of time.ParseDuration is taken, both micro signs
// included; latency limits are kept in milliseconds.
func TestParseDurationUnits(t *testing.T) {
	for _, tc := range []struct {
		src string
		ms  float64
	}{
		{"p99 < 1500ns", 0.0015},
		{"p99 < 500us", 0.5},
		{"p99 < 500\u00b5s", 0.5}, // U+00B5 micro sign
		{"p99 < 500\u03bcs", 0.5}, // U+03BC Greek small letter mu
		{"p99 < .25us", 0.00025},
		{"p99 < 2ms", 2},
		{"p99 < 1.2345678ms", 1.2345678},
		{"p99 < 1.5s", 1500},
		{"p99 < 2m", 120000},
		{"p99 < 1h", 3600000},
		{"p99 < 1m30s", 90000},
		{"p99 < 1h0m0.5s", 3600500},
		{"max(issue) <= 250us per phase", 0.25},
	} {
		e, err := Parse(tc.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.src, err)
			continue
		}
		if math.Abs(e.Value-tc.ms) > 1e-12*math.Max(1, tc.ms) {
			t.Errorf("Parse(%q).Value = %v ms, want %v ms", tc.src, e.Value, tc.ms)
		}
	}
	for _, tc := range []struct {
		src  string
		want time.Duration
	}{
		{"p99 < 1s over 1h", time.Hour},
		{"p99 < 1s over 90000ms", 90 * time.Second},
		{"p99 < 1s over 1m30s", 90 * time.Second},
		{"p99 < 1s over 2000000us", 2 * time.Second},
		{"p99 < 1s over 2000000\u00b5s", 2 * time.Second},
		{"p99 < 1s over 2000000\u03bcs", 2 * time.Second},
		{"p99 < 1s over 3000000000ns", 3 * time.Second},
	} {
		e, err := Parse(tc.src)
		if err != nil || e.Window != tc.want {
			t.Errorf("Parse(%q): window %v, %v; want %v", tc.src, e.Window, err, tc.want)
		}
	}
}

func TestParseErrorsPointAtColumn(t *testing.T) {
	for _, tc := range []struct {
		src  string
		col  int
		want string
	}{
		{"p99(issue) <", 13, "expected a value"},
		{"", 1, "expected a metric"},
		{"p99(issue) 500ms", 12, "expected a comparison"},
		{"p99 = 5", 5, "expected a comparison"},
		{"p100 < 5ms", 1, "not a percentile"},
		{"latency < 5ms", 1, "unknown metric"},
		{"p99 < 5ms over", 15, "window length"},
		{"p99 < 5ms per run", 15, `expected "phase"`},
		{"p99 < 5% ", 8, "fits only rate"},
		{"rate(status>=500) < 1ms", 22, "fits only a latency"},
		{"rate(status>=99) < 1%", 14, "status code between"},
		{"rate(outcome==late) < 1%", 15, "expected an outcome"},
		{"rate(outcome>ok) < 1%", 13, `outcome takes "==" or "!="`},
		{"rate < 1%", 6, "needs a filter"},
		{"rate(status>=500 < 1%", 18, `expected "," or ")"`},
		{"p99(status>=500) < 1s", 4, "takes only a class filter"},
		{"lost == 0 over 1m", 11, "only for the whole run"},
		{"goodput >= 0.95*lost", 16, "measure different things"},
		{"p99 < 5ms extra", 11, `unexpected "extra"`},
		{"p99 < 5 ms", 7, "a time needs a unit"},
		// A limit that cannot mean what it says (issue 13): a bare time, a
		// rate past 100 %, a bound below zero, a misspelt keyword or metric.
		{"p50 < 80", 7, "a time needs a unit: write 80s or 80ms"},
		{"p99(issue) < 3", 14, "a time needs a unit"},
		{"rate(status>=500) < 150%", 21, "a rate is at most 100%"},
		{"rate(status>=500) < 2", 21, "write 2% or 0.02"},
		{"lost < 0", 8, "lost < 0 can never hold"},
		{"p99 < 3s over 1m abortonfail", 18, `did you mean "abortOnFail"?`},
		{"lst == 0", 1, `did you mean "lost"?`},
		{"p99 < 5xs", 8, "unknown unit"},
		{"p99 < 5\u00b5", 8, "unknown unit \"\u00b5\""},
		{"p99 < 5\u00b5s extra", 11, `unexpected "extra"`}, // columns count characters, not bytes
		{"p99 < 5m30", 8, `unknown unit "m30"`},
		{"rate(status>=500) < 5us", 22, "fits only a latency"},
		{"goodput > 2h", 12, "fits only a latency"},
		{"p99 < 5ms over 1\u00b5", 17, "bad duration"},
		{"p99 < 5ms \u00a7", 11, "unexpected character '\u00a7'"},
		{"p99 < 5ms over 1x", 17, "bad duration"},
		{"p99 < 5ms !x", 11, `"!" must be followed`},
		{"p99 < 5ms; x", 10, "unexpected character"},
		{"rate(issue, verify) < 1%", 13, "class given twice"},
		{"lost(issue) == 0", 5, "takes no filter"},
	} {
		_, err := Parse(tc.src)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want a parse error", tc.src, err)
			continue
		}
		if pe.Column != tc.col || !strings.Contains(pe.Msg, tc.want) {
			t.Errorf("Parse(%q): column %d %q, want column %d containing %q", tc.src, pe.Column, pe.Msg, tc.col, tc.want)
		}
	}
	_, err := Parse("p99(issue) <")
	if got, want := err.Error(), `threshold "p99(issue) <": column 13: expected a value`; got != want {
		t.Errorf("error text %q, want %q", got, want)
	}
}

func TestExprFromYAML(t *testing.T) {
	var doc struct {
		Thresholds []Expr `yaml:"thresholds"`
	}
	src := "thresholds:\n  - p99(issue) < 500ms\n  - rate(status>=500) < 1% over 1m abortOnFail\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Thresholds) != 2 || doc.Thresholds[0].Value != 500 || !doc.Thresholds[1].Abort {
		t.Errorf("decoded %+v", doc.Thresholds)
	}
	out, err := yaml.Marshal(doc)
	if err != nil || !strings.Contains(string(out), "- p99(issue) < 500ms") {
		t.Errorf("encoded %q, %v", out, err)
	}
	err = yaml.Unmarshal([]byte("thresholds:\n  - p99(issue) <\n"), &doc)
	if err == nil || !strings.Contains(err.Error(), "column 13: expected a value") {
		t.Errorf("bad threshold in YAML: %v", err)
	}
}

func TestCheckRefusesUnknownClasses(t *testing.T) {
	names := Names{Classes: []string{"issue", "verify"}}
	for _, tc := range []struct {
		src  string
		col  int
		want string
	}{
		{"p99(isue) < 3s", 5, `unknown class "isue" (did you mean "issue"?)`},
		{"rate(class=stuffing, status>=500) < 1%", 12, `unknown class "stuffing" (want one of issue, time_to_cert, verify)`},
		{"goodput(issue) >= 0.95*offered(isue)", 32, `unknown class "isue"`},
	} {
		e, err := Parse(tc.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.src, err)
		}
		err = e.Check(names)
		var pe *Error
		if !errors.As(err, &pe) || pe.Column != tc.col || !strings.Contains(pe.Msg, tc.want) {
			t.Errorf("Check(%q) = %v, want column %d containing %q", tc.src, err, tc.col, tc.want)
		}
	}
	for _, ok := range []string{"p99(issue) < 3s", "p99(time_to_cert) < 15m", "lost == 0", "rate(verify, status>=500) < 1%"} {
		if err := MustParse(ok).Check(names); err != nil {
			t.Errorf("Check(%q): %v", ok, err)
		}
	}
	if err := MustParse("p99(anything) < 1s").Check(Names{}); err != nil {
		t.Errorf("unknown classes are not checked: %v", err)
	}
}
