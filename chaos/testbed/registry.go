package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golive-dev/golive/internal/pgserver"
)

// Registry backends a testbed can give its portal.
const (
	// RegistrySQLite is the portal's embedded SQLite file in its data
	// directory: the default, and what every run before PostgreSQL used.
	RegistrySQLite = "sqlite"
	// RegistryPostgres is a PostgreSQL cluster run by the testbed: child
	// processes of the machine's PostgreSQL binaries (local), or
	// containers of an image built from them (docker).
	RegistryPostgres = "postgres"
)

// ParseRegistry reads a registry backend name ("" is sqlite).
func ParseRegistry(s string) (string, error) {
	switch r := strings.ToLower(strings.TrimSpace(s)); r {
	case "", RegistrySQLite:
		return RegistrySQLite, nil
	case RegistryPostgres:
		return r, nil
	}
	return "", fmt.Errorf("testbed: unknown registry %q (want sqlite or postgres)", s)
}

// Registry is the name of the registry cluster as a fault target: a
// kill-primary fault kills whichever node is its primary at that moment.
const Registry = "registry"

// RegistryNode is the component name of PostgreSQL node i (1-based):
// registry-1 starts as the primary, registry-2 as its standby.
func RegistryNode(i int) string { return fmt.Sprintf("registry-%d", i) }

// EnvRegistry is how every portal gets the registry DSN: in its
// environment (golive serve reads it as --registry's default), so the
// database password stays off command lines and process lists.
const EnvRegistry = "GOLIVE_REGISTRY"

// registryDB is the database the portals use; the cluster's superuser
// owns it.
const registryDB = "registry"

// Named timeouts of the registry cluster.
const (
	// watchInterval is how often the failover watcher probes the primary.
	watchInterval = 200 * time.Millisecond
	// probeTimeout bounds one probe (a TCP connect).
	probeTimeout = 500 * time.Millisecond
	// failAfter consecutive failed probes declare the primary dead: about
	// a second, long enough not to promote on a hiccup of a loaded
	// machine, short against a portal's client timeout.
	failAfter = 5
	// connectTimeout bounds a portal's connection attempt per host (the
	// DSN's connect_timeout): SCRAM authentication on a loaded two-core
	// machine takes seconds, and a dead host must not hold a request much
	// longer.
	connectTimeout = 10 * time.Second
	// promoteTimeout bounds a promotion until the standby is a primary.
	promoteTimeout = 60 * time.Second
)

// RegistryCluster is implemented by testbeds whose registry is a
// PostgreSQL cluster (Options.Registry postgres).
type RegistryCluster interface {
	// RegistryDSN is the portals' DSN as reached from this host (every
	// node, target_session_attrs=read-write): checks read the registry
	// with it. It holds the cluster's password.
	RegistryDSN() string
	// Primary is the node that is primary now.
	Primary() string
	// KillPrimary kills the current primary (SIGKILL, no checkpoint) and
	// returns its name; the failover watcher promotes the standby.
	KillPrimary(ctx context.Context) (string, error)
	// Failovers lists every failover so far: the primary lost, the
	// standby promoted.
	Failovers() []Failover
	// Nodes names the cluster's nodes (registry-1, registry-2): fault
	// targets for kill, stop and restart beside the components.
	Nodes() []string
}

// RegistryOf is tb's PostgreSQL registry cluster, nil when the portal
// keeps SQLite (or the testbed is a url).
func RegistryOf(tb Testbed) RegistryCluster {
	r, ok := tb.(interface{ Registry() RegistryCluster })
	if !ok {
		return nil
	}
	return r.Registry()
}

// Failover is one promotion of the standby after the primary died.
type Failover struct {
	Failed string // the node that stopped answering
	// Killed is when the testbed killed it (zero when it died otherwise);
	// Detected when the watcher gave up on it; Promoted when the standby
	// ran as a primary.
	Killed, Detected, Promoted time.Time
	NewPrimary                 string
	Error                      string `json:",omitempty"`
}

// pgNode is one PostgreSQL server of the cluster, a child process or a
// container.
type pgNode interface {
	name() string
	// server holds the node's data directory on this host (and, for a
	// child process, the process).
	server() *pgserver.Server
	// hostAddr is host:port from this host.
	hostAddr() string
	// innerAddr is host and port as the portals and the other node reach it.
	innerHost() string
	innerPort() int
	start(ctx context.Context) error
	kill(ctx context.Context) error
	stop(ctx context.Context) error
	running() bool
	// signal sends the postmaster SIGHUP (reload) or SIGUSR1 (promote).
	reload(ctx context.Context) error
	promote(ctx context.Context) error
}

