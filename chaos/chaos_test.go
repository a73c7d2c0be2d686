package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/golive-dev/golive/chaos/fault"
	"github.com/golive-dev/golive/chaos/testbed"
)

// proxyTarget is a Target whose network faults hit a real in-process
// toxiproxy in front of a real HTTP upstream, and whose process actions
// are recorded (they are exercised on real topologies in the testbed and
// fault suites).
type proxyTarget struct {
	kind  testbed.Kind
	api   string
	links []string
	comps []testbed.Component

	mu    sync.Mutex
	calls []string
	fail  map[string]error

	// served counts the requests the upstream behind every link answered.
	served atomic.Int64
	// registry: the target runs a PostgreSQL registry (fakeRegistry).
	registry bool
}

// Registry is a fake PostgreSQL registry whose primary is registry-1.
func (p *proxyTarget) Registry() testbed.RegistryCluster {
	if !p.registry {
		return nil
	}
	return fakeRegistry{p}
}

type fakeRegistry struct{ p *proxyTarget }

func (f fakeRegistry) RegistryDSN() string           { return "postgres://fake" }
func (f fakeRegistry) Primary() string               { return testbed.RegistryNode(1) }
func (f fakeRegistry) Failovers() []testbed.Failover { return nil }
func (f fakeRegistry) Nodes() []string {
	return []string{testbed.RegistryNode(1), testbed.RegistryNode(2)}
}
func (f fakeRegistry) KillPrimary(context.Context) (string, error) {
	return testbed.RegistryNode(1), f.p.record("kill-primary", testbed.Registry)
}

