package finder

import (
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/store"
)

// The pharmacy finder lists pharmacies only: a doctors' practice (an
// account ID starting "D") issues to its own patients and is left out.
func TestFinderListsNoPractices(t *testing.T) {
	f, err := New(finderapi.HardenedConfig(), Deps{Source: fixedSource{}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2021, 7, 13, 9, 0, 0, 0, time.UTC)
	acts := []store.PharmacyActivity{
		{ID: "PAAAAAAAAAAAA", Name: "Adler-Apotheke", Street: "Hauptstraße 1", PostalCode: "10115", City: "Berlin", Status: store.PharmacyActive},
		{ID: "DAAAAAAAAAAAA", Name: "Praxis Dr. Weber", Street: "Hauptstraße 2", PostalCode: "10115", City: "Berlin", Status: store.PharmacyActive},
	}
	s := f.build(acts, time.Time{}, now)
	if len(s.entries) != 1 || s.entries[0].view.ID != "PAAAAAAAAAAAA" {
		t.Fatalf("entries %+v, want the pharmacy alone", s.entries)
	}
}
