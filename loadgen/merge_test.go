package loadgen

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/reports/rundir"
)

type seqKey struct {
	class string
	seq   uint64
	at    int64
}

// actions is every first attempt or dropped send (a user action) by class,
// sequence number and intended time.
func actions(recs []Record) []seqKey {
	var out []seqKey
	for _, r := range recs {
		if r.Attempt <= 1 {
			out = append(out, seqKey{r.Class, r.Seq, r.Intended.UnixNano()})
		}
	}
	slices.SortFunc(out, func(a, b seqKey) int {
		if c := strings.Compare(a.class, b.class); c != 0 {
			return c
		}
		return int(a.seq) - int(b.seq)
	})
	return out
}

// Three shards of one plan send exactly the actions one process sends (the
// same sequence numbers and intended times, each once), and merging their
// files counts what the three wrote, which adds up to one run's totals.
func TestShardsMergeToOneRun(t *testing.T) {
	srv := httptest.NewServer(fixed(time.Millisecond, 201))
	defer srv.Close()
	clock := func(start time.Time) simclock.Clock {
		return simclock.Clock{SimStart: time.Date(2021, 6, 14, 9, 0, 0, 0, time.UTC), WallStart: start, Scale: 60}
	}
	plan := func(dir string, sh Shard, start time.Time) Plan {
		return Plan{Clock: clock(start), Duration: 1500 * time.Millisecond, Dir: dir, Shard: sh, Start: start,
			Classes: []Class{
				{Name: "issue", Demand: Constant(60), Request: post(srv.URL)},
				{Name: "verify", Demand: Constant(30), Request: post(srv.URL)},
			}}
	}
	root := t.TempDir()
	single := filepath.Join(root, "single")
	start := time.Now().Add(100 * time.Millisecond)
	one, err := Run(context.Background(), plan(single, Shard{}, start))
	if err != nil {
		t.Fatal(err)
	}

	const n = 3
	start = time.Now().Add(200 * time.Millisecond)
	var wg sync.WaitGroup
	srcs := make([]MergeSource, n)
	totals := make([]Totals, n)
	errs := make([]error, n)
	for i := range n {
		srcs[i].Dir = filepath.Join(root, "w", string(rune('0'+i)))
		wg.Go(func() {
			totals[i], errs[i] = Run(context.Background(), plan(srcs[i].Dir, Shard{Index: i, Count: n}, start))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	merged := filepath.Join(root, "merged")
	mt, per, err := MergeFiles(merged, srcs, AggregatorConfig{Clock: clock(start)})
	if err != nil {
		t.Fatal(err)
	}
	var sumReq, sumAct uint64
	for i := range n {
		if per[i].Requests != totals[i].Requests {
			t.Errorf("worker %d: merge read %d requests, the worker counted %d", i, per[i].Requests, totals[i].Requests)
		}
		sumReq += totals[i].Requests
		sumAct += totals[i].Actions
		if totals[i].Actions == 0 {
			t.Errorf("worker %d sent nothing", i)
		}
	}
	if mt.Requests != sumReq || mt.Actions != sumAct {
		t.Errorf("merged %d requests / %d actions, the workers' sum %d / %d", mt.Requests, mt.Actions, sumReq, sumAct)
	}
	if mt.Actions != one.Actions {
		t.Errorf("merged %d actions, one process %d", mt.Actions, one.Actions)
	}
	// The same schedule: relative to each run's start, the same sequence
	// numbers at the same intended offsets.
	a, b := actions(readAll(t, single)), actions(readAll(t, merged))
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("one process %d actions, merged %d", len(a), len(b))
	}
	off := b[0].at - a[0].at
	for i := range a {
		if a[i].class != b[i].class || a[i].seq != b[i].seq || b[i].at-a[i].at != off {
			t.Fatalf("action %d: one process %+v, merged %+v (start offset %d)", i, a[i], b[i], off)
		}
	}
	// Every record of every worker is in the merged file, once.
	var sumRecs uint64
	for _, p := range per {
		sumRecs += p.Records
	}
	if recs := readAll(t, merged); uint64(len(recs)) != sumRecs {
		t.Errorf("merged file holds %d records, the workers' %d", len(recs), sumRecs)
	}
	if _, err := rundir.ReadTimeseriesFile(merged); err != nil {
		t.Errorf("merged timeseries: %v", err)
	}
}

// A worker killed mid-write leaves half a record: a partial source stops
// there and says so; a complete one refuses.
func TestMergePartialTail(t *testing.T) {
	dir := t.TempDir()
	w, err := CreateWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	for i := range 5 {
		w.Write(&Record{Class: "a", Seq: uint64(i), Attempt: 1, Intended: at, Sent: at, Latency: time.Millisecond, Code: 201, Outcome: OutcomeOK})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	gob := filepath.Join(dir, rundir.ResultsFile)
	b, _ := os.ReadFile(gob)
	os.WriteFile(gob, b[:len(b)-7], 0o644)
	if _, _, err := MergeFiles(t.TempDir(), []MergeSource{{Dir: dir}}, AggregatorConfig{}); err == nil {
		t.Fatal("a damaged complete source was merged")
	}
	tot, per, err := MergeFiles(t.TempDir(), []MergeSource{{Dir: dir, Partial: true}}, AggregatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if per[0].Records != 4 || per[0].Damaged == "" || tot.Requests != 4 {
		t.Fatalf("partial merge: %+v, %d requests", per[0], tot.Requests)
	}
}

// vegeta's own report command, built from the module version go.mod pins
// (a tool of the module), reads a merged results.gob.
func TestVegetaReportReadsMergedResults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vegeta's command")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root := t.TempDir()
	var srcs []MergeSource
	at := time.Now()
	for w := range 2 {
		dir := filepath.Join(root, string(rune('a'+w)))
		os.MkdirAll(dir, 0o755)
		wr, err := CreateWriter(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			seq := uint64(i*2 + w)
			wr.Write(&Record{Class: "issue", Seq: seq, Attempt: 1, Intended: at.Add(time.Duration(seq) * time.Millisecond),
				Sent: at.Add(time.Duration(seq) * time.Millisecond), Latency: 5 * time.Millisecond, Code: 201, Outcome: OutcomeOK, Method: "POST", URL: "http://x/v1"})
		}
		if err := wr.Close(); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, MergeSource{Dir: dir})
	}
	merged := filepath.Join(root, "merged")
	if _, _, err := MergeFiles(merged, srcs, AggregatorConfig{}); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "vegeta")
	build := exec.Command(gobin, "build", "-o", bin, "github.com/tsenart/vegeta/v12")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building vegeta at the pinned version: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "report", "-type=text", filepath.Join(merged, rundir.ResultsFile)).CombinedOutput()
	if err != nil {
		t.Fatalf("vegeta report: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`Requests\s+\[total, rate, throughput\]\s+20,`).Match(out) {
		t.Fatalf("vegeta report does not count the 20 merged results:\n%s", out)
	}
	if !regexp.MustCompile(`Status Codes\s+\[code:count\]\s+201:20\s`).Match(out) {
		t.Fatalf("vegeta report status codes:\n%s", out)
	}
}
