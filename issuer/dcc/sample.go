package dcc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Sample returns a valid, varied payload of the given kind for load tests
// ("" picks a kind at random, vaccinations being most common as in June
// 2021). Names mix German and other European spellings with umlauts,
// accents, hyphens and apostrophes; fnt/gnt are their transliterations.
// Vaccinations use every product of the encoding instructions with a
// matching manufacturer and prophylaxis; tests are PCR or rapid antigen;
// all dates lie before now. ci is left empty for the issuer to assign.
// Sample panics on an unknown kind (a programming error).
func Sample(rnd *rand.Rand, typ Type, now time.Time) *Certificate {
	if typ == "" {
		typ = pick(rnd, []Type{TypeVaccination, TypeVaccination, TypeVaccination, TypeTest, TypeRecovery})
	}
	c := &Certificate{Ver: SchemaVersion}
	c.Nam = sampleName(rnd)
	born := sampleBirth(rnd, now)
	c.Dob = born.Format(time.DateOnly)
	switch rnd.IntN(20) {
	case 0:
		c.Dob = c.Dob[:4] // year only, as some passports have
	case 1:
		c.Dob = c.Dob[:7]
	}
	co, is := sampleIssuer(rnd)
	// Events happen after birth and, here, at most about 600 days ago.
	sinceBirth := now.Sub(born)
	eventAgo := func(max time.Duration) time.Duration {
		return time.Duration(rnd.Int64N(int64(min(max, sinceBirth-24*time.Hour))))
	}
	switch typ {
	case TypeVaccination:
		rule := sampleVaccine(rnd)
		dn, sd := sampleDoses(rnd, rule.Product)
		c.V = []Vaccination{{
			Tg: DiseaseCOVID19,
			Vp: pick(rnd, rule.Prophylaxis),
			Mp: rule.Product,
			Ma: rule.Manufacturer,
			Dn: dn,
			Sd: sd,
			Dt: now.Add(-eventAgo(600 * 24 * time.Hour)).UTC().Format(time.DateOnly),
			Co: co,
			Is: is,
		}}
	case TypeTest:
		t := Test{
			Tg: DiseaseCOVID19,
			Sc: now.Add(-time.Minute - eventAgo(72*time.Hour)).UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z"),
			Tr: ResultNegative,
			Co: co,
			Is: is,
		}
		if rnd.IntN(10) == 0 {
			t.Tr = ResultPositive
		}
		if rnd.IntN(3) == 0 {
			t.Tt = TestTypeNAAT
			if rnd.IntN(4) > 0 {
				t.Nm = pick(rnd, sampleNAATNames)
			}
		} else {
			t.Tt = TestTypeRAT
			t.Ma = pick(rnd, sampleDevices())
		}
		if rnd.IntN(5) > 0 {
			t.Tc = pick(rnd, sampleTestCentres)
		}
		c.T = []Test{t}
	case TypeRecovery:
		fr := now.Add(-11*24*time.Hour - eventAgo(170*24*time.Hour)).UTC()
		c.R = []Recovery{{
			Tg: DiseaseCOVID19,
			Fr: fr.Format(time.DateOnly),
			Co: co,
			Is: is,
			// EU rules: valid from 11 days after the first positive test
			// for at most 180 days.
			Df: fr.AddDate(0, 0, 11).Format(time.DateOnly),
			Du: fr.AddDate(0, 0, 180).Format(time.DateOnly),
		}}
	default:
		panic(fmt.Sprintf("dcc: Sample of unknown certificate type %q", typ))
	}
	return c
}

func pick[T any](rnd *rand.Rand, list []T) T { return list[rnd.IntN(len(list))] }

