package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos/fault"
	"github.com/golive-dev/golive/chaos/testbed"
)

// sample is a valid value of a parameter; variant is a second valid value
// that differs from the first (a latency of 20 ms and a jitter of 5 ms
// keep the jitter within the latency either way).
func sample(pr fault.Param, variant bool) float64 {
	var v, step float64
	switch pr.Unit {
	case fault.Duration:
		v, step = float64(5*time.Millisecond), float64(time.Millisecond)
		if pr.Required {
			v = float64(20 * time.Millisecond)
		}
	case fault.Integer:
		v, step = max(pr.Min, 1)*10, 1
	case fault.Number:
		hi := pr.Max
		if hi == 0 {
			hi = pr.Min + 2
		}
		v, step = pr.Min+(hi-pr.Min)/2, (hi-pr.Min)/4
	}
	if variant {
		v += step
	}
	return v
}

// sampleParams gives every parameter of s its sample, the one named vary
// its variant.
func sampleParams(s fault.Spec, vary string) fault.Params {
	var p fault.Params
	for _, pr := range s.Params {
		pr.Set(&p, sample(pr, pr.Name == vary))
	}
	return p
}

// sampleTarget is a target the kind acts on in a proxyTarget.
func sampleTarget(s fault.Spec) string {
	if s.Kind == fault.KillPrimary {
		return testbed.Registry
	}
	if s.Network() {
		return "client->portal"
	}
	return "portal"
}

// TestEveryKindApplies: every kind in the vocabulary has a way to be
// applied (a toxic or an action here) and, unless it is an instant, an
// undo.
func TestEveryKindApplies(t *testing.T) {
	tgt, _ := newProxyTarget(t)
	tgt.kind = testbed.KindDocker // supports cpu and isolate
	tgt.registry = true           // and kill-primary
	ctx := context.Background()
	for _, k := range fault.Kinds() {
		s := k.Spec()
		if _, ok := actions[k]; ok == (s.Toxic != nil) {
			t.Errorf("%s: want exactly one of a toxic (%v) or an action (%v)", k, s.Toxic != nil, ok)
			continue
		}
		// A testbed's Supports answers for the operations it declares.
		if !slices.Contains([]testbed.Op{testbed.OpKill, testbed.OpStop, testbed.OpRestart, testbed.OpPause,
			testbed.OpCPU, testbed.OpIsolate, testbed.OpProxy, testbed.OpKillPrimary}, op(s)) {
			t.Errorf("%s: no testbed operation %q", k, op(s))
		}
		f := Fault{Kind: k, Target: sampleTarget(s), Params: sampleParams(s, "")}
		undo, err := Apply(ctx, tgt, f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if (undo == nil) != (s.Window == fault.WindowNone) {
			t.Errorf("%s: undo %v, window %v", k, undo != nil, s.Window)
		}
		if undo != nil {
			if err := undo(ctx); err != nil {
				t.Errorf("undoing %s: %v", f, err)
			}
		}
	}
	// Each process kind's action reached the target, with its undo.
	want := []string{"kill portal", "start portal", "stop portal", "start portal",
		"kill-primary registry", "start registry-1", "restart portal",
		"pause portal", "resume portal", "cpu=32.005 portal", "cpu=0 portal", "isolate portal", "rejoin portal"}
	if got := tgt.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %v\nwant  %v", got, want)
	}
}

// toxicOn applies f and returns the one toxic it put on the link.
func toxicOn(t *testing.T, tgt *proxyTarget, f Fault) (proxyToxic, Undo) {
	t.Helper()
	undo, err := Apply(context.Background(), tgt, f)
	if err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	px, err := tgt.Proxy(f.Target)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := px.Toxics()
	if err != nil || len(ts) != 1 {
		t.Fatalf("toxics on %s after %s: %+v %v", f.Target, f, ts, err)
	}
	return proxyToxic{Type: ts[0].Type, Stream: ts[0].Stream, Toxicity: ts[0].Toxicity, Attributes: maps.Clone(ts[0].Attributes)}, undo
}

// proxyToxic is what the proxy reports of a toxic, minus its generated name.
type proxyToxic struct {
	Type, Stream string
	Toxicity     float32
	Attributes   map[string]any
}

func (x proxyToxic) equal(y proxyToxic) bool {
	return fmt.Sprint(x) == fmt.Sprint(y) // fmt sorts map keys
}

