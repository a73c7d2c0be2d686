package dcc

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/golive-dev/golive/internal/sharedspec"
)

// FuzzParse: Parse never panics, fails only with *ValidationError, and a
// payload that Parse and Validate accept survives encoding/json and a
// second Parse unchanged.
func FuzzParse(f *testing.F) {
	if dir := sharedspec.Dir(); dir != "" {
		for _, pattern := range []string{"examples/*/*.json", "test/*/*.json"} {
			files, _ := filepath.Glob(filepath.Join(dir, "dcc", "schema", pattern))
			for _, file := range files {
				if data, err := os.ReadFile(file); err == nil {
					f.Add(data)
				}
			}
		}
	}
	for _, s := range []string{vaccinationJSON, testJSON, recoveryJSON, ``, `{}`, `[]`, `null`, `{"ver":"1.3.0","ver":1}`,
		`{"nam":{"fnt":"\u0000"}}`, `{"v":[{"dn":1e400}]}`, `{"dob":"\ud800"}`} {
		f.Add([]byte(s))
	}
	opts := ValidateOptions{Now: sharedNow}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if c != nil || !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("Parse returned %v, %T %v", c, err, err)
			}
			return
		}
		if c.Validate(opts) != nil {
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseAndValidate(out, opts)
		if err != nil {
			t.Fatalf("re-encoded payload rejected: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the payload:\n%+v\n%+v", c, c2)
		}
	})
}
