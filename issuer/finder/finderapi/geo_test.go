package finderapi

import (
	"fmt"
	"math"
	"testing"
)

func TestLocateCoversEveryPostcode(t *testing.T) {
	seen := map[Point]string{}
	for n := 1000; n <= 99999; n++ {
		pc := fmt.Sprintf("%05d", n)
		p, ok := Locate(pc)
		if !ok {
			t.Fatalf("%s not located", pc)
		}
		// Germany's bounding box, with a margin for the synthetic grid.
		if p.Lat < 46.5 || p.Lat > 55.5 || p.Lon < 5.0 || p.Lon > 15.5 {
			t.Fatalf("%s at %+v is outside Germany", pc, p)
		}
		if prev, dup := seen[p]; dup {
			t.Fatalf("%s and %s share %+v", pc, prev, p)
		}
		seen[p] = pc
		if q, _ := Locate(pc); q != p {
			t.Fatalf("%s: not deterministic", pc)
		}
	}
}

func TestNeighbouringPostcodesAreNear(t *testing.T) {
	for _, pair := range [][2]string{{"10115", "10117"}, {"80331", "80333"}, {"01067", "01069"}} {
		a, _ := Locate(pair[0])
		b, _ := Locate(pair[1])
		if d := DistanceKm(a, b); d > 5 {
			t.Errorf("%s and %s are %.1f km apart", pair[0], pair[1], d)
		}
	}
	// Different zones are far apart.
	a, _ := Locate("10115")
	b, _ := Locate("80331")
	if d := DistanceKm(a, b); d < 300 {
		t.Errorf("Berlin and Munich zones are %.0f km apart", d)
	}
}

func TestValidPostcode(t *testing.T) {
	for s, want := range map[string]bool{
		"10115": true, "01067": true, "99999": true, "00123": false, "1011": false, "101155": false,
		"1011a": false, "": false, "１０１１５": false, " 1011": false,
	} {
		if got := ValidPostcode(s); got != want {
			t.Errorf("ValidPostcode(%q) = %v", s, got)
		}
		if _, ok := Locate(s); ok != want {
			t.Errorf("Locate(%q) ok = %v", s, ok)
		}
	}
}

func TestJitterAndDistance(t *testing.T) {
	p, _ := Locate("50667")
	for _, id := range []string{"a", "ph_1", "PZADZPDR2TBZ7", ""} {
		j := Jitter(p, id)
		if d := DistanceKm(p, j); d > 0.65 {
			t.Errorf("jitter of %q moves %.2f km", id, d)
		}
		if Jitter(p, id) != j {
			t.Errorf("jitter of %q not deterministic", id)
		}
	}
	if Jitter(p, "a") == Jitter(p, "b") {
		t.Error("two pharmacies share a point")
	}
	a, b := Point{Lat: 50, Lon: 8}, Point{Lat: 51, Lon: 8}
	if d := DistanceKm(a, b); math.Abs(d-KmPerDegreeLat) > 1e-6 || DistanceKm(b, a) != d || DistanceKm(a, a) != 0 {
		t.Errorf("one degree of latitude: %.4f km, want %.4f", d, KmPerDegreeLat)
	}
}

func TestPresets(t *testing.T) {
	for _, name := range []string{"hardened", "naive-2021"} {
		c, err := ConfigForProfile(name)
		if err != nil || c.Validate() != nil || c.Profile != name {
			t.Errorf("%s: %+v %v %v", name, c, err, c.Validate())
		}
	}
	if HardenedConfig().MarkStatus == Naive2021Config().MarkStatus {
		t.Error("the presets must differ in marking")
	}
	if _, err := ConfigForProfile("lenient"); err == nil {
		t.Error("unknown profile accepted")
	}
	bad := HardenedConfig()
	bad.RefreshInterval, bad.CacheEntries, bad.Limit.MaxQueue = 0, -1, -1
	if err := bad.Validate(); err == nil {
		t.Error("invalid config accepted")
	}
}
