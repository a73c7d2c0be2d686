package main

import (
	"errors"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/scenarios/engine"
)

func init() { addCommand(newWorkerCmd) }

func newWorkerCmd() *cobra.Command {
	var (
		dir, logLevel string
		wait          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "worker --dir DIR",
		Short: "Send one shard of a scenario's load for a coordinator (golive run --workers N)",
		Long: `worker runs one load worker: it reads DIR/shard.json, which the coordinator
(golive run --workers N) wrote, waits for the agreed start, sends its share
of every traffic class (the hits whose sequence number is its index modulo
the worker count: 1/N of the rate, the same actions a single process would
send) and writes beside shard.json its results (vegeta gob, meta,
timeseries, histograms), what its users saw (finals.jsonl), a heartbeat
every second (progress, CPU, its clock) and, last, done.json. It stops by
itself at the end of the scenario, or when the coordinator writes DIR/stop.

On docker and local targets the coordinator starts its workers itself; on
Kubernetes they are the pods of an Indexed Job (golive k8s render), which
find their directory by their completion index. See docs/workers.md.`,
		Example: `  golive worker --dir /work/workers/worker-1
  golive worker --dir /results/workers/worker-$((JOB_COMPLETION_INDEX+1)) --wait 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usageErr("worker needs --dir DIR, the directory holding its shard.json")
			}
			if wait < 0 {
				return usageErr("--wait %s must not be negative", wait)
			}
			log, err := newLogger(io.Discard, "info", "text")
			if err != nil {
				return err
			}
			if logLevel != "" {
				if log, err = newLogger(cmd.ErrOrStderr(), logLevel, "text"); err != nil {
					return usageErr("%v", err)
				}
			}
			if err := engine.RunWorker(cmd.Context(), engine.WorkerOptions{Dir: dir, Wait: wait, Logger: log}); err != nil {
				if errors.Is(err, cmd.Context().Err()) && cmd.Context().Err() != nil {
					return failErr("worker stopped: %v", err)
				}
				return failErr("%v", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the worker's directory: holds shard.json, receives its results")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for shard.json to appear (a pod that starts before its coordinator)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log to stderr at this level (debug, info, warn, error)")
	return cmd
}
