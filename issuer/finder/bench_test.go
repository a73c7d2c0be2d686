package finder

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/store"
)

// fixedSource is a registry of n synthetic pharmacies.
type fixedSource []store.PharmacyActivity

func (s fixedSource) PharmacyActivity(context.Context) ([]store.PharmacyActivity, error) {
	return s, nil
}

func syntheticRegistry(n int) fixedSource {
	rnd := mrand.New(mrand.NewPCG(1, 2))
	out := make(fixedSource, n)
	for i := range out {
		out[i] = store.PharmacyActivity{ID: fmt.Sprintf("ph_%06d", i), Name: "Apotheke", Street: "Hauptstraße 1",
			PostalCode: fmt.Sprintf("%05d", 1000+rnd.IntN(99000)), City: "Stadt", Status: store.PharmacyActive,
			LastIssuedAt: time.Unix(1623657600+int64(i), 0)}
	}
	return out
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkSearch is the handler's cost per search, without the network:
// a cached answer, and one computed every time (cache off), over a
// registry of 18 000 pharmacies (about Germany's number).
func BenchmarkSearch(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cache int
	}{{"cached", 20000}, {"computed", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := finderapi.HardenedConfig()
			cfg.CacheEntries = tc.cache
			f, err := New(cfg, Deps{Source: syntheticRegistry(18000)})
			if err != nil {
				b.Fatal(err)
			}
			h := f.Routes()["GET "+finderapi.PathPharmacies]
			reqs := make([]*http.Request, 256)
			for i := range reqs {
				reqs[i], _ = http.NewRequest(http.MethodGet,
					fmt.Sprintf("%s?postcode=%05d&radius_km=10", finderapi.PathPharmacies, 10115+i), nil)
			}
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, reqs[i%len(reqs)])
				i++
			}
		})
	}
}
