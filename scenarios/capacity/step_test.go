package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// statefulTarget is a fake system with a true capacity and a fraud control
// that remembers: once it has seen more than suspendAfter requests since
// its last reset, it refuses everything with 403 pharmacy_suspended. It
// records every call, so tests can see what the search asked for.
type statefulTarget struct {
	capacity     float64
	suspendAfter int64
	seen         int64 // requests since the last reset
	calls        []string
	plans        []Plan
	resetErr     error
}

func (f *statefulTarget) Reset(context.Context) error {
	f.calls = append(f.calls, "reset")
	if f.resetErr != nil {
		return f.resetErr
	}
	f.seen = 0
	return nil
}

func (f *statefulTarget) Run(_ context.Context, p Plan) (Step, error) {
	f.calls = append(f.calls, "run")
	f.plans = append(f.plans, p)
	n := int64(math.Round(p.Rate * p.Duration.Seconds()))
	st := Step{Offered: p.Rate, Duration: p.Duration, Planned: n, Requests: n, P50: 5 * time.Millisecond, P90: 8 * time.Millisecond,
		Problems: map[string]int64{}}
	served := min(p.Rate, f.capacity) / p.Rate
	ok := int64(float64(n) * served)
	if left := f.suspendAfter - f.seen; f.suspendAfter > 0 && ok > left {
		refused := ok - max(left, 0)
		ok -= refused
		st.Outcomes.Rejected = refused
		st.Problems[ProblemKey(403, "pharmacy_suspended")] = refused
		st.Controls = refused
	}
	f.seen += n
	st.Outcomes.OK = ok
	st.Outcomes.Overload = n - ok - st.Outcomes.Rejected
	if st.Outcomes.Overload > 0 {
		st.Problems[ProblemKey(503, "overloaded")] = st.Outcomes.Overload
	}
	st.Success = float64(ok) / float64(n)
	st.Goodput = float64(ok) / p.Duration.Seconds()
	st.P99 = 20 * time.Millisecond
	if p.Rate > f.capacity {
		st.P99 = time.Second
	}
	return st, nil
}

var testSLO = SLO{P99: 200 * time.Millisecond, MinRequests: 100}

func TestSearchResetsBeforeEveryStep(t *testing.T) {
	// Without resets the control's memory would refuse the later steps and
	// the search would report the control; with them each step starts
	// clean and the search finds the capacity.
	f := &statefulTarget{capacity: 600, suspendAfter: 20000}
	res, err := Search(context.Background(), f, testSLO, Options{Start: 20, Step: 20 * time.Second, Rel: 0.05, MaxSteps: 14})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(f.calls); i += 2 {
		if f.calls[i] != "reset" || i+1 >= len(f.calls) || f.calls[i+1] != "run" {
			t.Fatalf("calls %v: every step must be preceded by a reset", f.calls)
		}
	}
	if res.Capacity < 600*0.95 || res.Capacity > 600 {
		t.Errorf("capacity %.1f, want within 5%% below 600", res.Capacity)
	}
	if l, ok := res.Limit(); !ok || l.Cause != CauseSLO {
		t.Errorf("the limiting step's cause is %q, want %q", l.Cause, CauseSLO)
	}

	// The same target without resets: the control's memory fills up and
	// later steps fail on it; the cause says so instead of calling it
	// capacity.
	g := &statefulTarget{capacity: 600, suspendAfter: 20000}
	noReset := Probe(func(ctx context.Context, rate float64) (Step, error) {
		return g.Run(ctx, Plan{Rate: rate, Duration: 20 * time.Second})
	})
	res2, err := Search(context.Background(), noReset, testSLO, Options{Start: 20, Rel: 0.05, MaxSteps: 14})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := res2.Limit()
	if !ok || l.Cause != CauseControls || res2.Capacity >= res.Capacity {
		t.Errorf("without resets: capacity %.0f, limit cause %q; want a lower capacity blamed on controls", res2.Capacity, l.Cause)
	}
	if !strings.Contains(strings.Join(l.Reasons, ";"), "pharmacy_suspended") {
		t.Errorf("reasons do not name the control: %v", l.Reasons)
	}
}

