package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/golive-dev/golive/issuer/register"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegisterGenerateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "register.jsonl")
	r := golive(t, "", "register", "generate", "--out", file, "--count", "250", "--seed", "7")
	mustOK(t, r, "register generate")
	if !strings.Contains(r.stdout, "250 entries") {
		t.Errorf("generate printed %q", r.stdout)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	// Atomic write: only the file itself, no temp file left behind.
	if des, _ := os.ReadDir(dir); len(des) != 1 {
		t.Errorf("directory holds %d entries after generate, want 1", len(des))
	}

	reg, err := register.Load(file)
	if err != nil {
		t.Fatalf("load generated register: %v", err)
	}
	if reg.Len() != 250 {
		t.Fatalf("loaded %d entries, want 250", reg.Len())
	}
	// The seed means what portaltest means by it: same entries, same order.
	want := register.Generate(rand.New(rand.NewPCG(7, 8)), 250)
	for _, w := range want {
		got, ok := reg.Lookup(w.TelematikID)
		if !ok || !reflect.DeepEqual(got, w) {
			t.Fatalf("entry %s: got %+v (found %v), want %+v", w.TelematikID, got, ok, w)
		}
	}
	lines := strings.Split(strings.TrimRight(string(readFile(t, file)), "\n"), "\n")
	if len(lines) != 250 || !strings.Contains(lines[0], want[0].TelematikID) {
		t.Errorf("file has %d lines, first %q; want 250 lines in generation order", len(lines), lines[0])
	}

	c := golive(t, "", "register", "check", file)
	mustOK(t, c, "register check")
	if strings.TrimSpace(c.stdout) != "250 entries, ok" {
		t.Errorf("check printed %q", c.stdout)
	}
}

func TestRegisterGenerateDefaultsAndStdout(t *testing.T) {
	file := filepath.Join(t.TempDir(), "r.jsonl")
	mustOK(t, golive(t, "", "register", "generate", "--out", file), "generate with defaults")
	reg, err := register.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Len() != 1000 {
		t.Errorf("default count gave %d entries, want 1000", reg.Len())
	}
	// --out - writes the very bytes the file holds (default seed 1).
	s := golive(t, "", "register", "generate", "--out", "-")
	mustOK(t, s, "generate to stdout")
	if s.stdout != string(readFile(t, file)) {
		t.Errorf("stdout (%d bytes) differs from the file (%d bytes)", len(s.stdout), len(readFile(t, file)))
	}
	if _, err := register.Read(strings.NewReader(s.stdout), "stdout"); err != nil {
		t.Errorf("stdout register does not parse: %v", err)
	}
}

func TestRegisterGenerateDeterministic(t *testing.T) {
	dir := t.TempDir()
	gen := func(name, seed string) []byte {
		t.Helper()
		p := filepath.Join(dir, name)
		mustOK(t, golive(t, "", "register", "generate", "--out", p, "--count", "100", "--seed", seed), "generate "+name)
		return readFile(t, p)
	}
	a, b, c := gen("a", "42"), gen("b", "42"), gen("c", "43")
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different bytes")
	}
	if bytes.Equal(a, c) {
		t.Error("seeds 42 and 43 gave identical registers")
	}
	// Regenerating over an existing file replaces it.
	p := filepath.Join(dir, "a")
	mustOK(t, golive(t, "", "register", "generate", "--out", p, "--count", "100", "--seed", "43"), "overwrite")
	if !bytes.Equal(readFile(t, p), c) {
		t.Error("overwriting did not replace the file's content")
	}
}

func TestRegisterUsageErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.jsonl")
	cases := [][]string{
		{"register", "generate"}, // no --out
		{"register", "generate", "--out", out, "--count", "0"},
		{"register", "generate", "--out", out, "--count", "-5"},
		{"register", "generate", "--out", out, "--count", "100001"},
		{"register", "generate", "--out", out, "--count", "many"},
		{"register", "generate", "--out", out, "--seed", "-1"},
		{"register", "generate", "--out", out, "extra"},
		{"register", "generate", "--out", out, "--no-such-flag"},
		{"register", "check"},
		{"register", "check", "a", "b"},
	}
	for _, args := range cases {
		r := golive(t, "", args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
			continue
		}
		msg := strings.TrimSpace(r.stderr)
		if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "golive: ") {
			t.Errorf("%v: want one 'golive: ...' line, got %q", args, msg)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused command line wrote %s (stat: %v)", out, err)
	}
}

func TestRegisterGenerateUnwritable(t *testing.T) {
	out := filepath.Join(t.TempDir(), "no-such-dir", "r.jsonl")
	r := golive(t, "", "register", "generate", "--out", out, "--count", "3")
	if r.code != 1 || !strings.Contains(r.stderr, out) {
		t.Errorf("unwritable --out: exit %d, stderr %q; want exit 1 naming the file", r.code, r.stderr)
	}
}

func TestRegisterCheckCorrupted(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	mustOK(t, golive(t, "", "register", "generate", "--out", good, "--count", "5"), "generate")
	lines := strings.SplitAfter(string(readFile(t, good)), "\n")

	cases := []struct {
		name, content, want string
	}{
		// Line 3 cut in half, as a crashed copy would leave it.
		{"truncated line", lines[0] + lines[1] + lines[2][:len(lines[2])/2] + "\n" + lines[3], ":3:"},
		{"duplicate entry", lines[0] + lines[1] + lines[0], "duplicate telematik_id"},
		{"unknown column", lines[0] + strings.Replace(lines[1], `"city"`, `"town"`, 1), ":2:"},
		{"bad check digit", strings.Replace(lines[0], `"telematik_id":"`, `"telematik_id":"9`, 1), ":1:"},
		{"binary garbage", "\x00\xff\xfe{not json\n", ":1:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".jsonl")
			if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			r := golive(t, "", "register", "check", p)
			msg := strings.TrimSpace(r.stderr)
			if r.code != 1 || r.stdout != "" || !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 0 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line containing %q", r.code, r.stdout, msg, c.want)
			}
		})
	}
	if r := golive(t, "", "register", "check", filepath.Join(dir, "missing.jsonl")); r.code != 1 {
		t.Errorf("missing file: exit %d, want 1", r.code)
	}
}

func TestRegisterGeneratePractices(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "practices.jsonl")
	mustOK(t, golive(t, "", "register", "generate", "--kind", "practice", "--out", file, "--count", "40"), "generate practices")
	reg, err := register.LoadKind(file, register.KindPractice)
	if err != nil || reg.Len() != 40 {
		t.Fatalf("practice register: %v (%d entries)", err, reg.Len())
	}
	r := golive(t, "", "register", "check", file)
	mustOK(t, r, "check practices")
	if r := golive(t, "", "register", "generate", "--kind", "hospital", "--out", file); r.code == 0 {
		t.Error("--kind hospital accepted")
	}
}
