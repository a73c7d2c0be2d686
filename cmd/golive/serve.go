package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/server"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
)

func init() { addCommand(newServeCmd) }

func newServeCmd() *cobra.Command {
	var (
		role, profile, listen, data, pkiDir, signers, registerFile, configFile, registry string
		simStart, logLevel, logFormat, cpuProfile                                        string
		printConfig, initOnly, mailoutOn, bookingOn, vendorsOn                           bool
		replicas, signerIndex, hsmSlots, registerSize                                    int
		hsmLatency                                                                       time.Duration
		timescale                                                                        float64
	)
	var schemaDir string // the official DCC schemas for POST /v1/verify
	var tlsCert, tlsKey, tlsClientCA, signerCA, metricsToken, sealKeyFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference issuer: portal, signer replicas, all in one, or the fault proxy",
		Long: `serve runs the reference DCC issuer. --role all runs a portal and --replicas
signers in one process; portal and signer run one role each (a testbed wires
them); proxy runs the embedded toxiproxy server that network faults use.
Roles all and portal also serve the public pharmacy finder
(/v1/finder/pharmacies, docs/finder.md) and the verifier apps' lists
(/v1/trustlist, /v1/revocations, /v1/revocations/delta, /v1/lists/keys,
docs/lists.md).

An empty --data directory is bootstrapped first: a PKI with one DSC per
replica (pki/), a synthetic pharmacy register (register.jsonl), the admin
token (admin-token), the portal-to-signer secret (signer-token), the access
token key (token.key), the key that signs the verifier apps' lists
(lists-signing.key; its public half for apps to pin in
lists-signing.jwks.json), the vaccination centres' mail-out tokens
(mailout-centres; used with --mailout, see docs/mailout.md; vendor access,
--vendors, keeps vendors' public keys and delegations in vendors.json, see
docs/vendor-access.md) and the
activation mailbox (mailbox/). Secrets are
written 0600. The registry lives in registry/ (SQLite), or in the PostgreSQL
database --registry ($GOLIVE_REGISTRY, which keeps a password off the command
line) names; its seal key stays outside the database (registry/seal.key or
the options below), and every portal of one registry needs the same key.

TLS: --tls-cert and --tls-key serve the portal over HTTPS (TLS 1.2 or
newer, with HSTS), or a signer (role signer); --tls-client-ca also asks
every client of the portal for a certificate from that CA (mutual TLS), and
--signer-ca is the CA a portal verifies its https:// signers against (a
testbed run with --tls generates one; docs/scenarios.md). --metrics-token ($GOLIVE_METRICS_TOKEN) puts
/metrics behind a bearer token. The registry's sealing key is best kept
outside the data directory: --seal-key-file ($GOLIVE_SEAL_KEY_FILE), a 0600
file of 32 raw bytes or 64 hex digits, or $GOLIVE_SEAL_KEY, the 64 hex
digits themselves.

Settings: the --profile preset, then --config (JSON or YAML, only the keys it
changes; see --print-config for every key), then flags. Once listening it
prints "golive: <role> ready at http://HOST:PORT" (https with TLS) on stdout.`,
		Example: `  golive serve --role all --data ./data
  golive serve --role all --profile naive-2021 --listen 127.0.0.1:0 --data /tmp/d
  golive serve --role all --print-config > settings.json
  golive serve --role signer --data ./data --signer-index 2 --listen :9002
  golive serve --role portal --data ./data --signers http://127.0.0.1:9001,http://127.0.0.1:9002
  golive serve --role all --data ./data --registry postgres://golive@127.0.0.1:5432/registry
  golive serve --role all --data ./data --mailout
  golive serve --role signer --data ./data --signer-index 1 --listen :9001 --tls-cert s1.pem --tls-key s1.key
  golive serve --role portal --data ./data --signers https://127.0.0.1:9001 --signer-ca ca.pem --tls-cert p.pem --tls-key p.key
  golive serve --role all --data ./data --booking
  golive serve --role all --data ./data --vendors
  golive serve --role proxy --listen 127.0.0.1:8474`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := server.Defaults(profile)
			if err != nil {
				return usageErr("--profile %q: want %s", profile, strings.Join(portalapi.Profiles(), " or "))
			}
			if configFile != "" {
				b, err := os.ReadFile(configFile)
				if err != nil {
					return usageErr("--config: %v", err)
				}
				if err := s.ApplyFile(b, configFile); err != nil {
					return usageErr("--config: %v", err)
				}
			}
			f := cmd.Flags()
			set := func(name string, apply func()) {
				if f.Changed(name) {
					apply()
				}
			}
			s.Profile = profile
			s.Portal.Profile = profile
			set("role", func() { s.Role = role })
			set("listen", func() { s.Listen = listen })
			set("data", func() { s.Data = data })
			set("pki", func() { s.PKI = pkiDir })
			set("register", func() { s.Register = registerFile })
			set("schema-dir", func() { s.SchemaDir = schemaDir })
			set("tls-cert", func() { s.TLS.Cert = tlsCert })
			set("tls-key", func() { s.TLS.Key = tlsKey })
			set("tls-client-ca", func() { s.TLS.ClientCA = tlsClientCA })
			set("signer-ca", func() { s.SignerClient.CA = signerCA })
			// Secrets: a flag, else the environment, else the config file.
			if v := os.Getenv("GOLIVE_METRICS_TOKEN"); v != "" {
				s.MetricsToken = v
			}
			set("metrics-token", func() { s.MetricsToken = metricsToken })
			if v := os.Getenv("GOLIVE_SEAL_KEY_FILE"); v != "" {
				s.SealKeyFile = v
			}
			set("seal-key-file", func() { s.SealKeyFile = sealKeyFile })
			if v := os.Getenv("GOLIVE_SEAL_KEY"); v != "" && !f.Changed("seal-key-file") {
				s.SealKey, s.SealKeyFile = v, ""
			}
			// The registry DSN may hold a password: the environment keeps
			// it off the command line.
			if v := os.Getenv("GOLIVE_REGISTRY"); v != "" {
				s.Registry = v
			}
			set("registry", func() { s.Registry = registry })
			set("signers", func() { s.Signers = splitList(signers) })
			set("replicas", func() { s.Replicas = replicas })
			set("signer-index", func() { s.SignerIndex = signerIndex })
			set("register-size", func() { s.RegisterSize = registerSize })
			set("hsm-slots", func() { s.Signer.HSMSlots = hsmSlots })
			set("hsm-latency", func() { s.Signer.HSMLatency = signerapi.Duration(hsmLatency) })
			set("log-level", func() { s.LogLevel = logLevel })
			set("mailout", func() { s.Mailout.Enabled = mailoutOn })
			set("booking", func() { s.Booking.Enabled = bookingOn })
			set("vendors", func() { s.Vendors.Enabled = vendorsOn })
			set("timescale", func() { s.Sim.Timescale = timescale })
			if f.Changed("sim-start") {
				t, err := time.Parse(time.RFC3339, simStart)
				if err != nil {
					return usageErr("--sim-start %q is not RFC 3339, e.g. 2021-06-14T07:00:00+02:00", simStart)
				}
				s.Sim.Start = t
				if s.Sim.Timescale == 0 {
					s.Sim.Timescale = 1
				}
			}
			if err := s.Validate(); err != nil {
				return usageErr("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			if printConfig {
				_, err := cmd.OutOrStdout().Write(s.JSON())
				return err
			}
			if initOnly {
				created, err := server.Bootstrap(s.Data, server.BootstrapOptions{Replicas: s.Replicas, RegisterSize: s.RegisterSize, Country: s.Portal.Country})
				if err != nil {
					return failErr("init %s: %v", s.Data, err)
				}
				state := "already complete"
				if created {
					state = "initialised"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "golive: data directory %s %s\n", s.Data, state)
				return nil
			}
			log, err := newLogger(cmd.ErrOrStderr(), s.LogLevel, logFormat)
			if err != nil {
				return usageErr("%v", err)
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return failErr("--cpuprofile: %v", err)
				}
				defer stop()
			}
			out := cmd.OutOrStdout()
			ready := func(r, url string) {
				if r == s.Role || (s.Role == server.RoleAll && r == server.RolePortal) {
					// os.Stdout is unbuffered: the line reaches a waiting
					// parent at once.
					fmt.Fprintf(out, "golive: %s ready at %s\n", s.Role, url)
				}
			}
			if err := server.Run(cmd.Context(), s, log, ready); err != nil {
				return failErr("serve: %v", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", server.RoleAll, "what to run: "+strings.Join(server.Roles(), ", "))
	f.StringVar(&profile, "profile", portalapi.ProfileHardened, "behaviour preset: "+strings.Join(portalapi.Profiles(), " or "))
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	f.StringVar(&data, "data", "golive-data", "data directory (created and bootstrapped when empty)")
	f.StringVar(&pkiDir, "pki", "", "PKI directory (default DATA/pki)")
	f.StringVar(&signers, "signers", "", "comma-separated signer base URLs (role portal)")
	f.StringVar(&registerFile, "register", "", "pharmacy register, JSON Lines (default DATA/register.jsonl)")
	f.StringVar(&schemaDir, "schema-dir", "", "official DCC schemas (<version>.combined-schema.json) for POST /v1/verify's schema option")
	f.StringVar(&tlsCert, "tls-cert", "", "portal or signer: serve HTTPS with this PEM certificate (chain)")
	f.StringVar(&tlsKey, "tls-key", "", "portal or signer: the PEM private key of --tls-cert")
	f.StringVar(&tlsClientCA, "tls-client-ca", "", "portal: mutual TLS, clients need a certificate from these PEM CAs")
	f.StringVar(&signerCA, "signer-ca", "", "portal: verify https:// signers against these PEM CAs (default: the system's roots)")
	f.StringVar(&metricsToken, "metrics-token", "", "portal: bearer token GET /metrics asks for (default $GOLIVE_METRICS_TOKEN; empty: open)")
	f.StringVar(&sealKeyFile, "seal-key-file", "", "registry sealing key file, mode 0600, outside the data directory (default $GOLIVE_SEAL_KEY_FILE, else DATA/registry/seal.key)")
	f.StringVar(&registry, "registry", "", "registry database: empty for SQLite in DATA/registry, or a PostgreSQL DSN (postgres://user@host:5432/db, or host=... dbname=...; default $GOLIVE_REGISTRY)")
	f.StringVar(&configFile, "config", "", "settings overrides, JSON or YAML (see --print-config)")
	f.BoolVar(&printConfig, "print-config", false, "print the effective settings as JSON and exit")
	f.BoolVar(&initOnly, "init", false, "bootstrap the data directory and exit")
	f.IntVar(&replicas, "replicas", 3, "DSCs of a new PKI and in-process signers of role all")
	f.IntVar(&signerIndex, "signer-index", 0, "which DSC role signer signs with (1-based)")
	f.IntVar(&registerSize, "register-size", 2000, "entries of a new synthetic register")
	f.IntVar(&hsmSlots, "hsm-slots", 10, "signatures the HSM model computes at once")
	f.DurationVar(&hsmLatency, "hsm-latency", 50*time.Millisecond, "latency the HSM model adds to each signature")
	f.StringVar(&simStart, "sim-start", "", "start of the simulated business day (RFC 3339); fraud rules and the 2021 lockout run on it")
	f.Float64Var(&timescale, "timescale", 0, "simulated seconds per wall second of the business day")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	f.BoolVar(&vendorsOn, "vendors", false, "serve vendor access (/v1/vendor/...; vendors' public keys and delegations in DATA/vendors.json, see docs/vendor-access.md); same as vendors.enabled")
	f.BoolVar(&mailoutOn, "mailout", false, "serve the vaccination centres' batch API (/v1/mailout/...; centre tokens in DATA/mailout-centres); same as mailout.enabled")
	f.BoolVar(&bookingOn, "booking", false, "serve the pharmacies' appointment booking (/v1/booking/...; see docs/booking.md); same as booking.enabled")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) of the whole run to this file on shutdown")
	return cmd
}

// startCPUProfile profiles the process until the returned stop runs: the
// way to see where a capacity run spends the issuer's CPU.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newLogger(w interface{ Write([]byte) (int, error) }, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