// TestEveryParamReachesTheProxy: for every kind and every parameter it
// takes, changing the parameter changes what the proxy (or the testbed)
// is asked to do, and the toxic carries the vocabulary's type, stream,
// attributes and toxicity.
func TestEveryParamReachesTheProxy(t *testing.T) {
	tgt, _ := newProxyTarget(t)
	tgt.kind = testbed.KindDocker
	ctx := context.Background()
	for _, k := range fault.Kinds() {
		s := k.Spec()
		if len(s.Params) == 0 {
			continue
		}
		t.Run(string(k), func(t *testing.T) {
			base := sampleParams(s, "")
			if err := s.Validate(base); err != nil {
				t.Fatalf("sample params %+v: %v", base, err)
			}
			// observe applies the fault and describes its effect on the
			// proxy or the target.
			observe := func(p fault.Params) string {
				f := Fault{Kind: k, Target: sampleTarget(s), Params: p}
				if s.Toxic == nil {
					before := len(tgt.Calls())
					undo, err := Apply(ctx, tgt, f)
					if err != nil {
						t.Fatal(err)
					}
					got := tgt.Calls()[before]
					if undo != nil {
						undo(ctx)
					}
					return got
				}
				toxic, undo := toxicOn(t, tgt, f)
				defer undo(ctx)
				want := proxyToxic{Type: s.Toxic.Type, Stream: s.Toxic.Stream, Toxicity: float32(p.Toxicity), Attributes: map[string]any{}}
				for a, v := range s.Toxic.Attrs(p) {
					want.Attributes[a] = float64(v) // JSON numbers
				}
				if !toxic.equal(want) {
					t.Errorf("%s: toxic %+v, want %+v", f, toxic, want)
				}
				return fmt.Sprint(toxic)
			}
			was := observe(base)
			for _, pr := range s.Params {
				p := sampleParams(s, pr.Name)
				if err := s.Validate(p); err != nil {
					t.Fatalf("variant of %s %+v: %v", pr.Name, p, err)
				}
				if now := observe(p); now == was {
					t.Errorf("%s %s -> %s left the effect unchanged: %s", pr.Name, pr.Format(pr.Get(base)), pr.Format(pr.Get(p)), now)
				}
			}
		})
	}

	// Spot checks of units: milliseconds to the proxy, cores to the testbed.
	toxic, undo := toxicOn(t, tgt, Fault{Kind: fault.Latency, Target: "client->portal",
		Params: fault.Params{Latency: 1500 * time.Millisecond, Jitter: 250 * time.Millisecond, Toxicity: 0.4}})
	undo(ctx)
	if toxic.Attributes["latency"] != 1500.0 || toxic.Attributes["jitter"] != 250.0 || toxic.Toxicity != 0.4 || toxic.Stream != "downstream" {
		t.Errorf("latency 1.5s jitter 250ms toxicity 0.4: %+v", toxic)
	}
	toxic, undo = toxicOn(t, tgt, Fault{Kind: fault.Reset, Target: "client->portal", Params: fault.Params{After: 2 * time.Second}})
	undo(ctx)
	if toxic.Type != "reset_peer" || toxic.Attributes["timeout"] != 2000.0 || toxic.Toxicity != 1 {
		t.Errorf("reset after 2s, toxicity not given: %+v", toxic)
	}
	toxic, undo = toxicOn(t, tgt, Fault{Kind: fault.Bandwidth, Target: "client->portal", Params: fault.Params{RateKBps: 64, Toxicity: 1}})
	undo(ctx)
	if toxic.Type != "bandwidth" || toxic.Attributes["rate"] != 64.0 || toxic.Toxicity != 1 {
		t.Errorf("bandwidth 64 KB/s toxicity 1: %+v", toxic)
	}
}

// outcome is one connection through a faulted link.
type outcome struct {
	d   time.Duration
	err error
}

// connect makes n requests to url, each on a fresh connection bounded by
// timeout, starting one every gap without waiting for the others. Paced
// starts keep the unaffected connections from queueing behind each other
// for the CPU on a busy machine, while the affected ones wait out their
// fault side by side.
func connect(url string, n int, gap, timeout time.Duration) []outcome {
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range out {
		if i > 0 {
			time.Sleep(gap)
		}
		wg.Go(func() {
			d, err := fetch(url, timeout)
			out[i] = outcome{d, err}
		})
	}
	wg.Wait()
	return out
}

