package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockernetwork "github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

func init() {
	// No registry is reachable and Ryuk's image cannot be pulled; the
	// testbed removes what it creates itself (Close, golive testbed
	// clean). testcontainers reads this once, so it must be set before
	// any testcontainers call.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// Ports are published on 127.0.0.1 only; "localhost" may resolve to
	// ::1 first, where nothing listens.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
}

// Ports inside the containers.
const (
	innerHTTP      = 8080
	innerProxyAPI  = 8474
	innerClientLnk = 9000 // + portal index - 1
	innerSignerLnk = 9100 // + signer index
	workMount      = "/work"
)

// DockerAvailable returns nil when a Docker daemon answers a ping within
// two seconds.
func DockerAvailable(ctx context.Context) error {
	cli, err := dockerClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		return fmt.Errorf("testbed: no Docker daemon answers at %s: %w", cli.DaemonHost(), err)
	}
	return nil
}

func dockerClient() (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("testbed: docker client: %w", err)
	}
	return cli, nil
}

// tcLogger sends testcontainers' chatter to the run's logger at debug level.
type tcLogger struct{ l *slog.Logger }

func (t tcLogger) Printf(format string, v ...any) {
	t.l.Debug("testcontainers: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// dockerTestbed runs each component as a container on a private network.
type dockerTestbed struct {
	opts    Options
	started time.Time
	cli     *client.Client
	image   string
	work    string
	data    string
	logDir  string
	admin   string
	network *testcontainers.DockerNetwork
	links   []link
	reg     *pgCluster // nil: SQLite in the data directory
	ca      *CA        // nil: plain HTTP

	mu       sync.Mutex
	ctrs     map[string]*dockerComp
	order    []string // start order: proxy, signers, portals
	proxyAPI string
	clients  []int // host ports of the client->portal links, one per portal
	portals  []string

	closeOnce sync.Once
	closeErr  error
}

type dockerComp struct {
	name      string
	hostPort  int
	readyPath string
	scheme    string                   // "" is http; https with the run's CA
	ctr       testcontainers.Container // nil until created
	id        string
}

func (c *dockerComp) url() string {
	if c.scheme == "" {
		return "http://" + loopback(c.hostPort)
	}
	return c.scheme + "://" + loopback(c.hostPort)
}

func (tb *dockerTestbed) labels() map[string]string {
	return map[string]string{LabelTestbed: "1", LabelRun: tb.opts.RunID, LabelOwner: strconv.Itoa(os.Getpid())}
}

func startDocker(ctx context.Context, opts Options) (_ Testbed, err error) {
	if err := CheckStatic(opts.Binary); err != nil {
		return nil, err
	}
	if err := DockerAvailable(ctx); err != nil {
		return nil, err
	}
	cli, err := dockerClient()
	if err != nil {
		return nil, err
	}
	work, err := makeWorkDir(opts.RunID)
	if err != nil {
		cli.Close()
		return nil, err
	}
	tb := &dockerTestbed{opts: opts, started: time.Now(), cli: cli, work: work, ctrs: map[string]*dockerComp{}}
	defer func() {
		if err != nil {
			// A failed or interrupted start leaves nothing behind.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
			defer cancel()
			if cerr := tb.Close(cctx); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()
	if tb.image, err = EnsureImage(ctx, opts.Binary, opts.Logger); err != nil {
		return nil, err
	}
	opts.Logger.Debug("testbed: image ready", "image", tb.image, "after", time.Since(tb.started))
	if err := tb.prepare(ctx); err != nil {
		return nil, err
	}
	opts.Logger.Debug("testbed: data initialised", "after", time.Since(tb.started))
	// Not cancellable, like container creation: see run.
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	nw, err := network.New(nctx, network.WithLabels(tb.labels()))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("testbed: creating the run's network: %w", err)
	}
	tb.network = nw
	if opts.Registry == RegistryPostgres {
		if tb.reg, err = tb.startRegistry(ctx); err != nil {
			return nil, err
		}
		opts.Logger.Debug("testbed: registry ready", "after", time.Since(tb.started), "standby", opts.RegistryStandby)
	}

	// Every container starts at once: docker's create and start dominate
	// the start time, and the portal waits for its signers by itself
	// (its readiness wait covers a naive portal that needs one).
	names := append([]string{Proxy}, tb.order[1:]...)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			errs[i] = tb.run(ctx, n)
			if n == Proxy && errs[i] == nil {
				errs[i] = populateLinks(tb.proxyAPI, tb.links)
			}
			opts.Logger.Debug("testbed: container ready", "component", n, "after", time.Since(tb.started), "err", errs[i])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	opts.Logger.Info("testbed: docker topology ready", "run", opts.RunID, "portal", tb.PortalURL(), "image", tb.image, "network", nw.Name)
	return tb, nil
}

func (tb *dockerTestbed) prepare(ctx context.Context) error {
	o := tb.opts
	tb.data = filepath.Join(tb.work, "data")
	tb.logDir = o.LogDir
	if tb.logDir == "" {
		tb.logDir = filepath.Join(tb.work, "logs")
	}
	if err := os.MkdirAll(tb.logDir, 0o755); err != nil {
		return fmt.Errorf("testbed: log directory: %w", err)
	}
	var hostConfig []string
	if o.Config != nil {
		name := configName(o.Config)
		if err := os.WriteFile(filepath.Join(tb.work, name), o.Config, 0o644); err != nil {
			return fmt.Errorf("testbed: writing the config: %w", err)
		}
		hostConfig = []string{"--config", filepath.Join(tb.work, name)}
	}
	// The static binary runs on the host too: one init for every container.
	if err := initData(ctx, o, tb.data, hostConfig, tb.logDir); err != nil {
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
		// A component is dialled at its alias (direct), at "proxy" (the
		// portal's signer links, the workers' client links) and at
		// 127.0.0.1 (published ports, the client links from the host).
		hosts := func(name string) []string { return append([]string{name, Proxy}, tlsHosts...) }
		if tb.ca, err = issueTLS(o.RunID, tb.data, names, hosts); err != nil {
			return err
		}
	}
	// proxy API, per portal its client link and its own port, per signer its port.
	ports, err := freePorts(1 + 2*o.Portals + o.Signers)
	if err != nil {
		return err
	}
	tb.proxyAPI = "http://" + loopback(ports[0])
	tb.add(&dockerComp{name: Proxy, hostPort: ports[0], readyPath: "/version"})
	for i := 1; i <= o.Portals; i++ {
		name := PortalName(i, o.Portals)
		tb.clients = append(tb.clients, ports[2*i-1])
		tb.portals = append(tb.portals, name)
		tb.links = append(tb.links, link{ClientPortalLink(i, o.Portals), fmt.Sprintf("0.0.0.0:%d", innerClientLnk+i-1), fmt.Sprintf("%s:%d", name, innerHTTP)})
	}
	for i := 1; i <= o.Signers; i++ {
		tb.add(&dockerComp{name: SignerName(i), hostPort: ports[2*o.Portals+i], readyPath: "/readyz", scheme: scheme(tb.ca)})
		tb.links = append(tb.links, link{SignerLink(i), fmt.Sprintf("0.0.0.0:%d", innerSignerLnk+i), fmt.Sprintf("%s:%d", SignerName(i), innerHTTP)})
	}
	for i, name := range tb.portals {
		tb.add(&dockerComp{name: name, hostPort: ports[2*i+2], readyPath: "/readyz", scheme: scheme(tb.ca)})
	}
	return nil
}

func (tb *dockerTestbed) add(c *dockerComp) {
	tb.ctrs[c.name] = c
	tb.order = append(tb.order, c.name)
}

// args is the command line of a component's container.
func (tb *dockerTestbed) args(name string) []string {
	o := tb.opts
	var cfg []string
	if o.Config != nil {
		cfg = []string{"--config", workMount + "/" + configName(o.Config)}
	}
	data := workMount + "/data"
	tlsFiles := data + "/" + tlsDir
	listen := fmt.Sprintf("0.0.0.0:%d", innerHTTP)
	switch {
	case name == Proxy:
		return []string{"serve", "--role", "proxy", "--listen", fmt.Sprintf("0.0.0.0:%d", innerProxyAPI)}
	case tb.isPortal(name):
		signers := make([]string, o.Signers)
		for i := range signers {
			signers[i] = fmt.Sprintf("%s://%s:%d", scheme(tb.ca), Proxy, innerSignerLnk+i+1)
		}
		a := []string{"serve", "--role", "portal", "--profile", o.Profile, "--data", data,
			"--signers", strings.Join(signers, ","), "--listen", listen}
		a = append(a, serveTLSArgs(tb.ca, tlsFiles, name, true)...)
		a = append(a, mailoutArgs(o)...)
		return append(append(a, cfg...), clockArgs(o, tb.started)...)
	default:
		idx := strings.TrimPrefix(name, "signer-")
		a := []string{"serve", "--role", "signer", "--profile", o.Profile, "--data", data,
			"--signer-index", idx, "--listen", listen}
		a = append(a, serveTLSArgs(tb.ca, tlsFiles, name, false)...)
		return append(append(a, cfg...), clockArgs(o, tb.started)...)
	}
}

// run creates and starts a component's container and waits until ready.
func (tb *dockerTestbed) run(ctx context.Context, name string) error {
	c := tb.ctrs[name]
	inner := fmt.Sprintf("%d/tcp", innerHTTP)
	exposed := []string{inner}
	bindings := nat.PortMap{nat.Port(inner): {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(c.hostPort)}}}
	strategy := wait.ForHTTP(c.readyPath).WithPort(nat.Port(inner))
	if c.scheme == "https" {
		strategy = strategy.WithTLS(true, tb.ca.ClientConfig())
	}
	if name == Proxy {
		api := fmt.Sprintf("%d/tcp", innerProxyAPI)
		exposed = []string{api}
		bindings = nat.PortMap{nat.Port(api): {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(c.hostPort)}}}
		for i, host := range tb.clients {
			cl := fmt.Sprintf("%d/tcp", innerClientLnk+i)
			exposed = append(exposed, cl)
			bindings[nat.Port(cl)] = []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: strconv.Itoa(host)}}
		}
		strategy = wait.ForHTTP(c.readyPath).WithPort(nat.Port(api))
	}
	user := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	req := testcontainers.ContainerRequest{
		Image:          tb.image,
		Name:           "golive-" + tb.opts.RunID + "-" + name,
		Cmd:            tb.args(name),
		ExposedPorts:   exposed,
		Labels:         tb.labels(),
		Networks:       []string{tb.network.Name},
		NetworkAliases: map[string][]string{tb.network.Name: {name}},
		WaitingFor:     strategy.WithStartupTimeout(tb.opts.StartTimeout).WithPollInterval(50 * time.Millisecond),
		ConfigModifier: func(cfg *container.Config) {
			// The host's uid owns the bind-mounted data directory.
			cfg.User = user
			if tb.isPortal(name) && tb.reg != nil {
				cfg.Env = append(cfg.Env, EnvRegistry+"="+tb.reg.PortalDSN())
			}
		},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.PortBindings = bindings
			hc.Binds = []string{tb.work + ":" + workMount}
		},
	}
	// Create without the caller's cancellation: a create aborted by the
	// client may still complete in the daemon, and a container we hold no
	// handle to would be left behind. Start and the readiness wait do
	// honour ctx.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tb.opts.StartTimeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("testbed: starting container %s: %w", name, err)
	}
	ctr, err := testcontainers.GenericContainer(cctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req, Logger: tcLogger{tb.opts.Logger},
	})
	if ctr != nil {
		// Even a failed create may leave a container; Close removes it.
		tb.mu.Lock()
		c.ctr, c.id = ctr, ctr.GetContainerID()
		tb.mu.Unlock()
	}
	if err == nil {
		err = ctr.Start(ctx)
	}
	if err != nil {
		return fmt.Errorf("testbed: starting container %s: %w%s", name, err, tb.logTail(ctx, c))
	}
	return nil
}