// pgCluster is the registry: a primary and optionally a synchronous
// standby, and a watcher that promotes the standby when the primary dies.
type pgCluster struct {
	log      *slog.Logger
	password string
	nodes    []pgNode
	// rebuild makes node i a fresh standby of the current primary (base
	// backup into its data directory).
	rebuild func(ctx context.Context, i int) error

	mu        sync.Mutex
	primary   int
	killedAt  map[int]time.Time
	failovers []Failover
	// busy is set while a failover or rebuild runs: the watcher waits.
	busy bool

	stopWatch context.CancelFunc
	watchDone chan struct{}
}

func newPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dsn lists every node for pgx's multi-host failover: it connects to
// whichever answers read-write. connect_timeout keeps a node that went
// silent from holding a request up.
func (c *pgCluster) dsn(addrs []string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(pgserver.Superuser, c.password),
		Host: strings.Join(addrs, ","), Path: "/" + registryDB}
	q := url.Values{}
	q.Set("sslmode", "disable")
	q.Set("connect_timeout", strconv.Itoa(int(connectTimeout/time.Second)))
	if len(addrs) > 1 {
		q.Set("target_session_attrs", "read-write")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// PortalDSN is the DSN a portal gets (inner addresses).
func (c *pgCluster) PortalDSN() string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = net.JoinHostPort(n.innerHost(), strconv.Itoa(n.innerPort()))
	}
	return c.dsn(addrs)
}

func (c *pgCluster) RegistryDSN() string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.hostAddr()
	}
	return c.dsn(addrs)
}

func (c *pgCluster) Primary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[c.primary].name()
}

func (c *pgCluster) Nodes() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.name()
	}
	return out
}

func (c *pgCluster) Failovers() []Failover {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Failover(nil), c.failovers...)
}

func (c *pgCluster) node(name string) (int, bool) {
	for i, n := range c.nodes {
		if n.name() == name {
			return i, true
		}
	}
	return 0, false
}

// syncNames is the primary's synchronous_standby_names while a standby
// follows it: '*', the one standby, so COMMIT (and a 201) waits until it
// has the write too.
const syncNames = "*"

// boot starts the primary, creates the registry database, and the
// standby (if any) from a base backup of it; then the watcher.
func (c *pgCluster) boot(ctx context.Context) error {
	p := c.nodes[0]
	if err := p.start(ctx); err != nil {
		return err
	}
	// Before the standby exists: a synchronous commit now would wait for
	// it for ever.
	if err := c.createDB(ctx); err != nil {
		return err
	}
	for i := 1; i < len(c.nodes); i++ {
		if err := c.rebuild(ctx, i); err != nil {
			return err
		}
		if err := c.nodes[i].start(ctx); err != nil {
			return err
		}
	}
	if len(c.nodes) > 1 {
		if err := p.server().SetConf(map[string]string{"synchronous_standby_names": syncNames}); err != nil {
			return err
		}
		if err := p.reload(ctx); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithCancel(context.Background())
	c.stopWatch, c.watchDone = cancel, make(chan struct{})
	go c.watch(wctx)
	return nil
}

// createDB runs createdb on this host against the primary.
func (c *pgCluster) createDB(ctx context.Context) error {
	s := c.nodes[0].server()
	host, port, _ := net.SplitHostPort(c.nodes[0].hostAddr())
	ctx, cancel := context.WithTimeout(ctx, promoteTimeout)
	defer cancel()
	cmd := s.Command(ctx, "createdb", "-h", host, "-p", port, "-U", pgserver.Superuser, registryDB)
	cmd.Env = append(cmd.Env, "PGPASSWORD="+c.password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testbed: createdb %s: %v: %s", registryDB, err, tail(out, 400))
	}
	return nil
}

// conninfo is a libpq connection string to node i from address addr.
func (c *pgCluster) conninfo(host string, port int) string {
	return fmt.Sprintf("host=%s port=%d user=%s application_name=golive-standby", host, port, pgserver.Superuser)
}

// watch probes the primary and promotes the standby when it stops
// answering: the runbook's promote step, done by the testbed the way an
// operator (or an HA manager) would.
func (c *pgCluster) watch(ctx context.Context) {
	defer close(c.watchDone)
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		busy, p := c.busy, c.nodes[c.primary]
		c.mu.Unlock()
		if busy {
			fails = 0
			continue
		}
		conn, err := net.DialTimeout("tcp", p.hostAddr(), probeTimeout)
		if err == nil {
			conn.Close()
			fails = 0
			continue
		}
		if fails++; fails < failAfter {
			continue
		}
		fails = 0
		c.failover(ctx)
	}
}

