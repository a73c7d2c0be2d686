package testbed_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
)

func dockerCLI(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func runFilter(run string) filters.Args {
	return filters.NewArgs(filters.Arg("label", testbed.LabelRun+"="+run))
}

func TestDockerTopology(t *testing.T) {
	testbedtest.RequireDocker(t)
	ctx := context.Background()
	bin := testbedtest.Binary(t)
	tb, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindDocker, Binary: bin, Signers: 2, RunID: testbedtest.RunID(t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			tb.Close(context.Background())
		}
	}()
	cli := dockerCLI(t)
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: runFilter(tb.RunID())})
	if err != nil {
		t.Fatal(err)
	}
	if len(ctrs) != 4 {
		t.Fatalf("%d containers labelled with the run, want 4", len(ctrs))
	}
	for _, c := range ctrs {
		if c.Labels[testbed.LabelTestbed] != "1" {
			t.Errorf("container %v lacks %s", c.Names, testbed.LabelTestbed)
		}
		info, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.HostConfig.PortBindings) == 0 {
			t.Errorf("%v publishes nothing", c.Names)
		}
		for port, bs := range info.HostConfig.PortBindings {
			for _, b := range bs {
				if b.HostIP != "127.0.0.1" {
					t.Errorf("%v publishes %s on %q, want 127.0.0.1 only", c.Names, port, b.HostIP)
				}
			}
		}
		if !strings.HasPrefix(c.Image, testbed.ImageRepo+":") {
			t.Errorf("%v runs image %s", c.Names, c.Image)
		}
	}
	nws, err := cli.NetworkList(ctx, network.ListOptions{Filters: runFilter(tb.RunID())})
	if err != nil || len(nws) != 1 {
		t.Fatalf("networks of the run: %v %v", nws, err)
	}
	exerciseLifecycle(t, tb)

	// CPU throttle: the quota is set and lifted again.
	if err := tb.CPU(ctx, testbed.SignerName(2), 0.25); err != nil {
		t.Fatal(err)
	}
	if q := cpuQuota(t, cli, tb.RunID(), testbed.SignerName(2)); q != 25_000 {
		t.Errorf("quota %d, want 25000", q)
	}
	if err := tb.CPU(ctx, testbed.SignerName(2), 0); err != nil {
		t.Fatal(err)
	}
	if q := cpuQuota(t, cli, tb.RunID(), testbed.SignerName(2)); q > 0 {
		t.Errorf("quota %d after lifting", q)
	}

	if err := tb.Pause(ctx, testbed.SignerName(1)); err != nil { // Close must remove a paused container too
		t.Fatal(err)
	}
	closed = true
	if err := tb.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctrs, _ = cli.ContainerList(ctx, container.ListOptions{All: true, Filters: runFilter(tb.RunID())})
	nws, _ = cli.NetworkList(ctx, network.ListOptions{Filters: runFilter(tb.RunID())})
	if len(ctrs)+len(nws) != 0 {
		t.Errorf("after Close: %d containers, %d networks", len(ctrs), len(nws))
	}
	if _, err := os.Stat(filepath.Join(testbed.WorkRoot(), tb.RunID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir after Close: %v", err)
	}
}

func cpuQuota(t *testing.T, cli *client.Client, run, name string) int64 {
	t.Helper()
	info, err := cli.ContainerInspect(context.Background(), "golive-"+run+"-"+name)
	if err != nil {
		t.Fatal(err)
	}
	return info.HostConfig.CPUQuota
}

// TestDockerStartFailureLeavesNothing: a start interrupted midway (Ctrl-C
// once the first container exists) removes what it created.
func TestDockerStartFailureLeavesNothing(t *testing.T) {
	testbedtest.RequireDocker(t)
	cli := dockerCLI(t)
	run := testbedtest.RunID(t.Name())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sawContainer := make(chan bool, 1)
	go func() {
		defer cancel()
		for ctx.Err() == nil {
			ctrs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: runFilter(run)})
			if len(ctrs) > 0 {
				sawContainer <- true
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	tb, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindDocker, Binary: testbedtest.Binary(t), Signers: 1, RunID: run})
	if err == nil {
		tb.Close(context.Background())
		t.Skip("the topology was ready before the interruption")
	}
	select {
	case <-sawContainer:
	default:
		t.Fatalf("start failed before any container existed: %v", err)
	}
	bg := context.Background()
	ctrs, _ := cli.ContainerList(bg, container.ListOptions{All: true, Filters: runFilter(run)})
	nws, _ := cli.NetworkList(bg, network.ListOptions{Filters: runFilter(run)})
	if len(ctrs)+len(nws) != 0 {
		t.Errorf("after an interrupted start: %d containers, %d networks (error was %v)", len(ctrs), len(nws), err)
	}
	if _, err := os.Stat(filepath.Join(testbed.WorkRoot(), run)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir after an interrupted start: %v", err)
	}
}

// TestDockerRejectsDynamicBinary: the FROM scratch image needs a static
// golive; a dynamic one is refused before anything is created.
func TestDockerRejectsDynamicBinary(t *testing.T) {
	_, err := testbed.Start(context.Background(), testbed.Options{Kind: testbed.KindDocker, Binary: "/bin/ls", RunID: testbedtest.RunID(t.Name())})
	if !errors.Is(err, testbed.ErrDynamic) {
		t.Errorf("Start with /bin/ls: %v", err)
	}
}

// TestCleanRemovesLeftovers: a network of a run whose owner is gone is
// found and removed; a live run's is left alone unless All.
func TestCleanRemovesLeftovers(t *testing.T) {
	testbedtest.RequireDocker(t)
	ctx := context.Background()
	cli := dockerCLI(t)
	dead, live := testbedtest.RunID("dead"), testbedtest.RunID("live")
	for run, owner := range map[string]string{dead: "2147483647", live: "1"} {
		_, err := cli.NetworkCreate(ctx, "golive-"+run, network.CreateOptions{Labels: map[string]string{
			testbed.LabelTestbed: "1", testbed.LabelRun: run, testbed.LabelOwner: owner}})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := testbed.Clean(ctx, testbed.CleanOptions{RunPrefix: testbedtest.RunPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Networks) != 1 || got.Networks[0] != "golive-"+dead {
		t.Errorf("clean removed networks %v, want only golive-%s", got.Networks, dead)
	}
	got, err = testbed.Clean(ctx, testbed.CleanOptions{RunPrefix: testbedtest.RunPrefix(), All: true})
	if err != nil || len(got.Networks) != 1 || got.Networks[0] != "golive-"+live {
		t.Errorf("clean --all removed %v (%v), want golive-%s", got.Networks, err, live)
	}
}

// BenchmarkTopologyStart measures starting (and closing) the docker
// topology with a warm image cache: the target is under 10 s per start.
func BenchmarkTopologyStart(b *testing.B) {
	testbedtest.RequireDocker(b)
	ctx := context.Background()
	bin := testbedtest.Binary(b)
	if _, err := testbed.EnsureImage(ctx, bin, nil); err != nil { // warm the cache outside the timing
		b.Fatal(err)
	}
	var started time.Duration
	for b.Loop() {
		t0 := time.Now()
		tb, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindDocker, Binary: bin, RunID: testbedtest.RunID("bench")})
		if err != nil {
			b.Fatal(err)
		}
		started += time.Since(t0)
		b.StopTimer()
		if err := tb.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(started.Seconds()/float64(b.N), "s/start")
}
