// Package gate decides whether a run may ship: its own thresholds, extra
// thresholds, and a noise-aware comparison with a baseline run. A shared
// CI runner makes two runs of one build differ by several percent, so the
// comparison does not hold single figures against a fixed percentage: it
// takes the per-second samples of both runs (timeseries.csv), asks a
// Mann-Whitney U test whether the run is worse than the baseline beyond
// chance, and fails only when that is significant AND the effect (ratio of
// medians) exceeds the allowed regression. docs/gate.md describes the
// method and its measured false-alarm and detection rates.
package gate

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/threshold"
)

// Options configure a gate.
type Options struct {
	// Thresholds are judged in addition to the run's own (summary.json).
	Thresholds []*threshold.Expr
	// Baseline is a run directory or its summary.json; "" skips the
	// comparison.
	Baseline string
	// MoreBaselines are further runs of the baseline build; their
	// per-second samples are pooled with Baseline's, so the baseline covers
	// several states of a shared machine, not one.
	MoreBaselines []string
	// MaxRegression is the worsening allowed before a significant
	// difference fails the gate, as a fraction (default 0.10).
	MaxRegression float64
	// Alpha is the significance level of the one-sided test (default 0.01).
	Alpha float64

	// unshifted tests "worse at all" instead of "worse by more than
	// MaxRegression" (kept to measure the difference, see docs/gate.md).
	unshifted bool
}

