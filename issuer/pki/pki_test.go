package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
)

var testNow = time.Date(2021, 6, 14, 7, 45, 0, 0, time.UTC)

// rsaDSC is generated once: RSA-2048 key generation is the slowest step.
var (
	rsaOnce sync.Once
	rsaCSCA *KeyPair
	rsaDSC  *KeyPair
)

func psDSC(t *testing.T) (*KeyPair, *KeyPair) {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		if rsaCSCA, err = NewCSCA("DE", testNow); err != nil {
			t.Fatal(err)
		}
		if rsaDSC, err = NewDSC(rsaCSCA, DSCOptions{Alg: PS256, NotBefore: testNow}); err != nil {
			t.Fatal(err)
		}
	})
	if rsaDSC == nil {
		t.Fatal("RSA DSC setup failed earlier")
	}
	return rsaCSCA, rsaDSC
}

func mustCSCA(t *testing.T) *KeyPair {
	t.Helper()
	csca, err := NewCSCA("DE", testNow)
	if err != nil {
		t.Fatal(err)
	}
	return csca
}

func TestNewCSCA(t *testing.T) {
	csca := mustCSCA(t)
	c := csca.Cert
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Error("CSCA is not a CA")
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Error("CSCA lacks the certSign key usage")
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("CSCA is not self-signed: %v", err)
	}
	if got := c.Subject.CommonName; got != "golive CSCA DE" {
		t.Errorf("CN = %q", got)
	}
	if !slices.Equal(c.Subject.Country, []string{"DE"}) {
		t.Errorf("C = %v", c.Subject.Country)
	}
	if !c.NotBefore.Equal(testNow) || !c.NotAfter.Equal(testNow.AddDate(10, 0, 0)) {
		t.Errorf("validity %v..%v, want ten years from %v", c.NotBefore, c.NotAfter, testNow)
	}
	if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("CSCA key %T is not P-256", c.PublicKey)
	}
	for _, bad := range []string{"", "de", "DEU", "D1"} {
		if _, err := NewCSCA(bad, testNow); err == nil {
			t.Errorf("NewCSCA(%q) succeeded", bad)
		}
	}
}

func TestNewDSC(t *testing.T) {
	csca := mustCSCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(csca.Cert)
	tests := []struct {
		name      string
		opts      DSCOptions
		wantOIDs  int
		wantTypes []dcc.Type
		wantAlg   Alg
	}{
		{"default ES256, all usages", DSCOptions{NotBefore: testNow}, 3, AllTypes, ES256},
		{"test only", DSCOptions{NotBefore: testNow, Usages: []dcc.Type{dcc.TypeTest}}, 1, []dcc.Type{dcc.TypeTest}, ES256},
		{"vaccination and recovery", DSCOptions{NotBefore: testNow, Usages: []dcc.Type{dcc.TypeRecovery, dcc.TypeVaccination}}, 2,
			[]dcc.Type{dcc.TypeVaccination, dcc.TypeRecovery}, ES256},
		{"PS256", DSCOptions{Alg: PS256, NotBefore: testNow}, 3, AllTypes, PS256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dsc *KeyPair
			var err error
			if tt.opts.Alg == PS256 {
				csca, dsc = psDSC(t)
				roots = x509.NewCertPool()
				roots.AddCert(csca.Cert)
			} else if dsc, err = NewDSC(csca, tt.opts); err != nil {
				t.Fatal(err)
			}
			c := dsc.Cert
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testNow.Add(time.Hour),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("DSC does not chain to the CSCA: %v", err)
			}
			if len(c.UnknownExtKeyUsage) != tt.wantOIDs {
				t.Errorf("%d EKU OIDs, want %d: %v", len(c.UnknownExtKeyUsage), tt.wantOIDs, c.UnknownExtKeyUsage)
			}
			if got := UsagesOf(c); !slices.Equal(got, tt.wantTypes) {
				t.Errorf("UsagesOf = %v, want %v", got, tt.wantTypes)
			}
			for _, ty := range AllTypes {
				if got, want := MaySign(c, ty), slices.Contains(tt.wantTypes, ty); got != want {
					t.Errorf("MaySign(%s) = %v, want %v", ty, got, want)
				}
			}
			if alg, err := AlgOf(c.PublicKey); err != nil || alg != tt.wantAlg {
				t.Errorf("AlgOf = %v, %v; want %v", alg, err, tt.wantAlg)
			}
			if alg, err := AlgOf(dsc.Key); err != nil || alg != tt.wantAlg {
				t.Errorf("AlgOf(private key) = %v, %v; want %v", alg, err, tt.wantAlg)
			}
			if !c.NotBefore.Equal(testNow) || !c.NotAfter.Equal(testNow.AddDate(2, 0, 0)) {
				t.Errorf("validity %v..%v, want two years from %v", c.NotBefore, c.NotAfter, testNow)
			}
			if c.IsCA {
				t.Error("DSC is a CA")
			}
			if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
				t.Error("DSC lacks digitalSignature")
			}
		})
	}
}