// logTail is the end of a container's log, to explain a failed start.
func (tb *dockerTestbed) logTail(ctx context.Context, c *dockerComp) string {
	if c.id == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rc, err := tb.cli.ContainerLogs(ctx, c.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var b strings.Builder
	_, _ = stdcopy.StdCopy(&b, &b, io.LimitReader(rc, 8<<10))
	if b.Len() == 0 {
		return ""
	}
	return "\n" + c.name + " log:\n" + tail([]byte(b.String()), 2000)
}

func (tb *dockerTestbed) comp(n string) (*dockerComp, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	c, ok := tb.ctrs[n]
	if !ok {
		return nil, fmt.Errorf("testbed: %q: %w", n, ErrUnknownComponent)
	}
	if c.id == "" {
		return nil, fmt.Errorf("testbed: %s has no container", n)
	}
	return c, nil
}

func (tb *dockerTestbed) Kind() Kind              { return KindDocker }
func (tb *dockerTestbed) RunID() string           { return tb.opts.RunID }
func (tb *dockerTestbed) PortalURL() string       { return tb.PortalURLs()[0] }
func (tb *dockerTestbed) DirectPortalURL() string { return tb.DirectPortalURLs()[0] }
func (tb *dockerTestbed) AdminToken() string      { return tb.admin }
func (tb *dockerTestbed) DataDir() string         { return tb.data }
func (tb *dockerTestbed) Links() []string         { return linkNames(tb.links) }
func (tb *dockerTestbed) Supports(Op) error       { return nil }
func (tb *dockerTestbed) CA() *CA                 { return tb.ca }

func (tb *dockerTestbed) Components() []Component {
	out := make([]Component, 0, len(tb.order))
	for _, n := range tb.order {
		c := tb.ctrs[n]
		out = append(out, Component{Name: n, URL: c.url(), ReadyPath: c.readyPath})
	}
	return out
}

func (tb *dockerTestbed) Kill(ctx context.Context, n string) error {
	if i, ok := tb.registryNode(n); ok {
		return tb.reg.killNode(ctx, i)
	}
	c, err := tb.comp(n)
	if err != nil {
		return err
	}
	if err := tb.cli.ContainerKill(ctx, c.id, "KILL"); err != nil {
		return fmt.Errorf("testbed: killing %s: %w", n, err)
	}
	// docker kill returns before the container has exited.
	waitC, errC := tb.cli.ContainerWait(ctx, c.id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
		return nil
	case err := <-errC:
		return fmt.Errorf("testbed: waiting for %s to exit: %w", n, err)
	}
}

func (tb *dockerTestbed) Stop(ctx context.Context, n string) error {
	if i, ok := tb.registryNode(n); ok {
		return tb.reg.nodes[i].stop(ctx)
	}
	c, err := tb.comp(n)
	if err != nil {
		return err
	}
	grace := 10
	if err := tb.cli.ContainerStop(ctx, c.id, container.StopOptions{Timeout: &grace}); err != nil {
		return fmt.Errorf("testbed: stopping %s: %w", n, err)
	}
	return nil
}

func (tb *dockerTestbed) Start(ctx context.Context, n string) error {
	if i, ok := tb.registryNode(n); ok {
		return tb.reg.startNode(ctx, i)
	}
	c, err := tb.comp(n)
	if err != nil {
		return err
	}
	info, err := tb.cli.ContainerInspect(ctx, c.id)
	if err != nil {
		return fmt.Errorf("testbed: inspecting %s: %w", n, err)
	}
	if !info.State.Running {
		if err := tb.cli.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
			return fmt.Errorf("testbed: starting %s: %w", n, err)
		}
	}
	if err := waitReady(ctx, c.url(), c.readyPath, tb.ca.ClientConfig(), tb.opts.StartTimeout, nil); err != nil {
		return fmt.Errorf("%w%s", err, tb.logTail(ctx, c))
	}
	if n == Proxy {
		return populateLinks(tb.proxyAPI, tb.links)
	}
	return nil
}

