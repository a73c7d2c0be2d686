package overload

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestMiddlewareRejectsWithProblem(t *testing.T) {
	l := NewLimiter("portal", 1, 0, 0)
	entered := make(chan struct{})
	unblock := make(chan struct{})
	h := Middleware(l, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-unblock
		w.WriteHeader(http.StatusCreated)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	first := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-entered

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusServiceUnavailable || body["code"] != "overloaded" || ra < 1 || ra > 30 ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d code %v Retry-After %q", resp.StatusCode, body["code"], resp.Header.Get("Retry-After"))
	}
	close(unblock)
	if got := <-first; got != http.StatusCreated {
		t.Fatalf("admitted request got %d", got)
	}
	if l.Rejected() != 1 || l.Admitted() != 1 {
		t.Fatalf("rejected %d admitted %d", l.Rejected(), l.Admitted())
	}
}

func TestMiddlewareCustomReject(t *testing.T) {
	l := NewLimiter("x", 1, 0, 0)
	hold, _ := l.Acquire(context.Background())
	defer hold()
	var got error
	h := Middleware(l, func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler ran while full")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusTeapot || !errors.Is(got, ErrOverloaded) {
		t.Fatalf("code %d err %v", rec.Code, got)
	}
}

func TestWriteRejectMapping(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{&RejectError{Reason: ErrOverloaded, RetryAfter: 2 * time.Second}, 503, "overloaded"},
		{&RejectError{Reason: ErrQueueTimeout, RetryAfter: time.Second}, 503, "queue_timeout"},
		{context.DeadlineExceeded, 504, "deadline_exceeded"},
		{context.Canceled, 503, "request_cancelled"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		WriteReject(rec, httptest.NewRequest(http.MethodGet, "/", nil), tc.err)
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != tc.status || body["code"] != tc.code {
			t.Errorf("%v: %d %v", tc.err, rec.Code, body["code"])
		}
	}
}

func TestDeadlinePropagation(t *testing.T) {
	got := make(chan time.Time, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := DeadlineFromHeader(r, 10*time.Second)
		defer cancel()
		dl, _ := ctx.Deadline()
		got <- dl
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
	WithDeadlineHeader(ctx, req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if dl := <-got; !dl.Equal(want) {
		t.Fatalf("server deadline %v, client %v", dl, want)
	}
}

func TestDeadlineFromHeaderCases(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		headers  []string
		max      time.Duration
		wantNone bool
		wantDone bool
		near     time.Time // expected deadline: the header's, exactly
		capped   bool      // expected deadline: max from the call
	}{
		{name: "header earlier than cap", headers: []string{now.Add(time.Second).Format(time.RFC3339Nano)}, max: time.Minute, near: now.Add(time.Second)},
		{name: "cap earlier than header", headers: []string{now.Add(time.Hour).Format(time.RFC3339Nano)}, max: time.Second, capped: true},
		{name: "past header", headers: []string{now.Add(-time.Second).Format(time.RFC3339Nano)}, max: time.Minute, wantDone: true},
		{name: "garbage ignored", headers: []string{"tomorrow"}, max: 3 * time.Second, capped: true},
		{name: "earliest of two", headers: []string{now.Add(5 * time.Second).Format(time.RFC3339Nano), now.Add(2 * time.Second).Format(time.RFC3339Nano)}, max: time.Minute, near: now.Add(2 * time.Second)},
		{name: "no header no cap", max: 0, wantNone: true},
		{name: "header without cap", headers: []string{now.Add(4 * time.Second).UTC().Format(time.RFC3339Nano)}, near: now.Add(4 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			for _, h := range tc.headers {
				r.Header.Add(DeadlineHeader, h)
			}
			before := time.Now()
			ctx, cancel := DeadlineFromHeader(r, tc.max)
			after := time.Now()
			defer cancel()
			dl, ok := ctx.Deadline()
			if tc.wantNone {
				if ok {
					t.Fatalf("deadline %v, want none", dl)
				}
				return
			}
			if !ok {
				t.Fatal("no deadline")
			}
			if tc.wantDone {
				if ctx.Err() == nil {
					t.Fatal("context with past deadline not done")
				}
				return
			}
			// Bracketed by clock readings around the call rather than a
			// tolerance, which a descheduled test on a busy machine misses.
			if tc.capped {
				if dl.Before(before.Add(tc.max)) || dl.After(after.Add(tc.max)) {
					t.Fatalf("deadline %v, want %v after the call (%v..%v)", dl, tc.max, before.Add(tc.max), after.Add(tc.max))
				}
			} else if !dl.Equal(tc.near) {
				t.Fatalf("deadline %v, want the header's %v", dl, tc.near)
			}
		})
	}
}

func TestWithDeadlineHeaderRemovesStaleValue(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set(DeadlineHeader, "stale")
	WithDeadlineHeader(context.Background(), r)
	if r.Header.Get(DeadlineHeader) != "" {
		t.Fatal("stale deadline kept for a context without deadline")
	}
}
