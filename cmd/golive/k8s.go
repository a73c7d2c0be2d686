package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/scenarios/k8s"
	"github.com/golive-dev/golive/scenarios/spec"
)

func init() { addCommand(newK8sCmd) }

func newK8sCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "k8s",
		Short: "Kubernetes manifests for a run whose load workers are pods",
		Example: `  golive k8s render launch-day --workers 8 --image registry.example/golive:1.4 --target http://portal.issuer:8080 > launch-day.yaml
  kubectl apply -f launch-day.yaml`,
	}
	cmd.AddCommand(newK8sRenderCmd())
	return cmd
}

func newK8sRenderCmd() *cobra.Command {
	var o k8s.Options
	var out string
	cmd := &cobra.Command{
		Use:   "render SCENARIO|FILE --workers N --image IMAGE --target URL",
		Short: "Write the manifests of a distributed run: a coordinator Job, an Indexed Job of workers, their volume",
		Long: `render writes Kubernetes manifests for running a scenario against a deployed
issuer with N load workers: a Namespace, a ConfigMap with the scenario, a
ReadWriteMany volume for shards and results, a coordinator Job (golive run
--workers N --workers-dir) and an Indexed Job of N worker pods (golive
worker), each pod reading its shard by its completion index and pinned to
whole CPUs. The coordinator onboards the pharmacies, writes the shards,
watches the workers' heartbeats and merges their results into
/results/run on the volume. docs/workers.md is the runbook.`,
		Example: `  golive k8s render launch-day --workers 8 --image registry.example/golive:1.4 --target http://portal.issuer:8080 > launch-day.yaml
  golive k8s render my-scenario.yaml --workers 4 --image golive:dev --target http://portal:8080 --timescale 600 --out run.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("render takes one scenario name or file (golive scenarios list shows the built-ins)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := spec.Resolve(args[0])
			if err != nil {
				return usageErr("%s", firstLine(err))
			}
			o.Scenario, o.YAML = sc.Name, sc.Raw
			b, err := k8s.Render(o)
			if err != nil {
				return usageErr("%v", err)
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return failErr("writing %s: %v", out, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: kubectl apply -f %s\n", out, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Workers, "workers", 0, "how many worker pods (1 to 64)")
	f.StringVar(&o.Image, "image", "", "the golive image the cluster pulls")
	f.StringVar(&o.Target, "target", "", "the issuer's base URL as the pods reach it")
	f.StringVar(&o.Namespace, "namespace", "golive", "namespace of every object")
	f.Float64Var(&o.Timescale, "timescale", 0, "simulated seconds per wall second (default: the scenario's)")
	f.Float64Var(&o.DemandScale, "demand-scale", 0, "multiply every demand curve (default: the scenario's)")
	f.StringVar(&o.WorkerCPU, "worker-cpu", "1", "CPU request and limit of each worker pod")
	f.StringVar(&o.StorageClass, "storage-class", "", "storage class of the results volume (ReadWriteMany; default: the cluster's)")
	f.StringVar(&o.StorageSize, "storage", "5Gi", "size of the results volume")
	f.StringVar(&o.DataClaim, "data-claim", "golive-issuer-data", "claim with the deployment's register.jsonl and mailbox/")
	f.StringVar(&o.AdminSecret, "admin-secret", "golive-admin", "Secret whose key token is the deployment's admin token")
	f.StringVar(&out, "out", "", "write the manifests to this file (default: stdout)")
	return cmd
}