func (tb *dockerTestbed) Restart(ctx context.Context, n string) error {
	if err := tb.Stop(ctx, n); err != nil {
		return err
	}
	return tb.Start(ctx, n)
}

func (tb *dockerTestbed) Pause(ctx context.Context, n string) error {
	c, err := tb.comp(n)
	if err != nil {
		return err
	}
	if err := tb.cli.ContainerPause(ctx, c.id); err != nil {
		return fmt.Errorf("testbed: pausing %s: %w", n, err)
	}
	return nil
}

func (tb *dockerTestbed) Resume(ctx context.Context, n string) error {
	c, err := tb.comp(n)
	if err != nil {
		return err
	}
	if err := tb.cli.ContainerUnpause(ctx, c.id); err != nil {
		return fmt.Errorf("testbed: resuming %s: %w", n, err)
	}
	return nil
}

// statsTimeout bounds one container stats call.
const statsTimeout = 5 * time.Second

// CPUTime implements CPUReader from the container's CPU accounting.
// A registry node is its container (the postmaster and its backends).
func (tb *dockerTestbed) CPUTime(n string) (time.Duration, error) {
	var id string
	if i, ok := tb.registryNode(n); ok {
		node, isDocker := tb.reg.nodes[i].(*dockerPG)
		if !isDocker || node.containerID() == "" {
			return 0, fmt.Errorf("testbed: %s has no container", n)
		}
		id = node.containerID()
	} else {
		c, err := tb.comp(n)
		if err != nil {
			return 0, err
		}
		id = c.id
	}
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	resp, err := tb.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("testbed: stats of %s: %w", n, err)
	}
	defer resp.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("testbed: stats of %s: %w", n, err)
	}
	return time.Duration(st.CPUStats.CPUUsage.TotalUsage), nil
}

