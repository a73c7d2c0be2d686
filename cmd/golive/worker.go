package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/scenarios/engine"
)

func init() { addCommand(newWorkerCmd) }

func newWorkerCmd() *cobra.Command {
	var (
		dir, shards, logLevel string
		index                 int
		wait                  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "worker --dir DIR | --shards DIR [--index I]",
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
  golive worker --shards /results/workers --wait 30m   # a Kubernetes pod: shard $JOB_COMPLETION_INDEX`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if shards != "" {
				if dir != "" {
					return usageErr("give --dir or --shards, not both")
				}
				if !cmd.Flags().Changed("index") {
					v, ok := os.LookupEnv("JOB_COMPLETION_INDEX")
					if !ok {
						return usageErr("--shards needs --index I (or $JOB_COMPLETION_INDEX, as an Indexed Job's pod has)")
					}
					n, err := strconv.Atoi(v)
					if err != nil {
						return usageErr("$JOB_COMPLETION_INDEX %q is not a number", v)
					}
					index = n
				}
				if index < 0 {
					return usageErr("--index %d must not be negative", index)
				}
				dir = filepath.Join(shards, engine.WorkerName(index))
			}
			if dir == "" {
				return usageErr("worker needs --dir DIR, the directory holding its shard.json (or --shards DIR with --index)")
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
	cmd.Flags().StringVar(&shards, "shards", "", "the coordinator's workers directory: the worker's own is DIR/worker-(index+1)")
	cmd.Flags().IntVar(&index, "index", 0, "with --shards: this worker's index from 0 (default $JOB_COMPLETION_INDEX)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for shard.json to appear (a pod that starts before its coordinator)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log to stderr at this level (debug, info, warn, error)")
	return cmd
}
