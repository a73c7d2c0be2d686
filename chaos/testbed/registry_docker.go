package testbed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/golive-dev/golive/internal/pgserver"
)

// innerPG is PostgreSQL's port inside its container; pgMount is where its
// directory (data/ and the socket) is bind-mounted.
const (
	innerPG = 5432
	pgMount = "/pg"
)

// dockerPG is a registry node in a container of the PostgreSQL image; its
// data directory is on the host (made there with initdb or pg_basebackup)
// and bind-mounted.
type dockerPG struct {
	tb       *dockerTestbed
	image    string
	nm       string
	s        *pgserver.Server
	hostPort int

	mu  sync.Mutex
	id  string
	ctr testcontainers.Container
}

func (n *dockerPG) name() string             { return n.nm }
func (n *dockerPG) server() *pgserver.Server { return n.s }
func (n *dockerPG) hostAddr() string         { return loopback(n.hostPort) }
func (n *dockerPG) innerHost() string        { return n.nm }
func (n *dockerPG) innerPort() int           { return innerPG }

func (n *dockerPG) containerID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.id
}

func (n *dockerPG) running() bool {
	id := n.containerID()
	if id == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	info, err := n.tb.cli.ContainerInspect(ctx, id)
	return err == nil && info.State.Running
}

// args are the server's settings: those pgserver gives a local server,
// on every address of the container network.
func (n *dockerPG) args() []string {
	a := []string{"-D", pgMount + "/data", "-p", strconv.Itoa(innerPG), "-k", pgMount,
		"-c", "listen_addresses=*", "-c", "fsync=on", "-c", "synchronous_commit=on",
		"-c", "full_page_writes=on", "-c", "max_connections=300"}
	for k, v := range pgSettings {
		a = append(a, "-c", k+"="+v)
	}
	return a
}

func (n *dockerPG) start(ctx context.Context) error {
	if id := n.containerID(); id != "" {
		if !n.running() {
			if err := n.tb.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
				return fmt.Errorf("testbed: starting %s: %w", n.nm, err)
			}
		}
		return n.waitReady(ctx)
	}
	uid, gid := n.s.Owner()
	inner := nat.Port(fmt.Sprintf("%d/tcp", innerPG))
	req := testcontainers.ContainerRequest{
		Image:          n.image,
		Name:           "golive-" + n.tb.opts.RunID + "-" + n.nm,
		Cmd:            n.args(),
		ExposedPorts:   []string{string(inner)},
		Labels:         n.tb.labels(),
		Networks:       []string{n.tb.network.Name},
		NetworkAliases: map[string][]string{n.tb.network.Name: {n.nm}},
		// Both a primary and a standby log this once they take connections.
		WaitingFor: wait.ForLog("database system is ready to accept").WithStartupTimeout(n.tb.opts.StartTimeout).
			WithPollInterval(100 * time.Millisecond),
		ConfigModifier: func(cfg *container.Config) {
			cfg.User = fmt.Sprintf("%d:%d", uid, gid)
			// SIGTERM is PostgreSQL's smart shutdown, which waits for
			// every client; a testbed stop is a fast shutdown.
			cfg.StopSignal = "SIGINT"
		},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.PortBindings = nat.PortMap{inner: {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(n.hostPort)}}}
			hc.Binds = []string{n.s.Dir() + ":" + pgMount}
			hc.ShmSize = 256 << 20
		},
	}
	// Created without the caller's cancellation, as the other containers.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.tb.opts.StartTimeout)
	defer cancel()
	ctr, err := testcontainers.GenericContainer(cctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req, Logger: tcLogger{n.tb.opts.Logger},
	})
	if ctr != nil {
		n.mu.Lock()
		n.ctr, n.id = ctr, ctr.GetContainerID()
		n.mu.Unlock()
	}
	if err == nil {
		err = ctr.Start(ctx)
	}
	if err != nil {
		return fmt.Errorf("testbed: starting container %s: %w", n.nm, err)
	}
	return n.waitReady(ctx)
}