// CPUWait is not known for a container.
func (tb *dockerTestbed) CPUWait(string) (time.Duration, error) {
	return 0, fmt.Errorf("testbed: run-queue wait of a container: %w", ErrUnsupported)
}

// CPU sets a CFS quota of cpus CPUs per 100 ms period; cpus <= 0 lifts it.
func (tb *dockerTestbed) CPU(ctx context.Context, n string, cpus float64) error {
	c, err := tb.comp(n)
	if err != nil {
		return err
	}
	const period = 100_000
	quota := int64(-1) // no limit
	if cpus > 0 {
		quota = max(int64(cpus*period), 1000)
	}
	_, err = tb.cli.ContainerUpdate(ctx, c.id, container.UpdateConfig{Resources: container.Resources{CPUPeriod: period, CPUQuota: quota}})
	if err != nil {
		return fmt.Errorf("testbed: CPU quota of %s: %w", n, err)
	}
	return nil
}

// Isolate disconnects the component's container from the run's network:
// its peers' connections fail and its name no longer resolves.
func (tb *dockerTestbed) Isolate(ctx context.Context, n string) error {
	c, err := tb.comp(n)
	if err != nil {
		return err
	}
	if err := tb.cli.NetworkDisconnect(ctx, tb.network.ID, c.id, true); err != nil {
		return fmt.Errorf("testbed: isolating %s: %w", n, err)
	}
	return nil
}

