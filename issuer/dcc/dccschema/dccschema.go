// Package dccschema checks DCC payloads against the official EU DCC JSON
// schemas (combined schema files, JSON Schema 2020-12). Set, for
// verifiers, loads the schema of every released version from a folder at
// run time and applies the one a payload's "ver" names. Validator, for
// tests, applies the current schema from the shared specification folder
// and skips the test when that folder is absent.
package dccschema

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/golive-dev/golive/internal/sharedspec"
)

// Validator compiles the official schema and returns a function that
// reports whether a JSON payload conforms (nil) or why not. Formats
// ("date", "date-time") are asserted, not merely annotated, so that a
// payload with "dt": "2021-13-01" fails: what golive emits is held to more
// than what it accepts (see Set.ValidatePayload).
func Validator(tb testing.TB) func(payloadJSON []byte) error {
	tb.Helper()
	sch, err := compileFile(sharedspec.Path(tb, "dcc", "schema", "DCC.combined-schema.json"), true)
	if err != nil {
		tb.Fatal(err)
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
