package testbed_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
)

func TestMain(m *testing.M) { os.Exit(testbedtest.Main(m)) }

func TestParseKind(t *testing.T) {
	for in, want := range map[string]testbed.Kind{"": testbed.KindAuto, "Docker": testbed.KindDocker, " local ": testbed.KindLocal, "url": testbed.KindURL} {
		got, err := testbed.ParseKind(in)
		if err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := testbed.ParseKind("k8s"); err == nil || !strings.Contains(err.Error(), "docker, local or url") {
		t.Errorf("ParseKind(k8s) error = %v", err)
	}
}

func TestCheckStatic(t *testing.T) {
	if err := testbed.CheckStatic(testbedtest.Binary(t)); err != nil {
		t.Errorf("CGO_ENABLED=0 build judged dynamic: %v", err)
	}
	// Debian's ls is dynamically linked against libc.
	err := testbed.CheckStatic("/bin/ls")
	if !errors.Is(err, testbed.ErrDynamic) || !strings.Contains(err.Error(), "CGO_ENABLED=0 go build -o golive ./cmd/golive") {
		t.Errorf("CheckStatic(/bin/ls) = %v, want ErrDynamic with the build hint", err)
	}
	script := filepath.Join(t.TempDir(), "golive")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := testbed.CheckStatic(script); err == nil || !strings.Contains(err.Error(), "not a Linux executable") {
		t.Errorf("CheckStatic(script) = %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	ctx := context.Background()
	for name, o := range map[string]testbed.Options{
		"run id":         {Kind: testbed.KindLocal, RunID: "a b/c"},
		"signers":        {Kind: testbed.KindLocal, Signers: -1},
		"url":            {Kind: testbed.KindURL, URL: "ftp://x"},
		"binary":         {Kind: testbed.KindLocal, Binary: "/nonexistent/golive"},
		"both config":    {Kind: testbed.KindLocal, Config: []byte("{}"), ConfigFile: "x.json"},
		"seed on docker": {Kind: testbed.KindDocker, RegistrySeed: "seed"},
		"dsn on sqlite":  {Kind: testbed.KindLocal, RegistrySeed: "seed", RegistryDSN: "postgres://h/db"},
		"dsn, no seed":   {Kind: testbed.KindLocal, Registry: testbed.RegistryPostgres, RegistryDSN: "postgres://h/db"},
		"dsn, standby": {Kind: testbed.KindLocal, Registry: testbed.RegistryPostgres, RegistryStandby: true,
			RegistrySeed: "seed", RegistryDSN: "postgres://h/db"},
	} {
		if tb, err := testbed.Start(ctx, o); err == nil {
			tb.Close(ctx)
			t.Errorf("%s: Start accepted %+v", name, o)
		}
	}
}

// TestURLTargetRefusesFaults: an existing deployment is probed but every
// fault action is refused with ErrUnsupported and a hint.
func TestURLTargetRefusesFaults(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	tb, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindURL, URL: srv.URL + "/", AdminToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close(ctx)
	if tb.PortalURL() != srv.URL || tb.AdminToken() != "tok" || tb.DataDir() != "" || len(tb.Links()) != 0 {
		t.Errorf("url testbed: portal %q token %q data %q links %v", tb.PortalURL(), tb.AdminToken(), tb.DataDir(), tb.Links())
	}
	for name, err := range map[string]error{
		"kill":  tb.Kill(ctx, testbed.Portal),
		"pause": tb.Pause(ctx, testbed.Portal),
		"cpu":   tb.CPU(ctx, testbed.Portal, 0.5),
	} {
		if !errors.Is(err, testbed.ErrUnsupported) || !strings.Contains(err.Error(), "--target docker or local") {
			t.Errorf("%s on url: %v", name, err)
		}
	}
	if _, err := tb.Proxy(testbed.LinkClientPortal); !errors.Is(err, testbed.ErrUnsupported) {
		t.Errorf("proxy on url: %v", err)
	}
	srv.Close()
	if _, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindURL, URL: srv.URL, StartTimeout: 300 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("unreachable deployment: %v", err)
	}
}

// get is GET url's status; tc verifies an https url (testbed.ClientTLS).
func get(t *testing.T, tc *tls.Config, url string, timeout time.Duration) (int, error) {
	t.Helper()
	hc := &http.Client{Timeout: timeout}
	if tc != nil {
		tr := &http.Transport{TLSClientConfig: tc}
		defer tr.CloseIdleConnections()
		hc.Transport = tr
	}
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func mustReady(t *testing.T, tb testbed.Testbed) {
	t.Helper()
	for _, c := range tb.Components() {
		if code, err := get(t, testbed.ClientTLS(tb), c.URL+c.ReadyPath, 5*time.Second); err != nil || code != 200 {
			t.Errorf("%s %s%s: %d %v", c.Name, c.URL, c.ReadyPath, code, err)
		}
	}
	if code, err := get(t, testbed.ClientTLS(tb), tb.PortalURL()+"/readyz", 5*time.Second); err != nil || code != 200 {
		t.Errorf("portal through the proxy: %d %v", code, err)
	}
}

func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// exerciseLifecycle checks the lifecycle actions' observable effects on a
// started topology; shared by local and docker.
func exerciseLifecycle(t *testing.T, tb testbed.Testbed) {
	ctx := context.Background()
	mustReady(t, tb)
	for _, f := range []string{"admin-token", "register.jsonl", "mailbox", "pki/trustlist.json"} {
		if _, err := os.Stat(filepath.Join(tb.DataDir(), f)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}
	if tb.AdminToken() == "" {
		t.Error("no admin token")
	}
	signer := tb.Components()[1]
	if signer.Name != testbed.SignerName(1) {
		t.Fatalf("components %v", tb.Components())
	}

	if err := tb.Kill(ctx, signer.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, testbed.ClientTLS(tb), signer.URL+"/readyz", 2*time.Second); !refused(err) {
		t.Errorf("killed signer answered: %v", err)
	}
	if err := tb.Start(ctx, signer.Name); err != nil {
		t.Fatal(err)
	}
	if code, err := get(t, testbed.ClientTLS(tb), signer.URL+"/readyz", 2*time.Second); err != nil || code != 200 {
		t.Errorf("restarted signer on the same URL: %d %v", code, err)
	}

	if err := tb.Pause(ctx, testbed.Portal); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, testbed.ClientTLS(tb), tb.DirectPortalURL()+"/readyz", 500*time.Millisecond); !timedOut(err) {
		t.Errorf("paused portal: %v, want a timeout", err)
	}
	if err := tb.Resume(ctx, testbed.Portal); err != nil {
		t.Fatal(err)
	}

	// A new proxy process has no routes; Start re-creates them.
	if err := tb.Restart(ctx, testbed.Proxy); err != nil {
		t.Fatal(err)
	}
	if err := tb.Stop(ctx, testbed.Portal); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, testbed.ClientTLS(tb), tb.DirectPortalURL()+"/readyz", 2*time.Second); !refused(err) {
		t.Errorf("stopped portal answered: %v", err)
	}
	if err := tb.Start(ctx, testbed.Portal); err != nil {
		t.Fatal(err)
	}
	mustReady(t, tb)
	if err := tb.Kill(ctx, "nosuch"); !errors.Is(err, testbed.ErrUnknownComponent) {
		t.Errorf("kill nosuch: %v", err)
	}
	if _, err := tb.Proxy("portal->nosuch"); !errors.Is(err, testbed.ErrUnknownComponent) {
		t.Errorf("proxy nosuch: %v", err)
	}
}

func TestLocalTopology(t *testing.T) {
	ctx := context.Background()
	tb, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindLocal, Binary: testbedtest.Binary(t), Signers: 2, RunID: testbedtest.RunID(t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			tb.Close(context.Background())
		}
	}()
	if tb.Kind() != testbed.KindLocal || len(tb.Components()) != 4 || len(tb.Links()) != 3 {
		t.Errorf("kind %s components %v links %v", tb.Kind(), tb.Components(), tb.Links())
	}
	exerciseLifecycle(t, tb)
	if err := tb.CPU(ctx, testbed.Portal, 0.5); !errors.Is(err, testbed.ErrUnsupported) {
		t.Errorf("CPU on local: %v", err)
	}
	procs := runProcs(t, tb.RunID())
	if len(procs) != 4 {
		t.Errorf("%d processes of the run, want 4: %v", len(procs), procs)
	}
	if err := tb.Pause(ctx, testbed.SignerName(2)); err != nil { // Close must end a stopped process too
		t.Fatal(err)
	}
	closed = true
	if err := tb.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if procs := runProcs(t, tb.RunID()); len(procs) != 0 {
		t.Errorf("after Close: %v", procs)
	}
	if _, err := os.Stat(filepath.Join(testbed.WorkRoot(), tb.RunID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir after Close: %v", err)
	}
	if err := tb.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func runProcs(t *testing.T, run string) []testbed.LocalProcess {
	t.Helper()
	all, err := testbed.FindLocalProcesses()
	if err != nil {
		t.Fatal(err)
	}
	var out []testbed.LocalProcess
	for _, p := range all {
		if p.Run == run {
			out = append(out, p)
		}
	}
	return out
}
