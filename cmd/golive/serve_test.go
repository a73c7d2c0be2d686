package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/issuer/server"
)

// onboardFrom onboards n pharmacies of the data directory's register
// through the portal and its mailbox.
func onboardFrom(t *testing.T, ctx context.Context, url, dir string, n int) (*portalclient.Client, []*portalclient.Pharmacy) {
	t.Helper()
	l := server.Layout{Dir: dir}
	admin, err := server.ReadToken(l.AdminToken())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := register.Load(l.Register())
	if err != nil {
		t.Fatal(err)
	}
	mb, err := register.NewDirMailbox(l.Mailbox())
	if err != nil {
		t.Fatal(err)
	}
	c := portalclient.New(url)
	c.AdminToken = admin
	var phs []*portalclient.Pharmacy
	for _, e := range reg.Entries()[:n] {
		ph, err := c.Onboard(ctx, mb, e)
		if err != nil {
			t.Fatalf("onboarding %s: %v", e.TelematikID, err)
		}
		phs = append(phs, ph)
	}
	return c, phs
}

func vaccination(t *testing.T, seq int) portalapi.IssueRequest {
	t.Helper()
	p := dcc.Sample(rand.New(rand.NewPCG(uint64(seq), 7)), dcc.TypeVaccination, time.Now())
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return portalapi.IssueRequest{Payload: b}
}

// TestServeAllInOne: a bare data directory is bootstrapped with private
// secrets, the all-in-one issuer onboards a register pharmacy and issues a
// certificate that verifies against the PKI it created, and SIGTERM stops
// it cleanly.
func TestServeAllInOne(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := startChild(t, "serve", "--role", "all", "--data", dir, "--listen", "127.0.0.1:0", "--replicas", "2", "--register-size", "20")
	for _, f := range []string{"admin-token", "signer-token", "token.key", "pki/csca.key", "pki/dsc-1.key", "pki/dsc-2.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pki", "dsc-3.key")); err == nil {
		t.Error("--replicas 2 made a third DSC")
	}
	ctx := context.Background()
	pc, phs := onboardFrom(t, ctx, c.URL, dir, 1)
	res, err := pc.Issue(ctx, phs[0].Token, "serve-test-1", vaccination(t, 1))
	if err != nil || res.Issued == nil {
		t.Fatalf("issue: %+v %v", res, err)
	}
	set, err := pki.Load(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hcert.Verify(res.Issued.HC1, set.Trust, hcert.VerifyOptions{}); err != nil {
		t.Fatalf("the issued HC1 does not verify against the bootstrapped PKI: %v", err)
	}
	r, err := http.Get(c.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("/metrics: %d", r.StatusCode)
	}
	c.Stop(t)
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM: %s", code, c.stderr.String())
	}
	var payload dcc.Certificate
	_ = json.Unmarshal(vaccination(t, 1).Payload, &payload)
	if logs := c.stderr.String(); strings.Contains(logs, payload.Nam.Fnt) || strings.Contains(logs, payload.Dob) {
		t.Error("a holder name or birth date reached the log")
	}
}