// sampleBirth draws a birth date 12 to 95 years before now, never before 1900.
func sampleBirth(rnd *rand.Rand, now time.Time) time.Time {
	age := 12*365*24*time.Hour + time.Duration(rnd.Int64N(int64(83*365*24*time.Hour)))
	born := now.Add(-age).UTC()
	if born.Year() < 1900 {
		born = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(born.Year(), born.Month(), born.Day(), 0, 0, 0, 0, time.UTC)
}

func sampleName(rnd *rand.Rand) Name {
	var n Name
	n.Fn = pick(rnd, sampleFamilyNames)
	if rnd.IntN(8) == 0 {
		n.Fn += "-" + pick(rnd, sampleFamilyNames)
	}
	n.Gn = pick(rnd, sampleGivenNames)
	if rnd.IntN(6) == 0 {
		n.Gn += " " + pick(rnd, sampleGivenNames)
	}
	switch rnd.IntN(40) {
	case 0:
		n.Gn = "" // only a family name, as in the eHN special cases
	case 1:
		n.Fn = ""
	}
	if n.Fn != "" {
		n.Fnt = Transliterate(n.Fn)
	}
	if n.Gn != "" {
		n.Gnt = Transliterate(n.Gn)
	}
	return n
}

func sampleIssuer(rnd *rand.Rand) (co, is string) {
	if rnd.IntN(10) > 0 {
		return "DE", "Robert Koch-Institut"
	}
	i := pick(rnd, sampleForeignIssuers)
	return i[0], i[1]
}

// sampleVaccine picks the products used most in Germany half of the time
// and any product of the encoding instructions otherwise.
func sampleVaccine(rnd *rand.Rand) VaccineRule {
	sets := ValueSets()
	if rnd.IntN(2) == 0 {
		r, _ := sets.Vaccine(pick(rnd, []string{"EU/1/20/1528", "EU/1/20/1528", "EU/1/20/1507", "EU/1/21/1529", "EU/1/20/1525"}))
		return r
	}
	return pick(rnd, sets.Vaccines())
}

// sampleDoses draws the dose combinations seen in practice: a series in
// progress or complete, and boosters written n/n or, after one-dose
// Janssen, 2/1.
func sampleDoses(rnd *rand.Rand, product string) (dn, sd int) {
	if product == "EU/1/20/1525" {
		d := pick(rnd, [][2]int{{1, 1}, {1, 1}, {2, 1}, {2, 2}})
		return d[0], d[1]
	}
	d := pick(rnd, [][2]int{{1, 2}, {2, 2}, {2, 2}, {3, 3}, {4, 4}, {1, 1}})
	return d[0], d[1]
}

// sampleDevices is the eHN example device list plus "532", the device of the
// schema's own RAT example.
var sampleDevices = sync.OnceValue(func() []string {
	return append(slices.Clone(ValueSets().Codes(SetTestManufacturer)), "532")
})

var sampleFamilyNames = []string{
	"Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Schröder", "Groß", "Köhler",
	"Jäger", "Meißner", "Musterfrau-Gößinger", "Bäcker", "Fuß", "Löwenthal", "Brügge",
	"von der Höh", "Straßburger", "Özdemir", "Çelik", "Yılmaz", "d'Alembert", "O'Brien",
	"Dvořák", "Nováková", "d'Červenková Panklová", "Wiśniewska", "Łukasiewicz", "Żółkiewski",
	"García Márquez", "Muñoz", "Sørensen", "Åberg", "Ærøskøbing", "Þórsdóttir", "Jökulsson",
	"De Luca", "Dell'Acqua", "van der Berg", "Đorđević", "Kovačić", "Popescu", "Ștefănescu",
	"Nagy-Tóth", "Szőke", "Mäkinen", "Virtanen", "Lefèvre", "Smith-Jones", "Ní Bhriain",
	"Papadopoulos", "Ivanova", "Šimek",
}

var sampleGivenNames = []string{
	"Jürgen", "Jörg", "Bärbel", "Günther", "Anna-Lena", "Hans Peter", "Lena", "Ömer", "Ayşe",
	"François", "Zoë", "Chloé", "Noémie", "Renée", "Søren", "Åsa", "Bjørn", "Björn", "Łucja",
	"Małgorzata", "Jiřina-Maria Alena", "Ólafur", "Ignác", "Ștefan", "Dragoș", "Mário",
	"José María", "Iñaki", "Siobhán", "Jean-Luc", "Marie-Thérèse", "Charles Edward", "Niamh",
	"Gößwein", "Karl-Heinz", "Đurđa", "Ivana", "Zdeněk", "Mikael", "Þór",
}

var sampleForeignIssuers = [][2]string{
	{"AT", "Ministry of Health, Austria"},
	{"NL", "Ministry of Health Welfare and Sport"},
	{"FR", "Ministère des Solidarités et de la Santé"},
	{"PL", "Centrum e-Zdrowia"},
	{"DK", "Sundhedsdatastyrelsen"},
	{"CZ", "Ministerstvo zdravotnictví ČR"},
	{"IT", "Ministero della Salute"},
}

var sampleNAATNames = []string{
	"Roche, cobas SARS-CoV-2",
	"ELITechGroup, SARS-CoV-2 ELITe MGB® Kit",
	"Abbott, Alinity m SARS-CoV-2",
	"altona Diagnostics, RealStar® SARS-CoV-2 RT-PCR Kit",
}

var sampleTestCentres = []string{
	"Testzentrum Köln Hbf", "Apotheke am Markt, Großenhain", "Schnelltest Straße des 17. Juni",
	"Praxis Dr. Özdemir", "Testzentrum Flughafen München", "Example Test Corp, Big City",
}
