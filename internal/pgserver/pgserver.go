// Package pgserver runs a throwaway PostgreSQL server from the machine's
// own binaries (initdb and postgres of Debian's postgresql package): a
// fresh cluster in a temporary directory, listening on a free loopback
// port and on a unix socket inside that directory, stopped and removed on
// Close. Tests use it, and so can a testbed that needs a registry
// database without any image.
//
// It speaks no SQL (no driver): readiness is read from postmaster.pid the
// way pg_ctl -w does, so packages that must not link a database driver can
// use it.
package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled: no PostgreSQL binaries were found.
var ErrNotInstalled = errors.New("pgserver: PostgreSQL binaries (initdb, postgres) not found")

// Named timeouts; a loaded two-core machine needs generous ones.
const (
	DefaultStartTimeout = 90 * time.Second // initdb and the first start
	stopTimeout         = 30 * time.Second // fast shutdown before SIGKILL
	pollInterval        = 20 * time.Millisecond
)

// Superuser is the role initdb creates; connections use trust
// authentication on loopback and the socket, so no password.
const Superuser = "golive"

// BinDirEnv names the directory of initdb/postgres explicitly.
const BinDirEnv = "GOLIVE_POSTGRES_BIN"

// FindBinDir returns the directory holding initdb and postgres:
// $GOLIVE_POSTGRES_BIN, else the newest /usr/lib/postgresql/N/bin (Debian
// keeps them off PATH), else initdb's directory on PATH.
func FindBinDir() (string, error) {
	ok := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv(BinDirEnv); d != "" {
		if ok(d) {
			return d, nil
		}
		return "", fmt.Errorf("%w: %s=%s has no initdb and postgres", ErrNotInstalled, BinDirEnv, d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if ok(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && ok(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("%w: install Debian's postgresql package (make test-deps does) or set %s", ErrNotInstalled, BinDirEnv)
}

// Options configures Start. The zero value is usable.
type Options struct {
	// BinDir holds initdb and postgres; empty: FindBinDir.
	BinDir string
	// Template is the data directory of a stopped cluster to copy instead
	// of running initdb (much faster: initdb fsyncs and bootstraps).
	Template string
	// Settings are extra server settings (-c name=value), e.g.
	// synchronous_standby_names. fsync and synchronous_commit stay on
	// unless set here: the store's durability is what is tested.
	Settings map[string]string
	// User is the account the server runs as when this process is root
	// (initdb refuses root). Empty: "postgres" if it exists, else "nobody".
	User string
	// StartTimeout bounds initdb plus the start; 0: DefaultStartTimeout.
	StartTimeout time.Duration
	// Parent is the directory the cluster's own directory is made in
	// (default os.TempDir()): a testbed keeps it in its run's work
	// directory, so its cleanup finds it.
	Parent string
	// Env is added to the environment of every process the server runs
	// (a testbed's run id, so a leftover server can be found).
	Env []string
	// Password, when set, is the superuser's password (initdb --pwfile)
	// and TCP connections need it (scram-sha-256); the unix socket stays
	// trust. Empty: trust everywhere, as tests use it.
	Password string
}

// Server is one running (or stopped) throwaway cluster.
type Server struct {
	dir, data, bin string
	port           int
	settings       map[string]string
	startTimeout   time.Duration
	cred           *syscall.Credential
	env            []string
	password       string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exited
}

// Start creates a cluster in a new temporary directory and starts it.
func Start(ctx context.Context, o Options) (*Server, error) {
	s, err := Init(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := s.Restart(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Init creates a cluster in a new temporary directory (initdb, or a copy
// of o.Template) without starting it. Its DataDir can serve as another
// server's Template once Init returned; Close removes it.
func Init(ctx context.Context, o Options) (*Server, error) {
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.startTimeout)
	defer cancel()
	if o.Template != "" {
		if out, err := exec.CommandContext(ctx, "cp", "-a", o.Template, s.data).CombinedOutput(); err != nil {
			s.Close()
			return nil, fmt.Errorf("pgserver: copy template %s: %v: %s", o.Template, err, bytes.TrimSpace(out))
		}
		if err := s.chownTree(s.data); err != nil {
			s.Close()
			return nil, err
		}
	} else if err := s.initdb(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// New makes the server's directory, owned by the account it runs as,
// with no cluster in it yet: Rebuild fills it with a standby's.
func New(o Options) (*Server, error) {
	bin := o.BinDir
	if bin == "" {
		var err error
		if bin, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	timeout := o.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	cred, err := runAs(o.User)
	if err != nil {
		return nil, err
	}
	// Not under the caller's temporary directory: the server's account
	// must be able to reach it, and a unix socket path must stay short.
	dir, err := os.MkdirTemp(o.Parent, "golive-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	s := &Server{dir: dir, data: filepath.Join(dir, "data"), bin: bin, cred: cred, settings: o.Settings,
		startTimeout: timeout, env: o.Env, password: o.Password}
	if err := s.chown(dir); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// runAs picks the account for the server when we are root.
func runAs(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	candidates := []string{name}
	if name == "" {
		candidates = []string{"postgres", "nobody"}
	}
	var errs []error
	for _, n := range candidates {
		u, err := user.Lookup(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			errs = append(errs, fmt.Errorf("user %s: uid %q gid %q", n, u.Uid, u.Gid))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("pgserver: running as root and no account to run PostgreSQL as: %w", errors.Join(errs...))
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(append(os.Environ(), "LC_ALL=C", "TZ=UTC"), s.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return nil
}

func (s *Server) chownTree(root string) error {
	if s.cred == nil {
		return nil
	}
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return s.chown(p)
	})
}

func (s *Server) initdb(ctx context.Context) error {
	// --no-sync: the cluster is thrown away with the directory; the
	// server itself runs with fsync on.
	args := []string{"-D", s.data, "-U", Superuser, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"}
	if s.password != "" {
		pw := filepath.Join(s.dir, "pwfile")
		if err := os.WriteFile(pw, []byte(s.password+"\n"), 0o600); err != nil {
			return fmt.Errorf("pgserver: password file: %w", err)
		}
		defer os.Remove(pw)
		if err := s.chown(pw); err != nil {
			return err
		}
		args = append(args, "--pwfile", pw, "--auth-host=scram-sha-256", "--auth-local=trust")
	}
	cmd := s.command(ctx, "initdb", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgserver: initdb: %v: %s", err, tail(out, 800))
	}
	return nil
}

// start runs postgres in the foreground as our child and waits until it
// accepts connections.
func (s *Server) start(ctx context.Context) error {
	args := []string{"-D", s.data, "-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on",
		"-c", "full_page_writes=on", "-c", "max_connections=300", "-c", "unix_socket_permissions=0777"}
	keys := make([]string, 0, len(s.settings))
	for k := range s.settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+s.settings[k])
	}
	logf, err := os.OpenFile(s.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgserver: log: %w", err)
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, 2)
	// Not the start's context: the server outlives the start.
	cmd := s.command(context.Background(), "postgres", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C meant for the tests does not reach
	// it before Close stops it in order. And it must not outlive us if
	// the process that started it dies.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgserver: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	pidFile := filepath.Join(s.data, "postmaster.pid")
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		// Line 8 of postmaster.pid is the postmaster's status; "ready"
		// once it accepts connections (what pg_ctl -w waits for).
		if b, err := os.ReadFile(pidFile); err == nil {
			lines := strings.Split(string(b), "\n")
			if len(lines) >= 8 && strings.TrimSpace(lines[7]) == "ready" &&
				strings.TrimSpace(lines[0]) == strconv.Itoa(cmd.Process.Pid) {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("pgserver: postgres exited during start: %s", s.logSince(logStart))
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("pgserver: postgres not ready: %w: %s", ctx.Err(), s.logSince(logStart))
		case <-tick.C:
		}
	}
}

func (s *Server) logSince(off int64) string {
	b, err := os.ReadFile(s.LogFile())
	if err != nil || int64(len(b)) < off {
		return ""
	}
	return tail(b[off:], 800)
}

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgserver: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Host is the loopback address the server listens on.
func (s *Server) Host() string { return "127.0.0.1" }

// SocketDir holds the server's unix socket.
func (s *Server) SocketDir() string { return s.dir }

// DataDir is the cluster's data directory.
func (s *Server) DataDir() string { return s.data }

// LogFile is where the server writes its log.
func (s *Server) LogFile() string { return filepath.Join(s.dir, "postgres.log") }

// DSN is a connection URL for database db as the superuser over TCP
// (with the password, when the server has one).
func (s *Server) DSN(db string) string {
	user := Superuser
	if s.password != "" {
		user += ":" + url.QueryEscape(s.password)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", user, s.Host(), s.port, db)
}

// Running reports whether the postmaster is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// PID is the postmaster's process id while it runs (it leads its own
// process group, backends included), 0 when it does not.
func (s *Server) PID() int {
	if !s.Running() {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop shuts the server down cleanly (fast shutdown: running transactions
// are rolled back, a checkpoint is written), SIGKILL after stopTimeout.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
		return nil
	case <-time.After(stopTimeout):
		s.kill()
		return fmt.Errorf("pgserver: fast shutdown took over %v; killed", stopTimeout)
	}
}

// Kill crashes the server: SIGKILL to the postmaster and every backend at
// once, no checkpoint. The next Restart runs crash recovery from the WAL,
// so every transaction whose COMMIT returned must be there.
func (s *Server) Kill() {
	s.kill()
}

func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	pm := cmd.Process.Pid
	// Every backend is a session of its own (PostgreSQL calls setsid), so
	// the process group holds only the postmaster. Stop it so it forks
	// nothing new, kill its children, then it.
	_ = syscall.Kill(pm, syscall.SIGSTOP)
	children := childrenOf(pm)
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	_ = syscall.Kill(pm, syscall.SIGKILL)
	<-done
	// They hold the shared memory until they are gone; a restart before
	// that is refused ("pre-existing shared memory block is still in use").
	deadline := time.Now().Add(stopTimeout)
	for _, c := range children {
		for alive(c) && time.Now().Before(deadline) {
			time.Sleep(pollInterval)
		}
	}
}

// childrenOf lists the processes whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(n); ok && ppid == pid {
			out = append(out, n)
		}
	}
	return out
}

// alive: the process exists and is not a zombie (a zombie holds no
// memory; in a container nobody may reap it).
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// procStat reads the parent and the state of pid from /proc/pid/stat.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0][0], err == nil
}

// Restart starts the server: the first time on a free port, later again
// on the same port and data directory (after Stop or Kill).
func (s *Server) Restart(ctx context.Context) error {
	if s.Running() {
		return errors.New("pgserver: restart of a running server")
	}
	ctx, cancel := context.WithTimeout(ctx, s.startTimeout)
	defer cancel()
	if s.port != 0 {
		return s.start(ctx)
	}
	// A free port can be taken between our probe and the server's bind;
	// try a few.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.port = port
		err = s.start(ctx)
		if err == nil {
			return nil
		}
		s.port = 0
		if attempt == 3 || !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "could not create") {
			return err
		}
	}
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	if rerr := os.RemoveAll(s.dir); rerr != nil && err == nil {
		err = fmt.Errorf("pgserver: remove %s: %w", s.dir, rerr)
	}
	return err
}

// Dir is the temporary directory the server owns (removed by Close).
func (s *Server) Dir() string { return s.dir }
