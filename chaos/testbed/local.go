package testbed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/golive-dev/golive/internal/proccpu"
)

// localTestbed runs every component as a child process on 127.0.0.1.
type localTestbed struct {
	opts     Options
	started  time.Time
	work     string // WorkRoot()/<run id>: data/, logs/, <name>.pid
	data     string
	logDir   string
	admin    string
	proxyAPI string
	clients  []int // client->portal ports on the proxy, one per portal
	links    []link
	procs    []*localProc // proxy, signers, portals: the start order
	reg      *pgCluster   // nil: SQLite in the data directory
	ca       *CA          // nil: plain HTTP

	closeOnce sync.Once
	closeErr  error
}

// localProc is one component process; it can be killed and started again
// on the same port.
type localProc struct {
	name, role, readyPath string
	port                  int
	scheme                string          // "" is http; https with the run's CA
	args                  func() []string // built at each start (the clock moves)
	env                   []string        // added to the environment (the registry DSN)

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	waitErr error
	paused  bool
}

func (p *localProc) url() string {
	if p.scheme == "" {
		return "http://" + loopback(p.port)
	}
	return p.scheme + "://" + loopback(p.port)
}

func startLocal(ctx context.Context, opts Options) (_ Testbed, err error) {
	work, err := makeWorkDir(opts.RunID)
	if err != nil {
		return nil, err
	}
	tb := &localTestbed{opts: opts, started: time.Now(), work: work}
	defer func() {
		if err != nil {
			// A failed or interrupted start leaves nothing behind.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = tb.Close(cctx)
		}
	}()
	if err := tb.prepare(ctx); err != nil {
		return nil, err
	}
	// Proxy first: the other components are reached through it.
	if err := tb.procs[0].start(ctx, tb); err != nil {
		return nil, err
	}
	if err := populateLinks(tb.proxyAPI, tb.links); err != nil {
		return nil, err
	}
	if err := seedRegistry(ctx, opts, tb.data); err != nil {
		return nil, err
	}
	if opts.RegistryDSN != "" {
		for _, p := range tb.procs[len(tb.procs)-opts.Portals:] {
			p.env = []string{EnvRegistry + "=" + opts.RegistryDSN}
		}
	} else if opts.Registry == RegistryPostgres {
		if tb.reg, err = startLocalRegistry(ctx, opts, work); err != nil {
			return nil, err
		}
		for _, p := range tb.procs[len(tb.procs)-opts.Portals:] {
			p.env = []string{EnvRegistry + "=" + tb.reg.PortalDSN()}
		}
	}
	signers := tb.procs[1 : len(tb.procs)-opts.Portals]
	errs := make([]error, len(signers))
	var wg sync.WaitGroup
	for i, p := range signers {
		wg.Go(func() { errs[i] = p.start(ctx, tb) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	portals := tb.procs[len(tb.procs)-opts.Portals:]
	errs = make([]error, len(portals))
	for i, p := range portals {
		wg.Go(func() { errs[i] = p.start(ctx, tb) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	opts.Logger.Info("testbed: local topology ready", "run", opts.RunID, "portal", tb.PortalURL(), "portals", opts.Portals, "signers", opts.Signers)
	return tb, nil
}

// prepare lays out the work directory, initialises the data directory and
// fixes every port of the run.
func (tb *localTestbed) prepare(ctx context.Context) error {
	o := tb.opts
	tb.data = filepath.Join(tb.work, "data")
	tb.logDir = o.LogDir
	if tb.logDir == "" {
		tb.logDir = filepath.Join(tb.work, "logs")
	}
	if err := os.MkdirAll(tb.logDir, 0o755); err != nil {
		return fmt.Errorf("testbed: log directory: %w", err)
	}
	var configArgs []string
	if o.Config != nil {
		path := filepath.Join(tb.work, configName(o.Config))
		if err := os.WriteFile(path, o.Config, 0o600); err != nil {
			return fmt.Errorf("testbed: writing the config: %w", err)
		}
		configArgs = []string{"--config", path}
	}
	if err := initData(ctx, o, tb.data, configArgs, tb.logDir); err != nil {
		return err
	}
	if err := shareSealKey(o, tb.data); err != nil {
		return err
	}
	admin, err := os.ReadFile(filepath.Join(tb.data, "admin-token"))
	if err != nil {
		return fmt.Errorf("testbed: reading the admin token: %w", err)
	}
	tb.admin = strings.TrimSpace(string(admin))
	if o.TLS {
		var names []string
		for i := 1; i <= o.Portals; i++ {
			names = append(names, PortalName(i, o.Portals))
		}
		for i := 1; i <= o.Signers; i++ {
			names = append(names, SignerName(i))
		}
		// Every component and every proxy link listens on 127.0.0.1.
		if tb.ca, err = issueTLS(o.RunID, tb.data, names, func(string) []string { return tlsHosts }); err != nil {
			return err
		}
	}
	tlsFiles := filepath.Join(tb.data, tlsDir)

	// proxy API, then per portal its client link's port and its own,
	// then per signer its port and its link's port.
	ports, err := freePorts(1 + 2*o.Portals + 2*o.Signers)
	if err != nil {
		return err
	}
	proxy := &localProc{name: Proxy, role: "proxy", readyPath: "/version", port: ports[0]}
	proxy.args = func() []string { return []string{"serve", "--role", "proxy", "--listen", loopback(proxy.port)} }
	tb.proxyAPI = proxy.url()
	tb.procs = []*localProc{proxy}
	var portals []*localProc
	for i := 1; i <= o.Portals; i++ {
		client, port := ports[2*i-1], ports[2*i]
		tb.clients = append(tb.clients, client)
		p := &localProc{name: PortalName(i, o.Portals), role: "portal", readyPath: "/readyz", port: port, scheme: scheme(tb.ca)}
		tb.links = append(tb.links, link{ClientPortalLink(i, o.Portals), loopback(client), loopback(port)})
		portals = append(portals, p)
	}
	base := 2 * o.Portals
	var signerURLs []string
	for i := 1; i <= o.Signers; i++ {
		s := &localProc{name: SignerName(i), role: "signer", readyPath: "/readyz", port: ports[base+2*i-1], scheme: scheme(tb.ca)}
		linkPort := ports[base+2*i]
		tb.links = append(tb.links, link{SignerLink(i), loopback(linkPort), loopback(s.port)})
		signerURLs = append(signerURLs, scheme(tb.ca)+"://"+loopback(linkPort))
		s.args = func() []string {
			a := []string{"serve", "--role", "signer", "--profile", o.Profile, "--data", tb.data,
				"--signer-index", strconv.Itoa(i), "--listen", loopback(s.port)}
			a = append(a, serveTLSArgs(tb.ca, tlsFiles, s.name, false)...)
			return append(append(a, configArgs...), clockArgs(o, tb.started)...)
		}
		tb.procs = append(tb.procs, s)
	}
	for _, portal := range portals {
		portal.args = func() []string {
			a := []string{"serve", "--role", "portal", "--profile", o.Profile, "--data", tb.data,
				"--signers", strings.Join(signerURLs, ","), "--listen", loopback(portal.port)}
			a = append(a, serveTLSArgs(tb.ca, tlsFiles, portal.name, true)...)
			a = append(a, mailoutArgs(o)...)
			return append(append(a, configArgs...), clockArgs(o, tb.started)...)
		}
	}
	tb.procs = append(tb.procs, portals...)
	return nil
}

// configName keeps the format visible to serve's --config loader.
func configName(b []byte) string {
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "{") {
		return "config.json"
	}
	return "config.yaml"
}

// initData runs golive serve --init on the host, so every component (and,
// on docker, every container through the bind mount) shares one PKI,
// register and set of tokens.
func initData(ctx context.Context, o Options, dir string, configArgs []string, logDir string) error {
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	args := append([]string{"serve", "--init", "--data", dir, "--replicas", strconv.Itoa(o.Signers), "--profile", o.Profile}, configArgs...)
	cmd := exec.CommandContext(ctx, o.Binary, args...)
	cmd.Env = append(os.Environ(), EnvRun+"="+o.RunID, EnvOwner+"="+strconv.Itoa(os.Getpid()))
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(logDir, "init.log"), out, 0o644)
	if err != nil {
		return fmt.Errorf("testbed: %s %s: %w: %s", o.Binary, strings.Join(args, " "), err, tail(out, 600))
	}
	return nil
}

func tail(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// spawnReqs feeds the one goroutine that starts children. It stays locked
// to its OS thread for the life of the process because Pdeathsig fires
// when the thread that forked the child ends, not the process.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive every child
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, done: make(chan error, 1)}
	spawnReqs <- r
	return <-r.done
}

var errNotRunning = errors.New("not running")

// start launches the component and waits for its ready line and ready path.
func (p *localProc) start(ctx context.Context, tb *localTestbed) error {
	p.mu.Lock()
	if p.running() {
		p.mu.Unlock()
		return nil
	}
	logf, err := os.OpenFile(filepath.Join(tb.logDir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("testbed: %s log: %w", p.name, err)
	}
	args := p.args()
	cmd := exec.Command(tb.opts.Binary, args...)
	cmd.Env = append(os.Environ(), EnvRun+"="+tb.opts.RunID, EnvOwner+"="+strconv.Itoa(os.Getpid()),
		"GOLIVE_COMPONENT="+p.name)
	cmd.Env = append(cmd.Env, p.env...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		p.mu.Unlock()
		return fmt.Errorf("testbed: %s: %w", p.name, err)
	}
	fmt.Fprintf(logf, "--- %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	if err := spawn(cmd); err != nil {
		logf.Close()
		p.mu.Unlock()
		return fmt.Errorf("testbed: starting %s: %w", p.name, err)
	}
	pidFile := filepath.Join(tb.work, p.name+".pid")
	_ = os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	done := make(chan struct{})
	p.cmd, p.done, p.waitErr, p.paused = cmd, done, nil, false
	p.mu.Unlock()

	ready := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		// The ready line announces the address; everything else goes to the log.
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		prefix := "golive: " + p.role + " ready at "
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, prefix); ok {
				select {
				case ready <- strings.TrimSpace(u):
				default:
				}
			}
			fmt.Fprintln(logf, line)
		}
		_, _ = io.Copy(logf, stdout)
	}()
	go func() {
		<-copied // Wait closes stdout; read it all first
		err := cmd.Wait()
		logf.Close()
		_ = os.Remove(pidFile)
		p.mu.Lock()
		if p.cmd == cmd {
			p.waitErr = err
		}
		p.mu.Unlock()
		close(done)
	}()

	exited := func() error {
		select {
		case <-done:
			p.mu.Lock()
			defer p.mu.Unlock()
			return fmt.Errorf("testbed: %s exited during start (%v); see %s", p.name, p.waitErr, filepath.Join(tb.logDir, p.name+".log"))
		default:
			return nil
		}
	}
	timer := time.NewTimer(tb.opts.StartTimeout)
	defer timer.Stop()
	select {
	case u := <-ready:
		if u != p.url() {
			tb.opts.Logger.Warn("testbed: component announced another address", "component", p.name, "announced", u, "want", p.url())
		}
	case <-done:
		return exited()
	case <-timer.C:
		return fmt.Errorf("testbed: %s printed no ready line within %v; see %s", p.name, tb.opts.StartTimeout, filepath.Join(tb.logDir, p.name+".log"))
	case <-ctx.Done():
		return fmt.Errorf("testbed: starting %s: %w", p.name, ctx.Err())
	}
	return waitReady(ctx, p.url(), p.readyPath, tb.ca.ClientConfig(), tb.opts.StartTimeout, exited)
}

// running reports whether a process is alive; p.mu must be held.
func (p *localProc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the component's process group.
func (p *localProc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running() {
		return fmt.Errorf("testbed: %s: %w", p.name, errNotRunning)
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("testbed: signalling %s: %w", p.name, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT:
		p.paused = false
	}
	return nil
}

// wait waits for the current process to exit.
func (p *localProc) wait(ctx context.Context, d time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("testbed: %s still running after %v", p.name, d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop ends the process: SIGTERM (and SIGCONT, so a paused one can act on
// it), then SIGKILL after grace.
func (p *localProc) stop(ctx context.Context, grace time.Duration) error {
	if err := p.signal(syscall.SIGTERM); err != nil {
		if errors.Is(err, errNotRunning) {
			return nil
		}
		return err
	}
	_ = p.signal(syscall.SIGCONT)
	if p.wait(ctx, grace) == nil {
		return nil
	}
	_ = p.signal(syscall.SIGKILL)
	return p.wait(context.WithoutCancel(ctx), 10*time.Second)
}

func (tb *localTestbed) proc(name string) (*localProc, error) {
	for _, p := range tb.procs {
		if p.name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("testbed: %q: %w", name, ErrUnknownComponent)
}

// CPUTime implements CPUReader from /proc. A registry node is its
// postmaster's process group: the server and every backend, live or
// reaped.
func (tb *localTestbed) CPUTime(name string) (time.Duration, error) {
	if i, ok := tb.registryNode(name); ok {
		pid := tb.reg.nodes[i].server().PID()
		if pid == 0 {
			return 0, fmt.Errorf("testbed: %s is not running", name)
		}
		return proccpu.Group(pid)
	}
	pid, err := tb.pid(name)
	if err != nil {
		return 0, err
	}
	return proccpu.Process(pid)
}

// CPUTimeFine implements FineCPUReader from /proc/PID/task/*/schedstat.
func (tb *localTestbed) CPUTimeFine(name string) (time.Duration, error) {
	pid, err := tb.pid(name)
	if err != nil {
		return 0, err
	}
	return proccpu.OnCPU(pid)
}

// CPUWait implements CPUReader from /proc.
func (tb *localTestbed) CPUWait(name string) (time.Duration, error) {
	pid, err := tb.pid(name)
	if err != nil {
		return 0, err
	}
	return proccpu.Waited(pid)
}

func (tb *localTestbed) pid(name string) (int, error) {
	p, err := tb.proc(name)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running() {
		return 0, fmt.Errorf("testbed: %s: %w", name, errNotRunning)
	}
	return p.cmd.Process.Pid, nil
}

func (tb *localTestbed) Kind() Kind              { return KindLocal }
func (tb *localTestbed) RunID() string           { return tb.opts.RunID }
func (tb *localTestbed) PortalURL() string       { return tb.PortalURLs()[0] }
func (tb *localTestbed) DirectPortalURL() string { return tb.DirectPortalURLs()[0] }
func (tb *localTestbed) AdminToken() string      { return tb.admin }
func (tb *localTestbed) DataDir() string         { return tb.data }
func (tb *localTestbed) Links() []string         { return linkNames(tb.links) }
func (tb *localTestbed) CA() *CA                 { return tb.ca }

func (tb *localTestbed) Components() []Component {
	out := make([]Component, 0, len(tb.procs))
	for _, p := range tb.procs {
		out = append(out, Component{Name: p.name, URL: p.url(), ReadyPath: p.readyPath})
	}
	return out
}

func (tb *localTestbed) Supports(op Op) error {
	switch op {
	case OpCPU:
		return fmt.Errorf("testbed: CPU throttling is %w: local child processes have no CPU quota; use --target docker", ErrUnsupported)
	case OpIsolate:
		return fmt.Errorf("testbed: isolate is %w: local processes share the loopback network; use partition (the fault proxy's links) or --target docker", ErrUnsupported)
	}
	return nil
}

func (tb *localTestbed) Isolate(context.Context, string) error { return tb.Supports(OpIsolate) }
func (tb *localTestbed) Rejoin(context.Context, string) error  { return tb.Supports(OpIsolate) }

func (tb *localTestbed) Kill(ctx context.Context, name string) error {
	if i, ok := tb.registryNode(name); ok {
		return tb.reg.killNode(ctx, i)
	}
	p, err := tb.proc(name)
	if err != nil {
		return err
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	return p.wait(ctx, 10*time.Second)
}

func (tb *localTestbed) Stop(ctx context.Context, name string) error {
	if i, ok := tb.registryNode(name); ok {
		return tb.reg.nodes[i].stop(ctx)
	}
	p, err := tb.proc(name)
	if err != nil {
		return err
	}
	return p.stop(ctx, 10*time.Second)
}

func (tb *localTestbed) Start(ctx context.Context, name string) error {
	if i, ok := tb.registryNode(name); ok {
		return tb.reg.startNode(ctx, i)
	}
	p, err := tb.proc(name)
	if err != nil {
		return err
	}
	if err := p.start(ctx, tb); err != nil {
		return err
	}
	if name == Proxy {
		// toxiproxy keeps its routes in memory: a new proxy process has none.
		return populateLinks(tb.proxyAPI, tb.links)
	}
	return nil
}

func (tb *localTestbed) Restart(ctx context.Context, name string) error {
	if err := tb.Stop(ctx, name); err != nil {
		return err
	}
	return tb.Start(ctx, name)
}

func (tb *localTestbed) Pause(ctx context.Context, name string) error {
	p, err := tb.proc(name)
	if err != nil {
		return err
	}
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	// The stop lands asynchronously; return once every thread is stopped,
	// so the caller observes a frozen component.
	p.mu.Lock()
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for !allThreadsStopped(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: %s not stopped 5 s after SIGSTOP", name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// allThreadsStopped reports whether every thread of pid is in state T.
func allThreadsStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return true // gone: nothing runs
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			continue
		}
		if st := b[i+2]; st != 'T' && st != 't' {
			return false
		}
	}
	return true
}

func (tb *localTestbed) Resume(_ context.Context, name string) error {
	p, err := tb.proc(name)
	if err != nil {
		return err
	}
	return p.signal(syscall.SIGCONT)
}

func (tb *localTestbed) CPU(context.Context, string, float64) error { return tb.Supports(OpCPU) }

func (tb *localTestbed) Proxy(name string) (*toxiproxy.Proxy, error) {
	return proxyFor(tb.proxyAPI, tb.links, name)
}

// Close stops every child (portal first, so it does not log signer errors
// for the whole shutdown) and removes the work directory.
func (tb *localTestbed) Close(ctx context.Context) error {
	tb.closeOnce.Do(func() {
		var errs []error
		for i := len(tb.procs) - 1; i >= 0; i-- {
			if err := tb.procs[i].stop(ctx, 5*time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		if tb.reg != nil {
			if err := tb.reg.close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if !tb.opts.KeepData {
			if err := os.RemoveAll(tb.work); err != nil {
				errs = append(errs, fmt.Errorf("testbed: removing %s: %w", tb.work, err))
			}
		}
		tb.closeErr = errors.Join(errs...)
	})
	return tb.closeErr
}

// registryNode finds a PostgreSQL node of the registry by name.
func (tb *localTestbed) registryNode(name string) (int, bool) {
	if tb.reg == nil {
		return 0, false
	}
	return tb.reg.node(name)
}

// Registry is the PostgreSQL registry cluster, nil for SQLite.
func (tb *localTestbed) Registry() RegistryCluster {
	if tb.reg == nil {
		return nil
	}
	return tb.reg
}

// seedRegistry copies the registry of o.RegistrySeed (a data directory
// 'golive registry fill' filled) into data/registry: registry.db and its
// seal key for SQLite, the seal key alone for an existing PostgreSQL
// registry (o.RegistryDSN). The copy is the run's own; the seed stays as
// it was.
func seedRegistry(ctx context.Context, o Options, data string) error {
	if o.RegistrySeed == "" {
		return nil
	}
	src := filepath.Join(o.RegistrySeed, "registry")
	dst := filepath.Join(data, "registry")
	files := []string{"seal.key"}
	if o.RegistryDSN == "" {
		if o.Registry == RegistryPostgres {
			return errors.New("testbed: a registry seed for the postgres registry needs the DSN of the filled database")
		}
		files = append(files, "registry.db")
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("testbed: registry directory: %w", err)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(src, f)); err != nil {
			return fmt.Errorf("testbed: registry seed %s: %w (fill it with golive registry fill --data %s)", o.RegistrySeed, err, o.RegistrySeed)
		}
		cctx, cancel := context.WithTimeout(ctx, seedCopyTimeout)
		// cp, not io.Copy: sparse files and the kernel's copy_file_range.
		out, err := exec.CommandContext(cctx, "cp", "--preserve=mode", filepath.Join(src, f), filepath.Join(dst, f)).CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("testbed: copying the registry seed's %s: %v: %s", f, err, tail(out, 400))
		}
	}
	o.Logger.Info("testbed: registry seeded", "seed", o.RegistrySeed, "files", files)
	return nil
}

// seedCopyTimeout bounds copying one seed file (gigabytes for millions of
// certificates).
const seedCopyTimeout = 10 * time.Minute
