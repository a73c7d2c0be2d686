package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/scenarios/spec"
)

// fakeMailout is a mail-out API that finishes every job at once, answers
// the first submission of every job 503 (so the runner must retry with
// the same Idempotency-Key) and counts what it was sent.
type fakeMailout struct {
	mu    sync.Mutex
	byKey map[string]*mailoutapi.Job
	items map[string][]mailoutapi.Item
	posts map[string]int
}

func (f *fakeMailout) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost:
		key := r.Header.Get(mailoutapi.IdempotencyHeader)
		f.posts[key]++
		if f.posts[key] == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if j, ok := f.byKey[key]; ok {
			_ = json.NewEncoder(w).Encode(j)
			return
		}
		var req mailoutapi.JobRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id := fmt.Sprintf("mj_%d", len(f.byKey)+1)
		j := &mailoutapi.Job{ID: id, State: mailoutapi.JobDone, Total: len(req.Items), Issued: len(req.Items)}
		f.byKey[key], f.items[id] = j, req.Items
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(j)
	case strings.HasSuffix(r.URL.Path, "/items"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, mailoutapi.PathJobs+"/"), "/items")
		var page mailoutapi.ItemPage
		for i, it := range f.items[id] {
			page.Items = append(page.Items, mailoutapi.ItemResult{Key: it.Key, State: mailoutapi.ItemIssued,
				UVCI: fmt.Sprintf("URN:UVCI:01:DE:GL/ZI01/%s-%d", id, i), HC1: "HC1:x"})
		}
		_ = json.NewEncoder(w).Encode(page)
	default:
		id := strings.TrimPrefix(r.URL.Path, mailoutapi.PathJobs+"/")
		for _, j := range f.byKey {
			if j.ID == id {
				_ = json.NewEncoder(w).Encode(j)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
	}
}

// TestMailoutRunnerSubmitsEveryItemOnce: the demand's items all go out,
// the last partial batch included, each job once although its first
// submission was refused, and the audit counts every item done.
func TestMailoutRunnerSubmitsEveryItemOnce(t *testing.T) {
	f := &fakeMailout{byKey: map[string]*mailoutapi.Job{}, items: map[string][]mailoutapi.Item{}, posts: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	start := time.Date(2021, 6, 14, 8, 0, 0, 0, time.UTC)
	c := spec.Class{Name: "centres", Kind: spec.KindMailout,
		Mailout: &spec.Mailout{ItemsPerJob: 50, Centres: 2, PollEvery: 50 * time.Millisecond},
		Client:  spec.Client{Timeout: 5 * time.Second, Retries: spec.Retries{Max: 2, BackoffBase: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond}, ScaleWaits: true},
		Demand:  spec.Curve{Shapes: []spec.Shape{{Kind: spec.ShapeStep, From: start, Until: start.Add(2 * time.Hour), Rate: 60}}}}
	// x3600: two simulated hours in 2 s, 60 items a wall second: 120 items.
	clock := simclock.Clock{SimStart: start, WallStart: time.Now(), Scale: 3600}
	m := newMailoutRun(c, srv.URL, []string{"mc_a", "mc_b"}, clock, 1, "run-centres-", 7, slog.New(slog.DiscardHandler))
	m.run(context.Background(), 2*time.Second)
	got := m.finish(context.Background(), 5*time.Second)
	if got.Items < 100 || got.Items > 130 || got.Items%50 == 0 {
		t.Errorf("%d items, want about 120 (two full jobs and a partial one)", got.Items)
	}
	if got.ItemsDone != got.Items || got.ItemsLost != 0 || got.JobsRefused != 0 || got.JobsDone != got.Jobs || got.DuplicateUVCIs != 0 {
		t.Errorf("audit %+v", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if int64(len(f.byKey)) != got.Jobs {
		t.Errorf("the server made %d jobs of %d submitted", len(f.byKey), got.Jobs)
	}
	for key, n := range f.posts {
		if n != 2 {
			t.Errorf("job %s posted %d times, want 2 (a 503, then the retry)", key, n)
		}
	}
}
