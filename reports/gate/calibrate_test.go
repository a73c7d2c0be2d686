package gate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/threshold"
)

// TestCalibrate measures the gate's false-alarm rate (runs of one build
// gated against each other) and its detection rate (a build doing 25% more
// work per request gated against the first build) on this machine. It runs
// N runs of each build, interleaved so both see the same background load,
// each a vegeta attack at a constant rate on a loopback endpoint that signs
// with ECDSA P-256. It takes about 2*N*seconds, so it runs only with
// GOLIVE_GATE_CALIBRATE=1:
//
//	GOLIVE_GATE_CALIBRATE=1 go test -run TestCalibrate -v -timeout 10m ./reports/gate
//
// GOLIVE_GATE_CALIBRATE_N (default 20), _SECONDS (6), _RATE (50/s),
// _SIGS (signatures per request of build A, 40), _SLOWDOWN (percent more
// work in build B, 25) and _LIMIT (--max-regression in percent, 10) change
// the setup; _DIR keeps the runs and reuses
// them on the next call.
func TestCalibrate(t *testing.T) {
	if os.Getenv("GOLIVE_GATE_CALIBRATE") != "1" {
		t.Skip("set GOLIVE_GATE_CALIBRATE=1 to measure the gate's false-alarm and detection rates (minutes)")
	}
	n := envInt(t, "GOLIVE_GATE_CALIBRATE_N", 20)
	secs := envInt(t, "GOLIVE_GATE_CALIBRATE_SECONDS", 6)
	rate := envInt(t, "GOLIVE_GATE_CALIBRATE_RATE", 50)
	sigsA := envInt(t, "GOLIVE_GATE_CALIBRATE_SIGS", 40)
	slow := envInt(t, "GOLIVE_GATE_CALIBRATE_SLOWDOWN", 25)              // percent more work in build B
	limit := float64(envInt(t, "GOLIVE_GATE_CALIBRATE_LIMIT", 10)) / 100 // --max-regression
	sigsB := sigsA * (100 + slow) / 100

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("golive gate calibration"))
	endpoint := func(sigs int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for range sigs {
				if _, err := ecdsa.SignASN1(rand.Reader, key, digest[:]); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
			}
			w.WriteHeader(http.StatusCreated)
		}))
	}
	srvA, srvB := endpoint(sigsA), endpoint(sigsB)
	defer srvA.Close()
	defer srvB.Close()

	// GOLIVE_GATE_CALIBRATE_DIR keeps the runs, and reuses them when they
	// exist, so the method can be re-measured on the same data.
	root := os.Getenv("GOLIVE_GATE_CALIBRATE_DIR")
	if root == "" {
		root = t.TempDir()
	}
	var runsA, runsB []string
	started, reused := time.Now(), 0
	for i := range n {
		a, b := filepath.Join(root, fmt.Sprintf("A%02d", i)), filepath.Join(root, fmt.Sprintf("B%02d", i))
		if _, err := os.Stat(filepath.Join(b, "summary.json")); err == nil {
			runsA, runsB = append(runsA, a), append(runsB, b)
			reused += 2
			continue
		}
		for _, b := range []struct {
			name string
			srv  *httptest.Server
			dst  *[]string
		}{{"A", srvA, &runsA}, {"B", srvB, &runsB}} {
			dir := filepath.Join(root, fmt.Sprintf("%s%02d", b.name, i))
			if err := calibrationRun(b.srv.URL, dir, rate, time.Duration(secs)*time.Second); err != nil {
				t.Fatal(err)
			}
			*b.dst = append(*b.dst, dir)
		}
	}
	t.Logf("%d runs (%d reused from %s) of %d s at %d/s in %s (build A %d signatures a request, build B %d); limit %g%%",
		2*n, reused, root, secs, rate, time.Since(started).Round(time.Second), sigsA, sigsB, limit*100)

	type tally struct{ pairs, gate, p50, p99, unshifted, naive int }
	count := func(base, run string, tl *tally) {
		rep, err := Evaluate(run, Options{Baseline: base, MaxRegression: limit})
		if err != nil {
			t.Fatal(err)
		}
		tl.pairs++
		if !rep.Pass {
			tl.gate++
			if tl.gate <= 3 {
				for _, c := range rep.Checks {
					if !c.OK {
						t.Logf("example failure %s vs %s: %s %s: %s", filepath.Base(run), filepath.Base(base), c.Name, c.Value, c.Detail)
					}
				}
			}
		}
		checks := byName(rep)
		if !checks["regression:p50 latency"].OK {
			tl.p50++
		}
		if !checks["regression:p99 latency"].OK {
			tl.p99++
		}
		// The same gate testing "worse at all" rather than "worse by more
		// than the limit".
		plain, err := Evaluate(run, Options{Baseline: base, MaxRegression: limit, unshifted: true})
		if err != nil {
			t.Fatal(err)
		}
		if !plain.Pass {
			tl.unshifted++
		}
		// The naive gate: whole-run p99 against the fixed limit.
		if summaryP99(t, run) > (1+limit)*summaryP99(t, base) {
			tl.naive++
		}
	}
	var fa, det tally
	for i := range n {
		for j := range n {
			if i != j {
				count(runsA[i], runsA[j], &fa)
			}
			count(runsA[i], runsB[j], &det)
		}
	}
	// Three pooled baseline runs (A_i, A_i+1, A_i+2) against every other
	// run of A and every run of B.
	var faPool, detPool tally
	pooled := func(i int, run string, tl *tally) {
		rep, err := Evaluate(run, Options{MaxRegression: limit, Baseline: runsA[i], MoreBaselines: []string{runsA[(i+1)%n], runsA[(i+2)%n]}})
		if err != nil {
			t.Fatal(err)
		}
		tl.pairs++
		if !rep.Pass {
			tl.gate++
		}
	}
	for i := range n {
		for j := range n {
			if j != i && j != (i+1)%n && j != (i+2)%n {
				pooled(i, runsA[j], &faPool)
			}
			pooled(i, runsB[j], &detPool)
		}
	}
	pct := func(k, of int) string { return fmt.Sprintf("%d/%d = %.1f%%", k, of, 100*float64(k)/float64(of)) }
	t.Logf("median whole-run p50/p99: build A %.2f/%.2f ms, build B %.2f/%.2f ms",
		medianOf(t, runsA, "p50"), medianOf(t, runsA, "p99"), medianOf(t, runsB, "p50"), medianOf(t, runsB, "p99"))
	t.Logf("3 pooled baselines: false alarms %s, detections %s", pct(faPool.gate, faPool.pairs), pct(detPool.gate, detPool.pairs))
	for _, r := range []struct {
		name string
		tl   tally
	}{{"false alarms (A vs A)", fa}, {fmt.Sprintf("detections (A vs B, +%d%% work)", slow), det}} {
		t.Logf("%s: gate %s (p50 check %s, p99 check %s); unshifted test %s; naive whole-run p99 over the limit: %s", r.name,
			pct(r.tl.gate, r.tl.pairs), pct(r.tl.p50, r.tl.pairs), pct(r.tl.p99, r.tl.pairs), pct(r.tl.unshifted, r.tl.pairs), pct(r.tl.naive, r.tl.pairs))
	}
}