// waitReady waits until the server takes connections (pg_isready from the
// host's binaries: the image has only the server).
func (n *dockerPG) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.tb.opts.StartTimeout)
	defer cancel()
	for {
		cmd := exec.CommandContext(ctx, filepath.Join(n.s.BinDir(), "pg_isready"), "-q", "-h", "127.0.0.1",
			"-p", strconv.Itoa(n.hostPort), "-t", "2")
		err := cmd.Run()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testbed: %s does not take connections: %w", n.nm, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (n *dockerPG) kill(ctx context.Context) error {
	id := n.containerID()
	if id == "" {
		return fmt.Errorf("testbed: %s has no container", n.nm)
	}
	if err := n.tb.cli.ContainerKill(ctx, id, "KILL"); err != nil {
		return fmt.Errorf("testbed: killing %s: %w", n.nm, err)
	}
	waitC, errC := n.tb.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
		return nil
	case err := <-errC:
		return fmt.Errorf("testbed: waiting for %s to exit: %w", n.nm, err)
	}
}

func (n *dockerPG) stop(ctx context.Context) error {
	id := n.containerID()
	if id == "" {
		return nil
	}
	grace := 10
	if err := n.tb.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &grace}); err != nil {
		return fmt.Errorf("testbed: stopping %s: %w", n.nm, err)
	}
	return nil
}

func (n *dockerPG) signal(ctx context.Context, sig string) error {
	id := n.containerID()
	if id == "" {
		return fmt.Errorf("testbed: %s has no container", n.nm)
	}
	// The postmaster is the container's first process.
	if err := n.tb.cli.ContainerKill(ctx, id, sig); err != nil {
		return fmt.Errorf("testbed: %s to %s: %w", sig, n.nm, err)
	}
	return nil
}

func (n *dockerPG) reload(ctx context.Context) error  { return n.signal(ctx, "HUP") }
func (n *dockerPG) promote(ctx context.Context) error { return n.signal(ctx, "USR1") }

// startDockerRegistry builds (or finds) the PostgreSQL image and starts
// the cluster on the run's network: registry-1 and, with a standby,
// registry-2.
func (tb *dockerTestbed) startRegistry(ctx context.Context) (*pgCluster, error) {
	o := tb.opts
	dir, err := pgDir(tb.work)
	if err != nil {
		return nil, err
	}
	c := &pgCluster{log: o.Logger, password: newPassword()}
	po := pgserver.Options{Parent: dir, Password: c.password, StartTimeout: o.StartTimeout,
		Env: []string{EnvRun + "=" + o.RunID, EnvOwner + "=" + strconv.Itoa(os.Getpid())}}
	primary, err := pgserver.Init(ctx, po)
	if err != nil {
		return nil, err
	}
	if err := primary.AllowNetwork(); err != nil {
		return nil, err
	}
	uid, gid := primary.Owner()
	image, err := EnsurePGImage(ctx, primary.BinDir(), uid, gid, o.Logger)
	if err != nil {
		return nil, err
	}
	n := 1
	if o.RegistryStandby {
		n = 2
	}
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	for i := range n {
		s := primary
		if i > 0 {
			if s, err = pgserver.New(po); err != nil {
				return nil, err
			}
		}
		s.SetPort(ports[i])
		c.nodes = append(c.nodes, &dockerPG{tb: tb, image: image, nm: RegistryNode(i + 1), s: s, hostPort: ports[i]})
	}
	c.rebuild = func(ctx context.Context, i int) error {
		c.mu.Lock()
		p := c.nodes[c.primary].(*dockerPG)
		c.mu.Unlock()
		// Copied from this host through the published port; followed
		// over the run's network.
		return c.nodes[i].server().Rebuild(ctx, c.conninfo("127.0.0.1", p.hostPort), c.conninfo(p.nm, innerPG))
	}
	if err := c.boot(ctx); err != nil {
		// The containers carry the run's label: Close removes them.
		c.stopWatching()
		return nil, err
	}
	return c, nil
}
