package dccschema

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golive-dev/golive/internal/sharedspec"
)

func loadShared(t *testing.T) *Set {
	t.Helper()
	s, err := LoadDir(sharedspec.Path(t, "dcc", "schema-versions"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadDirReadsEveryRelease(t *testing.T) {
	s := loadShared(t)
	want := []string{"1.0.0", "1.0.1", "1.1.0", "1.2.0", "1.2.1", "1.3.0", "1.3.1", "1.3.2", "1.3.3"}
	if got := s.Versions(); !slices.Equal(got, want) {
		t.Errorf("versions %v, want %v", got, want)
	}
}

func TestSetOnSharedSamples(t *testing.T) {
	s := loadShared(t)
	valid, _ := filepath.Glob(sharedspec.Path(t, "dcc", "schema", "examples", "*", "*.json"))
	more, _ := filepath.Glob(sharedspec.Path(t, "dcc", "schema", "test", "valid", "*.json"))
	valid = append(valid, more...)
	invalid, _ := filepath.Glob(sharedspec.Path(t, "dcc", "schema", "test", "invalid", "*.json"))
	if len(valid) < 10 || len(invalid) < 3 {
		t.Fatalf("%d valid and %d invalid samples", len(valid), len(invalid))
	}
	for _, f := range valid {
		if err := s.ValidatePayload(mustRead(t, f)); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
	for _, f := range invalid {
		if err := s.ValidatePayload(mustRead(t, f)); err == nil {
			t.Errorf("%s: accepted", filepath.Base(f))
		}
	}
}

// The schema is chosen by ver: a year-only birth date is fine from 1.1.0 on
// but not in 1.0.x, whose dob is a full date; an empty one only from 1.3.0.
func TestSetPicksTheVersionsSchema(t *testing.T) {
	s := loadShared(t)
	payload := func(ver, dob string) []byte {
		return []byte(`{"ver":"` + ver + `","nam":{"fnt":"MUSTER","gnt":"ERIKA"},"dob":"` + dob + `","r":[{"tg":"840539006","fr":"2021-06-01","co":"DE","is":"RKI","df":"2021-06-12","du":"2021-11-28","ci":"URN:UVCI:01DE/5CWLU12RNOB9RXSEOP6FG8#W"}]}`)
	}
	tests := []struct {
		ver, dob string
		want     string // "" valid, "violation", "no schema"
	}{
		{"1.0.0", "1964-01-01", ""},
		{"1.0.0", "1964", "violation"}, // 1.0.0's dob is a full date
		{"1.2.1", "1964", ""},
		{"1.2.1", "", "violation"}, // an empty dob came with 1.3.0
		{"1.3.0", "", ""},
		{"1.3.0", "1964-1", "violation"},
		{"1.3.9", "", ""},              // an unknown patch: the newest 1.3 schema
		{"1.2.9", "", "violation"},     // the newest 1.2 schema, not 1.3.3
		{"1.0.7", "1964", "violation"}, // the newest 1.0 schema
		{"1.4.0", "1964", "no schema"},
		{"2.0.0", "1964", "no schema"},
		{"01.3.0", "1964", "no schema"},
		{"1.3", "1964", "no schema"},
	}
	for _, tt := range tests {
		t.Run(tt.ver+"/"+tt.dob, func(t *testing.T) {
			err := s.ValidatePayload(payload(tt.ver, tt.dob))
			var v *Violation
			switch tt.want {
			case "":
				if err != nil {
					t.Errorf("rejected: %v", err)
				}
			case "violation":
				if !errors.As(err, &v) {
					t.Fatalf("want a violation, got %v", err)
				}
				if v.Problems[0].At != "/dob" || v.Problems[0].Keyword != "pattern" {
					t.Errorf("problems %+v, want one at /dob", v.Problems)
				}
			case "no schema":
				if !errors.Is(err, ErrNoSchema) {
					t.Errorf("want ErrNoSchema, got %v", err)
				}
			}
		})
	}
}

func TestViolationNamesEveryProblem(t *testing.T) {
	s := loadShared(t)
	err := s.ValidatePayload([]byte(`{"ver":"1.3.0","nam":{"fnt":"Muster"},"dob":"1964-01-01","x":[]}`))
	var v *Violation
	if !errors.As(err, &v) {
		t.Fatalf("want a violation, got %v", err)
	}
	at := map[string]string{}
	for _, p := range v.Problems {
		at[p.At] = p.Keyword
	}
	if at["/nam/fnt"] != "pattern" {
		t.Errorf("problems %+v lack the pattern of /nam/fnt", v.Problems)
	}
	if msg := v.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "1.3.0 schema") || !strings.Contains(msg, "/nam/fnt") {
		t.Errorf("message %q", msg)
	}
}

func TestLoadDirRejects(t *testing.T) {
	empty := t.TempDir()
	if _, err := LoadDir(empty); err == nil {
		t.Error("an empty folder loaded")
	}
	if _, err := LoadDir(filepath.Join(empty, "missing")); err == nil {
		t.Error("a missing folder loaded")
	}
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "1.3.0"+FileSuffix), []byte(`{"type": 12}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(broken); err == nil {
		t.Error("a broken schema loaded")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