// Rejoin reconnects an isolated component under its alias.
func (tb *dockerTestbed) Rejoin(ctx context.Context, n string) error {
	c, err := tb.comp(n)
	if err != nil {
		return err
	}
	err = tb.cli.NetworkConnect(ctx, tb.network.ID, c.id, &dockernetwork.EndpointSettings{Aliases: []string{n}})
	if err != nil {
		return fmt.Errorf("testbed: reconnecting %s: %w", n, err)
	}
	return nil
}

func (tb *dockerTestbed) Proxy(n string) (*toxiproxy.Proxy, error) {
	return proxyFor(tb.proxyAPI, tb.links, n)
}

// Close saves each container's log, removes the containers and the
// network, and the work directory unless KeepData.
func (tb *dockerTestbed) Close(ctx context.Context) error {
	tb.closeOnce.Do(func() {
		if tb.reg != nil {
			tb.reg.stopWatching()
		}
		var errs []error
		var mu sync.Mutex
		var wg sync.WaitGroup
		tb.mu.Lock()
		comps := make([]*dockerComp, 0, len(tb.ctrs))
		for _, c := range tb.ctrs {
			if c.id != "" {
				comps = append(comps, c)
			}
		}
		tb.mu.Unlock()
		if tb.reg != nil {
			// The registry's containers go with the run's label below;
			// their logs are kept like the others'.
			for _, n := range tb.reg.nodes {
				if id := n.(*dockerPG).containerID(); id != "" {
					tb.saveLog(ctx, &dockerComp{name: n.name(), id: id})
				}
			}
		}
		for _, c := range comps {
			wg.Go(func() {
				tb.saveLog(ctx, c)
				// A paused container cannot take SIGTERM; rm -f kills it either way.
				if err := tb.cli.ContainerRemove(ctx, c.id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("testbed: removing container %s: %w", c.name, err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		// Sweep by label too: whatever an interrupted call created without
		// handing back a handle.
		run := filters.NewArgs(filters.Arg("label", LabelRun+"="+tb.opts.RunID))
		if left, err := tb.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: run}); err == nil {
			for _, c := range left {
				if err := tb.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("testbed: removing container %v: %w", c.Names, err))
				}
			}
		}
		if nws, err := tb.cli.NetworkList(ctx, dockernetwork.ListOptions{Filters: run}); err == nil {
			for _, nw := range nws {
				if err := tb.cli.NetworkRemove(ctx, nw.ID); err != nil && !cerrdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("testbed: removing network %s: %w", nw.Name, err))
				}
			}
		} else {
			errs = append(errs, fmt.Errorf("testbed: listing the run's networks: %w", err))
		}
		if !tb.opts.KeepData {
			if err := os.RemoveAll(tb.work); err != nil {
				errs = append(errs, fmt.Errorf("testbed: removing %s: %w", tb.work, err))
			}
		}
		tb.cli.Close()
		tb.closeErr = errors.Join(errs...)
	})
	return tb.closeErr
}

// saveLog copies a container's output to LogDir/<name>.log when the logs
// outlive the run (LogDir or KeepData set).
func (tb *dockerTestbed) saveLog(ctx context.Context, c *dockerComp) {
	if tb.opts.LogDir == "" && !tb.opts.KeepData {
		return
	}
	rc, err := tb.cli.ContainerLogs(ctx, c.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return
	}
	defer rc.Close()
	f, err := os.Create(filepath.Join(tb.logDir, c.name+".log"))
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = stdcopy.StdCopy(f, f, rc)
}

// registryNode finds a PostgreSQL node of the registry by name.
func (tb *dockerTestbed) registryNode(name string) (int, bool) {
	if tb.reg == nil {
		return 0, false
	}
	return tb.reg.node(name)
}

// Registry is the PostgreSQL registry cluster, nil for SQLite.
func (tb *dockerTestbed) Registry() RegistryCluster {
	if tb.reg == nil {
		return nil
	}
	return tb.reg
}
