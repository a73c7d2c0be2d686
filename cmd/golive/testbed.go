package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/chaos/testbed"
)

func init() { addCommand(newTestbedCmd) }

func newTestbedCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "testbed",
		Short: "Start the issuer topology (portal, signers, fault proxy) or remove leftovers",
		Example: `  golive testbed up --target docker --signers 3
  golive testbed up --target local --profile naive-2021
  golive testbed clean`,
	}
	cmd.AddCommand(newTestbedUpCmd(), newTestbedCleanCmd())
	return cmd
}

func newTestbedUpCmd() *cobra.Command {
	var (
		target, url, profile, binary, config, runID, logDir, simStart, adminToken, registry string
		signers, portals                                                                    int
		timescale                                                                           float64
		keep, standby, useTLS                                                               bool
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the topology, print its URLs and tokens, and remove it on Ctrl-C",
		Long: `up starts a portal, --signers signers and a fault proxy (golive serve --role
proxy) in front of the portal and on each portal-to-signer link, prints the
URLs, the admin token and the data directory, and waits. Ctrl-C (or SIGTERM)
stops and removes everything it started, as does a failed start.

--target docker runs each component in a container (a FROM scratch image
around this static golive binary, on a private network, ports published on
127.0.0.1 only); local runs them as child processes on loopback ports (they
die with golive); url checks an existing deployment; auto (default) picks
docker when a daemon answers, else local.

--registry postgres gives the portal a PostgreSQL registry the testbed runs
(the machine's PostgreSQL binaries locally, an image built from them on
docker; the DSN reaches the portal in $GOLIVE_REGISTRY), and
--registry-standby adds a synchronous standby that is promoted when the
primary dies.

--portals N runs N portal replicas (portal-1..portal-N, each behind its own
fault-proxy link client->portal-N) on one PostgreSQL registry: --registry
defaults to postgres with more than one.`,
		Example: `  golive testbed up
  golive testbed up --target local --signers 2 --profile naive-2021
  golive testbed up --target docker --binary ./golive --keep
  golive testbed up --target url --url http://127.0.0.1:8080
  golive testbed up --target local --registry postgres --registry-standby
  golive testbed up --target local --portals 2
  golive testbed up --target local --tls       # https, with a CA made for the run (curl --cacert DATA/tls/ca.pem)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kind, err := testbed.ParseKind(target)
			if err != nil {
				return usageErr("%v", err)
			}
			if (kind == testbed.KindURL) != (url != "") {
				return usageErr("--url goes with --target url (and --target url needs --url)")
			}
			if signers < 1 || signers > 32 {
				return usageErr("--signers %d: want 1 to 32", signers)
			}
			if portals < 1 || portals > testbed.MaxPortals {
				return usageErr("--portals %d: want 1 to %d", portals, testbed.MaxPortals)
			}
			if portals > 1 && !cmd.Flags().Changed("registry") {
				registry = testbed.RegistryPostgres // several portals share one registry
			}
			if timescale < 0 {
				return usageErr("--timescale must not be negative")
			}
			if registry, err = testbed.ParseRegistry(registry); err != nil {
				return usageErr("--registry %q: want sqlite or postgres", registry)
			}
			if standby && registry != testbed.RegistryPostgres {
				return usageErr("--registry-standby needs --registry postgres")
			}
			opts := testbed.Options{Kind: kind, URL: url, AdminToken: adminToken, Profile: profile, Signers: signers, Portals: portals,
				Binary: binary, ConfigFile: config, RunID: runID, LogDir: logDir, KeepData: keep, Timescale: timescale,
				Registry: registry, RegistryStandby: standby, TLS: useTLS,
				Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))}
			if simStart != "" {
				if opts.SimStart, err = time.Parse(time.RFC3339, simStart); err != nil {
					return usageErr("--sim-start %q: want RFC 3339 like 2021-06-14T07:00:00+02:00", simStart)
				}
			}
			return testbedUp(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "target", "auto", "auto, docker, local or url")
	f.StringVar(&url, "url", "", "base URL of an existing portal (--target url)")
	f.StringVar(&adminToken, "admin-token", "", "admin token of an existing portal (--target url)")
	f.IntVar(&signers, "signers", 3, "signer replicas")
	f.IntVar(&portals, "portals", 1, "portal replicas (more than one share a PostgreSQL registry)")
	f.StringVar(&profile, "profile", "hardened", "portal profile: hardened or naive-2021")
	f.StringVar(&binary, "binary", "", "golive executable the components run (default: this one; docker needs a static build)")
	f.StringVar(&config, "config", "", "settings overrides for every component (JSON or YAML, see golive serve --print-config)")
	f.StringVar(&runID, "run-id", "", "run id for labels and names (default: a fresh one)")
	f.StringVar(&logDir, "log-dir", "", "write one log per component here")
	f.BoolVar(&keep, "keep", false, "keep the work directory (data, logs) after stopping")
	f.StringVar(&simStart, "sim-start", "", "simulated business clock start (RFC 3339)")
	f.Float64Var(&timescale, "timescale", 0, "simulated seconds per wall second")
	f.StringVar(&registry, "registry", "sqlite", "the portal's registry: sqlite or postgres (a PostgreSQL cluster the testbed runs)")
	f.BoolVar(&standby, "registry-standby", false, "with --registry postgres: a synchronous standby, promoted when the primary dies")
	f.BoolVar(&useTLS, "tls", false, "serve the portals and signers over https with a CA made for the run (DATA/tls/ca.pem)")
	return cmd
}

// testbedUp starts, prints and waits for ctx to end, then removes the
// topology with a fresh context.
func testbedUp(ctx context.Context, out io.Writer, opts testbed.Options) error {
	tb, err := testbed.Start(ctx, opts)
	if err != nil {
		if errors.Is(err, testbed.ErrDynamic) {
			return failErr("%v", err)
		}
		return failErr("testbed: %v", strings.TrimPrefix(err.Error(), "testbed: "))
	}
	closeTB := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		return tb.Close(cctx)
	}
	fmt.Fprintf(out, "golive: testbed %s ready (run %s)\n", tb.Kind(), tb.RunID())
	fmt.Fprintf(out, "portal:        %s\n", strings.Join(testbed.PortalURLs(tb), ", "))
	if tb.DirectPortalURL() != tb.PortalURL() {
		fmt.Fprintf(out, "portal direct: %s\n", tb.DirectPortalURL())
	}
	if tok := tb.AdminToken(); tok != "" {
		fmt.Fprintf(out, "admin token:   %s\n", tok)
	}
	if d := tb.DataDir(); d != "" {
		fmt.Fprintf(out, "data:          %s\n", d)
	}
	if ca := testbed.CAOf(tb); ca != nil {
		fmt.Fprintf(out, "tls CA:        %s\n", ca.File)
	}
	if reg := testbed.RegistryOf(tb); reg != nil {
		// The DSN holds the cluster's password: name the nodes only.
		fmt.Fprintf(out, "registry:      PostgreSQL %s (primary %s)\n", strings.Join(reg.Nodes(), ", "), reg.Primary())
	}
	for _, c := range tb.Components() {
		fmt.Fprintf(out, "component:     %-10s %s\n", c.Name, c.URL)
	}
	if ls := tb.Links(); len(ls) > 0 {
		fmt.Fprintf(out, "fault links:   %s\n", strings.Join(ls, ", "))
	} else {
		fmt.Fprintf(out, "faults:        unavailable (%v)\n", tb.Supports(testbed.OpKill))
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop and remove it.")
	<-ctx.Done()
	if err := closeTB(); err != nil {
		return failErr("testbed: removing run %s: %v (golive testbed clean removes leftovers)", tb.RunID(), err)
	}
	fmt.Fprintf(out, "golive: testbed run %s removed\n", tb.RunID())
	return nil
}

func newTestbedCleanCmd() *cobra.Command {
	var all, images, dryRun bool
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove containers, networks, child processes and work directories that testbed runs left",
		Long: `clean finds what testbed runs left behind: containers and networks labelled
dev.golive.testbed=1, local child processes (by the run id in their
environment) and work directories under ` + testbed.WorkRoot() + `. Runs
whose golive process is still alive are left alone unless --all.`,
		Example: `  golive testbed clean
  golive testbed clean --dry-run
  golive testbed clean --all --images`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := testbed.Clean(cmd.Context(), testbed.CleanOptions{All: all, Images: images, DryRun: dryRun})
			out := cmd.OutOrStdout()
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			for _, g := range []struct {
				what  string
				items []string
			}{{"container", r.Containers}, {"network", r.Networks}, {"image", r.Images}, {"process", r.Processes}, {"directory", r.Dirs}} {
				for _, it := range g.items {
					fmt.Fprintf(out, "%s %s %s\n", verb, g.what, it)
				}
			}
			if r.DockerSkipped != "" {
				fmt.Fprintf(out, "docker not checked: %s\n", r.DockerSkipped)
			}
			if r.Empty() {
				fmt.Fprintln(out, "nothing to remove")
			}
			if err != nil {
				return failErr("testbed clean: %v", err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also remove runs whose golive process is still alive")
	cmd.Flags().BoolVar(&images, "images", false, "also remove the golive-testbed images (the warm cache)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list without removing")
	return cmd
}
