package finder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/store"
)

// TestRenderMatchesTheWireType: the answer assembled from pre-rendered
// fragments is byte for byte json.Marshal of finderapi.Pharmacies, for
// every status, with and without the stale marker, with names that need
// escaping.
func TestRenderMatchesTheWireType(t *testing.T) {
	reg := syntheticRegistry(3000)
	t0 := time.Date(2021, 6, 15, 9, 30, 12, 0, time.UTC)
	for i := range reg {
		switch i % 5 {
		case 1:
			reg[i].Status, reg[i].UpdatedAt = store.PharmacySuspended, t0
		case 2:
			reg[i].PendingTickets, reg[i].OldestPendingAt = 2, t0
		case 3:
			reg[i].LastFailures = map[string]time.Time{"expired": t0.Add(time.Hour)}
		case 4:
			reg[i].Name, reg[i].Street, reg[i].LastIssuedAt = `Apotheke "Zum <Löwen>" & Co`, "Straße\u2028\t1", time.Time{}
		}
	}
	f, err := New(finderapi.HardenedConfig(), Deps{Source: reg})
	if err != nil {
		t.Fatal(err)
	}
	snap := f.snap.Load()
	if len(snap.entries) != len(reg) {
		t.Fatalf("%d entries of %d", len(snap.entries), len(reg))
	}
	listedSomething := false
	for i := range 200 {
		q := query{postcode: fmt.Sprintf("%05d", 1000+i*497), radius: 10 + i*25, limit: 1 + i%100}
		if i%7 == 0 {
			q.status = finderapi.Statuses()[i%4]
		}
		res := snap.search(q)
		listedSomething = listedSomething || len(res.listed) > 0
		for _, stale := range []bool{false, true} {
			got, err := res.render(stale)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(res.answer(stale))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append(want, '\n')) {
				t.Fatalf("%+v stale=%v:\n got %s\nwant %s", q, stale, got, want)
			}
		}
	}
	if !listedSomething {
		t.Fatal("no query listed anything: the comparison proved nothing")
	}
}
