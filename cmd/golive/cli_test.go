package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/dcc/dccschema"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/pki"
)

type result struct {
	code           int
	stdout, stderr string
}

// golive runs one command line in-process.
func golive(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := runIO(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func mustOK(t *testing.T, r result, what string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
	}
}

func newPKI(t *testing.T, alg string, signers int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	mustOK(t, golive(t, "", "pki", "init", "--out", dir, "--alg", alg, "--signers", strconv.Itoa(signers)), "pki init")
	return dir
}

func TestVersion(t *testing.T) {
	r := golive(t, "", "version")
	mustOK(t, r, "version")
	if !strings.HasPrefix(r.stdout, "golive "+version) {
		t.Errorf("version printed %q", r.stdout)
	}
}

func TestPKIInitWritesFilesWithPrivateKeys(t *testing.T) {
	dir := newPKI(t, "ES256", 3)
	for _, f := range []string{"csca.pem", "csca.key", "dsc-1.pem", "dsc-1.key", "dsc-3.pem", "dsc-3.key", "trustlist.json"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".key") && st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	tl, err := pki.LoadTrustList(filepath.Join(dir, "trustlist.json"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tl.All()); n != 3 {
		t.Errorf("trust list has %d DSCs, want 3", n)
	}
	// A second init must not silently replace keys that certificates
	// already depend on.
	if r := golive(t, "", "pki", "init", "--out", dir); r.code == 0 {
		t.Error("pki init over an existing PKI succeeded")
	}
}

// Issue -> verify through the CLI for every type and both algorithms; the
// printed payload has ci, fnt and gnt filled and satisfies the official
// schema.
func TestIssueVerifyRoundTrip(t *testing.T) {
	schema := dccschema.Validator(t)
	for _, alg := range []string{"ES256", "PS256"} {
		dir := newPKI(t, alg, 2)
		trust := filepath.Join(dir, "trustlist.json")
		for _, name := range []string{"vaccination", "test", "recovery"} {
			t.Run(alg+"/"+name, func(t *testing.T) {
				payload := filepath.Join("..", "..", "testdata", name+".json")
				r := golive(t, "", "cert", "issue", "--pki", dir, "--signer", "2", payload)
				mustOK(t, r, "issue")
				hc1 := strings.TrimSpace(r.stdout)
				if !strings.HasPrefix(hc1, "HC1:") {
					t.Fatalf("issue printed %.40q", hc1)
				}
				v := golive(t, hc1, "cert", "verify", "--trust", trust, "-")
				mustOK(t, v, "verify")
				if err := schema([]byte(v.stdout)); err != nil {
					t.Errorf("verified payload: %v\n%s", err, v.stdout)
				}
				c, err := dcc.Parse([]byte(v.stdout))
				if err != nil {
					t.Fatalf("printed payload does not parse: %v\n%s", err, v.stdout)
				}
				u, err := dcc.ParseUVCI(c.UVCI())
				if err != nil || u.Country != "DE" {
					t.Errorf("assigned ci %q: %v", c.UVCI(), err)
				}
				if c.Nam.Fnt != dcc.Transliterate(c.Nam.Fn) || c.Nam.Gnt != dcc.Transliterate(c.Nam.Gn) || c.Nam.Fnt == "" {
					t.Errorf("fnt/gnt %q/%q not filled from %q/%q", c.Nam.Fnt, c.Nam.Gnt, c.Nam.Fn, c.Nam.Gn)
				}
				// Signed by the DSC asked for.
				var j verifyOutput
				jr := golive(t, hc1, "cert", "verify", "--trust", trust, "--json", "-")
				mustOK(t, jr, "verify --json")
				if err := json.Unmarshal([]byte(jr.stdout), &j); err != nil {
					t.Fatal(err)
				}
				kp, err := pki.LoadKeyPair(filepath.Join(dir, "dsc-2.pem"), filepath.Join(dir, "dsc-2.key"))
				if err != nil {
					t.Fatal(err)
				}
				if j.Kid != b64(pki.Kid(kp.Cert)) || !j.Valid {
					t.Errorf("kid %s valid %v, want dsc-2's %s", j.Kid, j.Valid, b64(pki.Kid(kp.Cert)))
				}
			})
		}
	}
}

func TestIssueFillsOnlyMissingFields(t *testing.T) {
	dir := newPKI(t, "ES256", 1)
	in := `{"ver":"1.3.0","nam":{"fn":"Müller","fnt":"MUELLER","gn":"Jürgen","gnt":"JUERGEN"},"dob":"1950-01-01",
"v":[{"tg":"840539006","vp":"1119349007","mp":"EU/1/20/1528","ma":"ORG-100030215","dn":1,"sd":2,"dt":"2021-06-01","co":"DE","is":"Robert Koch-Institut","ci":"URN:UVCI:01:DE:GL/ABCDEFGHIJKLMNOPQRSTUVWX#Y"}]}`
	want, err := dcc.CheckChar("URN:UVCI:01:DE:GL/ABCDEFGHIJKLMNOPQRSTUVWX")
	if err != nil {
		t.Fatal(err)
	}
	in = strings.Replace(in, "#Y", "#"+string(want), 1)
	r := golive(t, in, "cert", "issue", "--pki", dir, "-")
	mustOK(t, r, "issue")
	v := golive(t, r.stdout, "cert", "verify", "--trust", filepath.Join(dir, "trustlist.json"), "-")
	mustOK(t, v, "verify")
	if !strings.Contains(v.stdout, "URN:UVCI:01:DE:GL/ABCDEFGHIJKLMNOPQRSTUVWX#"+string(want)) {
		t.Errorf("given ci was replaced:\n%s", v.stdout)
	}
}

func TestIssuePNGAndPDF(t *testing.T) {
	dir := newPKI(t, "ES256", 1)
	out := t.TempDir()
	png := filepath.Join(out, "cert.png")
	pdf := filepath.Join(out, "cert.pdf")
	payload := filepath.Join("..", "..", "testdata", "vaccination.json")
	mustOK(t, golive(t, "", "cert", "issue", "--pki", dir, "--format", "png", "--out", png, payload), "issue png")
	mustOK(t, golive(t, "", "cert", "issue", "--pki", dir, "--format", "pdf", "--out", pdf, payload), "issue pdf")
	// The PNG is read back as a QR code and verifies.
	v := golive(t, "", "cert", "verify", "--trust", filepath.Join(dir, "trustlist.json"), png)
	mustOK(t, v, "verify png")
	if !strings.Contains(v.stdout, "Gößinger") {
		t.Errorf("payload from the QR code lacks the name:\n%s", v.stdout)
	}
	b, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("%PDF-")) || !bytes.Contains(b, []byte("/Type /Page")) {
		t.Errorf("not a PDF with a page: %.20q", b)
	}
	// A binary format without --out is a usage error, not bytes on a terminal.
	if r := golive(t, "", "cert", "issue", "--pki", dir, "--format", "png", payload); r.code != 2 {
		t.Errorf("png without --out: exit %d", r.code)
	}
}

func TestIssueInvalidPayloadListsEveryFieldError(t *testing.T) {
	dir := newPKI(t, "ES256", 1)
	r := golive(t, "", "cert", "issue", "--pki", dir, filepath.Join("..", "..", "testdata", "invalid.json"))
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("printed a certificate for an invalid payload: %q", r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	var fields []string
	for _, l := range lines {
		if f, _, ok := strings.Cut(l, ": "); ok && !strings.HasPrefix(l, "golive:") {
			fields = append(fields, f)
		}
	}
	want := []string{"dob", "v[0].ma", "v[0].co"}
	if strings.Join(fields, ",") != strings.Join(want, ",") {
		t.Errorf("field errors for %v, want %v:\n%s", fields, want, r.stderr)
	}
	if !strings.HasPrefix(lines[len(lines)-1], "golive: the payload has 3 error(s)") {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
}

func TestUsageErrorsExit2WithOneLine(t *testing.T) {
	dir := newPKI(t, "ES256", 1)
	cases := [][]string{
		{"cert", "issue", "testdata/vaccination.json"},                       // no --pki
		{"cert", "issue", "--pki", dir, "--format", "gif", "x.json"},         // bad format
		{"cert", "issue", "--pki", dir, "--signer", "5", "-"},                // no such signer
		{"cert", "issue", "--pki", dir, "--validity", "forever", "-"},        // bad validity
		{"cert", "verify", "HC1:X"},                                          // no --trust
		{"cert", "verify", "--trust", "t.json", "--at", "yesterday", "HC1:"}, // bad --at
		{"pki", "init", "--out", filepath.Join(t.TempDir(), "p"), "--alg", "HS256"},
		{"cert", "issue", "--no-such-flag"},
		{"pki", "init"},
		{"run", "outage-tuesday", "--browsers", "99"}, // more browsers than loadgen.MaxJourneyUsers
		{"run", "outage-tuesday", "--browsers", "-1"},
		{"front"}, // no --backend
		{"front", "--backend", "http://127.0.0.1:1", "--max-in-flight", "0"},
		{"front", "--backend", "https://127.0.0.1:1"},
	}
	payload := `{"ver":"1.3.0","nam":{"fnt":"A"},"dob":"","r":[{"tg":"840539006","fr":"2021-05-01","co":"DE","is":"X","df":"2021-05-29","du":"2021-10-28"}]}`
	for _, args := range cases {
		r := golive(t, payload, args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
			continue
		}
		msg := strings.TrimSpace(r.stderr)
		if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "golive: ") {
			t.Errorf("%v: want one 'golive: ...' line, got %q", args, msg)
		}
	}
}

func TestVerifyReasons(t *testing.T) {
	dir := newPKI(t, "ES256", 1)
	trust := filepath.Join(dir, "trustlist.json")
	r := golive(t, "", "cert", "issue", "--pki", dir, "--validity", "72h", filepath.Join("..", "..", "testdata", "test.json"))
	mustOK(t, r, "issue")
	hc1 := strings.TrimSpace(r.stdout)
	other := newPKI(t, "ES256", 1)
	later := time.Now().Add(96 * time.Hour).UTC().Format(time.RFC3339)
	earlier := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name, reason string
		args         []string
	}{
		{"expired", "expired", []string{"--trust", trust, "--at", later, hc1}},
		{"not yet valid", "not_yet_valid", []string{"--trust", trust, "--at", earlier, hc1}},
		{"unknown kid", "unknown_kid", []string{"--trust", filepath.Join(other, "trustlist.json"), hc1}},
		{"no prefix", "bad_prefix", []string{"--trust", trust, hc1[4:]}},
		{"garbage base45", "bad_base45", []string{"--trust", trust, "HC1:::::"}},
	}
	for _, c := range cases {
		v := golive(t, "", append([]string{"cert", "verify"}, c.args...)...)
		if v.code != 1 || strings.TrimSpace(v.stdout) != c.reason {
			t.Errorf("%s: exit %d, printed %q; want exit 1 and %q", c.name, v.code, v.stdout, c.reason)
		}
	}
	var j verifyOutput
	v := golive(t, "", "cert", "verify", "--json", "--trust", trust, "--at", later, hc1)
	if v.code != 1 || json.Unmarshal([]byte(v.stdout), &j) != nil || j.Valid || j.Reason != "expired" || j.Payload == nil {
		t.Errorf("--json on an expired certificate: exit %d %s", v.code, v.stdout)
	}
}

func TestRevocationHashMatchesLibrary(t *testing.T) {
	dir := newPKI(t, "ES256", 1)
	r := golive(t, "", "cert", "issue", "--pki", dir, filepath.Join("..", "..", "testdata", "vaccination.json"))
	mustOK(t, r, "issue")
	file := filepath.Join(t.TempDir(), "cert.txt")
	if err := os.WriteFile(file, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	h := golive(t, "", "cert", "revocation-hash", "@"+file)
	mustOK(t, h, "revocation-hash")
	d, err := hcert.Decode(strings.TrimSpace(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := hcert.RevocationHashes(d)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(h.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %q", h.stdout)
	}
	for i, typ := range []hcert.HashType{hcert.HashSignature, hcert.HashUCI, hcert.HashCountryCodeUCI} {
		f := strings.Fields(lines[i])
		if len(f) != 2 || f[0] != string(typ) || f[1] != hex.EncodeToString(hs[typ]) || len(f[1]) != 32 {
			t.Errorf("line %d = %q, want %s %x", i, lines[i], typ, hs[typ])
		}
	}
}

func TestEveryCommandHasHelpWithExample(t *testing.T) {
	root := newRootCmd()
	var check func(path []string)
	check = func(path []string) {
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Example == "" {
			t.Errorf("'golive %s' has no example", strings.Join(path, " "))
		}
		r := golive(t, "", append(path, "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("'golive %s --help': exit %d, no Examples section", strings.Join(path, " "), r.code)
		}
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			check(append(append([]string{}, path...), sub.Name()))
		}
	}
	check(nil)
}
