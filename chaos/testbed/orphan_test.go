package testbed_test

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
)

// upProcess runs `golive testbed up` as a separate process and waits until
// the topology is ready.
func upProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testbedtest.Binary(t), append([]string{"testbed", "up"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			return cmd
		}
	}
	cmd.Wait()
	t.Fatalf("testbed up ended before it was ready: %s", stderr.String())
	return nil
}

// TestLocalChildrenDieWithParent: SIGKILL on golive (no chance to clean
// up) still takes every local child with it; clean then removes the work
// directory the dead run left.
func TestLocalChildrenDieWithParent(t *testing.T) {
	run := testbedtest.RunID("orphan")
	cmd := upProcess(t, "--target", "local", "--signers", "1", "--run-id", run)
	if n := len(runProcs(t, run)); n != 3 {
		t.Fatalf("%d children before the kill, want 3", n)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for len(runProcs(t, run)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("children outlived their killed parent: %v", runProcs(t, run))
		}
		time.Sleep(50 * time.Millisecond)
	}
	r, err := testbed.Clean(context.Background(), testbed.CleanOptions{RunPrefix: run})
	if err != nil || len(r.Dirs) != 1 || len(r.Processes) != 0 {
		t.Errorf("clean after the dead run: %+v %v, want its work directory only", r, err)
	}
}

// TestDockerLeftoversOfKilledRun: containers outlive a SIGKILLed golive
// (there is no Ryuk); `golive testbed clean` finds them by label and
// removes them, and the network.
func TestDockerLeftoversOfKilledRun(t *testing.T) {
	testbedtest.RequireDocker(t)
	run := testbedtest.RunID("dockerorphan")
	cmd := upProcess(t, "--target", "docker", "--signers", "1", "--run-id", run)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	cli := dockerCLI(t)
	ctx := context.Background()
	ctrs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: runFilter(run)})
	if len(ctrs) != 3 {
		t.Fatalf("%d containers after the kill, want the 3 leftovers", len(ctrs))
	}
	out, err := exec.Command(testbedtest.Binary(t), "testbed", "clean").CombinedOutput()
	if err != nil {
		t.Fatalf("golive testbed clean: %v\n%s", err, out)
	}
	for _, want := range []string{"removed container golive-" + run + "-portal", "removed network", "removed directory"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("clean output lacks %q:\n%s", want, out)
		}
	}
	ctrs, _ = cli.ContainerList(ctx, container.ListOptions{All: true, Filters: runFilter(run)})
	nws, _ := cli.NetworkList(ctx, network.ListOptions{Filters: runFilter(run)})
	if len(ctrs)+len(nws) != 0 {
		t.Errorf("after clean: %d containers, %d networks", len(ctrs), len(nws))
	}
}
