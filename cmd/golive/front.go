package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/issuer/frontdoor"
)

func init() { addCommand(newFrontCmd) }

func newFrontCmd() *cobra.Command {
	var (
		listen, backend, logLevel, cpuProfile string
		c                                     = frontdoor.Config{MaxInFlight: frontdoor.DefaultMaxInFlight, MaxQueue: frontdoor.DefaultMaxQueue, MaxWait: frontdoor.DefaultMaxWait,
			MaxConnsPerSource: frontdoor.DefaultMaxConnsPerSource}
		realtime bool
	)
	cmd := &cobra.Command{
		Use:   "front",
		Short: "Run an admission front before a portal: it answers overload with 503 itself",
		Long: `front listens in place of a portal and passes at most --max-in-flight
requests to it at once (--backend), --max-queue more waiting at most
--max-wait; it answers the rest 503 "overloaded" with Retry-After on a
connection it keeps open. Health, readiness and metrics requests pass
without a slot. It reads each request body before it takes a slot and the
portal's answer before it gives the slot back, so a slow client never
holds the portal.

Why a process of its own: a portal whose core is full of admitted work
accepts new connections late (Go's scheduler polls the network when it
runs out of work or every 10 ms, then runs the accept loop behind the
work ahead of it); clients then open more, the listen queue overflows and
the 503s that should take microseconds take seconds. --realtime runs the
front under SCHED_FIFO (needs CAP_SYS_NICE), so on a shared core the
kernel runs it as soon as a packet arrives (docs/portal-api.md,
"Connections under overload"; measured in docs/BENCHMARKS.md).

Once listening it prints "golive: front ready at http://HOST:PORT".`,
		Example: `  golive serve --role all --data ./data --listen 127.0.0.1:8081 &
  golive front --listen 127.0.0.1:8080 --backend http://127.0.0.1:8081 --realtime
  golive front --backend http://127.0.0.1:8081 --max-in-flight 16 --max-queue 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(backend)
			if err != nil || backend == "" {
				return usageErr("--backend %q: want the portal's base URL, e.g. --backend http://127.0.0.1:8081", backend)
			}
			c.Backend = u
			if err := c.Validate(); err != nil {
				return usageErr("--%v", err)
			}
			log, err := newLogger(cmd.ErrOrStderr(), logLevel, "text")
			if err != nil {
				return usageErr("%v", err)
			}
			f, err := frontdoor.New(c, log)
			if err != nil {
				return usageErr("%v", err)
			}
			if realtime {
				if err := frontdoor.Realtime(frontdoor.RealtimePriority); err != nil {
					return failErr("--realtime: %v; run without --realtime or as root", err)
				}
			}
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(frontdoor.GCPercent)
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return failErr("--cpuprofile: %v", err)
				}
				defer stop()
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return failErr("--listen %s: %v", listen, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "golive: front ready at http://%s\n", ln.Addr())
			if err := f.Serve(cmd.Context(), ln, log); err != nil {
				return failErr("front: %v", err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	fl.StringVar(&backend, "backend", "", "the portal's base URL, http:// (required)")
	fl.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "requests in the portal at once")
	fl.IntVar(&c.MaxQueue, "max-queue", c.MaxQueue, "requests waiting for a slot; the rest are answered 503 at once")
	fl.DurationVar(&c.MaxWait, "max-wait", c.MaxWait, "longest wait in the queue before 503 queue_timeout")
	fl.IntVar(&c.MaxConns, "max-conns", 0, "client connections open at once; over it an idle one is closed, else the new one is answered 503 (0: no bound)")
	fl.IntVar(&c.MaxConnsPerSource, "max-conns-per-source", c.MaxConnsPerSource, "client connections one IP address may hold (0: no bound); behind a front the portal sees only the front's address")
	fl.BoolVar(&realtime, "realtime", false, "run under SCHED_FIFO so the front answers first on a shared core (Linux, needs CAP_SYS_NICE)")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) of the whole run to this file on shutdown")
	return cmd
}
