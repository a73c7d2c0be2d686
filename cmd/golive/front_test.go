package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFrontRealtime runs `golive front --realtime` before a backend: it
// passes a request, and every thread of the process is under SCHED_FIFO
// (as root; otherwise it refuses with the fix in one line).
func TestFrontRealtime(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, r.URL.Path)
	}))
	defer be.Close()
	if os.Geteuid() != 0 {
		r := golive(t, "", "front", "--listen", "127.0.0.1:0", "--backend", be.URL, "--realtime")
		if r.code != 1 || !strings.Contains(r.stderr, "CAP_SYS_NICE") {
			t.Fatalf("--realtime without privilege: exit %d, %q; want exit 1 naming CAP_SYS_NICE", r.code, r.stderr)
		}
		return
	}
	c := startChild(t, "front", "--listen", "127.0.0.1:0", "--backend", be.URL, "--realtime", "--log-level", "warn")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(c.URL+"/v1/certificates", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || string(body) != "/v1/certificates" {
		t.Fatalf("through the front: %d %q, want the backend's 201", resp.StatusCode, body)
	}
	tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(c.cmd.Process.Pid), "task", "*", "stat"))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of the front: %v %v", tasks, err)
	}
	for _, path := range tasks {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // the thread ended
		}
		// Fields after the command name (which may hold spaces): policy
		// is field 41 of proc(5), the 39th after ")".
		rest := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
		if len(rest) < 39 || rest[38] != "1" {
			t.Errorf("%s: policy %v, want 1 (SCHED_FIFO)", path, rest[min(38, len(rest)-1)])
		}
	}
	c.Stop(t)
}
