package testbed

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/golive-dev/golive/internal/pgserver"
)

// localPG is a registry node run as a child process of the machine's
// PostgreSQL binaries.
type localPG struct {
	nm string
	s  *pgserver.Server
}

func (n *localPG) name() string             { return n.nm }
func (n *localPG) server() *pgserver.Server { return n.s }
func (n *localPG) hostAddr() string         { return loopback(n.s.Port()) }
func (n *localPG) innerHost() string        { return "127.0.0.1" }
func (n *localPG) innerPort() int           { return n.s.Port() }
func (n *localPG) running() bool            { return n.s.Running() }
func (n *localPG) start(ctx context.Context) error {
	if n.s.Running() {
		return nil
	}
	if err := n.s.Restart(ctx); err != nil {
		return fmt.Errorf("testbed: starting %s: %w", n.nm, err)
	}
	return nil
}
func (n *localPG) kill(context.Context) error    { n.s.Kill(); return nil }
func (n *localPG) stop(context.Context) error    { return n.s.Stop() }
func (n *localPG) reload(context.Context) error  { return n.s.Reload() }
func (n *localPG) promote(context.Context) error { return n.s.Promote() }

// pgSettings are the registry nodes' server settings beyond pgserver's
// (fsync, synchronous_commit on): JIT off (its library is not in the
// docker image either, and it only slows short queries).
var pgSettings = map[string]string{"jit": "off"}

// startLocalRegistry starts the cluster: registry-1 (primary) and, with
// a standby, registry-2 following it synchronously.
func startLocalRegistry(ctx context.Context, o Options, work string) (*pgCluster, error) {
	dir, err := pgDir(work)
	if err != nil {
		return nil, err
	}
	c := &pgCluster{log: o.Logger, password: newPassword()}
	po := pgserver.Options{Parent: dir, Settings: pgSettings, Password: c.password, StartTimeout: o.StartTimeout,
		Env: []string{EnvRun + "=" + o.RunID, EnvOwner + "=" + strconv.Itoa(os.Getpid())}}
	n := 1
	if o.RegistryStandby {
		n = 2
	}
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	for i := range n {
		var s *pgserver.Server
		if i == 0 {
			s, err = pgserver.Init(ctx, po)
		} else {
			s, err = pgserver.New(po)
		}
		if err != nil {
			_ = c.close(ctx)
			return nil, err
		}
		s.SetPort(ports[i])
		c.nodes = append(c.nodes, &localPG{nm: RegistryNode(i + 1), s: s})
	}
	c.rebuild = func(ctx context.Context, i int) error {
		c.mu.Lock()
		p := c.nodes[c.primary]
		c.mu.Unlock()
		ci := c.conninfo("127.0.0.1", p.innerPort())
		return c.nodes[i].server().Rebuild(ctx, ci, ci)
	}
	if err := c.boot(ctx); err != nil {
		_ = c.close(ctx)
		return nil, err
	}
	return c, nil
}
