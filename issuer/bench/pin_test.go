package bench

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/golive-dev/golive/internal/pgtest"
)

// The load generator and the server under test each get a core of their
// own: on a shared 2-core machine a generator that competes with the
// server for CPU measures its own queueing as the server's latency, and
// at 5x overload it starves the server it is overloading. Both the issuer
// and the bare endpoint run as child processes on serverCPU; the
// benchmark process (vegeta) runs on generatorCPU.
const (
	generatorCPU = 0
	serverCPU    = 1
)

// sharedEnv=1 leaves every process on every CPU, as the benchmark ran
// before it pinned them (BENCHMARKS.md reports both layouts). A machine
// with one CPU cannot pin and shares too.
const sharedEnv = "GOLIVE_BENCH_SHARED_CPUS"

func pinning() bool { return os.Getenv(sharedEnv) != "1" && runtime.NumCPU() > serverCPU }

// bareEnv makes the test binary a bare ECDSA endpoint instead of running
// benchmarks (see TestMain).
const bareEnv = "GOLIVE_BENCH_BARE_ENDPOINT"

func TestMain(m *testing.M) {
	if os.Getenv(bareEnv) == "1" {
		serveBare()
		return
	}
	os.Exit(pgtest.Main(m))
}

// serveBare is the ceiling: one ECDSA P-256 signature of the request
// body's hash per request, nothing else. It prints its URL like serve
// does and stops on SIGTERM or when its parent dies.
func serveBare() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		sum := sha256.Sum256(body)
		sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sig":%q}`, hex.EncodeToString(sig))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = srv.Close()
	}()
	fmt.Printf("bare ready at http://%s\n", ln.Addr())
	_ = srv.Serve(ln)
}

// startPinned starts cmd with its CPU affinity set to cpu: the child
// inherits the mask of the thread that forks it, so every thread it ever
// makes stays there (and its Go runtime sizes GOMAXPROCS to it).
func startPinned(cmd *exec.Cmd, cpu int) error {
	if !pinning() {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fmt.Errorf("reading CPU affinity: %w", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pinning to CPU %d: %w", cpu, err)
	}
	err := cmd.Start()
	if rerr := unix.SchedSetaffinity(0, &old); rerr != nil && err == nil {
		err = fmt.Errorf("restoring CPU affinity: %w", rerr)
	}
	return err
}

// pinSelf moves every thread of this process to cpu; threads made later
// inherit the mask from their creator.
func pinSelf(cpu int) error {
	if !pinning() {
		return nil
	}
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pinning thread %d to CPU %d: %w", tid, cpu, err)
		}
	}
	return nil
}

// cpuSeconds is this process's CPU time so far (user + system).
func cpuSeconds() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// startBare runs the bare endpoint as a child process on serverCPU.
func startBare(b *testing.B) string {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), bareEnv+"=1")
	return startChild(b, cmd, filepath.Join(b.TempDir(), "bare.log"))
}

// readyLine is what serve and the bare endpoint print once listening.
var readyLine = regexp.MustCompile(`ready at (http://\S+)`)

// startChild starts cmd on serverCPU with its stderr in logPath, stops it
// when the benchmark ends (or the benchmark process dies), and returns
// the URL of its ready line.
func startChild(b *testing.B, cmd *exec.Cmd, logPath string) string {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = logf
	if err := startPinned(cmd, serverCPU); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stopChild(cmd); logf.Close() })
	return waitReady(b, stdout, logPath)
}

func stopChild(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
	}
}

// waitReady reads the child's stdout until its ready line.
func waitReady(b *testing.B, stdout io.Reader, logName string) string {
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case url := <-urls:
		return url
	case <-time.After(60 * time.Second):
		b.Fatalf("child did not become ready; see %s", logName)
		return ""
	}
}

// pinProcessTree moves every thread of pid and of its descendants to cpu
// (a PostgreSQL server: the postmaster and the backends it has forked;
// those it forks later inherit the postmaster's mask).
func pinProcessTree(pid, cpu int) error {
	if !pinning() {
		return nil
	}
	var set unix.CPUSet
	set.Set(cpu)
	for _, p := range append([]int{pid}, descendants(pid)...) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		if err != nil {
			continue // gone
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("pinning thread %d of %d to CPU %d: %w", tid, p, cpu, err)
			}
		}
	}
	return nil
}

// descendants lists the processes below pid (from /proc/*/stat).
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// The command name may hold spaces: the fields after it start
		// after the last ')'.
		i := strings.LastIndexByte(string(raw), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(raw[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(fields[1]); err == nil {
			parent[p] = pp
		}
	}
	var out []int
	frontier := []int{pid}
	for len(frontier) > 0 {
		next := frontier[0]
		frontier = frontier[1:]
		for p, pp := range parent {
			if pp == next {
				out = append(out, p)
				frontier = append(frontier, p)
			}
		}
	}
	return out
}