func TestSearchStopsWhenResetFails(t *testing.T) {
	f := &statefulTarget{capacity: 100, resetErr: errors.New("admin API down")}
	_, err := Search(context.Background(), f, testSLO, Options{Start: 20})
	if err == nil || !strings.Contains(err.Error(), "admin API down") {
		t.Fatalf("err = %v, want the reset's error", err)
	}
	if len(f.plans) != 0 {
		t.Errorf("%d steps ran after a failed reset", len(f.plans))
	}
}

func TestStepsLastLongEnough(t *testing.T) {
	o := Options{Step: 10 * time.Second, MinDuration: 5 * time.Second}
	if d := o.Duration(500, 300); d != 10*time.Second {
		t.Errorf("at 500/s: %v, want the planned 10s", d)
	}
	if d := o.Duration(20, 300); d != 15*time.Second {
		t.Errorf("at 20/s with 300 requests needed: %v, want 15s", d)
	}
	if d := (Options{Step: time.Second, MinDuration: 5 * time.Second}).Duration(1000, 0); d != 5*time.Second {
		t.Errorf("below the minimum duration: %v", d)
	}
	// The search hands those durations to the runner: every plan holds
	// at least the minimum number of requests.
	f := &statefulTarget{capacity: 90}
	if _, err := Search(context.Background(), f, testSLO, Options{Start: 2, Step: 3 * time.Second, MinDuration: time.Second, MaxSteps: 10}); err != nil {
		t.Fatal(err)
	}
	for _, p := range f.plans {
		if p.Rate*p.Duration.Seconds() < float64(testSLO.MinRequests)-1e-6 || p.Duration < 3*time.Second {
			t.Errorf("plan %.1f/s for %v: fewer than %d requests or shorter than the step", p.Rate, p.Duration, testSLO.MinRequests)
		}
	}
}

func TestJudgeSaysWhy(t *testing.T) {
	slo := SLO{P99: 200 * time.Millisecond, MinRequests: 100}
	base := Step{Offered: 100, Duration: 10 * time.Second, Planned: 1000, Requests: 1000, Goodput: 100, Success: 1,
		P99: 50 * time.Millisecond, Outcomes: Outcomes{OK: 1000}}
	if st := slo.Judge(base); !st.Pass || st.Cause != CauseNone || len(st.Reasons) != 0 {
		t.Fatalf("a clean step failed: %+v", st)
	}

	slow := base
	slow.P99 = 312 * time.Millisecond
	st := slo.Judge(slow)
	if st.Pass || st.Cause != CauseSLO || len(st.Reasons) != 1 || !strings.Contains(st.Reasons[0], "p99 312 ms > 200 ms (+56%)") {
		t.Errorf("slow step: %q, %v", st.Cause, st.Reasons)
	}

	overloaded := base
	overloaded.Outcomes = Outcomes{OK: 900, Overload: 80, Timeout: 20}
	overloaded.Problems = map[string]int64{ProblemKey(503, "overloaded"): 80}
	overloaded.Success, overloaded.Goodput = 0.9, 90
	st = slo.Judge(overloaded)
	all := strings.Join(st.Reasons, "; ")
	for _, want := range []string{"success 90% < 99% (overload 8% [overloaded 8%], timeout 2%)", "goodput 90.0/s is 90% of the offered 100.0/s (< 95%)"} {
		if !strings.Contains(all, want) {
			t.Errorf("overloaded step: reasons %q lack %q", all, want)
		}
	}
	if st.Cause != CauseSLO {
		t.Errorf("overloaded step blamed on %q", st.Cause)
	}

	suspended := base
	suspended.Outcomes = Outcomes{OK: 700, Rejected: 290, Overload: 10}
	suspended.Problems = map[string]int64{ProblemKey(403, "pharmacy_suspended"): 290, ProblemKey(503, "overloaded"): 10}
	suspended.Controls, suspended.Success, suspended.Goodput = 290, 0.7, 70
	st = slo.Judge(suspended)
	if st.Cause != CauseControls || !strings.Contains(strings.Join(st.Reasons, ";"), "rejected 29% [pharmacy_suspended 29%], overload 1% [overloaded 1%]") {
		t.Errorf("suspended step: %q %v", st.Cause, st.Reasons)
	}

	stopped := base
	stopped.Err, stopped.Requests, stopped.Duration = "the load generator could not build a request: login refused", 12, 100*time.Millisecond
	st = slo.Judge(stopped)
	if st.Pass || st.Cause != CauseGenerator || !strings.Contains(st.Reasons[0], "stopped after 100ms") {
		t.Errorf("stopped step: %q %v", st.Cause, st.Reasons)
	}

	behind := base
	behind.Requests = 700
	st = slo.Judge(behind)
	if st.Pass || st.Cause != CauseGenerator || !strings.Contains(st.Reasons[0], "only 700 of 1000 planned") {
		t.Errorf("generator behind: %q %v", st.Cause, st.Reasons)
	}

	thin := base
	thin.Planned, thin.Requests = 50, 50
	st = slo.Judge(thin)
	if st.Pass || st.Cause != CauseEvidence {
		t.Errorf("50 requests judged: %q %v", st.Cause, st.Reasons)
	}
}