func TestNewDSCRejects(t *testing.T) {
	csca := mustCSCA(t)
	tests := []struct {
		name string
		opts DSCOptions
	}{
		{"unknown alg", DSCOptions{Alg: "RS256", NotBefore: testNow}},
		{"unknown usage", DSCOptions{NotBefore: testNow, Usages: []dcc.Type{"x"}}},
		{"starts before CSCA", DSCOptions{NotBefore: testNow.Add(-time.Hour)}},
		{"ends after CSCA", DSCOptions{NotBefore: testNow, NotAfter: testNow.AddDate(11, 0, 0)}},
		{"empty validity", DSCOptions{NotBefore: testNow.Add(time.Hour), NotAfter: testNow.Add(time.Hour)}},
		{"bad country", DSCOptions{NotBefore: testNow, Country: "Germany"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewDSC(csca, tt.opts); err == nil {
				t.Error("NewDSC succeeded")
			}
		})
	}
	if _, err := NewDSC(&KeyPair{Cert: csca.Cert}, DSCOptions{}); err == nil {
		t.Error("NewDSC without CSCA key succeeded")
	}
}

func TestDSCDefaultValidityCappedByCSCA(t *testing.T) {
	csca := mustCSCA(t)
	start := csca.Cert.NotAfter.AddDate(-1, 0, 0)
	dsc, err := NewDSC(csca, DSCOptions{NotBefore: start})
	if err != nil {
		t.Fatal(err)
	}
	if !dsc.Cert.NotAfter.Equal(csca.Cert.NotAfter) {
		t.Errorf("NotAfter %v, want the CSCA's %v", dsc.Cert.NotAfter, csca.Cert.NotAfter)
	}
}

func TestUsagesOfWithoutDCCOIDs(t *testing.T) {
	// A DSC without any DCC OID (other OIDs may be present) signs all types.
	c := &x509.Certificate{UnknownExtKeyUsage: nil}
	if got := UsagesOf(c); !slices.Equal(got, AllTypes) {
		t.Errorf("UsagesOf(no EKU) = %v", got)
	}
	c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	if got := UsagesOf(c); !slices.Equal(got, AllTypes) {
		t.Errorf("UsagesOf(foreign EKU) = %v", got)
	}
	if MaySign(c, "x") {
		t.Error("MaySign allows an unknown type")
	}
}

