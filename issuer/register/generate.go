package register

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Name stems of German pharmacies: heraldic animals, landmarks, saints.
var namePrefixes = []string{
	"Markt", "Löwen", "Adler", "Stern", "Rats", "Hirsch", "Bären", "Einhorn",
	"Engel", "Sonnen", "Linden", "Park", "Bahnhof", "Schloss", "Stadt",
	"Rosen", "Kronen", "Mohren", "Hof", "Marien", "Greifen", "Schwanen",
	"Falken", "Brunnen", "Tor", "Dom", "Kloster", "Berg", "Tal", "Eichen",
	"Burg", "Hubertus", "Pelikan", "Storchen", "Glocken", "Mühlen", "Süd",
	"Nord", "West", "Ost", "Kur", "Post", "Lilien", "Flora", "Ähren",
}

var nameForms = []string{
	"%s-Apotheke", "%s-Apotheke", "%s-Apotheke", "%s-Apotheke",
	"%s Apotheke", "Neue %s-Apotheke", "Alte %s-Apotheke",
}

var fixedNames = []string{
	"Apotheke am Markt", "Apotheke am Rathaus", "Apotheke im Hauptbahnhof",
	"St. Georg-Apotheke", "St. Martin-Apotheke", "Apotheke am Schloßplatz",
	"Apotheke an der Uni", "Apotheke zum Goldenen Hirsch",
}

var streets = []string{
	"Hauptstraße", "Bahnhofstraße", "Marktplatz", "Schillerstraße",
	"Goethestraße", "Kirchstraße", "Lindenallee", "Gartenweg", "Am Markt",
	"Friedrich-Ebert-Straße", "Königstraße", "Schloßstraße", "Mühlenweg",
	"Rathausplatz", "Poststraße", "Bergstraße", "Rosenstraße",
	"Wilhelmstraße", "Lange Straße", "Breite Straße", "Große Bleichen",
	"Karl-Marx-Allee", "Sonnenstraße", "Münsterplatz", "Dorfstraße",
	"Am Anger", "Kaiserstraße", "Ludwigstraße", "Weißdornweg",
}

type city struct {
	name     string
	from, to int // postal code range
}

var cities = []city{
	{"Berlin", 10115, 14199}, {"Hamburg", 20095, 22769}, {"München", 80331, 81929},
	{"Köln", 50667, 51149}, {"Frankfurt am Main", 60306, 60599}, {"Stuttgart", 70173, 70629},
	{"Düsseldorf", 40210, 40629}, {"Leipzig", 4103, 4357}, {"Dresden", 1067, 1328},
	{"Hannover", 30159, 30659}, {"Nürnberg", 90402, 90491}, {"Bremen", 28195, 28779},
	{"Essen", 45127, 45359}, {"Dortmund", 44135, 44388}, {"Münster", 48143, 48167},
	{"Freiburg im Breisgau", 79098, 79117}, {"Würzburg", 97070, 97084}, {"Görlitz", 2826, 2829},
	{"Lübeck", 23552, 23570}, {"Rostock", 18055, 18147}, {"Erfurt", 99084, 99099},
	{"Magdeburg", 39104, 39130}, {"Kiel", 24103, 24159}, {"Saarbrücken", 66111, 66133},
	{"Mainz", 55116, 55131}, {"Regensburg", 93047, 93059}, {"Augsburg", 86150, 86199},
	{"Bielefeld", 33602, 33739}, {"Bonn", 53111, 53229}, {"Göttingen", 37073, 37085},
	{"Potsdam", 14467, 14482}, {"Schwerin", 19053, 19063}, {"Heidelberg", 69115, 69126},
	{"Fürth", 90762, 90768}, {"Öhringen", 74613, 74613}, {"Weißenfels", 6667, 6667},
	{"Bad Tölz", 83646, 83646}, {"Wernigerode", 38855, 38855}, {"Oberammergau", 82487, 82487},
}

// memberShare approximates the share of pharmacies in the association.
const memberShare = 0.85

// Generate returns n synthetic, valid register entries with distinct
// Telematik-IDs and realistic German names and addresses. Contact addresses
// use the reserved .example top-level domain (RFC 2606), so no generated
// mail can ever reach a real pharmacy.
func Generate(rnd *rand.Rand, n int) []Entry {
	out := make([]Entry, 0, n)
	seen := make(map[string]bool, n)
	for len(out) < n {
		id := NewTelematikID(rnd)
		if seen[id] {
			continue
		}
		seen[id] = true
		c := cities[rnd.IntN(len(cities))]
		var name string
		if rnd.IntN(10) == 0 {
			name = fixedNames[rnd.IntN(len(fixedNames))]
		} else {
			name = fmt.Sprintf(nameForms[rnd.IntN(len(nameForms))], namePrefixes[rnd.IntN(len(namePrefixes))])
		}
		street := fmt.Sprintf("%s %d", streets[rnd.IntN(len(streets))], 1+rnd.IntN(180))
		if rnd.IntN(8) == 0 {
			street += string(rune('a' + rnd.IntN(4)))
		}
		out = append(out, Entry{
			TelematikID: id,
			Name:        name,
			Street:      street,
			PostalCode:  fmt.Sprintf("%05d", c.from+rnd.IntN(c.to-c.from+1)),
			City:        c.name,
			Email:       fmt.Sprintf("info@%s-%s.example", slug(name), id[len(id)-6:]),
			Member:      rnd.Float64() < memberShare,
		})
	}
	return out
}

// slug folds s to lower-case ASCII letters and digits joined by hyphens.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range fold(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}
