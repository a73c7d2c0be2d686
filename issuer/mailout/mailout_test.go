package mailout

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// A job over real HTTP: accepted durably (202), worked off, every item
// issued once with the UVCI it was given at acceptance and a HC1 that
// verifies; a retried submission is the same job; an item sent again in
// a new job is refused, so no item gets a second certificate.
func TestJobIssuesEveryItemOnce(t *testing.T) {
	e := startEnv(t, nil)
	items := e.items(t, "letter", 75) // more than one claim (64)
	r := e.submit(t, "ZI01", "job-1", mailoutapi.JobRequest{Items: items})
	if r.Status != http.StatusAccepted {
		t.Fatalf("submit: %v", r)
	}
	job := decodeJob(t, r)
	if job.State != mailoutapi.JobQueued || job.Total != 75 || job.Pending != 75 || job.Centre != "ZI01" ||
		r.Header.Get("Location") != mailoutapi.JobLink(job.ID) || job.Links.Items != mailoutapi.ItemsLink(job.ID) {
		t.Fatalf("accepted job: %+v (Location %q)", job, r.Header.Get("Location"))
	}
	before := e.allItems(t, "ZI01", job.ID, 1000)
	if len(before) != 75 || before[0].State != mailoutapi.ItemPending || !strings.HasPrefix(before[0].UVCI, "URN:UVCI:01:DE:GL/ZI01/") || before[0].HC1 != "" {
		t.Fatalf("items before the worker: %d %+v", len(before), before[0])
	}

	// The same submission again (a lost answer): the same job, 200.
	r = e.submit(t, "ZI01", "job-1", mailoutapi.JobRequest{Items: items})
	if r.Status != http.StatusOK || decodeJob(t, r).ID != job.ID {
		t.Fatalf("retried submission: %v", r)
	}

	e.drain(t)
	done := e.jobOf(t, "ZI01", job.ID)
	if done.State != mailoutapi.JobDone || done.Issued != 75 || done.Pending != 0 || done.Failed != 0 || done.FinishedAt == nil {
		t.Fatalf("job after the worker: %+v", done)
	}
	after := e.allItems(t, "ZI01", job.ID, 7) // pages of 7: 11 pages
	if len(after) != 75 {
		t.Fatalf("%d items after paging", len(after))
	}
	seen := map[string]bool{}
	for i, it := range after {
		if it.State != mailoutapi.ItemIssued || it.UVCI != before[i].UVCI || it.Key != before[i].Key || seen[it.UVCI] {
			t.Fatalf("item %d: %+v (before %+v)", i, it, before[i])
		}
		seen[it.UVCI] = true
	}
	for _, it := range []mailoutapi.ItemResult{after[0], after[74]} {
		v := e.Verify(t, it.HC1)
		if !v.Valid || v.UVCI != it.UVCI {
			t.Fatalf("HC1 of %s does not verify as its UVCI: %+v", it.Key, v)
		}
	}

	// An item of the finished job in a new job: refused, nothing accepted.
	again := append(e.items(t, "new", 3), items[40])
	r = e.submit(t, "ZI01", "", mailoutapi.JobRequest{Items: again})
	if r.Status != http.StatusConflict || r.Problem.Code != mailoutapi.CodeItemKeyExists || r.Problem.Field != "items[3].key" {
		t.Fatalf("an item sent again: %v", r)
	}
	// Another centre has keys of its own.
	r = e.submit(t, "ZI02", "", mailoutapi.JobRequest{Items: e.items(t, "letter", 2)})
	if r.Status != http.StatusAccepted {
		t.Fatalf("another centre, same keys: %v", r)
	}
	// Metrics are on the portal's /metrics.
	m := e.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/metrics"})
	for _, want := range []string{`mailout_items_total{outcome="issued"} 75`, "mailout_jobs_accepted_total 2", `mailout_requests_total{code="409"`} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// A worker that dies holding claimed items (a crash, a restart): the
// items come back after the lease and are issued by the next worker,
// each once, with the UVCI they were accepted with.
func TestJobResumesAfterACrash(t *testing.T) {
	e := startEnv(t, nil)
	r := e.submit(t, "ZI01", "", mailoutapi.JobRequest{Items: e.items(t, "a", 20)})
	if r.Status != http.StatusAccepted {
		t.Fatalf("submit: %v", r)
	}
	job := decodeJob(t, r)
	// The dead worker claimed ten and never reported.
	now := e.Clock.Now()
	claimed, err := e.Store.ClaimMailoutItems(context.Background(), 10, now, now.Add(time.Second))
	if err != nil || len(claimed) != 10 {
		t.Fatalf("claim: %d %v", len(claimed), err)
	}
	// A new process: a new Mailout over the same registry.
	fresh, err := New(e.M.cfg, Deps{Registry: e.Store, Signer: e.SignerClient, Centres: e.M.centres,
		Country: "DE", UVCIIssuer: "GL", Clock: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.M = fresh
	e.drain(t)
	if j := e.jobOf(t, "ZI01", job.ID); j.Issued != 10 || j.Pending != 10 {
		t.Fatalf("before the lease ran out: %+v", j)
	}
	e.Clock.Advance(2 * time.Second)
	e.drain(t)
	j := e.jobOf(t, "ZI01", job.ID)
	if j.Issued != 20 || j.Pending != 0 || j.State != mailoutapi.JobDone {
		t.Fatalf("after the lease: %+v", j)
	}
	for _, it := range e.allItems(t, "ZI01", job.ID, 100) {
		if v := e.Verify(t, it.HC1); !v.Valid || v.UVCI != it.UVCI {
			t.Fatalf("item %s: %+v", it.Key, v)
		}
	}
}

// No signer: items are due again later, not failed; when the signers
// return, the job finishes.
func TestSignerOutageDefersItems(t *testing.T) {
	e := startEnv(t, nil)
	r := e.submit(t, "ZI01", "", mailoutapi.JobRequest{Items: e.items(t, "o", 5)})
	job := decodeJob(t, r)
	e.SetSigners(portaltest.SignerDown)
	e.drain(t)
	if j := e.jobOf(t, "ZI01", job.ID); j.Pending != 5 || j.Failed != 0 {
		t.Fatalf("during the outage: %+v", j)
	}
	e.SetSigners(portaltest.SignerUp)
	e.SignerClient.CheckNow(context.Background())
	e.Clock.Advance(2 * time.Second)
	e.drain(t)
	if j := e.jobOf(t, "ZI01", job.ID); j.Issued != 5 || j.State != mailoutapi.JobDone {
		t.Fatalf("after the outage: %+v", j)
	}
}

// Batch signing waits while pharmacy issuance runs: with an interactive
// request in flight, a worker step signs nothing until it ends.
func TestBatchYieldsToInteractiveIssuance(t *testing.T) {
	e := startEnv(t, nil)
	r := e.submit(t, "ZI01", "", mailoutapi.JobRequest{Items: e.items(t, "y", 3)})
	job := decodeJob(t, r)
	done := e.lanes.Interactive()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if n, err := e.M.RunOnce(ctx); !errors.Is(err, context.DeadlineExceeded) || n != 0 {
		t.Fatalf("a step while a pharmacy request runs: %d %v", n, err)
	}
	if j := e.jobOf(t, "ZI01", job.ID); j.Issued != 0 {
		t.Fatalf("items signed while interactive issuance ran: %+v", j)
	}
	done()
	e.drain(t)
	if j := e.jobOf(t, "ZI01", job.ID); j.Issued != 3 {
		t.Fatalf("after the interactive request: %+v", j)
	}
	// The portal's own issuance marks the interactive lane.
	ph := e.NewPharmacy(t)
	e.MustIssue(t, ph, "v")
	if st := e.lanes.Stats(); st.Interactive == 0 {
		t.Fatal("portal issuance did not mark the interactive lane")
	}
}
