package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golive-dev/golive/internal/pgtest"
)

// TestMain lets tests run golive as a child process without building it:
// the test binary re-executes itself with GOLIVE_TEST_MAIN=1 and acts as
// the golive command.
func TestMain(m *testing.M) {
	if os.Getenv("GOLIVE_TEST_MAIN") == "1" {
		os.Exit(main2())
	}
	os.Exit(pgtest.Main(m)) // stops the PostgreSQL server tests started
}

// main2 is main without os.Exit, for the child.
func main2() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:])
}

// child is a golive process started by a test.
type child struct {
	cmd    *exec.Cmd
	URL    string
	stderr *lockedWriter
	done   chan struct{}
}

var readyLine = regexp.MustCompile(`golive: \S+ ready at (http://\S+)`)

// startChild runs `golive args...` and waits for its ready line. The child
// is killed when the test ends.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{stderr: &lockedWriter{}, done: make(chan struct{})}
	c.cmd = exec.Command(exe, args...)
	c.cmd.Env = append(os.Environ(), "GOLIVE_TEST_MAIN=1")
	// The child dies with the test binary even if the test is killed.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c.cmd.Stderr = c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Kill() })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		_ = c.cmd.Wait()
		close(c.done)
	}()
	select {
	case c.URL = <-urls:
		return c
	case <-c.done:
		t.Fatalf("golive %s exited before it was ready: %s", strings.Join(args, " "), c.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("golive %s not ready within 60 s: %s", strings.Join(args, " "), c.stderr.String())
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to go.
func (c *child) Kill() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

// Stop sends SIGTERM and waits up to 15 s.
func (c *child) Stop(t *testing.T) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		t.Errorf("golive did not stop on SIGTERM")
		c.Kill()
	}
}

// lockedWriter keeps the first MiB of a child's stderr for failure messages.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 1<<20 {
		w.b.Write(p)
	}
	return len(p), nil
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