func (p *proxyTarget) Kind() testbed.Kind              { return p.kind }
func (p *proxyTarget) Components() []testbed.Component { return p.comps }
func (p *proxyTarget) Links() []string                 { return p.links }
func (p *proxyTarget) Supports(op testbed.Op) error {
	if p.kind == testbed.KindLocal && (op == testbed.OpCPU || op == testbed.OpIsolate) {
		return fmt.Errorf("cpu is %w locally", testbed.ErrUnsupported)
	}
	return nil
}
func (p *proxyTarget) record(op, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, op+" "+name)
	return p.fail[op]
}
func (p *proxyTarget) Kill(_ context.Context, n string) error    { return p.record("kill", n) }
func (p *proxyTarget) Stop(_ context.Context, n string) error    { return p.record("stop", n) }
func (p *proxyTarget) Start(_ context.Context, n string) error   { return p.record("start", n) }
func (p *proxyTarget) Restart(_ context.Context, n string) error { return p.record("restart", n) }
func (p *proxyTarget) Pause(_ context.Context, n string) error   { return p.record("pause", n) }
func (p *proxyTarget) Resume(_ context.Context, n string) error  { return p.record("resume", n) }
func (p *proxyTarget) CPU(_ context.Context, n string, c float64) error {
	return p.record(fmt.Sprintf("cpu=%g", c), n)
}
func (p *proxyTarget) Isolate(_ context.Context, n string) error { return p.record("isolate", n) }
func (p *proxyTarget) Rejoin(_ context.Context, n string) error  { return p.record("rejoin", n) }
func (p *proxyTarget) Proxy(link string) (*toxiclient.Proxy, error) {
	if !slices.Contains(p.links, link) {
		return nil, testbed.ErrUnknownComponent
	}
	return toxiclient.NewClient(p.api).Proxy(strings.ReplaceAll(link, "->", "_"))
}
func (p *proxyTarget) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// newProxyTarget starts a toxiproxy API server and an upstream that
// serves n bytes at /bytes/{n}, with links client->portal and
// portal->signer-1..2 all leading to it. It returns the target and the
// listen address of each link.
func newProxyTarget(t *testing.T) (*proxyTarget, map[string]string) {
	t.Helper()
	tgt := &proxyTarget{kind: testbed.KindLocal}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tgt.served.Add(1)
		var n int
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/bytes/"), "%d", &n)
		w.Write([]byte(strings.Repeat("x", n)))
	}))
	t.Cleanup(upstream.Close)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	api := httptest.NewServer(srv.Routes())
	t.Cleanup(func() {
		srv.Collection.Clear()
		api.Close()
	})
	tgt.api = api.URL
	tgt.comps = []testbed.Component{
		{Name: "proxy", URL: api.URL, ReadyPath: "/version"},
		{Name: "signer-1", URL: upstream.URL, ReadyPath: "/bytes/1"},
		{Name: "portal", URL: upstream.URL, ReadyPath: "/bytes/1"},
	}
	addrs := map[string]string{}
	c := toxiclient.NewClient(api.URL)
	for _, l := range []string{"client->portal", "portal->signer-1", "portal->signer-2"} {
		p, err := c.CreateProxy(strings.ReplaceAll(l, "->", "_"), "127.0.0.1:0", strings.TrimPrefix(upstream.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		tgt.links = append(tgt.links, l)
		addrs[l] = "http://" + p.Listen
	}
	return tgt, addrs
}

// fetch GETs url on a fresh connection and returns the time taken.
func fetch(url string, timeout time.Duration) (time.Duration, error) {
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := hc.Get(url)
	if err != nil {
		return time.Since(start), err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return time.Since(start), err
}

func TestNetworkFaultsOnRealProxy(t *testing.T) {
	tgt, addr := newProxyTarget(t)
	ctx := context.Background()
	url := addr["client->portal"] + "/bytes/10"
	if _, err := fetch(url, 2*time.Second); err != nil {
		t.Fatal(err)
	}

	t.Run("latency", func(t *testing.T) {
		undo, err := Apply(ctx, tgt, Fault{Kind: fault.Latency, Target: "client->portal", Params: fault.Params{Latency: 500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		slow, err := fetch(url, 3*time.Second)
		if err != nil || slow < 500*time.Millisecond {
			t.Errorf("with 500 ms latency: %v %v", slow, err)
		}
		if err := undo(ctx); err != nil {
			t.Fatal(err)
		}
		// Compared with the delayed fetch, not a fixed figure a busy
		// machine could miss.
		if d, err := fetch(url, 3*time.Second); err != nil || d > slow/2 {
			t.Errorf("after undo: %v %v (%v with the latency)", d, err, slow)
		}
	})
	t.Run("latency jitter", func(t *testing.T) {
		// 1 s ± 800 ms spreads the delays over [200 ms, 1.8 s); without
		// the jitter none would be under a second. Among 30 connections
		// one below 700 ms and one above 1.3 s each fail to show with a
		// chance of about 1e-5.
		undo, err := Apply(ctx, tgt, Fault{Kind: fault.Latency, Target: "client->portal",
			Params: fault.Params{Latency: time.Second, Jitter: 800 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		outs := connect(url, 30, 10*time.Millisecond, 5*time.Second)
		undo(ctx)
		lo, hi := time.Hour, time.Duration(0)
		for _, o := range outs {
			if o.err != nil {
				t.Fatal(o.err)
			}
			lo, hi = min(lo, o.d), max(hi, o.d)
		}
		if lo >= 700*time.Millisecond || hi <= 1300*time.Millisecond {
			t.Errorf("latency 1s jitter 800ms: delays %v..%v, want some under 700ms and some over 1.3s", lo, hi)
		}
	})
	t.Run("reset after", func(t *testing.T) {
		undo, err := Apply(ctx, tgt, Fault{Kind: fault.Reset, Target: "client->portal", Params: fault.Params{After: 600 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		d, err := fetch(url, 5*time.Second)
		undo(ctx)
		// The toxic waits that long before the reset: a lower bound only.
		if err == nil || isTimeout(err) || d < 600*time.Millisecond {
			t.Errorf("reset after 600ms: %v after %v, want a reset no sooner", err, d)
		}
	})
	t.Run("partition signers", func(t *testing.T) {
		undo, err := Apply(ctx, tgt, Fault{Kind: fault.Partition, Target: SignerLinks})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []string{"portal->signer-1", "portal->signer-2"} {
			if _, err := fetch(addr[l]+"/bytes/1", time.Second); !errors.Is(err, syscallECONNREFUSED) {
				t.Errorf("%s partitioned: %v, want connection refused", l, err)
			}
		}
		if _, err := fetch(url, time.Second); err != nil {
			t.Errorf("client->portal is not a signer link but failed: %v", err)
		}
		if err := undo(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := fetch(addr["portal->signer-2"]+"/bytes/1", time.Second); err != nil {
			t.Errorf("healed: %v", err)
		}
	})
	t.Run("blackhole", func(t *testing.T) {
		undo, err := Apply(ctx, tgt, Fault{Kind: fault.Blackhole, Target: "portal->signer-1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fetch(addr["portal->signer-1"]+"/bytes/1", 300*time.Millisecond); !isTimeout(err) {
			t.Errorf("black hole: %v, want a timeout", err)
		}
		undo(ctx)
	})
	t.Run("reset", func(t *testing.T) {
		undo, err := Apply(ctx, tgt, Fault{Kind: fault.Reset, Target: "portal"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fetch(url, time.Second); err == nil || isTimeout(err) {
			t.Errorf("reset: %v, want the connection reset", err)
		}
		undo(ctx)
		if _, err := fetch(url, time.Second); err != nil {
			t.Errorf("after undo: %v", err)
		}
	})
	t.Run("bandwidth", func(t *testing.T) {
		big := addr["client->portal"] + "/bytes/40000"
		undo, err := Apply(ctx, tgt, Fault{Kind: fault.Bandwidth, Target: "client->portal", Params: fault.Params{RateKBps: 100}})
		if err != nil {
			t.Fatal(err)
		}
		// 40 kB at 100 KB/s takes about 0.4 s.
		slow, err := fetch(big, 3*time.Second)
		if err != nil || slow < 300*time.Millisecond {
			t.Errorf("40 kB at 100 KB/s took %v (%v)", slow, err)
		}
		undo(ctx)
		if d, err := fetch(big, 3*time.Second); err != nil || d > slow/2 {
			t.Errorf("after undo 40 kB took %v (%v), %v throttled", d, err, slow)
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestValidate(t *testing.T) {
	tgt, _ := newProxyTarget(t)
	for _, c := range []struct {
		f    Fault
		want string
	}{
		{Fault{Kind: "explode", Target: "portal"}, "unknown kind"},
		{Fault{Kind: fault.Kill, Target: "signer-9"}, `no component "signer-9"`},
		{Fault{Kind: fault.Latency, Target: "client->portal"}, "needs the parameter latency"},
		{Fault{Kind: fault.Latency, Target: "client->portal", Params: fault.Params{Latency: time.Millisecond, CPUs: 2}}, "latency takes no parameter cpus"},
		{Fault{Kind: fault.Latency, Target: "client->portal", Params: fault.Params{Latency: 10 * time.Millisecond, Jitter: 20 * time.Millisecond}}, "jitter: 20ms exceeds latency 10ms"},
		{Fault{Kind: fault.Latency, Target: "client->portal", Params: fault.Params{Latency: 1500 * time.Microsecond}}, "finer than"},
		{Fault{Kind: fault.Reset, Target: "client->portal", Params: fault.Params{Toxicity: 1.5}}, "toxicity: 1.5 is outside 0..1"},
		{Fault{Kind: fault.Restart, Target: "portal", Duration: time.Second}, "no duration"},
		{Fault{Kind: fault.Partition, Target: "portal->db"}, `no link or component "portal->db"`},
		{Fault{Kind: fault.CPU, Target: "portal", Params: fault.Params{CPUs: 0.5}}, "unsupported"},
		{Fault{Kind: fault.Kill, Target: "portal", Start: -time.Second}, "negative"},
	} {
		err := Validate(tgt, []Fault{c.f})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%s) = %v, want %q", c.f, err, c.want)
		}
	}
	if err := Validate(tgt, []Fault{{Kind: fault.CPU, Target: "portal", Params: fault.Params{CPUs: 0.5}}}); !errors.Is(err, testbed.ErrUnsupported) {
		t.Errorf("cpu on local: %v", err)
	}
	ok := []Fault{{Kind: fault.Kill, Target: "signer-1"}, {Kind: fault.Partition, Target: SignerLinks}, {Kind: fault.Reset, Target: "portal->signer-2"}}
	tgt.kind = testbed.KindDocker
	if err := Validate(tgt, ok); err != nil {
		t.Errorf("valid faults refused: %v", err)
	}
}

// TestURLTargetRefusesFaultsBeforeLoad: a url testbed refuses every fault
// at validation, with a message saying what to use instead.
func TestURLTargetRefusesFaultsBeforeLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	tb, err := testbed.Start(context.Background(), testbed.Options{Kind: testbed.KindURL, URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = Validate(tb, []Fault{{Kind: fault.Kill, Target: "portal"}})
	if !errors.Is(err, testbed.ErrUnsupported) || !strings.Contains(err.Error(), "existing deployment") {
		t.Errorf("kill on url: %v", err)
	}
	if err := NewInjector(tb, nil).Run(context.Background(), []Fault{{Kind: fault.Latency, Target: "client->portal", Params: fault.Params{Latency: 5 * time.Millisecond}}}); !errors.Is(err, testbed.ErrUnsupported) {
		t.Errorf("Run on url: %v", err)
	}
}

func TestInjectorScheduleAndRecord(t *testing.T) {
	tgt, addr := newProxyTarget(t)
	in := NewInjector(tgt, nil)
	sched := []Fault{
		{Kind: fault.Kill, Target: "signer-1", Start: 0, Duration: 60 * time.Millisecond},
		{Kind: fault.Latency, Target: "client->portal", Start: 20 * time.Millisecond, Params: fault.Params{Latency: 300 * time.Millisecond}}, // until the end
		{Kind: fault.Restart, Target: "portal", Start: 40 * time.Millisecond},
	}
	t0 := time.Now()
	if err := in.Run(context.Background(), sched); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < 60*time.Millisecond {
		t.Errorf("schedule finished after %v, before the kill's undo at 60 ms", took)
	}
	want := []string{"kill signer-1", "restart portal", "start signer-1"}
	if got := tgt.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	if in.Active() != 1 {
		t.Errorf("%d active faults, want the latency one", in.Active())
	}
	slow, _ := fetch(addr["client->portal"]+"/bytes/1", 2*time.Second)
	if slow < 300*time.Millisecond {
		t.Errorf("latency not active after Run: %v", slow)
	}
	if err := in.UndoAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d, _ := fetch(addr["client->portal"]+"/bytes/1", 2*time.Second); d >= slow/2 {
		t.Errorf("latency still active after UndoAll: %v (%v with it)", d, slow)
	}
	ev := in.Events()
	if len(ev) != 3 {
		t.Fatalf("events %+v", ev)
	}
	for _, e := range ev {
		if e.Start.Before(t0) || e.End.Before(e.Start) || e.Error != "" {
			t.Errorf("event %+v", e)
		}
	}
	if k := ev[0]; k.Kind != fault.Kill || k.End.Sub(k.Start) < 50*time.Millisecond {
		t.Errorf("kill event %+v: want it to last about 60 ms", k)
	}
	// A restart is one act: it ends before the kill's undo 20 ms later
	// would (an ordering of the schedule, not a stopwatch).
	if r := ev[2]; r.Kind != fault.Restart || r.End.After(ev[0].End) {
		t.Errorf("restart event %+v, kill %+v", r, ev[0])
	}
}

// TestInjectorUndoesOnCancel: an interrupted run undoes what it applied,
// and a failed fault is recorded with its error.
func TestInjectorUndoesOnCancel(t *testing.T) {
	tgt, _ := newProxyTarget(t)
	tgt.fail = map[string]error{"pause": errors.New("cannot freeze")}
	in := NewInjector(tgt, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for in.Active() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	err := in.Run(ctx, []Fault{
		{Kind: fault.Stop, Target: "signer-1"},
		{Kind: fault.Pause, Target: "portal"},
		{Kind: fault.Partition, Target: "client->portal", Start: time.Hour},
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cannot freeze") {
		t.Errorf("Run = %v, want cancellation and the pause failure", err)
	}
	want := []string{"stop signer-1", "pause portal", "start signer-1"}
	if got := tgt.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	ev := in.Events()
	if len(ev) != 2 || ev[1].Error == "" || ev[0].End.IsZero() || in.Active() != 0 {
		t.Errorf("events %+v, active %d", ev, in.Active())
	}
}

func TestSteadyStateReportsDeviations(t *testing.T) {
	tgt, _ := newProxyTarget(t)
	tgt.comps = append(tgt.comps, testbed.Component{Name: "signer-2", URL: "http://127.0.0.1:1", ReadyPath: "/readyz"})
	calls := 0
	ps := SteadyState(context.Background(), tgt, "after", 250*time.Millisecond, func(context.Context) error {
		calls++
		if calls < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	if len(ps) != 5 {
		t.Fatalf("probes %+v", ps)
	}
	dev := Deviations(ps)
	if len(dev) != 1 || dev[0].Check != "ready signer-2" || dev[0].Phase != "after" || dev[0].Error == "" {
		t.Errorf("deviations %+v, want only signer-2", dev)
	}
	if iss := ps[4]; !iss.OK || calls != 2 {
		t.Errorf("issue probe %+v after %d calls: want a pass on the retry", iss, calls)
	}
}

var syscallECONNREFUSED = syscall.ECONNREFUSED
