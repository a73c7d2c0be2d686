package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/frontdoor"
)

// frontEnv picks what stands before the portal in the overload runs:
// "golive" (default: `golive front --realtime` on the server's CPU),
// "haproxy" (the same limits in HAProxy under SCHED_FIFO, a second
// implementation to check the first against; needs the haproxy package)
// or "none" (the portal's own listener, as before 2026-12-03).
const (
	frontEnv     = "GOLIVE_BENCH_FRONT"
	frontArgsEnv = "GOLIVE_BENCH_FRONT_ARGS"
)

// frontKind is frontEnv's value, checked.
func frontKind(b *testing.B) string {
	switch v := os.Getenv(frontEnv); v {
	case "", "golive":
		return "golive"
	case "haproxy", "none":
		return v
	default:
		b.Fatalf("%s=%q: use golive, haproxy or none", frontEnv, v)
		return ""
	}
}

// startFront starts the front kind asks for before the portal at
// backend, on serverCPU, and returns its URL ("" for none).
func startFront(b *testing.B, bin, kind, backend string) string {
	switch kind {
	case "golive":
		args := []string{"front", "--listen", "127.0.0.1:0", "--backend", backend, "--realtime", "--log-level", "warn",
			"--max-conns-per-source", "0"} // as the portal's in startServeWith
		// $GOLIVE_BENCH_FRONT_ARGS: more flags to try (space-separated).
		cmd := exec.Command(bin, append(args, strings.Fields(os.Getenv(frontArgsEnv))...)...)
		return startChild(b, cmd, filepath.Join(b.TempDir(), "front.log"))
	case "haproxy":
		return startHAProxy(b, backend)
	}
	return ""
}

// haproxyReady bounds the wait for HAProxy's port.
const (
	haproxyReady        = 10 * time.Second
	haproxyQueueTimeout = 100 * time.Millisecond
)

// startHAProxy runs HAProxy with the front's default limits: the portal
// as a server with maxconn = max in flight, and 503 at once for a request
// that finds max-queue requests waiting (with no queue: one, since HAProxy
// can only see a queue once a request is in it). A request HAProxy itself
// times out in the queue gets its own 503 and a closed connection, which
// turns clients into a connection storm (a 5 ms queue timeout collapsed 2
// of 10 runs), so the queue timeout is long (haproxyQueueTimeout) and the
// queue short.
func startHAProxy(b *testing.B, backend string) string {
	if _, err := exec.LookPath("haproxy"); err != nil {
		b.Fatalf("%s=haproxy: haproxy is not installed (apt-get install haproxy)", frontEnv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`global
  maxconn 9000
  nbthread 1
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout queue %dms
  option http-keep-alive
frontend fe
  bind %s
  maxconn 9000
  http-request return status 503 content-type application/problem+json string "{\"status\":503,\"code\":\"overloaded\"}" hdr Retry-After 1 if { queue(be) ge %d }
  default_backend be
backend be
  http-reuse always
  server portal %s maxconn %d
`, haproxyQueueTimeout.Milliseconds(), addr, max(frontdoor.DefaultMaxQueue, 1), strings.TrimPrefix(backend, "http://"), frontdoor.DefaultMaxInFlight)
	path := filepath.Join(b.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("chrt", "-f", fmt.Sprint(frontdoor.RealtimePriority), "haproxy", "-db", "-f", path)
	log, err := os.Create(filepath.Join(b.TempDir(), "haproxy.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := startPinned(cmd, serverCPU); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stopChild(cmd); log.Close() })
	for deadline := time.Now().Add(haproxyReady); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			b.Fatalf("haproxy did not listen on %s within %v; see %s", addr, haproxyReady, log.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