func TestHTTPProbeCountsOutcomesAndProblems(t *testing.T) {
	// Every fifth request is refused by a control, every seventh by
	// admission control; the rest succeed.
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		switch {
		case i%5 == 0:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"status":403,"code":"pharmacy_suspended"}`)
		case i%7 == 0:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":503,"code":"overloaded"}`)
		default:
			w.WriteHeader(http.StatusCreated)
		}
	}))
	defer srv.Close()
	probe := HTTPProbe{Targeter: vegeta.NewStaticTargeter(vegeta.Target{Method: "POST", URL: srv.URL}), Timeout: 2 * time.Second,
		OK: func(c uint16) bool { return c == http.StatusCreated }}
	st, err := probe.Step(context.Background(), Plan{Rate: 200, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o := st.Outcomes
	if st.Requests == 0 || o.Total() != st.Requests || st.Planned != 200 {
		t.Fatalf("requests %d, outcomes %+v (total %d), planned %d", st.Requests, o, o.Total(), st.Planned)
	}
	sus, ovl := st.Problems[ProblemKey(403, "pharmacy_suspended")], st.Problems[ProblemKey(503, "overloaded")]
	if sus != o.Rejected || ovl != o.Overload || st.Controls != sus || sus == 0 || ovl == 0 {
		t.Errorf("problems %v, controls %d, outcomes %+v", st.Problems, st.Controls, o)
	}
	if o.OK != st.Requests-sus-ovl || st.Success != float64(o.OK)/float64(st.Requests) {
		t.Errorf("ok %d of %d, success %.3f", o.OK, st.Requests, st.Success)
	}
}

func TestHTTPProbeReportsAStoppedLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }))
	defer srv.Close()
	var calls atomic.Int64
	tr := func(t *vegeta.Target) error {
		if calls.Add(1) > 20 {
			return errors.New("login refused")
		}
		t.Method, t.URL = "GET", srv.URL
		return nil
	}
	st, err := HTTPProbe{Targeter: tr}.Step(context.Background(), Plan{Rate: 100, Duration: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Err, "login refused") || st.Requests > 20 || st.Duration >= 5*time.Second {
		t.Errorf("err %q, %d requests over %v", st.Err, st.Requests, st.Duration)
	}
	if j := (SLO{P99: time.Second}).Judge(st); j.Pass || j.Cause != CauseGenerator {
		t.Errorf("a stopped load judged %v/%q", j.Pass, j.Cause)
	}
}

// TestHTTPProbeSpreadsOverReplicas: with several replicas every one takes
// its turn (the targets name only the first), and a dead one costs no
// failed request: the same request goes to the next.
func TestHTTPProbeSpreadsOverReplicas(t *testing.T) {
	var hits [2]atomic.Int64
	var srvs [2]*httptest.Server
	for i := range srvs {
		srvs[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			w.WriteHeader(http.StatusCreated)
		}))
		defer srvs[i].Close()
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	probe := HTTPProbe{Targeter: vegeta.NewStaticTargeter(vegeta.Target{Method: "POST", URL: srvs[0].URL + "/v1/certificates"}),
		Replicas: []string{srvs[0].URL, srvs[1].URL, deadURL}, Timeout: 10 * time.Second}
	st, err := probe.Step(context.Background(), Plan{Rate: 60, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcomes.OK != st.Requests || st.Requests < 50 {
		t.Errorf("%d of %d requests ok: %+v", st.Outcomes.OK, st.Requests, st.Outcomes)
	}
	if hits[0].Load() < 10 || hits[1].Load() < 10 {
		t.Errorf("replica hits %d and %d: not spread", hits[0].Load(), hits[1].Load())
	}
}
