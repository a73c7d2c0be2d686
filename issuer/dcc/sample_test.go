package dcc

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestSampleValid(t *testing.T) {
	schema := optionalSchema(t) // nil without the shared folder
	now := time.Date(2021, 6, 14, 9, 30, 0, 0, time.UTC)
	rnd := rand.New(rand.NewPCG(1, 2))
	const perType = 1500
	products := map[string]bool{}
	seen := map[string]bool{}
	for _, typ := range []Type{TypeVaccination, TypeTest, TypeRecovery, ""} {
		for range perType {
			c := Sample(rnd, typ, now)
			if typ != "" && c.Type() != typ {
				t.Fatalf("Sample(%q) gave type %q", typ, c.Type())
			}
			if c.UVCI() != "" {
				t.Fatalf("Sample filled ci %q", c.UVCI())
			}
			before, _ := json.Marshal(c)
			c.Normalize()
			after, _ := json.Marshal(c)
			if string(before) != string(after) {
				t.Fatalf("Sample output not normalised:\n%s\n%s", before, after)
			}
			if err := c.Validate(ValidateOptions{Now: now}); err != nil {
				t.Fatalf("sample rejected: %v\n%s", err, after)
			}
			if _, err := ParseAndValidate(after, ValidateOptions{Now: now}); err != nil {
				t.Fatalf("sample JSON rejected: %v\n%s", err, after)
			}
			if schema != nil {
				if err := schema(after); err != nil {
					t.Fatalf("sample violates the official schema: %v\n%s", err, after)
				}
			}
			record(seen, c)
			for _, v := range c.V {
				products[v.Mp] = true
				if rule, _ := ValueSets().Vaccine(v.Mp); !rule.Allows(v.Vp) {
					t.Fatalf("sample uses vp %s for %s outside the encoding instructions", v.Vp, v.Mp)
				}
			}
		}
	}
	for _, r := range ValueSets().Vaccines() {
		if !products[r.Product] {
			t.Errorf("product %s never sampled", r.Product)
		}
	}
	// Variety the load tests rely on.
	for _, want := range []string{"umlaut", "apostrophe", "hyphen", "space", "only fn", "only gn", "dob year", "dob year-month",
		"NAAT", "RAT", "nm", "no tc", "positive", "dn>sd", "dn<sd", "foreign", "type v", "type t", "type r"} {
		if !seen[want] {
			t.Errorf("no sample with %s", want)
		}
	}
}

func record(seen map[string]bool, c *Certificate) {
	names := c.Nam.Fn + " " + c.Nam.Gn
	seen["umlaut"] = seen["umlaut"] || strings.ContainsAny(names, "äöüÄÖÜß")
	seen["apostrophe"] = seen["apostrophe"] || strings.ContainsAny(names, "'’")
	seen["hyphen"] = seen["hyphen"] || strings.Contains(names, "-")
	seen["space"] = seen["space"] || strings.Contains(strings.TrimSpace(names), " ")
	seen["only fn"] = seen["only fn"] || c.Nam.Gn == ""
	seen["only gn"] = seen["only gn"] || c.Nam.Fn == ""
	seen["dob year"] = seen["dob year"] || len(c.Dob) == 4
	seen["dob year-month"] = seen["dob year-month"] || len(c.Dob) == 7
	seen["type "+string(c.Type())] = true
	for _, v := range c.V {
		seen["dn>sd"] = seen["dn>sd"] || v.Dn > v.Sd
		seen["dn<sd"] = seen["dn<sd"] || v.Dn < v.Sd
		seen["foreign"] = seen["foreign"] || v.Co != "DE"
	}
	for _, t := range c.T {
		seen[map[string]string{TestTypeNAAT: "NAAT", TestTypeRAT: "RAT"}[t.Tt]] = true
		seen["nm"] = seen["nm"] || t.Nm != ""
		seen["no tc"] = seen["no tc"] || t.Tc == ""
		seen["positive"] = seen["positive"] || t.Tr == ResultPositive
	}
}

func TestSampleDeterministicAndDated(t *testing.T) {
	now := time.Date(2022, 1, 10, 0, 30, 0, 0, time.UTC)
	a := Sample(rand.New(rand.NewPCG(7, 7)), "", now)
	b := Sample(rand.New(rand.NewPCG(7, 7)), "", now)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("same seed, different samples:\n%s\n%s", ja, jb)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		c := Sample(rnd, TypeTest, now)
		sc, err := time.Parse(time.RFC3339, c.T[0].Sc)
		if err != nil || !sc.Before(now) || !strings.HasSuffix(c.T[0].Sc, "Z") {
			t.Fatalf("sc %q not a UTC time before now", c.T[0].Sc)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("unknown type did not panic")
		}
	}()
	Sample(rnd, "x", now)
}
