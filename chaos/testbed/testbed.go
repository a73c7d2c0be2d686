// Package testbed starts the issuer's topology for a load or chaos run and
// knows how to reach and hurt each part of it. The topology is a portal, N
// signers, and one fault proxy (golive serve --role proxy, an embedded
// toxiproxy) in front of the portal and on every portal-to-signer link, so
// network faults hit real TCP connections. Three kinds:
//
//   - docker: one container per component on a private network per run,
//     from a FROM scratch image around the running (static) golive binary;
//   - local: the same components as child processes on loopback ports;
//   - url: an existing deployment; it can be loaded but not hurt.
//
// The chaos package decides when and what to break; it talks to a Testbed
// through the fault actions here, so one schedule runs on docker and local.
package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/golive-dev/golive/chaos/fault"
)

// Kind names a testbed implementation.
type Kind string

const (
	KindAuto   Kind = "auto"
	KindDocker Kind = "docker"
	KindLocal  Kind = "local"
	KindURL    Kind = "url"
)

// ParseKind reads a --target value.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case "":
		return KindAuto, nil
	case KindAuto, KindDocker, KindLocal, KindURL:
		return k, nil
	}
	return "", fmt.Errorf("testbed: unknown target %q (want auto, docker, local or url)", s)
}

// Labels on every container, network and image the docker testbed creates,
// so leftovers can be found (golive testbed clean).
const (
	LabelTestbed = "dev.golive.testbed" // "1"
	LabelRun     = "dev.golive.run"     // the run id
	LabelOwner   = "dev.golive.owner"   // pid of the golive process that started the run
)

// Environment of local child processes: the run id and the owner's pid let
// clean find the children of a dead run by the process list alone.
const (
	EnvRun   = "GOLIVE_TESTBED_RUN"
	EnvOwner = "GOLIVE_TESTBED_OWNER"
)

// Component names.
const (
	Portal = "portal"
	Proxy  = "proxy"
)

// SignerName is the component name of signer i (1-based).
func SignerName(i int) string { return fmt.Sprintf("signer-%d", i) }

// Link names of the fault proxy's routes.
const (
	LinkClientPortal = "client->portal"
)

// SignerLink is the link from the portal to signer i.
func SignerLink(i int) string { return "portal->" + SignerName(i) }

// proxyName is the toxiproxy name of a link ("->" is awkward in a URL path).
func proxyName(link string) string { return strings.ReplaceAll(link, "->", "_") }

// Component is one running part of the topology.
type Component struct {
	Name string // portal, signer-1.., proxy
	// URL is the component's base URL as reached from this host.
	URL string
	// ReadyPath answers 200 when the component is ready (/readyz; the
	// proxy's API answers /version).
	ReadyPath string
}

// Op is a fault action a testbed may or may not support. A process
// fault's operation is named after its kind in the fault vocabulary, so the
// injector asks for the kind it applies; start and resume are undos.
type Op string

const (
	OpKill    = Op(fault.Kill)
	OpStop    = Op(fault.Stop)
	OpStart   = Op("start")
	OpRestart = Op(fault.Restart)
	OpPause   = Op(fault.Pause)
	OpResume  = Op("resume")
	OpCPU     = Op(fault.CPU)
	OpProxy   = Op("proxy") // network faults through the fault proxy
	OpIsolate = Op(fault.Isolate)
	// OpKillPrimary kills the registry's primary; a testbed can when it
	// runs a PostgreSQL registry (RegistryOf).
	OpKillPrimary = Op(fault.KillPrimary)
)

// ErrUnsupported is wrapped by every refusal of a fault action the testbed
// kind cannot do (all of them on url, CPU throttling on local).
var ErrUnsupported = errors.New("unsupported by this testbed")

// ErrUnknownComponent is wrapped when a fault names no component or link.
var ErrUnknownComponent = errors.New("no such component")

// Testbed is a started topology. Every method is safe for concurrent use.
type Testbed interface {
	Kind() Kind
	RunID() string
	// PortalURL is the portal as clients reach it: through the fault
	// proxy's client->portal link, so link faults hit client traffic.
	PortalURL() string
	// DirectPortalURL bypasses the fault proxy (metrics scrapes, checks).
	DirectPortalURL() string
	AdminToken() string
	// DataDir is the host path of the portal's data directory (mailbox/,
	// register.jsonl, pki/); "" for url.
	DataDir() string
	Components() []Component
	// Links lists the fault proxy's links (client->portal, portal->signer-N).
	Links() []string
	// Supports returns nil when op can be applied, else an error wrapping
	// ErrUnsupported that says why.
	Supports(op Op) error

	Kill(ctx context.Context, name string) error    // SIGKILL
	Stop(ctx context.Context, name string) error    // graceful (SIGTERM), waits for exit
	Start(ctx context.Context, name string) error   // starts a stopped or killed component, waits until ready
	Restart(ctx context.Context, name string) error // Stop then Start
	Pause(ctx context.Context, name string) error   // freezes every process of the component
	Resume(ctx context.Context, name string) error
	// CPU limits the component to cpus CPUs; cpus <= 0 lifts the limit.
	CPU(ctx context.Context, name string, cpus float64) error
	// Proxy is the fault proxy's route for a link, for toxics and
	// enable/disable.
	Proxy(link string) (*toxiproxy.Proxy, error)
	// Isolate cuts a component off the run's network (docker network
	// disconnect); Rejoin reconnects it under its alias. Unsupported on
	// local, where partition (links disabled) is the network cut.
	Isolate(ctx context.Context, name string) error
	Rejoin(ctx context.Context, name string) error

	// Close stops and removes everything the run created. It is
	// idempotent and should get a fresh context (not the run's, which may
	// be cancelled already).
	Close(ctx context.Context) error
}

