package dcc

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Names of the value sets ValueSets holds. They follow the value set files
// of the eHealth Network (test-manf after the schema's valueset-uri).
const (
	SetCountry             = "country-2-codes"
	SetDisease             = "disease-agent-targeted"
	SetVaccineProphylaxis  = "vaccine-prophylaxis"
	SetVaccineProduct      = "vaccine-medicinal-product"
	SetVaccineManufacturer = "vaccine-mah-manf"
	SetTestType            = "test-type"
	SetTestResult          = "test-result"
	// SetTestManufacturer holds the eHN example list of rapid antigen test
	// devices. It is only an example (the real list comes from the JRC
	// database): validation checks a device code's form and, when asked,
	// ValidateOptions.KnownTestDevices, never this set.
	SetTestManufacturer = "test-manf"
	// SetIssuingOrganisation is golive's own addition: organisations that
	// issue certificates under a non-ISO "country" code. The schema widens
	// co to [A-Z]{1,10} for them and its own valid test payloads use UNHCR.
	SetIssuingOrganisation = "issuing-organisations"
)

// Test types and results the validation treats specially.
const (
	DiseaseCOVID19 = "840539006"
	TestTypeNAAT   = "LP6464-4"   // nucleic acid amplification (PCR)
	TestTypeRAT    = "LP217198-3" // rapid antigen test
	ResultNegative = "260415000"  // not detected
	ResultPositive = "260373001"  // detected
)

// VaccineRule is one line of the eHN vaccine encoding instructions: a
// product code, the only manufacturer it may be encoded with and the
// prophylaxis codes allowed for it.
type VaccineRule struct {
	Product      string
	Manufacturer string
	Prophylaxis  []string
}

// Allows reports whether the instructions allow prophylaxis code vp for
// the product: the strict rule for new certificates.
func (r VaccineRule) Allows(vp string) bool { return slices.Contains(r.Prophylaxis, vp) }

// Sets is the read-only collection of value sets embedded in the package.
type Sets struct {
	sets     map[string]*valueSet
	vaccines map[string]VaccineRule
}

type valueSet struct {
	date     string
	display  map[string]string
	inactive map[string]bool
}

//go:embed valuesets.json
var valueSetsJSON []byte

// valueSetsFile is the layout of valuesets.json, golive's compact form of
// the eHN value sets: per set its date, [code, display] pairs and the codes
// marked inactive; per vaccine product its encoding rule.
type valueSetsFile struct {
	About    string                      `json:"about"`
	Sets     map[string]valueSetsFileSet `json:"sets"`
	Vaccines map[string]struct {
		Manufacturer string   `json:"manufacturer"`
		Prophylaxis  []string `json:"prophylaxis"`
	} `json:"vaccines"`
}

type valueSetsFileSet struct {
	Date     string      `json:"date"`
	Codes    [][2]string `json:"codes"`
	Inactive []string    `json:"inactive"`
}

var loadValueSets = sync.OnceValues(func() (*Sets, error) { return decodeValueSets(valueSetsJSON) })

// ValueSets returns the embedded value sets. It panics if the embedded file
// is broken, which the package tests rule out.
func ValueSets() *Sets {
	s, err := loadValueSets()
	if err != nil {
		panic(err)
	}
	return s
}

func decodeValueSets(data []byte) (*Sets, error) {
	var f valueSetsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("dcc: decoding embedded value sets: %w", err)
	}
	s := &Sets{sets: map[string]*valueSet{}, vaccines: map[string]VaccineRule{}}
	for name, fs := range f.Sets {
		vs := &valueSet{date: fs.Date, display: map[string]string{}, inactive: map[string]bool{}}
		for _, c := range fs.Codes {
			if _, dup := vs.display[c[0]]; dup || c[0] == "" {
				return nil, fmt.Errorf("dcc: value set %s: empty or duplicated code %q", name, c[0])
			}
			vs.display[c[0]] = c[1]
		}
		for _, c := range fs.Inactive {
			if _, ok := vs.display[c]; !ok {
				return nil, fmt.Errorf("dcc: value set %s: inactive code %q is not in the set", name, c)
			}
			vs.inactive[c] = true
		}
		s.sets[name] = vs
	}
	for _, name := range []string{SetCountry, SetDisease, SetVaccineProphylaxis, SetVaccineProduct,
		SetVaccineManufacturer, SetTestType, SetTestResult, SetTestManufacturer, SetIssuingOrganisation} {
		if len(s.sets[name].codesOrNil()) == 0 {
			return nil, fmt.Errorf("dcc: embedded value sets lack %s", name)
		}
	}
	for product, v := range f.Vaccines {
		if !s.Has(SetVaccineProduct, product) || !s.Has(SetVaccineManufacturer, v.Manufacturer) || len(v.Prophylaxis) == 0 {
			return nil, fmt.Errorf("dcc: vaccine rule for %s names unknown codes", product)
		}
		for _, p := range v.Prophylaxis {
			if !s.Has(SetVaccineProphylaxis, p) {
				return nil, fmt.Errorf("dcc: vaccine rule for %s allows unknown prophylaxis %s", product, p)
			}
		}
		s.vaccines[product] = VaccineRule{Product: product, Manufacturer: v.Manufacturer, Prophylaxis: slices.Clone(v.Prophylaxis)}
	}
	return s, nil
}

func (vs *valueSet) codesOrNil() map[string]string {
	if vs == nil {
		return nil
	}
	return vs.display
}

// Has reports whether code is in the named set (active or not: certificates
// issued with a since-deprecated code stay valid).
func (s *Sets) Has(set, code string) bool {
	_, ok := s.sets[set].codesOrNil()[code]
	return ok
}

// Active reports whether code is in the named set and not deprecated.
func (s *Sets) Active(set, code string) bool {
	vs := s.sets[set]
	return s.Has(set, code) && !vs.inactive[code]
}

// Display returns the code's display name, or "" when the code is unknown.
func (s *Sets) Display(set, code string) string {
	return s.sets[set].codesOrNil()[code]
}

// Date returns the value set's publication date, or "" for an unknown set.
func (s *Sets) Date(set string) string {
	if vs := s.sets[set]; vs != nil {
		return vs.date
	}
	return ""
}

// Codes returns the named set's codes in sorted order (nil for an unknown set).
func (s *Sets) Codes(set string) []string {
	vs := s.sets[set]
	if vs == nil {
		return nil
	}
	codes := make([]string, 0, len(vs.display))
	for c := range vs.display {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}

// Names returns the names of all sets, sorted.
func (s *Sets) Names() []string {
	names := make([]string, 0, len(s.sets))
	for n := range s.sets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Vaccine returns the encoding rule for a product code.
func (s *Sets) Vaccine(product string) (VaccineRule, bool) {
	v, ok := s.vaccines[product]
	v.Prophylaxis = slices.Clone(v.Prophylaxis)
	return v, ok
}

// Vaccines returns every encoding rule, sorted by product code.
func (s *Sets) Vaccines() []VaccineRule {
	out := make([]VaccineRule, 0, len(s.vaccines))
	for _, v := range s.vaccines {
		v.Prophylaxis = slices.Clone(v.Prophylaxis)
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b VaccineRule) int { return strings.Compare(a.Product, b.Product) })
	return out
}
