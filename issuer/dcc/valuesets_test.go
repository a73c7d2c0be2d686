package dcc

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golive-dev/golive/internal/sharedspec"
)

// go test ./issuer/dcc -run TestValueSetsMatchShared -update-valuesets
// rewrites valuesets.json from ../shared/dcc/valuesets.
var updateValueSets = flag.Bool("update-valuesets", false, "rewrite valuesets.json from the shared eHN value sets")

// sharedSetFiles maps our set names onto the eHN files they are derived from.
var sharedSetFiles = map[string]string{
	SetCountry:             "country-2-codes.json",
	SetDisease:             "disease-agent-targeted.json",
	SetVaccineProphylaxis:  "vaccine-prophylaxis.json",
	SetVaccineProduct:      "vaccine-medicinal-product.json",
	SetVaccineManufacturer: "vaccine-mah-manf.json",
	SetTestType:            "test-type.json",
	SetTestResult:          "test-result.json",
	SetTestManufacturer:    "test-manf-example.json",
}

// ownOrganisations is the project's own set (no eHN file behind it).
var ownOrganisations = [][2]string{{"UNHCR", "United Nations High Commissioner for Refugees"}}

type sharedValueSet struct {
	ID     string `json:"valueSetId"`
	Date   string `json:"valueSetDate"`
	Values map[string]struct {
		Display string `json:"display"`
		Active  bool   `json:"active"`
	} `json:"valueSetValues"`
}

type sharedEncoding struct {
	Values map[string]struct {
		Code         string   `json:"vaccine-code"`
		Manufacturer string   `json:"vaccine-manufacturer"`
		SCT          []string `json:"sct-codes"`
	} `json:"valueSetValues"`
}

func readSharedSet(t *testing.T, file string) sharedValueSet {
	t.Helper()
	data, err := os.ReadFile(sharedspec.Path(t, "dcc", "valuesets", file))
	if err != nil {
		t.Fatal(err)
	}
	var vs sharedValueSet
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return vs
}

// sharedProductCode strips the " (deprecated)" marker three entries of the
// eHN encoding instructions carry in their vaccine-code (the product value
// set lists those codes without it).
func sharedProductCode(code string) string { return strings.TrimSuffix(code, " (deprecated)") }

