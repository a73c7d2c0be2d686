// Package k8s renders the Kubernetes manifests of a distributed scenario
// run: a coordinator Job (golive run --workers N --workers-dir) and an
// Indexed Job of N load workers (golive worker) whose pods find their
// shard by their completion index, sharing one volume where the shards
// go in and the results come out. golive schedules nothing itself: the
// cluster runs the pods, the coordinator merges (docs/workers.md).
package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// Options describe one rendering.
type Options struct {
	// Scenario is the scenario's name and YAML (a ConfigMap carries it, so
	// a scenario file runs as well as a built-in).
	Scenario string
	YAML     []byte
	Workers  int
	// Image is a golive image (the FROM scratch one the docker testbed
	// builds, pushed to the cluster's registry).
	Image string
	// Target is the issuer's base URL as the pods reach it.
	Target string
	// Namespace, default "golive".
	Namespace string
	// Timescale and DemandScale are passed on when > 0.
	Timescale, DemandScale float64
	// WorkerCPU is each worker's CPU request and limit (default "1"): a
	// whole core, so a worker does not share its cores with anything else.
	WorkerCPU string
	// StorageClass of the results volume ("": the cluster's default); it
	// must offer ReadWriteMany.
	StorageClass string
	// StorageSize of the results volume, default "5Gi".
	StorageSize string
	// DataClaim is the claim holding the deployment's register.jsonl and
	// mailbox/ (golive run --data); default golive-issuer-data.
	DataClaim string
	// AdminSecret is the Secret whose key "token" is the deployment's
	// admin token; default golive-admin.
	AdminSecret string
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (o *Options) defaults() error {
	if o.Namespace == "" {
		o.Namespace = "golive"
	}
	if o.WorkerCPU == "" {
		o.WorkerCPU = "1"
	}
	if o.StorageSize == "" {
		o.StorageSize = "5Gi"
	}
	if o.DataClaim == "" {
		o.DataClaim = "golive-issuer-data"
	}
	if o.AdminSecret == "" {
		o.AdminSecret = "golive-admin"
	}
	switch {
	case o.Workers < 1 || o.Workers > 64:
		return fmt.Errorf("k8s: %d workers: want 1 to 64", o.Workers)
	case o.Image == "":
		return fmt.Errorf("k8s: no image: pass the golive image the cluster pulls (--image registry.example/golive:TAG)")
	case !strings.HasPrefix(o.Target, "http://") && !strings.HasPrefix(o.Target, "https://"):
		return fmt.Errorf("k8s: target %q: want the issuer's base URL as the pods reach it (http://portal.issuer:8080)", o.Target)
	case len(o.YAML) == 0:
		return fmt.Errorf("k8s: no scenario text")
	}
	for _, n := range []string{o.Namespace, o.name(), o.DataClaim, o.AdminSecret} {
		if !dnsLabel.MatchString(n) || len(n) > 52 {
			return fmt.Errorf("k8s: %q is not a Kubernetes name (lower-case letters, digits and '-', at most 52)", n)
		}
	}
	return nil
}

// name is the prefix of every object: golive-SCENARIO.
func (o *Options) name() string { return "golive-" + strings.ToLower(o.Scenario) }

// Paths inside the pods.
const (
	resultsMount  = "/results"
	scenarioMount = "/scenario"
	dataMount     = "/deployment"
	// workerWait is how long a worker pod waits for its shard: the
	// coordinator first onboards the scenario's pharmacies.
	workerWait = "30m"
)

// Render returns the manifests as one multi-document YAML stream.
func Render(o Options) ([]byte, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	coord := []string{"run", scenarioMount + "/scenario.yaml", "--target", "url=" + o.Target,
		"--workers", fmt.Sprint(o.Workers), "--workers-dir", resultsMount + "/workers",
		"--out", resultsMount + "/run", "--data", dataMount}
	if o.Timescale > 0 {
		coord = append(coord, "--timescale", fmt.Sprint(o.Timescale))
	}
	if o.DemandScale > 0 {
		coord = append(coord, "--demand-scale", fmt.Sprint(o.DemandScale))
	}
	worker := []string{"worker", "--shards", resultsMount + "/workers", "--wait", workerWait}
	var b bytes.Buffer
	err := manifests.Execute(&b, map[string]any{"O": o, "Name": o.name(), "Coordinator": coord, "Worker": worker,
		"Results": resultsMount, "ScenarioMount": scenarioMount, "DataMount": dataMount})
	if err != nil {
		return nil, fmt.Errorf("k8s: %w", err)
	}
	return b.Bytes(), nil
}

// q quotes a value for YAML (a JSON string is a YAML scalar).
func q(v any) string {
	b, _ := json.Marshal(fmt.Sprint(v))
	return string(b)
}

// list is a flow sequence of quoted strings.
func list(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var manifests = template.Must(template.New("k8s").Funcs(template.FuncMap{"q": q, "list": list, "indent": indent}).Parse(`# golive: a distributed run of {{.O.Scenario}} with {{.O.Workers}} load workers (docs/workers.md).
# kubectl apply -f this; the merged run directory is {{.Results}}/run on the volume.
apiVersion: v1
kind: Namespace
metadata:
  name: {{q .O.Namespace}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{q (print .Name "-scenario")}}
  namespace: {{q .O.Namespace}}
  labels: {app.kubernetes.io/name: golive, app.kubernetes.io/instance: {{q .Name}}}
data:
  scenario.yaml: |
{{indent 4 (printf "%s" .O.YAML)}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{q (print .Name "-results")}}
  namespace: {{q .O.Namespace}}
  labels: {app.kubernetes.io/name: golive, app.kubernetes.io/instance: {{q .Name}}}
spec:
  accessModes: ["ReadWriteMany"]
{{- if .O.StorageClass}}
  storageClassName: {{q .O.StorageClass}}
{{- end}}
  resources:
    requests:
      storage: {{q .O.StorageSize}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{q (print .Name "-coordinator")}}
  namespace: {{q .O.Namespace}}
  labels: {app.kubernetes.io/name: golive, app.kubernetes.io/instance: {{q .Name}}, app.kubernetes.io/component: coordinator}
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: {app.kubernetes.io/name: golive, app.kubernetes.io/instance: {{q .Name}}, app.kubernetes.io/component: coordinator}
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532}
      containers:
        - name: coordinator
          image: {{q .O.Image}}
          args: {{list .Coordinator}}
          env:
            - name: GOLIVE_ADMIN_TOKEN
              valueFrom:
                secretKeyRef: {name: {{q .O.AdminSecret}}, key: token}
          resources:
            requests: {cpu: "500m", memory: "512Mi"}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}
          volumeMounts:
            - {name: results, mountPath: {{q .Results}}}
            - {name: scenario, mountPath: {{q .ScenarioMount}}, readOnly: true}
            - {name: deployment, mountPath: {{q .DataMount}}, readOnly: true}
      volumes:
        - name: results
          persistentVolumeClaim: {claimName: {{q (print .Name "-results")}}}
        - name: scenario
          configMap: {name: {{q (print .Name "-scenario")}}}
        - name: deployment
          persistentVolumeClaim: {claimName: {{q .O.DataClaim}}, readOnly: true}
---
# The workers: pod i runs shard i (its completion index) of {{.O.Workers}}. A
# worker is never restarted (backoffLimit 0): a second try would send its
# share twice; the coordinator names a lost worker and fails the run.
apiVersion: batch/v1
kind: Job
metadata:
  name: {{q (print .Name "-workers")}}
  namespace: {{q .O.Namespace}}
  labels: {app.kubernetes.io/name: golive, app.kubernetes.io/instance: {{q .Name}}, app.kubernetes.io/component: worker}
spec:
  completionMode: Indexed
  completions: {{.O.Workers}}
  parallelism: {{.O.Workers}}
  backoffLimit: 0
  template:
    metadata:
      labels: {app.kubernetes.io/name: golive, app.kubernetes.io/instance: {{q .Name}}, app.kubernetes.io/component: worker}
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532}
      # One worker per node where the cluster has the nodes: the point of
      # many workers is many machines' cores and network cards.
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels: {app.kubernetes.io/instance: {{q .Name}}, app.kubernetes.io/component: worker}
      containers:
        - name: worker
          image: {{q .O.Image}}
          args: {{list .Worker}}
          resources:
            requests: {cpu: {{q .O.WorkerCPU}}, memory: "256Mi"}
            limits: {cpu: {{q .O.WorkerCPU}}, memory: "1Gi"}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}
          volumeMounts:
            - {name: results, mountPath: {{q .Results}}}
      volumes:
        - name: results
          persistentVolumeClaim: {claimName: {{q (print .Name "-results")}}}
`))

// indent prefixes every line of s with n spaces.
func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}
