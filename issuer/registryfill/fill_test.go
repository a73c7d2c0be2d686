package registryfill

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/internal/pgtest"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestFillReadsBack fills a small registry on each backend and reads the
// rows back through the store as the portal does: certificates by UVCI
// (with their sealed HC1 opening under the registry's key), idempotency
// bindings by key, a pharmacy's certificates, the audit events; and a
// normal issuance still works on the filled registry, including a replay
// of a filled key, which must find the filled certificate.
func TestFillReadsBack(t *testing.T) {
	for _, backend := range []string{store.BackendSQLite, store.BackendPostgres} {
		t.Run(backend, func(t *testing.T) {
			if backend == store.BackendPostgres && testing.Short() {
				t.Skip("starts a PostgreSQL server")
			}
			ctx := context.Background()
			dir := t.TempDir()
			var (
				st  *store.Store
				err error
			)
			if backend == store.BackendPostgres {
				st, err = store.OpenPostgres(ctx, pgtest.NewDatabase(t), dir, store.Options{})
			} else {
				st, err = store.Open(ctx, dir, store.Options{})
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			restore, err := st.FillTuning(ctx, 64)
			if err != nil {
				t.Fatal(err)
			}
			until := time.Date(2021, 6, 14, 7, 0, 0, 0, time.UTC)
			o := Options{Certificates: 5000, Pharmacies: 40, Batch: 700, Seed: 7, Until: until}
			var progress []int
			o.Progress = func(n int) { progress = append(progress, n) }
			res, err := Fill(ctx, st, o)
			if err != nil {
				t.Fatal(err)
			}
			if err := restore(ctx); err != nil {
				t.Fatal(err)
			}
			if res.Certificates != 5000 || res.Pharmacies != 40 || len(progress) != 8 || progress[7] != 5000 {
				t.Fatalf("result %+v, progress %v; want 5000 certificates over 40 pharmacies in 8 batches", res, progress)
			}

			// The same seed generates the same rows: regenerate to know them.
			o.defaults()
			g := newGenerator(o)
			g.pharmacies() // draws from the generator as Fill does
			want := g.certs(0, 5000)
			perPharmacy := map[string]int{}
			for _, c := range want {
				perPharmacy[c.Rec.PharmacyID]++
			}
			if len(perPharmacy) < 30 {
				t.Fatalf("certificates spread over %d of 40 pharmacies", len(perPharmacy))
			}
			for _, i := range []int{0, 1, 2499, 4999} {
				c := want[i]
				if _, err := dcc.ParseUVCI(c.Rec.UVCI); err != nil {
					t.Fatalf("UVCI %q is not in the portal's format: %v", c.Rec.UVCI, err)
				}
				got, err := st.Certificate(ctx, c.Rec.UVCI)
				if err != nil {
					t.Fatalf("certificate %d: %v", i, err)
				}
				if got.PharmacyID != c.Rec.PharmacyID || !got.HasHC1 || !bytes.Equal(got.HashUCI, c.Rec.HashUCI) ||
					!got.IssuedAt.Equal(c.Rec.IssuedAt) || got.IssuedAt.Before(until.Add(-DefaultSpan)) || !got.IssuedAt.Before(until) {
					t.Fatalf("certificate %d read back as %+v, want %+v", i, got, c.Rec)
				}
				hc1, err := st.CertificateHC1(ctx, c.Rec.UVCI)
				if err != nil || !bytes.Equal(hc1, c.HC1) || len(hc1) < hc1MinLen || !strings.HasPrefix(string(hc1), "HC1:") {
					t.Fatalf("HC1 of certificate %d: %d bytes, %v", i, len(hc1), err)
				}
				b, err := st.LookupIdempotency(ctx, c.Rec.PharmacyID, c.Idem.Key)
				if err != nil || b.UVCI != c.Rec.UVCI || b.State != store.IdemIssued || b.RequestHash != c.Idem.RequestHash {
					t.Fatalf("binding of certificate %d: %+v, %v", i, b, err)
				}
				ev, err := st.AuditLog(ctx, store.AuditFilter{Subject: c.Rec.UVCI, Action: "certificate.issued"})
				if err != nil || len(ev) != 1 || ev[0].Actor != "pharmacy:"+c.Rec.PharmacyID {
					t.Fatalf("audit of certificate %d: %+v, %v", i, ev, err)
				}
			}
			ph := want[0].Rec.PharmacyID
			list, err := st.CertificatesByPharmacy(ctx, ph)
			if err != nil || len(list) != perPharmacy[ph] {
				t.Fatalf("pharmacy %s: %d certificates, %v; want %d", ph, len(list), err, perPharmacy[ph])
			}

			// A normal issuance on the filled registry.
			now := until.Add(time.Minute)
			rec := store.CertRecord{UVCI: "URN:UVCI:01:DE:GL/AFTERFILL#1", PharmacyID: ph, Type: store.Vaccination, KID: "k",
				IssuedAt: now, ExpiresAt: now.Add(time.Hour), HashSignature: make([]byte, 16), HashUCI: make([]byte, 16),
				HashCountryCodeUCI: make([]byte, 16)}
			if existing, err := st.IssueRecord(ctx, rec, store.IdemBinding{Key: "after-fill", RequestHash: "h"}, []byte("HC1:X")); err != nil || existing != nil {
				t.Fatalf("issuance after the fill: existing %v, %v", existing, err)
			}
			if list, err := st.CertificatesByPharmacy(ctx, ph); err != nil || len(list) != perPharmacy[ph]+1 {
				t.Fatalf("after issuance: %d certificates, %v", len(list), err)
			}
			// A retry of a filled key finds the filled certificate.
			c := want[1]
			rec2 := rec
			rec2.UVCI, rec2.PharmacyID = "URN:UVCI:01:DE:GL/RETRY#1", c.Rec.PharmacyID
			existing, err := st.IssueRecord(ctx, rec2, c.Idem, []byte("HC1:Y"))
			if err != nil || existing == nil || existing.UVCI != c.Rec.UVCI {
				t.Fatalf("retry of a filled key: existing %+v, %v; want %s", existing, err, c.Rec.UVCI)
			}
			// A second fill with the same seed collides and writes nothing.
			if _, err := Fill(ctx, st, Options{Certificates: 10, Pharmacies: 40, Seed: 7, Until: until}); err == nil {
				t.Fatal("a second fill with the same seed succeeded")
			}
		})
	}
}

// TestFillOptions: bad options fail before anything is written, and a
// cancelled context stops the fill between batches.
func TestFillOptions(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, o := range []Options{{Certificates: -1}, {Certificates: MaxCertificates + 1}, {Certificates: 1, Batch: -1},
		{Certificates: 1, Span: -time.Hour}, {Certificates: 1, Pharmacies: -3}} {
		if _, err := Fill(ctx, st, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", o, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	o := Options{Certificates: 100_000, Pharmacies: 5, Batch: 100, Seed: 3}
	o.Progress = func(n int) {
		if n >= 300 {
			cancel()
		}
	}
	res, err := Fill(cctx, st, o)
	if !errors.Is(err, context.Canceled) || res.Certificates < 300 || res.Certificates > 500 {
		t.Fatalf("cancelled fill: %d certificates, %v; want to stop soon after 300 with context.Canceled", res.Certificates, err)
	}
}