// CPUReader is implemented by testbeds that can tell how much CPU time a
// component has used (local, from /proc). The capacity search prices a
// request in CPU seconds with it.
type CPUReader interface {
	// CPUTime is the CPU time (user + system) the component's current
	// process has used since it started; a registry node's (Metered)
	// counts the database server with its backends.
	CPUTime(name string) (time.Duration, error)
	// CPUWait is the time its threads were runnable but waited for a CPU
	// (an error wrapping ErrUnsupported where that is not known).
	CPUWait(name string) (time.Duration, error)
}

// Metered names what a CPUReader reads in tb: its components and its
// PostgreSQL registry's nodes.
func Metered(tb Testbed) []string {
	var out []string
	for _, c := range tb.Components() {
		out = append(out, c.Name)
	}
	if r := RegistryOf(tb); r != nil {
		out = append(out, r.Nodes()...)
	}
	return out
}

// FineCPUReader is implemented by testbeds that can read a component's
// CPU time finer than CPUReader's 10 ms ticks (local, from every thread's
// schedstat). The A/B gate compares rounds of a few seconds with it.
type FineCPUReader interface {
	// CPUTimeFine is the on-CPU time of the component's live threads, in
	// nanoseconds.
	CPUTimeFine(name string) (time.Duration, error)
}

// Options say which testbed to start and how.
type Options struct {
	Kind Kind   // auto (default), docker, local or url
	URL  string // base URL of the portal for url
	// AdminToken of an existing deployment (url only; the others read
	// DIR/admin-token).
	AdminToken string
	Profile    string // portal profile, default hardened
	Signers    int    // signer count, default 3
	// Portals is the portal replica count, default 1 (named "portal";
	// with more, portal-1..portal-N, each behind its own client link).
	// More than one share the PostgreSQL registry: Registry defaults to
	// postgres for them, and sqlite is refused.
	Portals int
	// Binary is the golive executable the components run (default
	// os.Executable()). docker needs a static one.
	Binary string
	// Config (bytes) or ConfigFile are passed to every component as --config.
	Config     []byte
	ConfigFile string
	// SimStart and Timescale set the components' simulated business clock
	// (zero: real time). A component started later, or restarted, gets
	// the simulated time of its own start, so the clocks stay together.
	SimStart  time.Time
	Timescale float64
	// RunID names the run in labels, container names and the work
	// directory; default a fresh random id.
	RunID string
	// LogDir receives one log file per component (default: inside the
	// run's work directory, removed by Close).
	LogDir string
	// KeepData keeps the work directory (data, logs) after Close.
	KeepData bool
	// Registry is the portal's registry backend: RegistrySQLite ("" too,
	// the default: the data directory's SQLite file) or RegistryPostgres
	// (a PostgreSQL cluster the testbed runs; every portal gets its DSN
	// in $GOLIVE_REGISTRY). url ignores it.
	Registry string
	// RegistryStandby adds a synchronous streaming-replication standby
	// to a PostgreSQL registry, and a watcher that promotes it when the
	// primary stops answering.
	RegistryStandby bool
	// TLS serves the portals and the signers over HTTPS with certificates
	// from a CA made for the run (DATA/tls; see CA and ClientTLS). url
	// ignores it: a deployment brings its own certificates.
	TLS bool
	// Mailout serves the vaccination centres' batch API on every portal
	// (serve --mailout; the centres' tokens are in the data directory's
	// mailout-centres, docs/mailout.md). url ignores it.
	Mailout bool
	// RegistrySeed is a data directory that 'golive registry fill' filled
	// (local only): its registry/ (registry.db and seal.key for SQLite,
	// seal.key for RegistryDSN) is copied into the run's data directory
	// before the portal starts, so the portal starts on a registry that
	// already holds millions of certificates. The seed itself is not
	// changed.
	RegistrySeed string
	// RegistryDSN is an existing PostgreSQL registry the portals use
	// instead of a cluster the testbed runs (local only; Registry must be
	// postgres). Its seal key comes from RegistrySeed. The run's
	// certificates stay in it.
	RegistryDSN string
	// StartTimeout bounds each component's start (default 60 s).
	StartTimeout time.Duration
	Logger       *slog.Logger
}

