package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/reports/rundir"
)

// fixed answers every request after a fixed delay.
func fixed(delay time.Duration, code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.WriteHeader(code)
	})
}

func post(url string) RequestFunc {
	return func(_ context.Context, seq uint64) (Request, error) {
		h := http.Header{}
		h.Set("Idempotency-Key", fmt.Sprintf("k-%d", seq))
		return Request{Target: vegeta.Target{Method: http.MethodPost, URL: url, Body: []byte(`{}`), Header: h}, Tag: "tag"}, nil
	}
}

func readAll(t *testing.T, dir string) []Record {
	t.Helper()
	rf, err := os.Open(filepath.Join(dir, rundir.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	mf, err := os.Open(filepath.Join(dir, rundir.MetaFile))
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	var out []Record
	if err := ReadRecords(rf, mf, func(r *Record) error { out = append(out, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// A fixed 20 ms endpoint: both latencies are at least what the server
// spent (an ordering per request, so per quantile), the latency from the
// intended send never below the service time, and the counts add up. How
// close to 20 ms the p50 lands depends on the machine (-race, other work):
// that figure is BenchmarkFixedDelayP50's (docs/BENCHMARKS.md).
func TestRunFixedDelayP50(t *testing.T) {
	var (
		mu     sync.Mutex
		server []time.Duration // the handler's own time per request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		time.Sleep(20 * time.Millisecond)
		d := time.Since(t0)
		mu.Lock()
		server = append(server, d)
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	dir := t.TempDir()
	tot, err := Run(context.Background(), Plan{
		Duration: 2 * time.Second,
		Dir:      dir,
		Classes:  []Class{{Name: "issue", Demand: Constant(200), Request: post(srv.URL)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	slices.Sort(server)
	serverP50 := server[len(server)/2]
	mu.Unlock()
	t.Logf("requests %d late %d dropped %d latency %+v service %+v; server p50 %v", tot.Requests, tot.Late, tot.Dropped, tot.Latency, tot.Service, serverP50)
	// HdrHistogram keeps 3 significant digits: allow its rounding.
	atLeast := func(d, floor time.Duration) bool { return d >= floor-floor/500 }
	if !atLeast(tot.Service.P50, serverP50) || !atLeast(tot.Latency.P50, tot.Service.P50) || !atLeast(serverP50, 20*time.Millisecond) {
		t.Errorf("p50 %v from the intended send, %v from the actual send, %v in the server: want server <= actual <= intended",
			tot.Latency.P50, tot.Service.P50, serverP50)
	}
	if tot.Offered != 400 {
		t.Errorf("offered %d, want 400 (200/s for 2 s)", tot.Offered)
	}
	if tot.Actions+tot.Dropped != tot.Offered || tot.OK != tot.Requests {
		t.Errorf("inconsistent counts: %+v", tot.Counts)
	}
	if tot.Dropped > 4 {
		t.Errorf("%d of 400 sends dropped", tot.Dropped)
	}
	// The same number from the file on disk, through histogram.hdr.
	hf, err := os.Open(filepath.Join(dir, rundir.HistogramFile))
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	hs, err := rundir.ReadHistograms(hf)
	if err != nil {
		t.Fatal(err)
	}
	h := hs["issue"]
	if h == nil || uint64(h.TotalCount()) != tot.Requests {
		t.Fatalf("histogram.hdr: %v", hs)
	}
	if p50 := time.Duration(h.ValueAtQuantile(50)) * time.Microsecond; p50 != tot.Latency.P50 {
		t.Errorf("histogram.hdr p50 %v, totals %v", p50, tot.Latency.P50)
	}
	// vegeta reads results.gob as its own.
	rf, _ := os.Open(filepath.Join(dir, rundir.ResultsFile))
	defer rf.Close()
	dec := vegeta.NewDecoder(rf)
	var m vegeta.Metrics
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			break
		}
		m.Add(&r)
	}
	m.Close()
	// The same latencies (from the actual send): vegeta's p50 is a
	// t-digest estimate, ours the histogram's, so within 5% of each other.
	if d := m.Latencies.P50 - tot.Service.P50; m.Requests != tot.Requests+tot.Dropped || d < -tot.Service.P50/20 || d > tot.Service.P50/20 {
		t.Errorf("vegeta's view of results.gob: %d requests, p50 %v; ours %d, %v", m.Requests, m.Latencies.P50, tot.Requests+tot.Dropped, tot.Service.P50)
	}
	ts, _ := os.ReadFile(filepath.Join(dir, rundir.TimeseriesFile))
	lines := strings.Split(strings.TrimSpace(string(ts)), "\n")
	if lines[0] != rundir.TimeseriesHeader || len(lines) < 2 || len(lines) > 4 {
		t.Errorf("timeseries.csv: %d lines, header %q", len(lines), lines[0])
	}
}

// serial serves one request at a time, 10 ms each: capacity 100/s.
func serial() http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		time.Sleep(10 * time.Millisecond)
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})
}

// Acceptance: above capacity, with a client pool of 4 connections, sends
// wait for a connection: they are reported late, and the latency from the
// intended send time shows the queueing the service time leaves out.
func TestRunOverCapacityReportsLateSends(t *testing.T) {
	srv := httptest.NewServer(serial())
	defer srv.Close()
	// 300 requests at 100/s take 3 s to serve, more on a busy machine (the
	// 10 ms sleeps overrun): drain and timeout are hang guards, not figures.
	const hangGuard = time.Minute
	tot, err := Run(context.Background(), Plan{
		Duration:        time.Second,
		MaxConnsPerHost: 4,
		Drain:           hangGuard,
		Classes: []Class{{Name: "issue", Demand: Constant(300), Request: post(srv.URL),
			Client: ClientConfig{Timeout: hangGuard}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("offered %d requests %d late %d dropped %d timeout %d transport %d latency %+v service %+v",
		tot.Offered, tot.Requests, tot.Late, tot.Dropped, tot.Timeout, tot.Transport, tot.Latency, tot.Service)
	if tot.Late < tot.Requests/2 {
		t.Errorf("only %d of %d sends late at 3x capacity", tot.Late, tot.Requests)
	}
	if tot.Transport+tot.Timeout != 0 || tot.OK != 300 {
		t.Errorf("not every request answered: %+v", tot.Counts)
	}
	// On the wire a request waits for at most 3 others (4 connections, 10
	// ms each); from its intended time it waited for the whole queue.
	if tot.Latency.P99 < time.Second || tot.Latency.P50 < 4*tot.Service.P50 {
		t.Errorf("latency from the intended time %+v does not show the queueing the service time %+v leaves out", tot.Latency, tot.Service)
	}
	if tot.Offered != 300 || tot.Actions+tot.Dropped != tot.Offered {
		t.Errorf("offered %d actions %d dropped %d", tot.Offered, tot.Actions, tot.Dropped)
	}
}

// keyed answers by Idempotency-Key with a script of responses.
type keyed struct {
	mu    sync.Mutex
	seen  map[string]int
	times map[string][]time.Time
	reply func(w http.ResponseWriter, r *http.Request, n int) // n: 1 for a key's first request
}

func (k *keyed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		key = r.URL.Path
	}
	k.mu.Lock()
	if k.seen == nil {
		k.seen, k.times = map[string]int{}, map[string][]time.Time{}
	}
	k.seen[key]++
	n := k.seen[key]
	k.times[key] = append(k.times[key], time.Now())
	k.mu.Unlock()
	k.reply(w, r, n)
}

// oneAction runs a single user action (due 0.5 s in) and returns its records.
func oneAction(t *testing.T, h http.Handler, cfg ClientConfig) ([]Record, []Final) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	dir := t.TempDir()
	var mu sync.Mutex
	var fins []Final
	_, err := Run(context.Background(), Plan{
		Duration: 600 * time.Millisecond,
		Dir:      dir,
		Drain:    10 * time.Second,
		Observer: func(f Final) { mu.Lock(); fins = append(fins, f); mu.Unlock() },
		Classes:  []Class{{Name: "issue", Demand: Constant(2), Request: post(srv.URL + "/v1/certificates"), Client: cfg}},
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, dir)
	sort.Slice(recs, func(i, j int) bool { return recs[i].Attempt < recs[j].Attempt })
	return recs, fins
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	k := &keyed{reply: func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"uvci":"U1"}`)
	}}
	recs, fins := oneAction(t, k, ClientConfig{MaxRetries: 3, BackoffBase: time.Millisecond})
	if len(recs) != 2 || recs[0].Outcome != OutcomeOverload || recs[1].Outcome != OutcomeOK || recs[1].Attempt != 2 {
		t.Fatalf("records: %+v", recs)
	}
	if gap := recs[1].Sent.Sub(recs[0].End()); gap < time.Second {
		t.Errorf("retry went %v after the 503 with Retry-After: 1", gap)
	}
	if len(fins) != 1 || fins[0].Outcome != OutcomeOK || string(fins[0].Body) != `{"uvci":"U1"}` || fins[0].Attempts != 2 || fins[0].Tag != "tag" || fins[0].IdempotencyKey != "k-0" {
		t.Fatalf("observer saw %+v", fins)
	}
	ts := k.times["k-0"]
	if len(ts) != 2 || ts[1].Sub(ts[0]) < time.Second {
		t.Errorf("server saw the key at %v", ts)
	}
}

func TestRetryBacksOffWithoutRetryAfterAndGivesUp(t *testing.T) {
	k := &keyed{reply: func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusBadGateway) }}
	recs, fins := oneAction(t, k, ClientConfig{MaxRetries: 2, BackoffBase: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if len(recs) != 3 || fins[0].Outcome != OutcomeError || fins[0].Attempts != 3 {
		t.Fatalf("records %+v final %+v", recs, fins)
	}
	// Each retry is due a backoff after the attempt before it ended (not
	// after the first, which would add the second attempt's own time).
	for i, r := range recs[1:] {
		if d := r.Intended.Sub(recs[i].End()); d > 400*time.Millisecond { // cap 50 ms; the default would allow 1 s
			t.Errorf("retry %d scheduled %v after the attempt before it, beyond the backoff cap", r.Attempt, d)
		}
	}
	// A 400 is not retried.
	k2 := &keyed{reply: func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusBadRequest) }}
	recs, fins = oneAction(t, k2, ClientConfig{MaxRetries: 2})
	if len(recs) != 1 || fins[0].Outcome != OutcomeRejected {
		t.Fatalf("400: records %+v final %+v", recs, fins)
	}
}

func TestTicketPollingReachesDone(t *testing.T) {
	k := &keyed{reply: func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == http.MethodPost {
			w.Header().Set("Location", "/v1/tickets/T1")
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, `{"ticket":"T1","uvci":"U1","retry_after":0}`)
			return
		}
		if r.URL.Path != "/v1/tickets/T1" || r.Header.Get("Idempotency-Key") != "" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if n < 3 {
			w.Header().Set("Retry-After", "0")
			fmt.Fprint(w, `{"ticket":"T1","state":"pending","retry_after":0}`)
			return
		}
		fmt.Fprint(w, `{"ticket":"T1","state":"done","uvci":"U1","hc1":"HC1:X"}`)
	}}
	recs, fins := oneAction(t, k, ClientConfig{MaxPolls: 10})
	want := []Outcome{OutcomeDeferred, OutcomeDeferred, OutcomeDeferred, OutcomeTicketDone}
	if len(recs) != len(want) {
		t.Fatalf("records: %+v", recs)
	}
	for i, r := range recs {
		if r.Outcome != want[i] || r.Attempt != i+1 {
			t.Errorf("attempt %d: %s, want %s", r.Attempt, r.Outcome, want[i])
		}
	}
	if recs[3].Method != http.MethodGet || !strings.HasSuffix(recs[3].URL, "/v1/tickets/T1") {
		t.Errorf("poll went to %s %s", recs[3].Method, recs[3].URL)
	}
	if len(fins) != 1 || fins[0].Outcome != OutcomeTicketDone || !strings.Contains(string(fins[0].Body), "HC1:X") {
		t.Fatalf("observer saw %+v", fins)
	}
	// Without polls the user keeps the 202.
	recs, fins = oneAction(t, &keyed{reply: k.reply}, ClientConfig{})
	if len(recs) != 1 || fins[0].Outcome != OutcomeDeferred || !strings.Contains(string(fins[0].Body), `"ticket":"T1"`) {
		t.Fatalf("no polls: records %+v final %+v", recs, fins)
	}
}

func TestImpatientDuplicateSharesKey(t *testing.T) {
	k := &keyed{reply: func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			time.Sleep(300 * time.Millisecond)
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.WriteHeader(http.StatusConflict)
	}}
	recs, fins := oneAction(t, k, ClientConfig{ImpatientProb: 1, ImpatientAfter: 50 * time.Millisecond})
	if len(k.seen) != 1 || k.seen["k-0"] != 2 {
		t.Fatalf("server saw keys %v, want k-0 twice", k.seen)
	}
	if len(recs) != 2 || recs[1].Attempt != 2 || recs[1].Seq != recs[0].Seq {
		t.Fatalf("records: %+v", recs)
	}
	if d := recs[1].Intended.Sub(recs[0].Intended); d < 50*time.Millisecond {
		t.Errorf("duplicate intended %v after the first, want >= 50 ms", d)
	}
	// The user saw the better answer: the first's 201, not the duplicate's 409.
	if fins[0].Outcome != OutcomeOK || fins[0].Attempts != 2 {
		t.Errorf("final %+v", fins[0])
	}
	// A patient answer (fast server) sends no duplicate.
	fast := &keyed{reply: func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusCreated) }}
	recs, _ = oneAction(t, fast, ClientConfig{ImpatientProb: 1, ImpatientAfter: 2 * time.Second})
	if len(recs) != 1 {
		t.Errorf("fast answer still duplicated: %+v", recs)
	}
}

func TestTimeoutOutcome(t *testing.T) {
	recs, fins := oneAction(t, fixed(300*time.Millisecond, http.StatusCreated), ClientConfig{Timeout: 50 * time.Millisecond})
	if len(recs) != 1 || recs[0].Outcome != OutcomeTimeout || recs[0].Code != 0 || fins[0].Outcome != OutcomeTimeout {
		t.Fatalf("records %+v final %+v", recs, fins)
	}
	// The attempt's clock starts before the connection is obtained, the latency at it.
	if rt := recs[0].End().Sub(recs[0].Intended); rt < 50*time.Millisecond || rt > time.Second {
		t.Errorf("timeout %v after the intended send, want ~50 ms", rt)
	}
}

func TestRequestErrorIsDropped(t *testing.T) {
	srv := httptest.NewServer(fixed(0, http.StatusCreated))
	defer srv.Close()
	ok := post(srv.URL)
	dir := t.TempDir()
	tot, err := Run(context.Background(), Plan{
		Duration: 500 * time.Millisecond,
		Dir:      dir,
		Classes: []Class{{Name: "issue", Demand: Constant(100), Request: func(ctx context.Context, seq uint64) (Request, error) {
			if seq%5 == 0 {
				return Request{}, errors.New("no token")
			}
			return ok(ctx, seq)
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tot.Offered != 50 || tot.Actions+tot.Dropped != 50 || tot.Dropped < 10 {
		t.Fatalf("offered %d dropped %d actions %d, want 50 offered, at least 10 dropped", tot.Offered, tot.Dropped, tot.Actions)
	}
	noToken := 0
	for _, r := range readAll(t, dir) {
		if r.Dropped() && strings.Contains(r.Error, "no token") {
			noToken++
			if r.Seq%5 != 0 || r.Outcome != OutcomeTransport || r.Code != 0 {
				t.Errorf("dropped record %+v", r)
			}
		}
	}
	if noToken != 10 {
		t.Errorf("%d sends dropped for want of a token, want 10", noToken)
	}
}

// Ctrl-C: the load stops at once, what was recorded is on disk, and the
// sends due before the stop but not made are dropped, not forgotten.
func TestRunCancelFlushes(t *testing.T) {
	srv := httptest.NewServer(fixed(5*time.Millisecond, http.StatusCreated))
	defer srv.Close()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Ctrl-C arrives once 261 sends are built and progress was reported:
	// counted, not timed, so a slow start on a busy machine does not
	// change what is expected.
	send := post(srv.URL)
	var progress, built atomic.Int32
	request := func(ctx context.Context, seq uint64) (Request, error) {
		if built.Add(1) >= 261 && progress.Load() > 0 {
			cancel()
		}
		return send(ctx, seq)
	}
	began := time.Now()
	tot, err := Run(ctx, Plan{
		Duration: time.Minute,
		Dir:      dir,
		Progress: func(p Progress) {
			progress.Add(1)
			if p.Offered != 200 {
				t.Errorf("progress offered %v, want 200", p.Offered)
			}
			if built.Load() >= 261 {
				cancel()
			}
		},
		Classes: []Class{{Name: "issue", Demand: Constant(200), Request: request}},
	})
	took := time.Since(began)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	// At least the 261 sends up to the cancel; no more than were due while
	// Run ran (it stopped at once, not at the end of its minute).
	if most := uint64(200*took.Seconds()) + 1; tot.Offered < 261 || tot.Offered > most {
		t.Errorf("offered %d, want 261..%d (200/s for the %v Run took)", tot.Offered, most, took)
	}
	recs := readAll(t, dir)
	if uint64(len(recs)) != tot.Requests+tot.Dropped {
		t.Errorf("%d records on disk, totals %d requests + %d dropped", len(recs), tot.Requests, tot.Dropped)
	}
}

func TestPlanValidation(t *testing.T) {
	rf := post("http://127.0.0.1:1")
	for name, p := range map[string]Plan{
		"no duration":   {Classes: []Class{{Name: "a", Demand: Constant(1), Request: rf}}},
		"no classes":    {Duration: time.Second},
		"comma name":    {Duration: time.Second, Classes: []Class{{Name: "a,b", Demand: Constant(1), Request: rf}}},
		"duplicate":     {Duration: time.Second, Classes: []Class{{Name: "a", Demand: Constant(1), Request: rf}, {Name: "a", Demand: Constant(1), Request: rf}}},
		"no request":    {Duration: time.Second, Classes: []Class{{Name: "a", Demand: Constant(1)}}},
		"unlimited":     {Duration: time.Second, Classes: []Class{{Name: "a", Request: rf}}},
		"bad impatient": {Duration: time.Second, Classes: []Class{{Name: "a", Demand: Constant(1), Request: rf, Client: ClientConfig{ImpatientProb: 2}}}},
	} {
		if _, err := Run(context.Background(), p); err == nil || !strings.HasPrefix(err.Error(), "loadgen: ") {
			t.Errorf("%s: Run = %v, want a loadgen error", name, err)
		}
	}
}

// A Retry-After of 60 s on a clock compressed 600 times waits 100 ms of
// wall time (plus jitter): well inside the 10 s drain, where the unscaled
// wait would not fit.
func TestWaitScaleShrinksRetryAfter(t *testing.T) {
	k := &keyed{reply: func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"uvci":"U1"}`)
	}}
	recs, _ := oneAction(t, k, ClientConfig{MaxRetries: 1, WaitScale: 1.0 / 600})
	if len(recs) != 2 || recs[1].Outcome != OutcomeOK {
		t.Fatalf("the scaled retry did not happen within the drain: %+v", recs)
	}
	if gap := recs[1].Sent.Sub(recs[0].End()); gap < 100*time.Millisecond {
		t.Errorf("retry went %v after Retry-After: 60 at 1/600, want at least 100ms", gap)
	}
}
