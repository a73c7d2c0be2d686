package dccschema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golive-dev/golive/internal/sharedspec"
)

func TestValidatorOnSharedExamples(t *testing.T) {
	validate := Validator(t)
	files, err := filepath.Glob(sharedspec.Path(t, "dcc", "schema", "examples", "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(data); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}

func TestValidatorRejects(t *testing.T) {
	validate := Validator(t)
	base := `{"ver":"1.3.0","nam":{"fnt":"MUSTER"},"dob":"1964-01-01","r":[{"tg":"840539006","fr":"2021-06-01","co":"DE","is":"RKI","df":"2021-06-12","du":"2021-11-28","ci":""}]}`
	if err := validate([]byte(base)); err != nil {
		t.Fatalf("base payload rejected: %v", err)
	}
	tests := map[string]string{
		"not json":         `{`,
		"dob out of range": strings.Replace(base, `"1964-01-01"`, `"1809-01-01"`, 1),
		"bad fnt":          strings.Replace(base, `"MUSTER"`, `"Muster"`, 1),
		"no group":         strings.Replace(base, `"r":`, `"x":`, 1),
		"bad date format":  strings.Replace(base, `"2021-06-01"`, `"2021-13-01"`, 1),
		"name missing":     strings.Replace(base, `{"fnt":"MUSTER"}`, `{"fn":"Muster"}`, 1),
	}
	for name, payload := range tests {
		t.Run(name, func(t *testing.T) {
			if payload == base {
				t.Fatal("replacement did not apply")
			}
			if err := validate([]byte(payload)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
