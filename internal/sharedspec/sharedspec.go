// Package sharedspec finds the project's shared specification folder
// (../shared beside the repository: DCC schema, value sets, revocation
// samples) for tests that check golive against the official material, and
// for `golive cert verify --schema`, whose default schema folder is there.
package sharedspec

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared folder: $GOLIVE_SHARED when set, else the "shared"
// folder beside the repository root (the directory holding go.mod). It
// returns "" when neither exists.
func Dir() string {
	if d := os.Getenv("GOLIVE_SHARED"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			cand := filepath.Join(filepath.Dir(dir), "shared")
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Path joins rel onto the shared folder. When the folder is absent the test
// is skipped with a message saying where it was looked for.
func Path(tb testing.TB, rel ...string) string {
	tb.Helper()
	d := Dir()
	if d == "" {
		tb.Skip("../shared (DCC schema, value sets, revocation samples) is not beside the repository; set GOLIVE_SHARED to its path to run this test")
	}
	return filepath.Join(append([]string{d}, rel...)...)
}
