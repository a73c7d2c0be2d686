// Package dccschema checks DCC payloads against the official EU DCC JSON
// schema (DCC.combined-schema.json, JSON Schema 2020-12) from the shared
// specification folder. It is meant for tests: it takes a testing.TB and
// skips the test when the shared folder is absent.
package dccschema

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/golive-dev/golive/internal/sharedspec"
)

// Validator compiles the official schema and returns a function that
// reports whether a JSON payload conforms (nil) or why not. Formats
// ("date", "date-time") are asserted, not merely annotated, so that a
// payload with "dt": "2021-13-01" fails as the schema's authors intend.
func Validator(tb testing.TB) func(payloadJSON []byte) error {
	tb.Helper()
	path := sharedspec.Path(tb, "dcc", "schema", "DCC.combined-schema.json")
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("dccschema: %v", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		tb.Fatalf("dccschema: reading %s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://id.uvci.eu/DCC.combined-schema.json"
	if err := c.AddResource(url, doc); err != nil {
		tb.Fatalf("dccschema: %v", err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		tb.Fatalf("dccschema: compiling %s: %v", path, err)
	}
	return func(payloadJSON []byte) error {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payloadJSON))
		if err != nil {
			return fmt.Errorf("dccschema: payload is not JSON: %w", err)
		}
		if err := sch.Validate(inst); err != nil {
			return fmt.Errorf("dccschema: payload violates the DCC schema: %w", err)
		}
		return nil
	}
}