// calibrationRun attacks url at rate for d and writes a minimal run
// directory: per-second timeseries.csv (by send time) and summary.json.
func calibrationRun(url, dir string, rate int, d time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	atk := vegeta.NewAttacker(vegeta.Timeout(5*time.Second), vegeta.KeepAlive(true))
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
	start := time.Now()
	type sec struct {
		lat        []float64
		ok, failed int64
	}
	var secs []sec
	var all []float64
	for r := range atk.Attack(tr, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, "calibrate") {
		// By send time; the few sends that slip past d (the attack starts
		// a little after start) join the last full second.
		i := min(max(int(r.Timestamp.Sub(start)/time.Second), 0), int(d/time.Second)-1)
		for len(secs) <= i {
			secs = append(secs, sec{})
		}
		ms := float64(r.Latency) / float64(time.Millisecond)
		secs[i].lat = append(secs[i].lat, ms)
		all = append(all, ms)
		if r.Code >= 200 && r.Code < 300 {
			secs[i].ok++
		} else {
			secs[i].failed++
		}
	}
	simStart := time.Date(2021, 6, 14, 9, 0, 0, 0, time.UTC)
	var bs []threshold.Bucket
	for i, s := range secs {
		sort.Float64s(s.lat)
		b := threshold.Bucket{Start: simStart.Add(time.Duration(i) * time.Second), Class: "issue",
			Counts: rundir.Counts{Offered: int64(len(s.lat)), Sent: int64(len(s.lat)), OK: s.ok, Error: s.failed, Delivered: s.ok},
			P50:    quantile(s.lat, 0.5), P90: quantile(s.lat, 0.9), P99: quantile(s.lat, 0.99), Max: quantile(s.lat, 1)}
		bs = append(bs, b)
	}
	if err := rundir.WriteTimeseriesFile(dir, bs); err != nil {
		return err
	}
	sort.Float64s(all)
	var good int64
	for _, s := range secs {
		good += s.ok
	}
	sum, err := json.Marshal(map[string]any{"schema": "golive.summary/v1",
		"goodput":    map[string]float64{"mean": float64(good) / d.Seconds()},
		"latency_ms": map[string]float64{"p50": quantile(all, 0.5), "p90": quantile(all, 0.9), "p99": quantile(all, 0.99), "max": quantile(all, 1)}})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.json"), sum, 0o644)
}

// quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func summaryP99(t *testing.T, dir string) float64 {
	rd, err := threshold.OpenRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, _, _, err := rd.Latency("", 0.99)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func medianOf(t *testing.T, dirs []string, key string) float64 {
	var xs []float64
	for _, d := range dirs {
		rd, _ := threshold.OpenRunDir(d)
		q := map[string]float64{"p50": 0.5, "p99": 0.99}[key]
		v, _, _, err := rd.Latency("", q)
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, v)
	}
	return median(xs)
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q is not a positive integer", name, s)
	}
	return v
}
