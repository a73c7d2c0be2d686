package finderapi

import "math"

// The finder's geography is SYNTHETIC: the register has addresses but no
// coordinates, so every postcode gets a deterministic point that keeps
// the shape that matters to a finder, not the real map:
//
//   - the first digit (the postcode zone) has a centre near the real
//     zone's (0 Saxony and Thuringia ... 8 Upper Bavaria);
//   - the second digit picks a cell of a 4 x 3 grid around it, each cell
//     0.40 degrees of latitude by 0.60 of longitude (about 44 x 41 km);
//   - the last three digits lie on a 32 x 32 grid within the cell, so
//     numerically close postcodes are close on the ground (10115 and
//     10117 are 2.5 km apart) and one cell holds a town's postcodes.
//
// No point may be taken for a real location. Pharmacies sharing a
// postcode are spread around its point by up to about 450 m (Jitter).

// zoneCentres are the zone centres, by the postcode's first digit.
var zoneCentres = [10]Point{
	{51.05, 12.90}, // 0: Saxony, southern Saxony-Anhalt, eastern Thuringia
	{52.75, 13.30}, // 1: Berlin, Brandenburg, Mecklenburg-Vorpommern
	{53.55, 9.85},  // 2: Hamburg, Schleswig-Holstein, Bremen
	{52.10, 9.70},  // 3: southern Lower Saxony, northern Hesse
	{51.55, 7.20},  // 4: Ruhr, Münsterland, Lower Rhine
	{50.60, 7.10},  // 5: Rhineland, Eifel, Trier
	{49.95, 8.40},  // 6: southern Hesse, Palatinate, Saarland
	{48.65, 9.10},  // 7: Baden-Württemberg
	{48.05, 11.40}, // 8: Upper Bavaria, Swabia
	{49.60, 11.10}, // 9: Franconia, Upper Palatinate
}

const (
	cellLat  = 0.40 // degrees of latitude per region cell
	cellLon  = 0.60 // degrees of longitude per region cell
	cellGrid = 32   // district grid per cell side (32 x 32 >= 1000)
	// jitterDeg is the largest offset of a pharmacy from its postcode's
	// point, per axis (0.004 degrees: about 450 m north-south).
	jitterDeg = 0.004
	// earthRadiusKm is the mean Earth radius (IUGG).
	earthRadiusKm = 6371.0088
)

// ValidPostcode reports whether s is five ASCII digits of an assigned
// zone: German postcodes do not start with 00.
func ValidPostcode(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < 5; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s[:2] != "00"
}

// Locate returns a postcode's synthetic point; false when the postcode is
// not valid (ValidPostcode).
func Locate(postcode string) (Point, bool) {
	if !ValidPostcode(postcode) {
		return Point{}, false
	}
	d := func(i int) int { return int(postcode[i] - '0') }
	zone, region := d(0), d(1)
	district := d(2)*100 + d(3)*10 + d(4)
	c := zoneCentres[zone]
	row, col := region/4, region%4
	lat := c.Lat + (1-float64(row))*cellLat
	lon := c.Lon + (float64(col)-1.5)*cellLon
	r, k := district/cellGrid, district%cellGrid
	lat += (0.5 - (float64(r)+0.5)/cellGrid) * cellLat
	lon += ((float64(k)+0.5)/cellGrid - 0.5) * cellLon
	return Point{Lat: round6(lat), Lon: round6(lon)}, true
}

// Jitter moves p by a deterministic offset derived from id (up to
// jitterDeg per axis), so pharmacies sharing a postcode do not share a
// point.
func Jitter(p Point, id string) Point {
	// FNV-1a: stable across releases and platforms, unlike maphash.
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	// MurmurHash3's finaliser: FNV alone leaves IDs that differ in one
	// byte a hair apart.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	u := float64(h>>32)/float64(1<<32)*2 - 1
	v := float64(h&0xffffffff)/float64(1<<32)*2 - 1
	return Point{Lat: round6(p.Lat + u*jitterDeg), Lon: round6(p.Lon + v*jitterDeg)}
}

// DistanceKm is the great-circle distance between a and b (haversine).
func DistanceKm(a, b Point) float64 {
	const rad = math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	s := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(s)))
}

// KmPerDegreeLat is the length of one degree of latitude, for bounding
// boxes.
const KmPerDegreeLat = earthRadiusKm * math.Pi / 180

// round6 keeps six decimals (about 0.1 m): points print the same on every
// platform, so answers and their ETags do too.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