func readSharedEncoding(t *testing.T) sharedEncoding {
	t.Helper()
	data, err := os.ReadFile(sharedspec.Path(t, "dcc", "valuesets", "vaccine-encoding-instructions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var enc sharedEncoding
	if err := json.Unmarshal(data, &enc); err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestValueSetsMatchShared(t *testing.T) {
	if *updateValueSets {
		writeValueSets(t)
	}
	sets := ValueSets()
	for name, file := range sharedSetFiles {
		t.Run(name, func(t *testing.T) {
			shared := readSharedSet(t, file)
			want := slices.Sorted(maps.Keys(shared.Values))
			if got := sets.Codes(name); !slices.Equal(got, want) {
				t.Fatalf("codes differ from %s:\n got %v\nwant %v", file, got, want)
			}
			if got := sets.Date(name); got != shared.Date {
				t.Errorf("date %q, want %q", got, shared.Date)
			}
			for code, v := range shared.Values {
				if got := sets.Display(name, code); got != v.Display {
					t.Errorf("display of %s = %q, want %q", code, got, v.Display)
				}
				if got := sets.Active(name, code); got != v.Active {
					t.Errorf("active of %s = %v, want %v", code, got, v.Active)
				}
			}
		})
	}
	t.Run("vaccine-encoding-instructions", func(t *testing.T) {
		enc := readSharedEncoding(t)
		var want []string
		for key, v := range enc.Values {
			product := sharedProductCode(v.Code)
			want = append(want, product)
			rule, ok := sets.Vaccine(product)
			if !ok {
				t.Errorf("%s (%s) has no rule", key, product)
				continue
			}
			if rule.Manufacturer != v.Manufacturer {
				t.Errorf("%s: manufacturer %s, want %s", product, rule.Manufacturer, v.Manufacturer)
			}
			if !slices.Equal(slices.Sorted(slices.Values(rule.Prophylaxis)), slices.Sorted(slices.Values(v.SCT))) {
				t.Errorf("%s: prophylaxis %v, want %v", product, rule.Prophylaxis, v.SCT)
			}
		}
		var got []string
		for _, r := range sets.Vaccines() {
			got = append(got, r.Product)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("products differ:\n got %v\nwant %v", got, want)
		}
	})
}

func TestValueSetsLookup(t *testing.T) {
	sets := ValueSets()
	tests := []struct {
		set, code      string
		has, active    bool
		displayPresent bool
	}{
		{SetCountry, "DE", true, true, true},
		{SetCountry, "de", false, false, false},
		{SetCountry, "XX", false, false, false},
		{SetDisease, DiseaseCOVID19, true, true, true},
		{SetVaccineProphylaxis, "J07BX03", true, false, true},
		{SetVaccineProduct, "EU/1/20/1528", true, true, true},
		{SetVaccineProduct, "NVX-CoV2373", true, false, true},
		{SetVaccineManufacturer, "ORG-100030215", true, true, true},
		{SetTestType, TestTypeRAT, true, true, true},
		{SetTestResult, ResultPositive, true, true, true},
		{SetTestManufacturer, "1232", true, true, true},
		{SetTestManufacturer, "532", false, false, false},
		{SetIssuingOrganisation, "UNHCR", true, true, true},
		{"no-such-set", "DE", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.set+"/"+tt.code, func(t *testing.T) {
			if got := sets.Has(tt.set, tt.code); got != tt.has {
				t.Errorf("Has = %v, want %v", got, tt.has)
			}
			if got := sets.Active(tt.set, tt.code); got != tt.active {
				t.Errorf("Active = %v, want %v", got, tt.active)
			}
			if got := sets.Display(tt.set, tt.code) != ""; got != tt.displayPresent {
				t.Errorf("Display present = %v, want %v", got, tt.displayPresent)
			}
		})
	}
	if d := sets.Display(SetCountry, "DE"); d != "Germany" {
		t.Errorf("Display(DE) = %q", d)
	}
	if r, ok := sets.Vaccine("EU/1/20/1528"); !ok || r.Manufacturer != "ORG-100030215" || !slices.Contains(r.Prophylaxis, "1119349007") {
		t.Errorf("Vaccine(Comirnaty) = %+v, %v", r, ok)
	}
	if _, ok := sets.Vaccine("EU/1/99/0000"); ok {
		t.Error("unknown product has a rule")
	}
	// Callers must not be able to change the shared data.
	r, _ := sets.Vaccine("EU/1/20/1528")
	r.Prophylaxis[0] = "changed"
	if r2, _ := sets.Vaccine("EU/1/20/1528"); r2.Prophylaxis[0] == "changed" {
		t.Error("Vaccine returns shared slice")
	}
}

func TestDecodeValueSetsRejectsBrokenData(t *testing.T) {
	tests := map[string]string{
		"syntax":            `{`,
		"missing sets":      `{"sets":{}}`,
		"duplicate code":    strings.Replace(string(valueSetsJSON), `["DE", "Germany"]`, `["DE", "Germany"], ["DE", "Germany"]`, 1),
		"unknown inactive":  strings.Replace(string(valueSetsJSON), `"inactive": ["J07BX03"]`, `"inactive": ["J07BX99"]`, 1),
		"rule unknown manf": strings.Replace(string(valueSetsJSON), `"manufacturer": "ORG-100030215"`, `"manufacturer": "ORG-0"`, 1),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if data == string(valueSetsJSON) {
				t.Fatal("replacement did not apply; test data out of date")
			}
			if _, err := decodeValueSets([]byte(data)); err == nil {
				t.Fatal("broken value sets accepted")
			}
		})
	}
}

// writeValueSets converts the shared eHN files into valuesets.json: one
// [code, display] pair per line so that diffs stay readable.
func writeValueSets(t *testing.T) {
	t.Helper()
	var b bytes.Buffer
	q := func(s string) string {
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(out.String(), "\n")
	}
	list := func(codes []string) string {
		quoted := make([]string, len(codes))
		for i, c := range codes {
			quoted[i] = q(c)
		}
		return "[" + strings.Join(quoted, ", ") + "]"
	}
	b.WriteString("{\n")
	b.WriteString(`  "about": "golive's compact form of the EU eHealth Network DCC value sets (Apache-2.0, github.com/ehn-dcc-development/ehn-dcc-valuesets), written by TestValueSetsMatchShared -update-valuesets; issuing-organisations is golive's own",` + "\n")
	b.WriteString("  \"sets\": {\n")
	type setOut struct {
		name, date string
		codes      [][2]string
		inactive   []string
	}
	var outs []setOut
	for _, name := range slices.Sorted(maps.Keys(sharedSetFiles)) {
		shared := readSharedSet(t, sharedSetFiles[name])
		o := setOut{name: name, date: shared.Date, inactive: []string{}}
		for _, code := range slices.Sorted(maps.Keys(shared.Values)) {
			o.codes = append(o.codes, [2]string{code, shared.Values[code].Display})
			if !shared.Values[code].Active {
				o.inactive = append(o.inactive, code)
			}
		}
		outs = append(outs, o)
	}
	outs = append(outs, setOut{name: SetIssuingOrganisation, date: "", codes: ownOrganisations, inactive: []string{}})
	for i, o := range outs {
		fmt.Fprintf(&b, "    %s: {\n      \"date\": %s,\n      \"inactive\": %s,\n      \"codes\": [\n", q(o.name), q(o.date), list(o.inactive))
		for j, c := range o.codes {
			sep := ","
			if j == len(o.codes)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "        [%s, %s]%s\n", q(c[0]), q(c[1]), sep)
		}
		sep := ","
		if i == len(outs)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "      ]\n    }%s\n", sep)
	}
	b.WriteString("  },\n  \"vaccines\": {\n")
	enc := readSharedEncoding(t)
	type rule struct {
		product, manf string
		sct           []string
	}
	var rules []rule
	for _, v := range enc.Values {
		rules = append(rules, rule{sharedProductCode(v.Code), v.Manufacturer, v.SCT})
	}
	slices.SortFunc(rules, func(a, b rule) int { return strings.Compare(a.product, b.product) })
	for i, r := range rules {
		sep := ","
		if i == len(rules)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s: {\"manufacturer\": %s, \"prophylaxis\": %s}%s\n", q(r.product), q(r.manf), list(r.sct), sep)
	}
	b.WriteString("  }\n}\n")
	if _, err := decodeValueSets(b.Bytes()); err != nil {
		t.Fatalf("generated value sets do not load: %v", err)
	}
	if err := os.WriteFile(filepath.Join(".", "valuesets.json"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Fatal("valuesets.json rewritten; rebuild and rerun without -update-valuesets (the embedded copy is stale in this binary)")
}
