package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func mailoutItems(prefix string, n int) []MailoutItem {
	out := make([]MailoutItem, n)
	for i := range out {
		out[i] = MailoutItem{Key: fmt.Sprintf("%s-%04d", prefix, i), UVCI: fmt.Sprintf("URN:UVCI:01:DE:ZI/%s%04d", prefix, i),
			Type: Vaccination, Request: []byte(fmt.Sprintf(`{"item":%d}`, i))}
	}
	return out
}

// A job survives a restart of the registry; claimed items whose lease ran
// out are claimed again; an item is recorded issued once, a repeated
// signature is dropped; the job finishes with its last item.
func TestMailoutJobs(t *testing.T) { forEachBackend(t, testMailoutJobs) }

func testMailoutJobs(t *testing.T, db testDB) {
	ctx := context.Background()
	clk := newTestClock()
	s := db.open(t, Options{Clock: clk.Now})
	items := mailoutItems("a", 250) // more than one multi-row insert
	job := MailoutJob{ID: "mj_1", Centre: "zi-berlin", IdemKey: "k1", RequestHash: "h1"}
	if ex, err := s.CreateMailoutJob(ctx, job, items, 1000); err != nil || ex != nil {
		t.Fatalf("create: %v %v", ex, err)
	}
	// The same idempotency key and hash: the job, nothing written.
	ex, err := s.CreateMailoutJob(ctx, MailoutJob{ID: "mj_2", Centre: "zi-berlin", IdemKey: "k1", RequestHash: "h1"}, items, 1000)
	if err != nil || ex == nil || ex.ID != "mj_1" || ex.Total != 250 || ex.Pending != 250 {
		t.Fatalf("replay: %+v %v", ex, err)
	}
	if _, err := s.CreateMailoutJob(ctx, MailoutJob{ID: "mj_2", Centre: "zi-berlin", IdemKey: "k1", RequestHash: "other"}, items, 1000); !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("key with another body: %v", err)
	}
	// An item key of an earlier job, even in a new job: refused, named.
	again := append(mailoutItems("b", 3), items[17])
	var ke *MailoutKeyError
	if _, err := s.CreateMailoutJob(ctx, MailoutJob{ID: "mj_3", Centre: "zi-berlin", RequestHash: "h3"}, again, 1000); !errors.As(err, &ke) || ke.Key != items[17].Key || !errors.Is(err, ErrExists) {
		t.Fatalf("item key of an earlier job: %v", err)
	}
	// Another centre may use the same keys (with its own UVCIs).
	other := mailoutItems("a", 2)
	for i := range other {
		other[i].UVCI += "X"
	}
	if _, err := s.CreateMailoutJob(ctx, MailoutJob{ID: "mj_4", Centre: "zi-hamburg", RequestHash: "h4"}, other, 1000); err != nil {
		t.Fatalf("another centre's keys: %v", err)
	}
	if _, err := s.CreateMailoutJob(ctx, MailoutJob{ID: "mj_5", Centre: "zi-berlin", RequestHash: "h5"}, mailoutItems("c", 800), 1000); !errors.Is(err, ErrMailoutBacklog) {
		t.Fatalf("over the backlog: %v", err)
	}
	if n, err := s.MailoutUnfinished(ctx); err != nil || n != 252 {
		t.Fatalf("unfinished %d %v", n, err)
	}

	lease := 30 * time.Second
	claimed, err := s.ClaimMailoutItems(ctx, 10, clk.Now(), clk.Now().Add(lease))
	if err != nil || len(claimed) != 10 || claimed[0].Key != "a-0000" || string(claimed[3].Request) != `{"item":3}` || claimed[0].Attempts != 1 {
		t.Fatalf("claim: %d %v %+v", len(claimed), err, claimed)
	}
	// The process dies holding them; the registry restarts.
	s.Close()
	s = db.open(t, Options{Clock: clk.Now})
	next, err := s.ClaimMailoutItems(ctx, 10, clk.Now(), clk.Now().Add(lease))
	if err != nil || len(next) != 10 || next[0].Key != "a-0010" {
		t.Fatalf("claim while the lease holds: %d %v", len(next), err)
	}
	clk.Advance(lease + time.Second)
	// Everything due: the pending items and the expired leases (again).
	again2, err := s.ClaimMailoutItems(ctx, 1000, clk.Now(), clk.Now().Add(lease))
	if err != nil || len(again2) != 252 || again2[0].Key != "a-0000" || again2[0].Attempts != 2 {
		t.Fatalf("claim after the lease: %d %v", len(again2), err)
	}

	issued := func(it MailoutItem, sig string) MailoutOutcome {
		return MailoutOutcome{JobID: it.JobID, Key: it.Key, UVCI: it.UVCI, HC1: []byte("HC1:" + sig + it.UVCI), KID: "kid", IssuedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	}
	outs := []MailoutOutcome{issued(again2[0], "first"), {JobID: "mj_1", Key: again2[1].Key, Failed: true, ErrorCode: "rejected_by_signer:x"},
		{JobID: "mj_1", Key: again2[2].Key, RetryAt: clk.Now().Add(time.Minute), ErrorCode: "no_signer"}}
	if n, err := s.FinishMailoutItems(ctx, outs); err != nil || n != 3 {
		t.Fatalf("finish: %d %v", n, err)
	}
	// The crashed worker's signature of the same item comes late: dropped.
	if n, err := s.FinishMailoutItems(ctx, []MailoutOutcome{issued(claimed[0], "second")}); err != nil || n != 0 {
		t.Fatalf("a second signature of an issued item: %d %v", n, err)
	}
	if _, err := s.FinishMailoutItems(ctx, []MailoutOutcome{{JobID: "mj_1", Key: "a-0005"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("issued without HC1: %v", err)
	}
	page, err := s.MailoutItems(ctx, "mj_1", "", 3)
	if err != nil || len(page) != 3 {
		t.Fatalf("items: %v %v", page, err)
	}
	if page[0].State != MailoutIssued || string(page[0].HC1) != "HC1:first"+page[0].UVCI || page[1].State != MailoutFailed ||
		page[1].ErrorCode != "rejected_by_signer:x" || page[2].State != MailoutPending || page[2].HC1 != nil {
		t.Fatalf("items after finishing: %+v", page)
	}
	j, err := s.MailoutJob(ctx, "mj_1")
	if err != nil || j.Issued != 1 || j.Failed != 1 || j.Pending != 248 || !j.FinishedAt.IsZero() {
		t.Fatalf("job: %+v %v", j, err)
	}
	if _, err := s.MailoutJob(ctx, "mj_nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}

	// The small job of the other centre runs to its end.
	var hamburg []MailoutOutcome
	for _, it := range again2 {
		if it.Centre == "zi-hamburg" {
			hamburg = append(hamburg, issued(it, "h"))
		}
	}
	if len(hamburg) != 2 {
		t.Fatalf("claimed %d items of zi-hamburg", len(hamburg))
	}
	if _, err := s.FinishMailoutItems(ctx, hamburg); err != nil {
		t.Fatal(err)
	}
	j, err = s.MailoutJob(ctx, "mj_4")
	if err != nil || j.Issued != 2 || j.Pending != 0 || j.FinishedAt.IsZero() {
		t.Fatalf("finished job: %+v %v", j, err)
	}
}