// TestServeSeparateRoles: portal and signer as separate processes, wired
// by URL, as a testbed runs them; and the proxy role answers toxiproxy's API.
func TestServeSeparateRoles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	if code := runIO(context.Background(), []string{"serve", "--init", "--data", dir, "--replicas", "2", "--register-size", "10"}, nil, &out, &out); code != 0 {
		t.Fatalf("init: %d %s", code, out.String())
	}
	s1 := startChild(t, "serve", "--role", "signer", "--data", dir, "--signer-index", "2", "--listen", "127.0.0.1:0")
	p := startChild(t, "serve", "--role", "portal", "--data", dir, "--signers", s1.URL, "--listen", "127.0.0.1:0")
	ctx := context.Background()
	pc, phs := onboardFrom(t, ctx, p.URL, dir, 1)
	res, err := pc.Issue(ctx, phs[0].Token, "roles-1", vaccination(t, 2))
	if err != nil || res.Issued == nil {
		t.Fatalf("issue: %+v %v", res, err)
	}
	dsc2, err := pki.LoadCertificate(filepath.Join(dir, "pki", "dsc-2.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tl, _ := pki.NewTrustList(dsc2)
	if _, err := hcert.Verify(res.Issued.HC1, tl, hcert.VerifyOptions{}); err != nil {
		t.Fatalf("not signed by DSC 2: %v", err)
	}

	px := startChild(t, "serve", "--role", "proxy", "--listen", "127.0.0.1:0")
	r, err := http.Get(px.URL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("proxy /version: %d", r.StatusCode)
	}
}

func TestServeConfig(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "over.yaml")
	if err := os.WriteFile(yml, []byte("portal:\n  access_token_ttl: 5m\n  pharmacy_quota:\n    enabled: false\nsigner:\n  hsm_slots: 4\n"+
		"registry: host=db1,db2 dbname=registry target_session_attrs=read-write\nstore:\n  writers: 6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := runIO(context.Background(), []string{"serve", "--print-config", "--config", yml, "--hsm-latency", "7ms", "--profile", "naive-2021"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s server.Settings
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("--print-config is not JSON: %v\n%s", err, out.String())
	}
	if s.Portal.AccessTokenTTL.D() != 5*time.Minute || s.Portal.PharmacyQuota.Enabled || s.Signer.HSMSlots != 4 ||
		s.Signer.HSMLatency.D() != 7*time.Millisecond || s.Profile != "naive-2021" || s.Portal.OnboardingVerifyRegister ||
		s.Registry != "host=db1,db2 dbname=registry target_session_attrs=read-write" || s.Store.Writers != 6 {
		t.Errorf("effective settings wrong: %+v", s)
	}
	// The printed settings are a valid --config themselves.
	back := filepath.Join(dir, "back.json")
	_ = os.WriteFile(back, out.Bytes(), 0o644)
	out.Reset()
	if code := runIO(context.Background(), []string{"serve", "--print-config", "--config", back, "--profile", "naive-2021"}, nil, &out, &errb); code != 0 {
		t.Fatalf("round trip: %d %s", code, errb.String())
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--role", "bogus", "--print-config"}, "role"},
		{[]string{"serve", "--profile", "2019"}, "--profile"},
		{[]string{"serve", "--role", "signer", "--print-config"}, "--signer-index"},
		{[]string{"serve", "--role", "portal", "--print-config"}, "--signers"},
		{[]string{"serve", "--sim-start", "monday", "--print-config"}, "RFC 3339"},
		{[]string{"serve", "--registry", "mysql://db/registry", "--print-config"}, "registry"},
		{[]string{"serve", "--config", filepath.Join(dir, "missing.json")}, "--config"},
	} {
		var o, e bytes.Buffer
		if code := runIO(context.Background(), tc.args, nil, &o, &e); code != 2 || !strings.Contains(e.String(), tc.want) || strings.Count(strings.TrimSpace(e.String()), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q (want 2 and one line naming %q)", tc.args, code, e.String(), tc.want)
		}
	}
	bad := filepath.Join(dir, "typo.json")
	_ = os.WriteFile(bad, []byte(`{"portal":{"acces_token_ttl":"1m"}}`), 0o644)
	var o, e bytes.Buffer
	if code := runIO(context.Background(), []string{"serve", "--config", bad, "--print-config"}, nil, &o, &e); code != 2 || !strings.Contains(e.String(), "acces_token_ttl") {
		t.Errorf("a typo in --config: exit %d %q", code, e.String())
	}
}

// TLS, the metrics token and the sealing key come from the settings file,
// the environment and flags (flags win); the key itself is never printed.
func TestServeSecuritySettings(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "tls.yaml")
	if err := os.WriteFile(yml, []byte("tls:\n  cert: /etc/golive/portal.pem\n  key: /etc/golive/portal.key\n  client_ca: /etc/golive/vendors.pem\nmetrics_token: from-file\nseal_key_file: /etc/golive/seal.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	printed := func(t *testing.T, args ...string) server.Settings {
		t.Helper()
		var out, errb bytes.Buffer
		if code := runIO(context.Background(), append([]string{"serve", "--print-config"}, args...), nil, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		var s server.Settings
		if err := json.Unmarshal(out.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := printed(t, "--config", yml)
	if s.TLS != (server.TLSSettings{Cert: "/etc/golive/portal.pem", Key: "/etc/golive/portal.key", ClientCA: "/etc/golive/vendors.pem"}) ||
		s.MetricsToken != "from-file" || s.SealKeyFile != "/etc/golive/seal.key" {
		t.Errorf("from the file: %+v %q %q", s.TLS, s.MetricsToken, s.SealKeyFile)
	}
	t.Setenv("GOLIVE_METRICS_TOKEN", "from-env")
	if s := printed(t, "--config", yml); s.MetricsToken != "from-env" {
		t.Errorf("env over file: %q", s.MetricsToken)
	}
	if s := printed(t, "--config", yml, "--metrics-token", "from-flag", "--tls-cert", "/x.pem", "--seal-key-file", "/k"); s.MetricsToken != "from-flag" || s.TLS.Cert != "/x.pem" || s.SealKeyFile != "/k" {
		t.Errorf("flags over env: %q %q %q", s.MetricsToken, s.TLS.Cert, s.SealKeyFile)
	}
	hexKey := strings.Repeat("5a", 32)
	t.Setenv("GOLIVE_SEAL_KEY", hexKey)
	var out, errb bytes.Buffer
	if code := runIO(context.Background(), []string{"serve", "--print-config"}, nil, &out, &errb); code != 0 || strings.Contains(out.String(), hexKey) {
		t.Errorf("exit %d; the sealing key from the environment was printed: %v", code, strings.Contains(out.String(), hexKey))
	}
	out.Reset()
	errb.Reset()
	if code := runIO(context.Background(), []string{"serve", "--print-config", "--tls-key", "/k.pem"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--tls-cert") {
		t.Errorf("--tls-key alone: exit %d %q", code, errb.String())
	}
}
