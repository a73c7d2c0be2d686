package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/internal/sharedspec"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/hcert/hcerttest"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/printout"
)

// verifyNow is when the certificates of these tests are issued.
var verifyNow = time.Date(2021, 6, 14, 8, 0, 0, 0, time.UTC)

// payloadOf reads a testdata payload as cert issue would: fnt/gnt and a
// UVCI filled in.
func payloadOf(t *testing.T, name string) *dcc.Certificate {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := dcc.ParseDraft(raw)
	if err != nil {
		t.Fatal(err)
	}
	c.Normalize()
	ci, err := dcc.NewUVCI("DE", "GL", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.SetUVCI(ci)
	return c
}

// signWithGoCOSE signs as another country's issuer might (hcerttest).
func signWithGoCOSE(t *testing.T, kp *pki.KeyPair, payload any, iat, exp time.Time, tagged bool) string {
	t.Helper()
	hc1, err := hcerttest.Sign(kp, payload, hcerttest.Options{IssuedAt: iat, ExpiresAt: exp, Untagged: !tagged})
	if err != nil {
		t.Fatal(err)
	}
	return hc1
}

// verifyPKI is a CSCA with DSCs made by package pki, and their trust list
// on disk.
type verifyPKI struct {
	csca  *pki.KeyPair
	dscs  map[string]*pki.KeyPair
	trust string
}

func newVerifyPKI(t *testing.T, dscs map[string]pki.DSCOptions) *verifyPKI {
	t.Helper()
	csca, err := pki.NewCSCA("DE", verifyNow.AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	v := &verifyPKI{csca: csca, dscs: map[string]*pki.KeyPair{}, trust: filepath.Join(t.TempDir(), "trustlist.json")}
	tl, _ := pki.NewTrustList()
	for name, opts := range dscs {
		if opts.NotBefore.IsZero() {
			opts.NotBefore = verifyNow.Add(-24 * time.Hour)
		}
		kp, err := pki.NewDSC(csca, opts)
		if err != nil {
			t.Fatal(err)
		}
		v.dscs[name] = kp
		if err := tl.Add(kp.Cert); err != nil {
			t.Fatal(err)
		}
	}
	if err := pki.SaveTrustList(v.trust, tl); err != nil {
		t.Fatal(err)
	}
	return v
}

// verifyCLI runs cert verify and returns the exit code and the reason
// (stdout's line when it fails, "" when valid); it also checks --json
// says the same.
func verifyCLI(t *testing.T, trust, cert string, flags ...string) (int, string) {
	t.Helper()
	args := append(append([]string{"cert", "verify", "--trust", trust}, flags...), cert)
	r := golive(t, "", args...)
	reason := ""
	if r.code != 0 {
		reason = strings.TrimSpace(r.stdout)
	}
	j := golive(t, "", append(append([]string{"cert", "verify", "--json", "--trust", trust}, flags...), cert)...)
	var out verifyOutput
	if err := json.Unmarshal([]byte(j.stdout), &out); err != nil {
		t.Fatalf("--json printed %q: %v (stderr %s)", j.stdout, err, j.stderr)
	}
	if j.code != r.code || out.Reason != reason || out.Valid != (reason == "") || (reason != "") != (out.Detail != "") {
		t.Errorf("--json: exit %d %+v; text: exit %d %q", j.code, out, r.code, reason)
	}
	return r.code, reason
}

// Certificates from DSCs whose key usage restricts them to tests, written
// with the current OIDs, with hcert 1.0.5's and with both: a vaccination
// is refused by each, a test accepted.
func TestVerifyCLIKeyUsageOIDForms(t *testing.T) {
	p := newVerifyPKI(t, map[string]pki.DSCOptions{
		"current": {Usages: []dcc.Type{dcc.TypeTest}, UsageOIDs: pki.UsageOIDCurrent},
		"legacy":  {Usages: []dcc.Type{dcc.TypeTest}, UsageOIDs: pki.UsageOIDLegacy},
		"both":    {Usages: []dcc.Type{dcc.TypeTest}, UsageOIDs: pki.UsageOIDBoth},
	})
	at := verifyNow.Add(time.Hour).Format(time.RFC3339)
	for name, kp := range p.dscs {
		t.Run(name, func(t *testing.T) {
			vacc := signWithGoCOSE(t, kp, payloadOf(t, "vaccination"), verifyNow, verifyNow.AddDate(0, 0, 3), true)
			if code, reason := verifyCLI(t, p.trust, vacc, "--at", at); code != 1 || reason != string(hcert.ReasonKeyUsage) {
				t.Errorf("vaccination: exit %d %q, want 1 key_usage", code, reason)
			}
			test := signWithGoCOSE(t, kp, payloadOf(t, "test"), verifyNow, verifyNow.AddDate(0, 0, 3), true)
			if code, reason := verifyCLI(t, p.trust, test, "--at", at); code != 0 {
				t.Errorf("test: exit %d %q, want valid", code, reason)
			}
		})
	}
}

func TestVerifyCLIUntaggedCOSE(t *testing.T) {
	p := newVerifyPKI(t, map[string]pki.DSCOptions{"es": {}, "ps": {Alg: pki.PS256}})
	at := verifyNow.Add(time.Hour).Format(time.RFC3339)
	for name, kp := range p.dscs {
		hc1 := signWithGoCOSE(t, kp, payloadOf(t, "recovery"), verifyNow, verifyNow.AddDate(0, 0, 3), false)
		if code, reason := verifyCLI(t, p.trust, hc1, "--at", at); code != 0 {
			t.Errorf("%s untagged: exit %d %q, want valid", name, code, reason)
		}
	}
}

// A QR code image cropped to the code's edge is read.
func TestVerifyCLIQRWithoutQuietZone(t *testing.T) {
	p := newVerifyPKI(t, map[string]pki.DSCOptions{"es": {}})
	hc1 := signWithGoCOSE(t, p.dscs["es"], payloadOf(t, "vaccination"), verifyNow, verifyNow.AddDate(1, 0, 0), true)
	bc, err := printout.QRCode(hc1) // one pixel per module, no quiet zone
	if err != nil {
		t.Fatal(err)
	}
	const ppm = 6
	b := bc.Bounds()
	img := image.NewGray(image.Rect(0, 0, b.Dx()*ppm, b.Dy()*ppm))
	for y := range img.Rect.Dy() {
		for x := range img.Rect.Dx() {
			img.Set(x, y, bc.At(b.Min.X+x/ppm, b.Min.Y+y/ppm))
		}
	}
	if img.Pix[0] != 0 || img.Pix[len(img.Pix)-img.Stride] != 0 {
		t.Fatal("the code does not reach the image's corners")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "tight.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	at := verifyNow.Add(time.Hour).Format(time.RFC3339)
	if code, reason := verifyCLI(t, p.trust, file, "--at", at); code != 0 {
		t.Errorf("no quiet zone: exit %d %q, want valid", code, reason)
	}
	// An image without any code has its own reason.
	blank := filepath.Join(dir, "blank.png")
	buf.Reset()
	white := image.NewGray(image.Rect(0, 0, 100, 100))
	for i := range white.Pix {
		white.Pix[i] = 0xff
	}
	_ = png.Encode(&buf, white)
	if err := os.WriteFile(blank, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, reason := verifyCLI(t, p.trust, blank); code != 1 || reason != reasonNoQRCode {
		t.Errorf("blank image: exit %d %q, want 1 %s", code, reason, reasonNoQRCode)
	}
}

func TestParseInstant(t *testing.T) {
	want := time.Date(2021, 6, 14, 10, 0, 0, 0, time.UTC)
	ok := map[string]time.Time{
		"2021-06-14T10:00:00Z":                 want,
		"2021-06-14t10:00:00z":                 want,
		"2021-06-14 10:00:00Z":                 want,
		"2021-06-14T12:00:00+02:00":            want,
		"2021-06-14T12:00:00+0200":             want,
		"2021-06-14T12:00:00+02":               want,
		"2021-06-14T10:00:00+0000":             want,
		"2021-06-14T10:00:00-00:00":            want,
		"2021-06-14T05:30:00-0430":             want,
		"2021-06-14T10:00:00":                  want,
		"2021-06-14T10:00":                     want,
		"2021-06-14T10:00Z":                    want,
		" 2021-06-14T10:00:00Z\n":              want,
		"2021-06-14T10:00:00.5Z":               want.Add(500 * time.Millisecond),
		"2021-06-14T10:00:00,5Z":               want.Add(500 * time.Millisecond),
		"2021-06-14T10:00:00.123456789123456Z": want.Add(123456789),
		"2021-06-14T12:00:00.000000001+0200":   want.Add(1),
		"2021-06-14T10:00:00.25":               want.Add(250 * time.Millisecond),
		"2021-06-14":                           want.Add(-10 * time.Hour),
	}
	for in, w := range ok {
		got, err := parseInstant(in)
		if err != nil || !got.Equal(w) {
			t.Errorf("parseInstant(%q) = %v, %v; want %v", in, got, err, w)
		}
	}
	for _, in := range []string{"", "yesterday", "2021-06-14T10", "2021-13-01T00:00:00Z", "2021-02-30T00:00:00Z",
		"2021-06-14T25:00:00Z", "2021-06-14T10:00:00+2", "2021-06-14T10:00:00+02:0", "2021-06-14T10:00:00 Z",
		"2021-06-14T10:00:00.Z", "14.06.2021", "1623664800"} {
		if got, err := parseInstant(in); err == nil {
			t.Errorf("parseInstant(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "2021-06-14T12:00:00+0200") {
			t.Errorf("parseInstant(%q): error %q does not name the accepted forms", in, err)
		}
	}
}

// Every --at form reaches Verify as the instant it names: around iat and
// exp the offset decides between valid and not.
func TestVerifyCLIAtForms(t *testing.T) {
	p := newVerifyPKI(t, map[string]pki.DSCOptions{"es": {}})
	exp := verifyNow.AddDate(0, 0, 3) // 2021-06-17T08:00:00Z
	hc1 := signWithGoCOSE(t, p.dscs["es"], payloadOf(t, "test"), verifyNow, exp, true)
	tests := []struct {
		at, want string
	}{
		{"2021-06-14T10:00:00Z", ""},
		{"2021-06-14T10:00:00+02:00", ""},
		{"2021-06-14T09:30:00+0200", "not_yet_valid"}, // 07:30 UTC
		{"2021-06-14T09:30:00+0000", ""},
		{"2021-06-14T09:30:00", ""}, // UTC
		{"2021-06-14T07:59:59.9999999999Z", "not_yet_valid"},
		{"2021-06-14T08:00:00.0000000001Z", ""},
		{"2021-06-17T10:00:00+0200", ""}, // exactly exp
		{"2021-06-17T10:00:01+0200", "expired"},
		{"2021-06-17T08:00:01", "expired"},
		{"2021-06-17 03:00:00-0500", ""},
		{"2021-06-18", "expired"},
	}
	for _, tt := range tests {
		code, reason := verifyCLI(t, p.trust, hc1, "--at", tt.at)
		if reason != tt.want || (code == 0) != (tt.want == "") {
			t.Errorf("--at %s: exit %d %q, want %q", tt.at, code, reason, tt.want)
		}
	}
	r := golive(t, "", "cert", "verify", "--trust", p.trust, "--at", "14/06/2021 10:00", hc1)
	msg := strings.TrimSpace(r.stderr)
	if r.code != 2 || strings.Contains(msg, "\n") || !strings.Contains(msg, "+0200") || !strings.HasPrefix(msg, "golive: --at") {
		t.Errorf("bad --at: exit %d %q", r.code, msg)
	}
}

func TestVerifyCLIDSCValidity(t *testing.T) {
	dscEnd := verifyNow.AddDate(0, 0, 30)
	p := newVerifyPKI(t, map[string]pki.DSCOptions{"short": {NotAfter: dscEnd}})
	outlives := signWithGoCOSE(t, p.dscs["short"], payloadOf(t, "vaccination"), verifyNow, verifyNow.AddDate(0, 0, 60), true)
	soon := verifyNow.Add(time.Hour).Format(time.RFC3339)
	late := dscEnd.Add(time.Hour).Format(time.RFC3339)
	tests := []struct {
		flags []string
		want  string
	}{
		{[]string{"--at", soon}, "outside_dsc_validity"},
		{[]string{"--at", soon, "--dsc-validity", "strict"}, "outside_dsc_validity"},
		{[]string{"--at", soon, "--dsc-validity", "at-verification"}, ""},
		{[]string{"--at", late, "--dsc-validity", "at-verification"}, "outside_dsc_validity"},
	}
	for _, tt := range tests {
		code, reason := verifyCLI(t, p.trust, outlives, tt.flags...)
		if reason != tt.want || (code == 0) != (tt.want == "") {
			t.Errorf("%v: exit %d %q, want %q", tt.flags, code, reason, tt.want)
		}
	}
	r := golive(t, "", "cert", "verify", "--trust", p.trust, "--dsc-validity", "lenient", outlives)
	if r.code != 2 || !strings.Contains(r.stderr, "at-verification") {
		t.Errorf("bad --dsc-validity: exit %d %q", r.code, r.stderr)
	}
}

func TestVerifyCLISchema(t *testing.T) {
	schemaDir := sharedspec.Path(t, "dcc", "schema-versions")
	p := newVerifyPKI(t, map[string]pki.DSCOptions{"es": {}})
	at := verifyNow.Add(time.Hour).Format(time.RFC3339)
	good := signWithGoCOSE(t, p.dscs["es"], payloadOf(t, "vaccination"), verifyNow, verifyNow.AddDate(1, 0, 0), true)
	bad := payloadOf(t, "vaccination")
	bad.Nam.Fnt = strings.ToLower(bad.Nam.Fnt) // the schema wants ICAO 9303 characters
	badHC1 := signWithGoCOSE(t, p.dscs["es"], bad, verifyNow, verifyNow.AddDate(1, 0, 0), true)
	tests := []struct {
		hc1   string
		flags []string
		want  string
	}{
		{good, []string{"--schema"}, ""},
		{good, []string{"--schema-dir", schemaDir}, ""},
		{badHC1, nil, ""},
		{badHC1, []string{"--schema"}, "schema_violation"},
		{badHC1, []string{"--schema-dir", schemaDir}, "schema_violation"},
	}
	for _, tt := range tests {
		code, reason := verifyCLI(t, p.trust, tt.hc1, append(tt.flags, "--at", at)...)
		if reason != tt.want || (code == 0) != (tt.want == "") {
			t.Errorf("%v: exit %d %q, want %q", tt.flags, code, reason, tt.want)
		}
	}
	var out verifyOutput
	j := golive(t, "", "cert", "verify", "--json", "--schema", "--trust", p.trust, "--at", at, badHC1)
	if err := json.Unmarshal([]byte(j.stdout), &out); err != nil || !strings.Contains(out.Detail, "/nam/fnt") {
		t.Errorf("--json detail %q does not say where: %v", out.Detail, err)
	}
	r := golive(t, "", "cert", "verify", "--trust", p.trust, "--schema-dir", t.TempDir(), good)
	if r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "schema-versions") {
		t.Errorf("empty --schema-dir: exit %d %q", r.code, r.stderr)
	}
}

// The documentation lists every reason code cert verify can print.
func TestVerifyReasonsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "verify.md"))
	if err != nil {
		t.Fatal(err)
	}
	help := golive(t, "", "cert", "verify", "--help")
	for _, r := range append(hcert.Reasons(), reasonNoQRCode) {
		if !bytes.Contains(doc, []byte("`"+string(r)+"`")) {
			t.Errorf("docs/verify.md lacks %s", r)
		}
		if !strings.Contains(help.stdout, string(r)) {
			t.Errorf("cert verify --help lacks %s", r)
		}
	}
}

// serve --schema-dir gives POST /v1/verify its schema option; without it
// the option answers 400 schema_unavailable.
func TestServeSchemaDir(t *testing.T) {
	schemaDir := sharedspec.Path(t, "dcc", "schema-versions")
	body := `{"hc1":"HC1:::::","schema":true}`
	for _, tc := range []struct {
		name   string
		flags  []string
		status int
	}{
		{"with schemas", []string{"--schema-dir", schemaDir}, http.StatusOK},
		{"without", nil, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--role", "all", "--data", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0",
				"--replicas", "1", "--register-size", "5"}, tc.flags...)
			c := startChild(t, args...)
			resp, err := http.Post(c.URL+"/v1/verify", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if tc.status == http.StatusOK && !strings.Contains(string(b), `"reason":"bad_base45"`) {
				t.Errorf("body %s", b)
			}
		})
	}
	var o, e bytes.Buffer
	code := runIO(context.Background(), []string{"serve", "--role", "all", "--data", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0",
		"--replicas", "1", "--register-size", "5", "--schema-dir", t.TempDir()}, nil, &o, &e)
	if code == 0 || !strings.Contains(e.String(), "schema_dir") {
		t.Errorf("an empty --schema-dir: exit %d %q", code, e.String())
	}
}
