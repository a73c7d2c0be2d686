package dcc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/golive-dev/golive/internal/sharedspec"
	"github.com/golive-dev/golive/issuer/dcc/dccschema"
)

// sharedNow is a "now" after every date in the eHN examples.
var sharedNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

func sharedFiles(t *testing.T, pattern ...string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(sharedspec.Path(t, append([]string{"dcc", "schema"}, pattern...)...))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files for %v: %v", pattern, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(filepath.Dir(filepath.Dir(f)), f)
		out[rel] = data
	}
	return out
}

func TestSharedExamplesPass(t *testing.T) {
	schema := dccschema.Validator(t)
	for name, data := range sharedFiles(t, "examples", "*", "*.json") {
		t.Run(name, func(t *testing.T) {
			c, err := ParseAndValidate(data, ValidateOptions{Now: sharedNow})
			if err != nil {
				t.Fatalf("rejected:\n%v", err)
			}
			if out, _ := json.Marshal(c); schema(out) != nil {
				t.Fatalf("re-encoded payload violates the schema: %v", schema(out))
			}
			if c.Type() == "" {
				t.Fatal("no certificate type")
			}
		})
	}
}

func TestSharedInvalidFail(t *testing.T) {
	// The field and code each official invalid payload must be rejected for.
	want := map[string][2]string{
		"invalid/empty.json":           {"v", "exactly_one_entry"},
		"invalid/invalid_dob.json":     {"dob", "pattern"},
		"invalid/invalid_dob2.json":    {"dob", "pattern"},
		"invalid/invalid_vac.json":     {"v[0].dn", "min"},
		"invalid/missing_dob.json":     {"dob", "required"},
		"invalid/missing_fnt_gnt.json": {"nam", "required"},
	}
	schema := dccschema.Validator(t)
	files := sharedFiles(t, "test", "invalid", "*.json")
	if got := slices.Sorted(mapsKeys(files)); !slices.Equal(got, slices.Sorted(mapsKeys(want))) {
		t.Fatalf("invalid files %v; table covers %v", got, slices.Sorted(mapsKeys(want)))
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			_, err := ParseAndValidate(data, ValidateOptions{Now: sharedNow})
			ve := asValidationError(t, err)
			if w := want[name]; !ve.Has(w[0], w[1]) {
				t.Fatalf("want %s (%s), got:\n%v", w[0], w[1], ve)
			}
			if len(ve.Errors) != 1 {
				t.Errorf("want exactly one problem, got:\n%v", ve)
			}
			if schema(data) == nil {
				t.Error("the official schema accepts it; the table is wrong")
			}
		})
	}
}

// TestSharedValidFiles runs the eHN "valid" test payloads. Two do not pass
// on purpose: T-rat-dates1.json ("+02") and T-rat-dates2.json ("+0200")
// carry sc offsets that are ISO 8601 but not RFC 3339, which the schema's
// date-time format means.
func TestSharedValidFiles(t *testing.T) {
	rejected := map[string][2]string{
		"valid/T-rat-dates1.json": {"t[0].sc", "format"},
		"valid/T-rat-dates2.json": {"t[0].sc", "format"},
	}
	schema := dccschema.Validator(t)
	for name, data := range sharedFiles(t, "test", "valid", "*.json") {
		t.Run(name, func(t *testing.T) {
			c, err := ParseAndValidate(data, ValidateOptions{Now: sharedNow})
			w, expectReject := rejected[name]
			switch {
			case !expectReject && err != nil:
				t.Fatalf("rejected:\n%v", err)
			case !expectReject:
				// Re-encoded, it still passes the official schema.
				out, _ := json.Marshal(c)
				if err := schema(out); err != nil {
					t.Fatalf("re-encoded payload violates the schema: %v", err)
				}
			case expectReject:
				ve := asValidationError(t, err)
				if !ve.Has(w[0], w[1]) || len(ve.Errors) != 1 {
					t.Fatalf("want only %s (%s), got:\n%v", w[0], w[1], ve)
				}
				t.Logf("rejected as documented: %v", ve)
			}
		})
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func asValidationError(t *testing.T, err error) *ValidationError {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("error %T is not *ValidationError: %v", err, err)
	}
	return ve
}