func TestAlgOf(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		key  any
		want Alg
	}{
		{"P-256", &p256.PublicKey, ES256},
		{"P-384", &p384.PublicKey, ""},
		{"RSA-1024", &rsa1024.PublicKey, ""},
		{"Ed25519", edPub, ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AlgOf(tt.key)
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Errorf("AlgOf = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSaveLoadKeyPair(t *testing.T) {
	csca := mustCSCA(t)
	dsc, err := NewDSC(csca, DSCOptions{NotBefore: testNow})
	if err != nil {
		t.Fatal(err)
	}
	_, rsaKP := psDSC(t)
	for _, kp := range []*KeyPair{dsc, rsaKP} {
		dir := t.TempDir()
		cp, kpath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
		// A pre-existing, world-readable key file must end up 0600.
		if err := os.WriteFile(kpath, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := SaveKeyPair(cp, kpath, kp); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(kpath)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("key file mode %04o, want 0600", st.Mode().Perm())
		}
		data, _ := os.ReadFile(kpath)
		if !bytes.HasPrefix(data, []byte("-----BEGIN PRIVATE KEY-----")) {
			t.Errorf("key file is not PKCS#8 PEM: %.30q", data)
		}
		got, err := LoadKeyPair(cp, kpath)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Cert.Equal(kp.Cert) {
			t.Error("loaded certificate differs")
		}
		if !publicKeysEqual(got.Key.Public(), kp.Key.Public()) {
			t.Error("loaded key differs")
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 {
			t.Errorf("temporary files left behind: %v", entries)
		}
	}
}

func TestLoadKeyPairMismatch(t *testing.T) {
	csca := mustCSCA(t)
	dsc, err := NewDSC(csca, DSCOptions{NotBefore: testNow})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := SaveKeyPair(filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key"), csca); err != nil {
		t.Fatal(err)
	}
	if err := SaveKeyPair(filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key"), dsc); err != nil {
		t.Fatal(err)
	}
	_, err = LoadKeyPair(filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.key"))
	if err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("mismatched pair: err = %v", err)
	}
	if _, err := LoadCertificate(filepath.Join(dir, "a.key")); err == nil {
		t.Error("LoadCertificate accepted a key file")
	}
}

func TestLoadKeyWarnsOnWideMode(t *testing.T) {
	csca := mustCSCA(t)
	dir := t.TempDir()
	cp, kpath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
	if err := SaveKeyPair(cp, kpath, csca); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)

	for _, tt := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, true}, {0o604, true}} {
		buf.Reset()
		if err := os.Chmod(kpath, tt.mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeyPair(cp, kpath); err != nil {
			t.Fatalf("mode %04o: %v", tt.mode, err)
		}
		if got := strings.Contains(buf.String(), "level=WARN"); got != tt.warn {
			t.Errorf("mode %04o: warning logged = %v, want %v (%q)", tt.mode, got, tt.warn, buf.String())
		}
	}
}

func TestTrustListRoundTrip(t *testing.T) {
	csca := mustCSCA(t)
	a, err := NewDSC(csca, DSCOptions{NotBefore: testNow, Usages: []dcc.Type{dcc.TypeTest}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDSC(csca, DSCOptions{NotBefore: testNow})
	if err != nil {
		t.Fatal(err)
	}
	_, ps := psDSC(t)
	tl, err := NewTrustList(a.Cert, b.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := tl.Add(ps.Cert); err != nil {
		t.Fatal(err)
	}
	if err := tl.Add(a.Cert); err != nil { // duplicate: no second entry
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trust.json")
	if err := SaveTrustList(path, tl); err != nil {
		t.Fatal(err)
	}
	got, err := LoadTrustList(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 3 || len(got.All()) != 3 {
		t.Fatalf("%d entries / %d certificates, want 3", len(got.Entries), len(got.All()))
	}
	wantUsage := map[string][]string{
		string(Kid(a.Cert)):  {"t"},
		string(Kid(b.Cert)):  {"v", "t", "r"},
		string(Kid(ps.Cert)): {"v", "t", "r"},
	}
	wantAlg := map[string]Alg{string(Kid(a.Cert)): ES256, string(Kid(b.Cert)): ES256, string(Kid(ps.Cert)): PS256}
	for _, e := range got.Entries {
		if !slices.Equal(e.KeyUsage, wantUsage[string(e.Kid)]) {
			t.Errorf("entry %x key usage %v, want %v", e.Kid, e.KeyUsage, wantUsage[string(e.Kid)])
		}
		if e.Alg != wantAlg[string(e.Kid)] || e.Country != "DE" {
			t.Errorf("entry %x: alg %s country %s", e.Kid, e.Alg, e.Country)
		}
	}
	for _, kp := range []*KeyPair{a, b, ps} {
		certs := got.Lookup(Kid(kp.Cert))
		if len(certs) != 1 || !certs[0].Equal(kp.Cert) {
			t.Errorf("Lookup(%x) = %d certificates", Kid(kp.Cert), len(certs))
		}
	}
	if c := got.Lookup([]byte("12345678")); c != nil {
		t.Errorf("Lookup(unknown) = %v", c)
	}
	// Lookup parses once: the same pointers come back.
	first, second := got.Lookup(Kid(a.Cert)), got.Lookup(Kid(a.Cert))
	if first[0] != second[0] {
		t.Error("Lookup reparses")
	}

	// The JSON has the published field names, kid and certificate base64.
	raw, _ := os.ReadFile(path)
	var generic struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"kid", "country", "certificate", "not_before", "not_after", "key_usage", "alg"} {
		if _, ok := generic.Entries[0][k]; !ok {
			t.Errorf("entry lacks %q: %v", k, generic.Entries[0])
		}
	}
}

func TestTrustListAddAfterLookup(t *testing.T) {
	csca := mustCSCA(t)
	a, _ := NewDSC(csca, DSCOptions{NotBefore: testNow})
	b, _ := NewDSC(csca, DSCOptions{NotBefore: testNow})
	tl, err := NewTrustList(a.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Lookup(Kid(b.Cert))) != 0 {
		t.Fatal("b found before Add")
	}
	if err := tl.Add(b.Cert); err != nil {
		t.Fatal(err)
	}
	if len(tl.Lookup(Kid(b.Cert))) != 1 || len(tl.All()) != 2 {
		t.Error("index not updated by Add")
	}
	// A list assembled by hand is indexed on first use, under the declared kid.
	hand := &TrustList{Entries: []TrustEntry{
		{Kid: Kid(b.Cert), Certificate: a.Cert.Raw},
		{Kid: Kid(b.Cert), Certificate: b.Cert.Raw},
	}}
	if got := hand.Lookup(Kid(b.Cert)); len(got) != 2 {
		t.Errorf("shared kid: %d certificates, want 2", len(got))
	}
}

func TestLoadTrustListRejectsWrongKid(t *testing.T) {
	csca := mustCSCA(t)
	a, _ := NewDSC(csca, DSCOptions{NotBefore: testNow})
	tl, _ := NewTrustList(a.Cert)
	tl.Entries[0].Kid = []byte("ABCDEFGH")
	path := filepath.Join(t.TempDir(), "trust.json")
	if err := SaveTrustList(path, tl); err != nil {
		t.Fatal(err)
	}
	_, err := LoadTrustList(path)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("err = %v, want a kid mismatch", err)
	}
	tl.Entries[0].Kid = Kid(a.Cert)
	tl.Entries[0].Certificate = []byte("not DER")
	if err := SaveTrustList(path, tl); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTrustList(path); err == nil {
		t.Error("LoadTrustList accepted an unparsable certificate")
	}
}

func TestInitAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	set, err := Init(dir, InitOptions{Country: "DE", Signers: 3, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %04o, want 0700", st.Mode().Perm())
	}
	for _, f := range []string{CSCAKeyFile, DSCKeyFile(1), DSCKeyFile(2), DSCKeyFile(3)} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %04o, want 0600", f, st.Mode().Perm())
		}
	}
	if len(set.DSCs) != 3 {
		t.Fatalf("%d DSCs", len(set.DSCs))
	}

	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.CSCA.Cert.Equal(set.CSCA.Cert) || loaded.CSCA.Key == nil {
		t.Error("CSCA differs after Load")
	}
	if len(loaded.DSCs) != 3 || len(loaded.Trust.Entries) != 3 {
		t.Fatalf("Load: %d DSCs, %d trust entries", len(loaded.DSCs), len(loaded.Trust.Entries))
	}
	kids := map[string]bool{}
	for i, d := range loaded.DSCs {
		if !d.Cert.Equal(set.DSCs[i].Cert) {
			t.Errorf("DSC %d differs after Load", i+1)
		}
		if err := d.Cert.CheckSignatureFrom(loaded.CSCA.Cert); err != nil {
			t.Errorf("DSC %d does not chain: %v", i+1, err)
		}
		found := loaded.Trust.Lookup(Kid(d.Cert))
		if len(found) != 1 || !found[0].Equal(d.Cert) {
			t.Errorf("DSC %d not in the trust list under its kid", i+1)
		}
		kids[string(Kid(d.Cert))] = true
	}
	if len(kids) != 3 {
		t.Error("DSCs share kids")
	}

	// A second Init in the same place must not replace the CSCA.
	before, _ := os.ReadFile(filepath.Join(dir, CSCAKeyFile))
	_, err = Init(dir, InitOptions{Country: "DE", Now: testNow})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second Init: err = %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, CSCAKeyFile))
	if !bytes.Equal(before, after) {
		t.Error("second Init changed csca.key")
	}
}

