package k8s

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/golive-dev/golive/scenarios/spec"
)

func render(t *testing.T, workers int) []byte {
	t.Helper()
	src, err := spec.BuiltinSource("launch-day")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(Options{Scenario: "launch-day", YAML: src, Workers: workers, Image: "registry.example/golive:dev",
		Target: "http://portal.issuer:8080", Timescale: 600})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// docs splits a manifest stream into its objects, as JSON values.
func docs(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	for {
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("manifests are not YAML: %v", err)
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(j, &m)
		out = append(out, m)
	}
}

func find(t *testing.T, ds []map[string]any, kind, suffix string) map[string]any {
	t.Helper()
	for _, d := range ds {
		if d["kind"] == kind && strings.HasSuffix(d["metadata"].(map[string]any)["name"].(string), suffix) {
			return d
		}
	}
	t.Fatalf("no %s *%s", kind, suffix)
	return nil
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

func TestRenderShape(t *testing.T) {
	ds := docs(t, render(t, 3))
	w := find(t, ds, "Job", "-workers")
	if dig(w, "spec", "completionMode") != "Indexed" || dig(w, "spec", "completions") != 3.0 || dig(w, "spec", "parallelism") != 3.0 {
		t.Errorf("workers Job: %v", w["spec"])
	}
	args := fmt.Sprint(dig(w, "spec", "template", "spec", "containers", 0, "args"))
	if !strings.Contains(args, "worker --shards /results/workers") {
		t.Errorf("worker args %s", args)
	}
	c := find(t, ds, "Job", "-coordinator")
	args = fmt.Sprint(dig(c, "spec", "template", "spec", "containers", 0, "args"))
	for _, want := range []string{"--workers 3", "--workers-dir /results/workers", "url=http://portal.issuer:8080", "--timescale 600"} {
		if !strings.Contains(args, want) {
			t.Errorf("coordinator args %s lack %q", args, want)
		}
	}
	cm := find(t, ds, "ConfigMap", "-scenario")
	src, _ := spec.BuiltinSource("launch-day")
	if got := dig(cm, "data", "scenario.yaml"); strings.TrimSpace(got.(string)) != strings.TrimSpace(string(src)) {
		t.Error("the ConfigMap does not carry the scenario's text unchanged")
	}
	if _, err := spec.Parse([]byte(dig(cm, "data", "scenario.yaml").(string)), "configmap"); err != nil {
		t.Errorf("the ConfigMap's scenario does not parse: %v", err)
	}
}

func TestRenderRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no workers": {Scenario: "x", YAML: []byte("a"), Image: "i", Target: "http://p"},
		"no image":   {Scenario: "x", YAML: []byte("a"), Workers: 1, Target: "http://p"},
		"no target":  {Scenario: "x", YAML: []byte("a"), Workers: 1, Image: "i"},
		"bad name":   {Scenario: "X_Y", YAML: []byte("a"), Workers: 1, Image: "i", Target: "http://p"},
	} {
		if _, err := Render(o); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}

// kubectl checks the manifests offline: no cluster, no kubeconfig. Jobs go
// through "kubectl set resources --local", which decodes them into
// Kubernetes' own types (a wrong type fails) and prints them back: a
// field the types do not know is dropped, so every rendered field must
// come back. Other kinds go through "kubectl label --local" (well-formed,
// a known kind). GOLIVE_REQUIRE_KUBECTL=1 makes a missing kubectl a failure.
func TestManifestsPassKubectlOffline(t *testing.T) {
	kubectl := needKubectl(t)
	for _, d := range docs(t, render(t, 3)) {
		if err := kubectlCheck(t, kubectl, d); err != nil {
			t.Errorf("%s %v: %v", d["kind"], dig(d, "metadata", "name"), err)
		}
	}
}

// The check can fail: a misspelt field and a wrong type are caught.
func TestKubectlCheckCatchesMistakes(t *testing.T) {
	kubectl := needKubectl(t)
	ds := docs(t, render(t, 2))
	job := find(t, ds, "Job", "-workers")
	misspelt := clone(job)
	misspelt["spec"].(map[string]any)["completionMod"] = "Indexed"
	if err := kubectlCheck(t, kubectl, misspelt); err == nil {
		t.Error("a misspelt field passed")
	}
	wrongType := clone(job)
	wrongType["spec"].(map[string]any)["completions"] = "three"
	if err := kubectlCheck(t, kubectl, wrongType); err == nil {
		t.Error("a string completions passed")
	}
}

func needKubectl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("GOLIVE_REQUIRE_KUBECTL") == "1" {
			t.Fatalf("GOLIVE_REQUIRE_KUBECTL=1 and no kubectl: %v", err)
		}
		t.Skip("no kubectl (set GOLIVE_REQUIRE_KUBECTL=1 to make this a failure)")
	}
	return p
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func kubectlCheck(t *testing.T, kubectl string, d map[string]any) error {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "object.json")
	b, _ := json.Marshal(d)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"label", "--local", "-f", in, "golive-check=1", "-o", "json"}
	if d["kind"] == "Job" {
		args = []string{"set", "resources", "--local", "-f", in, "--limits=ephemeral-storage=64Mi", "-o", "json"}
	}
	cmd := exec.Command(kubectl, args...)
	// No kubeconfig and no server: nothing may be asked of a cluster.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "none"), "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return fmt.Errorf("kubectl %s: %v: %s", strings.Join(args[:2], " "), err, stderr)
	}
	var back map[string]any
	if err := json.Unmarshal(out, &back); err != nil {
		return fmt.Errorf("kubectl printed no object: %v", err)
	}
	return subset("", d, back)
}

// subset reports the first value of want missing or different in got.
func subset(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: kubectl gave %T", path, got)
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: dropped by kubectl (not a field of the type)", path, k)
			}
			if err := subset(path+"."+k, v, gv); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: kubectl gave %v", path, got)
		}
		for i := range w {
			if err := subset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s: %v, kubectl %v", path, want, got)
		}
	}
	return nil
}