func (o *Options) defaults() error {
	if o.Kind == "" {
		o.Kind = KindAuto
	}
	if o.Profile == "" {
		o.Profile = "hardened"
	}
	if o.Signers == 0 {
		o.Signers = 3
	}
	if o.Signers < 0 || o.Signers > 32 {
		return fmt.Errorf("testbed: %d signers: want 1 to 32", o.Signers)
	}
	if o.Portals == 0 {
		o.Portals = 1
	}
	if o.Portals < 0 || o.Portals > MaxPortals {
		return fmt.Errorf("testbed: %d portals: want 1 to %d", o.Portals, MaxPortals)
	}
	if o.Timescale < 0 {
		return fmt.Errorf("testbed: negative timescale %v", o.Timescale)
	}
	if o.Portals > 1 && o.Registry == "" {
		o.Registry = RegistryPostgres // several portals share one registry
	}
	reg, err := ParseRegistry(o.Registry)
	if err != nil {
		return err
	}
	o.Registry = reg
	if o.Portals > 1 && reg != RegistryPostgres {
		return fmt.Errorf("testbed: %d portals share one registry: use the postgres registry, not %s", o.Portals, reg)
	}
	if o.RegistryStandby && reg != RegistryPostgres {
		return errors.New("testbed: a registry standby needs the postgres registry")
	}
	if (o.RegistrySeed != "" || o.RegistryDSN != "") && o.Kind != KindLocal && o.Kind != KindAuto {
		return errors.New("testbed: a registry seed or an existing registry DSN needs the local testbed")
	}
	if o.RegistryDSN != "" && (reg != RegistryPostgres || o.RegistryStandby) {
		return errors.New("testbed: an existing registry DSN needs the postgres registry, without a standby")
	}
	if o.RegistryDSN != "" && o.RegistrySeed == "" {
		return errors.New("testbed: an existing registry DSN needs a registry seed directory holding its seal key")
	}
	if o.RunID == "" {
		o.RunID = NewRunID()
	}
	if !validRunID(o.RunID) {
		return fmt.Errorf("testbed: run id %q: use letters, digits, '-' and '_' (at most 40)", o.RunID)
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Config != nil && o.ConfigFile != "" {
		return errors.New("testbed: set Config or ConfigFile, not both")
	}
	if o.ConfigFile != "" {
		b, err := os.ReadFile(o.ConfigFile)
		if err != nil {
			return fmt.Errorf("testbed: config: %w", err)
		}
		o.Config = b
	}
	return nil
}

// NewRunID returns a short, unique, label-safe run id.
func NewRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

func validRunID(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Start starts the topology opts describe and waits until every component
// is ready. On failure everything already started is removed again. auto
// picks docker when a daemon answers, else local, and logs which.
func Start(ctx context.Context, opts Options) (Testbed, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	switch opts.Kind {
	case KindURL:
		return startURL(ctx, opts)
	case KindAuto:
		if opts.RegistrySeed != "" || opts.RegistryDSN != "" {
			opts.Kind = KindLocal // only the local testbed takes a seed
			break
		}
		if err := DockerAvailable(ctx); err != nil {
			opts.Logger.Info("testbed: using local child processes", "reason", err.Error())
			opts.Kind = KindLocal
		} else {
			opts.Logger.Info("testbed: using docker (the daemon answered)")
			opts.Kind = KindDocker
		}
	}
	if opts.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("testbed: finding the golive executable: %w", err)
		}
		opts.Binary = exe
	}
	abs, err := filepath.Abs(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("testbed: binary: %w", err)
	}
	opts.Binary = abs
	if st, err := os.Stat(abs); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("testbed: golive executable %s is missing or not executable", abs)
	}
	switch opts.Kind {
	case KindDocker:
		return startDocker(ctx, opts)
	case KindLocal:
		return startLocal(ctx, opts)
	}
	return nil, fmt.Errorf("testbed: unknown kind %q", opts.Kind)
}

// WorkRoot is where runs keep their work directories and pid files:
// os.TempDir()/golive-testbed.
func WorkRoot() string { return filepath.Join(os.TempDir(), "golive-testbed") }

// simStartAt is the --sim-start value for a component started at wall
// time now: the run's simulated clock as it reads then.
func simStartAt(o Options, started, now time.Time) string {
	if o.SimStart.IsZero() {
		return ""
	}
	ts := o.Timescale
	if ts == 0 {
		ts = 1
	}
	elapsed := time.Duration(float64(now.Sub(started)) * ts)
	return o.SimStart.Add(elapsed).Format(time.RFC3339Nano)
}

// clockArgs are the simulated-clock flags for a component started now.
func clockArgs(o Options, started time.Time) []string {
	var a []string
	if s := simStartAt(o, started, time.Now()); s != "" {
		a = append(a, "--sim-start", s)
	}
	if o.Timescale > 0 {
		a = append(a, "--timescale", fmt.Sprint(o.Timescale))
	}
	return a
}

// mailoutArgs are the portal's flags for Options.Mailout.
func mailoutArgs(o Options) []string {
	if o.Mailout {
		return []string{"--mailout"}
	}
	return nil
}