func TestLoadRejectsForeignDSC(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir, InitOptions{Country: "DE", Now: testNow}); err != nil {
		t.Fatal(err)
	}
	other, _ := NewDSC(mustCSCA(t), DSCOptions{NotBefore: testNow})
	if err := SaveKeyPair(filepath.Join(dir, DSCCertFile(2)), filepath.Join(dir, DSCKeyFile(2)), other); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not signed by") {
		t.Errorf("Load: err = %v", err)
	}
}

func TestInitPS256(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA key generation")
	}
	set, err := Init(t.TempDir(), InitOptions{Country: "NL", Alg: PS256, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if set.Trust.Entries[0].Alg != PS256 || set.Trust.Entries[0].Country != "NL" {
		t.Errorf("entry %+v", set.Trust.Entries[0])
	}
	if _, ok := set.DSCs[0].Key.(*rsa.PrivateKey); !ok {
		t.Errorf("PS256 DSC key is %T", set.DSCs[0].Key)
	}
}

// TestUsageOIDForms builds DSCs whose key usage names the types with the
// current OIDs, with the hcert 1.0.5 ones (an extra 0 arc) and with both:
// every form restricts the DSC alike, and a restricted DSC never may sign
// another type.
func TestUsageOIDForms(t *testing.T) {
	csca := mustCSCA(t)
	// Written out, not taken from the package's variables, so a typo there
	// fails here.
	current := map[dcc.Type]string{dcc.TypeTest: "1.3.6.1.4.1.1847.2021.1.1", dcc.TypeVaccination: "1.3.6.1.4.1.1847.2021.1.2", dcc.TypeRecovery: "1.3.6.1.4.1.1847.2021.1.3"}
	legacy := map[dcc.Type]string{dcc.TypeTest: "1.3.6.1.4.1.0.1847.2021.1.1", dcc.TypeVaccination: "1.3.6.1.4.1.0.1847.2021.1.2", dcc.TypeRecovery: "1.3.6.1.4.1.0.1847.2021.1.3"}
	forms := map[UsageOIDForm][]map[dcc.Type]string{
		UsageOIDCurrent: {current}, UsageOIDLegacy: {legacy}, UsageOIDBoth: {current, legacy},
	}
	usageSets := [][]dcc.Type{{dcc.TypeTest}, {dcc.TypeVaccination}, {dcc.TypeRecovery}, {dcc.TypeTest, dcc.TypeRecovery}, nil}
	for form, tables := range forms {
		for _, usages := range usageSets {
			name := string(form)
			if name == "" {
				name = "current"
			}
			t.Run(fmt.Sprintf("%s/%v", name, usages), func(t *testing.T) {
				dsc, err := NewDSC(csca, DSCOptions{NotBefore: testNow, Usages: usages, UsageOIDs: form})
				if err != nil {
					t.Fatal(err)
				}
				want := usages
				if len(want) == 0 {
					want = AllTypes
				}
				var wantOIDs []string
				for _, table := range tables {
					for _, ty := range AllTypes {
						if slices.Contains(want, ty) {
							wantOIDs = append(wantOIDs, table[ty])
						}
					}
				}
				var got []string
				for _, oid := range dsc.Cert.UnknownExtKeyUsage {
					got = append(got, oid.String())
				}
				if !slices.Equal(got, wantOIDs) {
					t.Errorf("EKU OIDs %v, want %v", got, wantOIDs)
				}
				if u := UsagesOf(dsc.Cert); !slices.Equal(u, sortedTypes(want)) {
					t.Errorf("UsagesOf = %v, want %v", u, want)
				}
				for _, ty := range AllTypes {
					if got, w := MaySign(dsc.Cert, ty), slices.Contains(want, ty); got != w {
						t.Errorf("MaySign(%s) = %v, want %v", ty, got, w)
					}
				}
				// The published trust list says the same.
				tl, err := NewTrustList(dsc.Cert)
				if err != nil {
					t.Fatal(err)
				}
				var wantUsage []string
				for _, ty := range sortedTypes(want) {
					wantUsage = append(wantUsage, string(ty))
				}
				if !slices.Equal(tl.Entries[0].KeyUsage, wantUsage) {
					t.Errorf("trust list key_usage %v, want %v", tl.Entries[0].KeyUsage, wantUsage)
				}
			})
		}
	}
	if _, err := NewDSC(csca, DSCOptions{NotBefore: testNow, UsageOIDs: "1.0.4"}); err == nil {
		t.Error("NewDSC accepted an unknown OID form")
	}
}

// TestUsagesOfMixedForms reads certificates made outside NewDSC: forms
// mixed within one certificate name the union of their types, and foreign
// EKUs beside a DCC usage do not widen it.
func TestUsagesOfMixedForms(t *testing.T) {
	oid := func(s string) asn1.ObjectIdentifier {
		var o asn1.ObjectIdentifier
		for _, p := range strings.Split(s, ".") {
			n, err := strconv.Atoi(p)
			if err != nil {
				t.Fatal(err)
			}
			o = append(o, n)
		}
		return o
	}
	tests := []struct {
		name string
		oids []string
		ext  []x509.ExtKeyUsage
		want []dcc.Type
	}{
		{"legacy test, current vaccination", []string{"1.3.6.1.4.1.0.1847.2021.1.1", "1.3.6.1.4.1.1847.2021.1.2"}, nil, []dcc.Type{dcc.TypeVaccination, dcc.TypeTest}},
		{"legacy recovery beside a foreign OID", []string{"1.2.3.4", "1.3.6.1.4.1.0.1847.2021.1.3"}, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, []dcc.Type{dcc.TypeRecovery}},
		{"near miss of the legacy form", []string{"1.3.6.1.4.1.0.1847.2021.1.4", "1.3.6.1.4.1.0.1847.2021.1"}, nil, AllTypes},
	}
	csca := mustCSCA(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{Country: []string{"DE"}, CommonName: "mixed"},
				NotBefore: testNow, NotAfter: testNow.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: tt.ext}
			for _, s := range tt.oids {
				tmpl.UnknownExtKeyUsage = append(tmpl.UnknownExtKeyUsage, oid(s))
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, csca.Cert, key.Public(), csca.Key)
			if err != nil {
				t.Fatal(err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if got := UsagesOf(c); !slices.Equal(got, tt.want) {
				t.Errorf("UsagesOf = %v, want %v", got, tt.want)
			}
			for _, ty := range AllTypes {
				if got, w := MaySign(c, ty), slices.Contains(tt.want, ty); got != w {
					t.Errorf("MaySign(%s) = %v, want %v", ty, got, w)
				}
			}
		})
	}
}

// sortedTypes orders types as AllTypes does.
func sortedTypes(ts []dcc.Type) []dcc.Type {
	var out []dcc.Type
	for _, t := range AllTypes {
		if slices.Contains(ts, t) {
			out = append(out, t)
		}
	}
	return out
}