// TestToxicity: per network kind applied as a toxic, toxicity 0.25
// affects about a quarter of 200 connections, toxicity 1 and no toxicity
// every one. A connection counts as affected by what the toxic guarantees
// (a delay at least as long as the one asked for, a timeout with no
// request reaching the server, a reset), with margins a busy machine does
// not eat: loopback answers in milliseconds.
func TestToxicity(t *testing.T) {
	const (
		n      = 200
		lo, hi = 0.10, 0.42 // 0.25 ± 5 standard deviations of a binomial(200, 0.25)
		every  = 12         // connections for toxicity 1
		gap    = 10 * time.Millisecond
	)
	type kindCase struct {
		params fault.Params // besides toxicity
		path   string
		// timeout bounds each connection (all: when every connection is
		// affected, if shorter).
		timeout, all time.Duration
		// affected classifies a connection; it fails the test for an
		// outcome the fault cannot produce.
		affected func(t *testing.T, o outcome) bool
	}
	const latency = 2 * time.Second
	cases := map[fault.Kind]kindCase{
		fault.Latency: {params: fault.Params{Latency: latency}, path: "/bytes/10", timeout: 10 * time.Second,
			affected: func(t *testing.T, o outcome) bool {
				if o.err != nil {
					t.Errorf("latency: %v", o.err)
				}
				return o.d >= latency // the toxic holds every answer back that long
			}},
		// 30 kB at 10 KB/s take three seconds; unthrottled, milliseconds.
		fault.Bandwidth: {params: fault.Params{RateKBps: 10}, path: "/bytes/30000", timeout: 10 * time.Second,
			affected: func(t *testing.T, o outcome) bool {
				if o.err != nil {
					t.Errorf("bandwidth: %v", o.err)
				}
				return o.d >= 2*time.Second
			}},
		// Each swallowed connection waits out its timeout. With all
		// swallowed no answer can come late.
		fault.Blackhole: {path: "/bytes/10", timeout: 5 * time.Second, all: time.Second,
			affected: func(t *testing.T, o outcome) bool {
				if o.err != nil && !isTimeout(o.err) {
					t.Errorf("blackhole: %v, want an answer or a timeout", o.err)
				}
				return isTimeout(o.err)
			}},
		fault.Reset: {path: "/bytes/10", timeout: 10 * time.Second,
			affected: func(t *testing.T, o outcome) bool {
				if isTimeout(o.err) {
					t.Errorf("reset: %v, want an answer or a reset", o.err)
				}
				return o.err != nil
			}},
	}
	for _, k := range fault.Kinds() {
		s := k.Spec()
		if !s.Network() || s.Toxic == nil {
			continue
		}
		c, ok := cases[k]
		if !ok {
			t.Errorf("no toxicity case for %s", k)
			continue
		}
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			tgt, addr := newProxyTarget(t)
			url := addr["client->portal"] + c.path
			// run applies the fault, probes, undoes it, and returns how
			// many connections it affected.
			run := func(toxicity float64, conns int, timeout time.Duration) int {
				p := c.params
				p.Toxicity = toxicity
				undo, err := Apply(context.Background(), tgt, Fault{Kind: k, Target: "client->portal", Params: p})
				if err != nil {
					t.Fatal(err)
				}
				served := tgt.served.Load()
				outs := connect(url, conns, gap, timeout)
				if err := undo(context.Background()); err != nil {
					t.Fatal(err)
				}
				affected, answered := 0, 0
				var fast, slow time.Duration
				for _, o := range outs {
					if c.affected(t, o) {
						affected++
						slow = max(slow, o.d)
					} else {
						fast = max(fast, o.d)
					}
					if o.err == nil {
						answered++
					}
				}
				if got := tgt.served.Load() - served; k == fault.Blackhole && got != int64(answered) {
					t.Errorf("toxicity %v: the server saw %d requests, callers got %d answers: a swallowed request reached it or an answer was lost", toxicity, got, answered)
				}
				t.Logf("toxicity %v: %d of %d connections affected (slowest unaffected %v, slowest affected %v)", toxicity, affected, conns, fast, slow)
				return affected
			}
			allTimeout := c.timeout
			if c.all > 0 {
				allTimeout = c.all
			}
			if got := run(0.25, n, c.timeout); got < int(lo*n) || got > int(hi*n) {
				t.Errorf("toxicity 0.25 affected %d of %d connections, want %d..%d", got, n, int(lo*n), int(hi*n))
			}
			if got := run(1, every, allTimeout); got != every {
				t.Errorf("toxicity 1 affected %d of %d connections", got, every)
			}
			if got := run(0, every, allTimeout); got != every { // not given: the default, 1
				t.Errorf("no toxicity given: %d of %d connections affected, want all", got, every)
			}
		})
	}
}

// TestKillPrimaryNeedsARegistry: kill-primary is refused, before any load,
// by a testbed without a PostgreSQL registry and for any target but the
// registry.
func TestKillPrimaryNeedsARegistry(t *testing.T) {
	tgt, _ := newProxyTarget(t)
	f := Fault{Kind: fault.KillPrimary, Target: testbed.Registry}
	if err := Validate(tgt, []Fault{f}); !errors.Is(err, testbed.ErrUnsupported) {
		t.Errorf("kill-primary on a testbed without a registry: %v, want ErrUnsupported", err)
	}
	tgt.registry = true
	if err := Validate(tgt, []Fault{f}); err != nil {
		t.Errorf("kill-primary with a registry: %v", err)
	}
	f.Target = "portal"
	if err := Validate(tgt, []Fault{f}); !errors.Is(err, ErrInvalid) {
		t.Errorf("kill-primary on the portal: %v, want ErrInvalid", err)
	}
	if got := tgt.Calls(); len(got) != 0 {
		t.Errorf("validation acted: %v", got)
	}
}
