package gate

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/loadgen"
)

// tailRun writes a run with results.gob: quiet phases of 1,350 attempts
// each around 100 ms, and a 300-attempt "cut-off" phase between them in
// which slowShare of the attempts take 4 s (the signer's timeout).
func tailRun(t *testing.T, seed uint64, slowShare float64) string {
	t.Helper()
	dir := t.TempDir()
	w, err := loadgen.CreateWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	phases := []struct {
		name string
		n    int
		slow float64
	}{{"morning", 1350, 0}, {"cut-off", 300, slowShare}, {"evening", 1350, 0}}
	type window struct {
		Name      string    `json:"name"`
		WallStart time.Time `json:"wall_start"`
		WallEnd   time.Time `json:"wall_end"`
	}
	var ev struct {
		Phases []window `json:"phases"`
	}
	at, seq := t0, uint64(0)
	for _, p := range phases {
		start := at
		for range p.n {
			lat := time.Duration(80+rng.IntN(40)) * time.Millisecond
			if rng.Float64() < 0.005 {
				lat = time.Duration(150+rng.IntN(50)) * time.Millisecond // the usual tail
			}
			if rng.Float64() < p.slow {
				lat = 4 * time.Second
			}
			seq++
			if err := w.Write(&loadgen.Record{Class: "issue", Seq: seq, Attempt: 1, Intended: at, Sent: at, Latency: lat,
				Code: 201, Outcome: loadgen.OutcomeOK, Method: "POST", URL: "http://portal/v1/certificates"}); err != nil {
				t.Fatal(err)
			}
			at = at.Add(10 * time.Millisecond)
		}
		ev.Phases = append(ev.Phases, window{p.name, start, at})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	if err := os.WriteFile(filepath.Join(dir, "events.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), []byte(`{"schema":"golive.summary/v1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tailChecks(rep *Report) map[string]Check {
	m := map[string]Check{}
	for _, c := range rep.Checks {
		if c.Name == "p99 tail" {
			m[c.Scope] = c
		}
	}
	return m
}

func TestTailRegressionConfinedToAPhaseFails(t *testing.T) {
	base := tailRun(t, 1, 0)
	run := tailRun(t, 2, 0.05) // 15 attempts of 3,000 hang for 4 s: 0.5 %
	rep, err := Evaluate(run, Options{Baseline: base})
	if err != nil {
		t.Fatal(err)
	}
	tc := tailChecks(rep)
	if c := tc["run"]; !c.OK {
		t.Errorf("the whole run's p99 is not moved by 0.5%% slow attempts, yet: %+v", c)
	}
	if c := tc["phase cut-off"]; c.OK || !strings.Contains(c.Detail, "4s") {
		t.Errorf("the cut-off phase's p99 went to 4 s and should fail: %+v", c)
	}
	for _, ph := range []string{"morning", "evening"} {
		if c := tc["phase "+ph]; !c.OK || c.Value == "n/a" {
			t.Errorf("phase %s was not compared or failed: %+v", ph, c)
		}
	}
	if rep.Pass {
		t.Error("the gate passed a phase whose p99 went from about 120 ms to 4 s")
	}
}

func TestTailOfARerunPasses(t *testing.T) {
	base := tailRun(t, 1, 0)
	for seed := uint64(2); seed < 7; seed++ {
		rep, err := Evaluate(tailRun(t, seed, 0), Options{Baseline: base})
		if err != nil {
			t.Fatal(err)
		}
		for scope, c := range tailChecks(rep) {
			if !c.OK {
				t.Errorf("seed %d: %s failed on the same distribution: %+v", seed, scope, c)
			}
		}
	}
}

func TestTailNeedsEnoughAttempts(t *testing.T) {
	h := newHist()
	for range 50 {
		_ = h.RecordValue(100)
	}
	if c := tailCheck("p99 tail", "run", h, h, 0.1, 0.01); !c.OK || c.Value != "n/a" {
		t.Fatalf("50 attempts: %+v", c)
	}
}
