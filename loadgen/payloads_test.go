package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

func TestPayloadsValidAndVaried(t *testing.T) {
	now := time.Date(2021, 6, 14, 9, 30, 0, 0, time.UTC)
	p := &Payloads{Seed: 7}
	types := map[dcc.Type]int{}
	products := map[string]bool{}
	var umlaut, accent, eszett, hyphen, severalGiven bool
	for seq := range uint64(1000) {
		b, typ, err := p.JSON(seq, now)
		if err != nil {
			t.Fatal(err)
		}
		c, err := dcc.Parse(b)
		if err != nil {
			t.Fatalf("payload %d does not parse: %v\n%s", seq, err, b)
		}
		if err := c.Validate(dcc.ValidateOptions{Now: now}); err != nil {
			t.Fatalf("payload %d invalid: %v\n%s", seq, err, b)
		}
		if c.Type() != typ {
			t.Fatalf("payload %d: type %s reported as %s", seq, c.Type(), typ)
		}
		types[typ]++
		for _, v := range c.V {
			products[v.Mp] = true
		}
		name := c.Nam.Fn + " " + c.Nam.Gn
		umlaut = umlaut || strings.ContainsAny(name, "äöüÄÖÜ")
		accent = accent || strings.ContainsAny(name, "éèçñóáíš")
		eszett = eszett || strings.Contains(name, "ß")
		hyphen = hyphen || strings.Contains(name, "-")
		severalGiven = severalGiven || strings.Contains(c.Nam.Gn, " ")
	}
	if types[dcc.TypeVaccination] < 500 || types[dcc.TypeTest] < 100 || types[dcc.TypeRecovery] < 100 {
		t.Errorf("mix %v, want about 3:1:1 of 1000", types)
	}
	for _, r := range dcc.ValueSets().Vaccines() {
		if !products[r.Product] {
			t.Errorf("vaccine product %s never generated", r.Product)
		}
	}
	if !umlaut || !accent || !eszett || !hyphen || !severalGiven {
		t.Errorf("names lack variety: umlaut %v accent %v ß %v hyphen %v several given names %v", umlaut, accent, eszett, hyphen, severalGiven)
	}
	// Deterministic per seed and sequence number, different across seeds.
	a, _, _ := p.JSON(42, now)
	b, _, _ := (&Payloads{Seed: 7}).JSON(42, now)
	c, _, _ := (&Payloads{Seed: 8}).JSON(42, now)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Error("payloads not deterministic by (seed, seq)")
	}
	// A mix of tests only gives tests only.
	for seq := range uint64(50) {
		if typ := (&Payloads{Seed: 1, Mix: Mix{T: 1}}).Certificate(seq, now).Type(); typ != dcc.TypeTest {
			t.Fatalf("test-only mix gave %s", typ)
		}
	}
}

func TestIssueTargets(t *testing.T) {
	now := time.Date(2021, 6, 14, 9, 30, 0, 0, time.UTC)
	creds := StaticCredentials{{PharmacyID: "P1", Token: "t1"}, {PharmacyID: "P2", Token: "t2"}, {PharmacyID: "P3", Token: "t3"}}
	it := &IssueTargets{BaseURL: "http://127.0.0.1:8080/", Payloads: &Payloads{Seed: 1}, Credentials: creds, KeyPrefix: "run1-", Now: func() time.Time { return now }}
	used := map[string]int{}
	for seq := range uint64(300) {
		r, err := it.Request(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		tg := r.Target
		if tg.Method != "POST" || tg.URL != "http://127.0.0.1:8080/v1/certificates" {
			t.Fatalf("target %s %s", tg.Method, tg.URL)
		}
		tok := strings.TrimPrefix(tg.Header.Get("Authorization"), "Bearer ")
		if tok != "t"+r.Tag[1:] {
			t.Fatalf("request for pharmacy %s carries token %q", r.Tag, tok)
		}
		used[r.Tag]++
		if k := tg.Header.Get("Idempotency-Key"); k != "run1-"+itoa(seq) {
			t.Fatalf("idempotency key %q for seq %d", k, seq)
		}
		var body portalapi.IssueRequest
		if err := json.Unmarshal(tg.Body, &body); err != nil {
			t.Fatal(err)
		}
		cert, err := dcc.ParseAndValidate(body.Payload, dcc.ValidateOptions{Now: now})
		if err != nil || string(cert.Type()) != body.Type {
			t.Fatalf("body %s: %v", tg.Body, err)
		}
	}
	for _, c := range creds {
		if used[c.PharmacyID] < 60 {
			t.Errorf("pharmacy %s used %d of 300 times", c.PharmacyID, used[c.PharmacyID])
		}
	}
	if _, err := (&IssueTargets{BaseURL: "http://x", Payloads: &Payloads{}, Credentials: StaticCredentials{}}).Request(context.Background(), 0); err == nil {
		t.Fatal("no credentials accepted")
	}
}

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }
