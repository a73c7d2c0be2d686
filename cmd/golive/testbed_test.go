package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
)

func TestTestbedUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"testbed", "up", "--target", "k8s"}, "docker, local or url"},
		{[]string{"testbed", "up", "--target", "url"}, "--url"},
		{[]string{"testbed", "up", "--target", "local", "--url", "http://x"}, "--url"},
		{[]string{"testbed", "up", "--signers", "0"}, "--signers 0"},
		{[]string{"testbed", "up", "--sim-start", "monday"}, "RFC 3339"},
		{[]string{"testbed", "clean", "extra"}, "unknown command"},
	} {
		r := golive(t, "", c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// upSession runs `golive testbed up args...` in-process until cancel and
// returns the lines it printed up to "Press Ctrl-C", then the exit code
// and the rest once cancelled.
type upSession struct {
	cancel context.CancelFunc
	lines  []string
	done   chan result
}

func startUp(t *testing.T, args ...string) *upSession {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &upSession{cancel: cancel, done: make(chan result, 1)}
	var errb strings.Builder
	go func() {
		code := runIO(ctx, append([]string{"testbed", "up"}, args...), strings.NewReader(""), pw, &errb)
		pw.Close()
		s.done <- result{code: code, stderr: errb.String()}
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		s.lines = append(s.lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			go io.Copy(io.Discard, pr)
			return s
		}
	}
	r := <-s.done
	cancel()
	t.Fatalf("testbed up ended before it was ready: exit %d\nstdout: %s\nstderr: %s", r.code, strings.Join(s.lines, "\n"), r.stderr)
	return nil
}

func (s *upSession) value(t *testing.T, key string) string {
	t.Helper()
	for _, l := range s.lines {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q line in %q", key, s.lines)
	return ""
}

func (s *upSession) stop(t *testing.T) result {
	t.Helper()
	s.cancel()
	select {
	case r := <-s.done:
		return r
	case <-time.After(time.Minute):
		t.Fatal("testbed up did not stop within a minute of Ctrl-C")
	}
	return result{}
}

// TestTestbedUpLocal: up starts the local topology (this test binary acts
// as golive for the children), prints working URLs and the admin token,
// and on Ctrl-C removes every child and the work directory.
func TestTestbedUpLocal(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOLIVE_TEST_MAIN", "1") // the children are this binary acting as golive
	run := fmt.Sprintf("clitest%d", os.Getpid())
	s := startUp(t, "--target", "local", "--binary", exe, "--signers", "1", "--run-id", run)
	if !strings.Contains(s.lines[0], "testbed local ready (run "+run+")") {
		t.Errorf("first line %q", s.lines[0])
	}
	for _, key := range []string{"portal", "portal direct"} {
		resp, err := http.Get(s.value(t, key) + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s /readyz: %v %v", key, resp, err)
		} else {
			resp.Body.Close()
		}
	}
	data := s.value(t, "data")
	tok, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil || strings.TrimSpace(string(tok)) != s.value(t, "admin token") {
		t.Errorf("admin token line does not match %s/admin-token (%v)", data, err)
	}
	if fl := s.value(t, "fault links"); fl != "client->portal, portal->signer-1" {
		t.Errorf("fault links %q", fl)
	}
	r := s.stop(t)
	if r.code != 0 {
		t.Errorf("exit %d after Ctrl-C: %s", r.code, r.stderr)
	}
	procs, err := testbed.FindLocalProcesses()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.Run == run {
			t.Errorf("process %d of run %s survived", p.PID, run)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("data dir after stop: %v", err)
	}
}

func TestTestbedUpURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	s := startUp(t, "--target", "url", "--url", srv.URL)
	if got := s.value(t, "portal"); got != srv.URL {
		t.Errorf("portal %q, want %q", got, srv.URL)
	}
	if f := s.value(t, "faults"); !strings.Contains(f, "unavailable") || !strings.Contains(f, "existing deployment") {
		t.Errorf("faults line %q", f)
	}
	if r := s.stop(t); r.code != 0 {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

func TestTestbedUpFailsClearly(t *testing.T) {
	r := golive(t, "", "testbed", "up", "--target", "docker", "--binary", "/bin/ls")
	if r.code != 1 || !strings.Contains(r.stderr, "dynamically linked") || !strings.Contains(r.stderr, "CGO_ENABLED=0 go build") {
		t.Errorf("dynamic binary on docker: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestTestbedClean: a work directory whose owner process is gone is a
// leftover: --dry-run lists it, clean removes it.
func TestTestbedClean(t *testing.T) {
	dir := filepath.Join(testbed.WorkRoot(), fmt.Sprintf("cleantest%d", os.Getpid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte("2147483647\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := golive(t, "", "testbed", "clean", "--dry-run")
	mustOK(t, r, "clean --dry-run")
	if !strings.Contains(r.stdout, "would remove directory "+dir) {
		t.Errorf("dry run did not list %s:\n%s", dir, r.stdout)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("dry run removed it: %v", err)
	}
	r = golive(t, "", "testbed", "clean")
	mustOK(t, r, "clean")
	if !strings.Contains(r.stdout, "removed directory "+dir) {
		t.Errorf("clean did not report %s:\n%s", dir, r.stdout)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("leftover still there: %v", err)
	}
}
