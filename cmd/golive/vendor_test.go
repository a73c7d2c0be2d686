package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/golive-dev/golive/issuer/vendors"
)

// TestVendorAdd: a new vendor's key pair is made (private key 0600), only
// its public half goes into DATA/vendors.json (0600), which serve reads;
// usage errors exit 2.
func TestVendorAdd(t *testing.T) {
	data := t.TempDir()
	key := filepath.Join(t.TempDir(), "apo.key")
	mustOK(t, golive(t, "", "vendor", "add", "--data", data, "--id", "apo-soft", "--key-out", key), "vendor add")
	f, err := vendors.ReadFile(filepath.Join(data, "vendors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Vendors["apo-soft"]; !ok {
		t.Fatalf("vendors file: %+v", f)
	}
	for _, p := range []string{key, filepath.Join(data, "vendors.json")} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v, want 0600", p, err, st.Mode().Perm())
		}
	}
	for _, args := range [][]string{
		{"vendor", "add", "--data", data, "--id", "Apo Soft", "--key-out", key + "2"},
		{"vendor", "add", "--data", data, "--id", "x", "--key-out", key},
		{"vendor", "add", "--data", data, "--id", "x"},
	} {
		if r := golive(t, "", args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
}