// failover promotes a running standby, if there is one.
func (c *pgCluster) failover(ctx context.Context) {
	c.mu.Lock()
	old := c.primary
	next := -1
	for i, n := range c.nodes {
		if i != old && n.running() {
			next = i
			break
		}
	}
	if next < 0 || c.busy {
		c.mu.Unlock()
		return
	}
	c.busy = true
	f := Failover{Failed: c.nodes[old].name(), Killed: c.killedAt[old], Detected: time.Now(), NewPrimary: c.nodes[next].name()}
	c.mu.Unlock()
	c.log.Warn("testbed: registry primary not answering; promoting the standby", "failed", f.Failed, "standby", f.NewPrimary)
	err := c.promote(ctx, next)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = false
	if err != nil {
		f.Error = err.Error()
		c.log.Error("testbed: promotion failed", "node", f.NewPrimary, "err", err)
	} else {
		f.Promoted = time.Now()
		c.primary = next
		c.log.Info("testbed: standby promoted", "primary", f.NewPrimary, "after", f.Promoted.Sub(f.Detected))
	}
	c.failovers = append(c.failovers, f)
}

func (c *pgCluster) promote(ctx context.Context, i int) error {
	n := c.nodes[i]
	ctx, cancel := context.WithTimeout(ctx, promoteTimeout)
	defer cancel()
	if err := n.server().RequestPromote(); err != nil {
		return err
	}
	if err := n.promote(ctx); err != nil {
		return err
	}
	for {
		st, err := n.server().ClusterState(ctx)
		if err == nil && st == pgserver.StateProduction {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testbed: %s not promoted (state %q, %v): %w", n.name(), st, err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Alone now: a synchronous standby name would make every COMMIT wait
	// for a standby that is not there. The base backup copied the old
	// primary's setting; the standby's own line already cleared it.
	return nil
}

// KillPrimary kills the node that is primary now.
func (c *pgCluster) KillPrimary(ctx context.Context) (string, error) {
	c.mu.Lock()
	i := c.primary
	c.mu.Unlock()
	return c.nodes[i].name(), c.killNode(ctx, i)
}

func (c *pgCluster) killNode(ctx context.Context, i int) error {
	c.mu.Lock()
	if c.killedAt == nil {
		c.killedAt = map[int]time.Time{}
	}
	c.killedAt[i] = time.Now()
	c.mu.Unlock()
	return c.nodes[i].kill(ctx)
}

// startNode starts a stopped or killed node. The primary comes back as it
// was (crash recovery); a node that lost its primary role to a promotion
// comes back as a new standby of the current primary: started as it was,
// it would be a second primary (split brain) missing every write since.
func (c *pgCluster) startNode(ctx context.Context, i int) error {
	n := c.nodes[i]
	if n.running() {
		return nil
	}
	c.mu.Lock()
	primary := c.primary
	if i != primary {
		c.busy = true
	}
	c.mu.Unlock()
	if i == primary {
		return n.start(ctx)
	}
	defer func() {
		c.mu.Lock()
		c.busy = false
		c.mu.Unlock()
	}()
	st, err := n.server().ClusterState(ctx)
	if err != nil {
		return err
	}
	if st == pgserver.StateProduction || st == "shut down" || st == "in crash recovery" {
		// It was a primary: its history forked from the new one.
		if err := c.rebuild(ctx, i); err != nil {
			return err
		}
	}
	if err := n.start(ctx); err != nil {
		return err
	}
	p := c.nodes[primary]
	if err := p.server().SetConf(map[string]string{"synchronous_standby_names": syncNames}); err != nil {
		return err
	}
	return p.reload(ctx)
}

// stopWatching ends the watcher: a testbed taking the cluster down must
// not see a dead primary and promote.
func (c *pgCluster) stopWatching() {
	if c.stopWatch != nil {
		c.stopWatch()
		<-c.watchDone
		c.stopWatch = nil
	}
}

// close stops the watcher, then every node.
func (c *pgCluster) close(ctx context.Context) error {
	c.stopWatching()
	var errs []error
	for i := len(c.nodes) - 1; i >= 0; i-- {
		if err := c.nodes[i].stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pgDir makes the directory the cluster's data directories live in,
// inside the run's work directory (so clean removes it) and reachable by
// the account PostgreSQL runs as.
func pgDir(work string) (string, error) {
	// The work directory is 0700: let the server's account through (not
	// list it).
	if err := os.Chmod(work, 0o711); err != nil {
		return "", fmt.Errorf("testbed: %w", err)
	}
	dir := filepath.Join(work, "pg")
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return "", fmt.Errorf("testbed: %w", err)
	}
	return dir, nil
}