// Check is one line of the verdict.
type Check struct {
	Kind   string `json:"kind"` // "threshold" or "regression"
	Name   string `json:"name"` // the expression, or the compared metric
	OK     bool   `json:"ok"`
	Value  string `json:"value"`
	Scope  string `json:"scope,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Inconclusive: one of the run's own thresholds it had too few events
	// to judge (summary.json's evidence); not OK, and not a failure.
	Inconclusive bool `json:"inconclusive,omitempty"`
}

// Report is the gate's verdict.
type Report struct {
	Run      string `json:"run"`
	Baseline string `json:"baseline,omitempty"`
	// MoreBaselines are the pooled further baseline runs.
	MoreBaselines []string `json:"more_baselines,omitempty"`
	Pass          bool     `json:"pass"`
	Checks        []Check  `json:"checks"`
}

// Failed counts the failing checks (inconclusive ones are not).
func (r *Report) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if !c.OK && !c.Inconclusive {
			n++
		}
	}
	return n
}

// Evaluate gates runDir. An error means an input could not be read (a
// usage problem); a threshold that cannot be judged is a failing check.
func Evaluate(runDir string, opt Options) (*Report, error) {
	if opt.MaxRegression == 0 {
		opt.MaxRegression = 0.10
	}
	if opt.Alpha == 0 {
		opt.Alpha = 0.01
	}
	if opt.MaxRegression < 0 || opt.Alpha <= 0 || opt.Alpha >= 1 {
		return nil, fmt.Errorf("max regression %v must be >= 0 and alpha %v in (0,1)", opt.MaxRegression, opt.Alpha)
	}
	run, err := threshold.OpenRunDir(runDir)
	if err != nil {
		return nil, err
	}
	names, err := runNames(run)
	if err != nil {
		return nil, err
	}
	for _, e := range opt.Thresholds {
		if err := e.Check(names); err != nil {
			return nil, err
		}
	}
	rep := &Report{Run: runDir, Baseline: opt.Baseline, MoreBaselines: opt.MoreBaselines}
	if opt.Baseline == "" && len(opt.MoreBaselines) > 0 {
		return nil, fmt.Errorf("more baselines without a first baseline")
	}
	own, err := ownThresholds(run)
	if err != nil {
		return nil, err
	}
	rep.Checks = append(rep.Checks, own...)
	for _, r := range threshold.EvaluateAll(run, opt.Thresholds) {
		rep.Checks = append(rep.Checks, fromResult(r, ""))
	}
	if opt.Baseline != "" {
		var bases []*threshold.RunDir
		for _, p := range append([]string{opt.Baseline}, opt.MoreBaselines...) {
			b, err := openBaseline(p)
			if err != nil {
				return nil, err
			}
			bases = append(bases, b)
		}
		cmp, err := compare(bases, run, opt)
		if err != nil {
			return nil, err
		}
		rep.Checks = append(rep.Checks, cmp...)
	}
	rep.Pass = rep.Verdict() == "pass"
	return rep, nil
}

func fromResult(r threshold.Result, note string) Check {
	d := r.Detail
	if note != "" {
		d = note + "; " + d
	}
	return Check{Kind: "threshold", Name: r.Expr, OK: r.OK, Value: r.Value, Scope: r.Scope, Detail: d}
}

// ownThresholds re-judges the thresholds the run recorded, so a gate sees
// the same data the run did; one that no longer parses or cannot be judged
// from the files keeps the verdict the run recorded.
func ownThresholds(run *threshold.RunDir) ([]Check, error) {
	sum, err := run.Summary()
	if err != nil || sum == nil {
		return nil, err
	}
	raw, _ := sum["thresholds"].([]any)
	evs := runEvidence(sum)
	var out []Check
	for i, item := range raw {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("summary.json: thresholds[%d] is not an object", i)
		}
		src, _ := m["expr"].(string)
		if e, err := threshold.Parse(src); err == nil {
			if r, err := threshold.Evaluate(run, e); err == nil {
				c := fromResult(r, "re-evaluated")
				unjudged(&c, evs)
				out = append(out, c)
				continue
			}
		}
		c := Check{Kind: "threshold", Name: src, Detail: "as recorded by the run"}
		c.OK, _ = m["ok"].(bool)
		c.Value, _ = m["value"].(string)
		c.Scope, _ = m["scope"].(string)
		unjudged(&c, evs)
		out = append(out, c)
	}
	return out, nil
}

// openBaseline accepts a run directory or the path of its summary.json.
func openBaseline(path string) (*threshold.RunDir, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	dir := path
	if !st.IsDir() {
		dir = filepath.Dir(path)
		if filepath.Base(path) != rundir.SummaryFile {
			return nil, fmt.Errorf("baseline %s: want a run directory or its summary.json", path)
		}
	}
	rd, err := threshold.OpenRunDir(dir)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	return rd, nil
}

// second is one second of a run, all classes merged.
type second struct {
	p50, p99   float64 // ms; p50 request-weighted over classes, p99 the classes' maximum
	requests   int64
	good       int64 // certificates delivered to the goodput classes (rundir.Rates)
	offered    int64 // the goodput classes' customer actions
	failed     int64 // error, overload, timeout, transport (not 4xx rejections)
	hasLatency bool
}

// runSeconds reads a run's per-second samples.
func runSeconds(rd *threshold.RunDir) ([]second, error) {
	bs, err := rd.Buckets()
	if err != nil {
		return nil, err
	}
	classes, err := rd.GoodputClasses()
	if err != nil {
		return nil, err
	}
	return perSecond(bs, rundir.ClassFilter(classes)), nil
}

func perSecond(bs []threshold.Bucket, customer func(class string) bool) []second {
	byStart := map[int64]*second{}
	var keys []int64
	for _, b := range bs {
		k := b.Start.UnixNano()
		s := byStart[k]
		if s == nil {
			s = &second{}
			byStart[k] = s
			keys = append(keys, k)
		}
		n := b.Responses()
		if n > 0 {
			s.p50 += b.P50 * float64(n)
			s.p99 = math.Max(s.p99, b.P99)
			s.hasLatency = true
		}
		s.requests += n
		if customer(b.Class) {
			s.good += b.Delivered
			s.offered += b.Offered
		}
		s.failed += b.Failures()
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := make([]second, 0, len(keys))
	for _, k := range keys {
		s := byStart[k]
		if s.requests > 0 {
			s.p50 /= float64(s.requests)
		}
		out = append(out, *s)
	}
	// The first and last seconds are ramp-up and a partial bucket: they
	// measure the edges, not the build.
	if len(out) > 10 {
		out = out[1 : len(out)-1]
	}
	return out
}

// minSamples is the fewest per-second samples per run for the test: with
// 5 against 5, a total separation gives p = 0.006, below 1%; with fewer it
// cannot reach significance.
const minSamples = 5

// metricSpec describes one compared metric.
type metricSpec struct {
	name       string
	higherBad  bool
	sample     func(second) (float64, bool)
	summaryKey []string // the point value in summary.json, for the fallback
	format     func(float64) string
}

var compared = []metricSpec{
	{"p50 latency", true, func(s second) (float64, bool) { return s.p50, s.hasLatency }, []string{"latency_ms", "p50"}, fmtMS},
	{"p99 latency", true, func(s second) (float64, bool) { return s.p99, s.hasLatency }, []string{"latency_ms", "p99"}, fmtMS},
	{"goodput", false, func(s second) (float64, bool) {
		// As a share of the demand, so a different demand curve is not
		// mistaken for a slower build.
		if s.offered > 0 {
			return float64(s.good) / float64(s.offered), true
		}
		return float64(s.good), s.requests > 0
	}, []string{"goodput", "mean"}, fmtNum},
}

func fmtMS(v float64) string  { return fmtMicros(v * 1000) }
func fmtNum(v float64) string { return fmt.Sprintf("%.4g", v) }
func fmtPct(v float64) string { return fmt.Sprintf("%+.1f%%", v*100+0) } // +0 turns -0 into 0

// Compare judges run against base. It returns one check per metric.
func Compare(base, run *threshold.RunDir, maxRegression, alpha float64) ([]Check, error) {
	return compare([]*threshold.RunDir{base}, run, Options{MaxRegression: maxRegression, Alpha: alpha})
}

// compare judges run against the pooled per-second samples of bases; the
// summary fallback uses the first base.
func compare(bases []*threshold.RunDir, run *threshold.RunDir, opt Options) ([]Check, error) {
	maxRegression, alpha := opt.MaxRegression, opt.Alpha
	var bs []second
	for _, b := range bases {
		bb, err := runSeconds(b)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		bs = append(bs, bb...)
	}
	base := bases[0]
	rs, err := runSeconds(run)
	if err != nil {
		return nil, err
	}
	var out []Check
	for _, m := range compared {
		x, y := samples(bs, m.sample), samples(rs, m.sample)
		if len(x) < minSamples || len(y) < minSamples {
			c, err := pointCompare(base, run, m, maxRegression, len(x), len(y))
			if err != nil {
				return nil, err
			}
			out = append(out, c)
			continue
		}
		out = append(out, judge(m, x, y, maxRegression, alpha, !opt.unshifted))
	}
	out = append(out, compareErrors(bs, rs, maxRegression, alpha))
	var baseDirs []string
	for _, b := range bases {
		baseDirs = append(baseDirs, b.Dir)
	}
	tc, err := compareTails(baseDirs, run.Dir, maxRegression, alpha)
	if err != nil {
		return nil, err
	}
	return append(out, tc...), nil
}

func samples(ss []second, f func(second) (float64, bool)) []float64 {
	var out []float64
	for _, s := range ss {
		if v, ok := f(s); ok {
			out = append(out, v)
		}
	}
	return out
}

// judge is the noise-aware test. The effect is the ratio of the medians of
// the per-second values. The test is a one-sided Mann-Whitney U test of
// "the run is worse than the baseline moved by the limit" (baseline values
// times 1+maxRegression for latency, 1-maxRegression for goodput): it asks
// for evidence of a regression beyond the limit, not of any difference,
// which is what keeps a run on a busier machine from failing. unshifted
// tests against the baseline itself.
func judge(m metricSpec, x, y []float64, maxRegression, alpha float64, shifted bool) Check {
	mx, my := median(x), median(y)
	f := 1.0
	if shifted {
		f = 1 + maxRegression
		if !m.higherBad {
			f = 1 - maxRegression
		}
	}
	var effect, p float64
	if m.higherBad {
		effect = ratio(my, mx) - 1
		p = MannWhitneyGreater(scaled(x, f), y)
	} else {
		effect = 1 - ratio(my, mx)
		p = MannWhitneyGreater(y, scaled(x, f))
	}
	bad := p < alpha && effect > maxRegression
	return Check{
		Kind: "regression", Name: m.name, OK: !bad, Value: fmtPct(signed(m.higherBad, effect)),
		Detail: fmt.Sprintf("median per second %s vs %s baseline (%d vs %d s); Mann-Whitney p=%.2g that it is worse by >%g%%; fails when p<%g",
			m.format(my), m.format(mx), len(y), len(x), p, maxRegression*100, alpha),
	}
}

func scaled(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, v := range xs {
		out[i] = v * f
	}
	return out
}

// signed turns the "worse by" effect back into the change of the metric.
func signed(higherBad bool, effect float64) float64 {
	if higherBad {
		return effect
	}
	return -effect
}

func ratio(a, b float64) float64 {
	if b == 0 {
		if a == 0 {
			return 1
		}
		return math.Inf(1)
	}
	return a / b
}

// compareErrors compares the failure rate (5xx, overload, timeouts,
// transport errors; 4xx rejections are the issuer doing its job). Most
// seconds have no failures, so medians say nothing: the effect is the
// change of the pooled rate, allowed to grow by maxRegression of the
// baseline's rate but at least by a tenth of a percentage point.
func compareErrors(bs, rs []second, maxRegression, alpha float64) Check {
	rate := func(ss []second) ([]float64, float64) {
		var xs []float64
		var f, n int64
		for _, s := range ss {
			if s.requests == 0 {
				continue
			}
			xs = append(xs, float64(s.failed)/float64(s.requests))
			f += s.failed
			n += s.requests
		}
		if n == 0 {
			return xs, 0
		}
		return xs, float64(f) / float64(n)
	}
	x, ex := rate(bs)
	y, ey := rate(rs)
	allowed := maxRegression * math.Max(ex, 0.01)
	p := 1.0
	if len(x) >= minSamples && len(y) >= minSamples {
		p = MannWhitneyGreater(x, y)
	} else if ey-ex > allowed {
		p = 0 // too few seconds for a test: the point values decide
	}
	bad := p < alpha && ey-ex > allowed
	return Check{
		Kind: "regression", Name: "error rate", OK: !bad, Value: fmt.Sprintf("%.2f%%", ey*100),
		Detail: fmt.Sprintf("%.2f%% vs %.2f%% baseline, Mann-Whitney p=%.2g; fails when p<%g and up by >%.2f points",
			ey*100, ex*100, p, alpha, allowed*100),
	}
}

// pointCompare is the fallback when a run lacks per-second data: the
// summary's point values against the limit. It is not noise-aware and says
// so.
func pointCompare(base, run *threshold.RunDir, m metricSpec, maxRegression float64, nx, ny int) (Check, error) {
	get := func(rd *threshold.RunDir) (float64, bool, error) {
		s, err := rd.Summary()
		if err != nil || s == nil {
			return 0, false, err
		}
		v, ok := lookupPath(s, m.summaryKey)
		return v, ok, nil
	}
	bx, okx, err := get(base)
	if err != nil {
		return Check{}, fmt.Errorf("baseline: %w", err)
	}
	ry, oky, err := get(run)
	if err != nil {
		return Check{}, err
	}
	c := Check{Kind: "regression", Name: m.name}
	if !okx || !oky {
		// Nothing to compare is not a regression; the line says so.
		c.OK, c.Value = true, "n/a"
		c.Detail = fmt.Sprintf("not compared: %d and %d per-second samples (need %d) and no %s in both summaries",
			nx, ny, minSamples, strings.Join(m.summaryKey, "."))
		return c, nil
	}
	effect := ratio(ry, bx) - 1
	if !m.higherBad {
		effect = 1 - ratio(ry, bx)
	}
	c.OK = effect <= maxRegression
	c.Value = fmtPct(signed(m.higherBad, effect))
	c.Detail = fmt.Sprintf("%s vs %s baseline from summary.json: NOT noise-aware (%d and %d per-second samples, need %d)",
		m.format(ry), m.format(bx), nx, ny, minSamples)
	return c, nil
}

func lookupPath(m map[string]any, path []string) (float64, bool) {
	var cur any = m
	for _, k := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		cur = obj[k]
	}
	v, ok := cur.(float64)
	return v, ok
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MannWhitneyGreater is the one-sided p-value of the Mann-Whitney U test
// for "values of y tend to be greater than values of x", by the normal
// approximation with tie correction and continuity correction (accurate
// for the dozens of per-second samples a run has).
func MannWhitneyGreater(x, y []float64) float64 {
	nx, ny := len(x), len(y)
	if nx == 0 || ny == 0 {
		return 1
	}
	type obs struct {
		v    float64
		isY  bool
		rank float64
	}
	all := make([]obs, 0, nx+ny)
	for _, v := range x {
		all = append(all, obs{v: v})
	}
	for _, v := range y {
		all = append(all, obs{v: v, isY: true})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	n := float64(nx + ny)
	var tieSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		r := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			all[k].rank = r
		}
		t := float64(j - i)
		tieSum += t*t*t - t
		i = j
	}
	var ry float64
	for _, o := range all {
		if o.isY {
			ry += o.rank
		}
	}
	u := ry - float64(ny)*float64(ny+1)/2
	mean := float64(nx) * float64(ny) / 2
	variance := float64(nx) * float64(ny) / 12 * ((n + 1) - tieSum/(n*(n-1)))
	if variance <= 0 {
		return 1 // every value equal: no evidence either way
	}
	z := (u - mean - 0.5) / math.Sqrt(variance)
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// JSON is the report as indented JSON.
func (r *Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// runNames are the classes a run recorded (summary.json's classes, else
// timeseries.csv's), so a threshold naming another class is refused.
func runNames(run *threshold.RunDir) (threshold.Names, error) {
	var n threshold.Names
	seen := map[string]bool{}
	add := func(c string) {
		if c != "" && !seen[c] {
			seen[c] = true
			n.Classes = append(n.Classes, c)
		}
	}
	sum, err := run.Summary()
	if err != nil {
		return n, err
	}
	if cs, ok := sum["classes"].(map[string]any); ok {
		for c := range cs {
			add(c)
		}
	}
	if len(n.Classes) == 0 {
		bs, err := run.Buckets()
		if err != nil {
			return n, err
		}
		for _, b := range bs {
			add(b.Class)
		}
	}
	sort.Strings(n.Classes)
	return n, nil
}
