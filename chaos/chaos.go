// Package chaos decides when and what to break in a testbed: faults are
// events with a start, an optional duration and an undo; an Injector runs a
// schedule of them, records every applied fault with its start and end for
// the reports, and undoes whatever is still active when the run ends,
// fails or is interrupted. Steady-state probes (the Chaos Toolkit idea)
// check every component and one real issuance before the first fault and
// after the last undo.
//
// Process faults go through the testbed (docker or local alike); network
// faults are toxics and switches on the fault proxy's links (toxiproxy).
package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/golive-dev/golive/chaos/testbed"
)

// Target is what chaos needs from a testbed; testbed.Testbed satisfies it.
type Target interface {
	Kind() testbed.Kind
	Components() []testbed.Component
	Links() []string
	Supports(op testbed.Op) error
	Kill(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Start(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
	Pause(ctx context.Context, name string) error
	Resume(ctx context.Context, name string) error
	CPU(ctx context.Context, name string, cpus float64) error
	Proxy(link string) (*toxiproxy.Proxy, error)
	Isolate(ctx context.Context, name string) error
	Rejoin(ctx context.Context, name string) error
}

var _ Target = testbed.Testbed(nil)

// Kind names a fault.
type Kind string

const (
	Kill      Kind = "kill"      // SIGKILL; undo: start
	Stop      Kind = "stop"      // graceful; undo: start
	Start     Kind = "start"     // no undo
	Restart   Kind = "restart"   // stop then start; no undo
	Pause     Kind = "pause"     // freeze; undo: resume
	Resume    Kind = "resume"    // no undo
	Partition Kind = "partition" // links disabled (connections refused and cut); undo: heal
	Isolate   Kind = "isolate"   // component cut off the network (docker network disconnect); undo: rejoin
	Latency   Kind = "latency"   // params latency_ms, jitter_ms
	Bandwidth Kind = "bandwidth" // params rate_kbps (KB/s)
	Blackhole Kind = "blackhole" // requests are swallowed, connections hang; param timeout_ms (0: until undone)
	Reset     Kind = "reset"     // connections reset; param timeout_ms before the reset
	CPU       Kind = "cpu"       // param cpus (e.g. 0.2); undo: lift the quota
)

// Kinds lists every fault kind.
var Kinds = []Kind{Kill, Stop, Start, Restart, Pause, Resume, Partition, Isolate, Latency, Bandwidth, Blackhole, Reset, CPU}

// SignerLinks is a partition/toxic target meaning every portal->signer-N link.
const SignerLinks = "portal->signers"

// Fault is one scheduled fault.
type Fault struct {
	Kind Kind `json:"kind" yaml:"kind"`
	// Target is a component (portal, signer-2, proxy) for process faults,
	// a link (client->portal, portal->signer-1), portal->signers, or a
	// component (meaning every link that touches it) for network faults.
	Target string `json:"target" yaml:"target"`
	// Start is the offset from the schedule's start (wall time; the
	// engine converts simulated times).
	Start time.Duration `json:"start" yaml:"start"`
	// Duration until the undo; 0 keeps the fault until the run ends.
	Duration time.Duration      `json:"duration,omitempty" yaml:"duration,omitempty"`
	Params   map[string]float64 `json:"params,omitempty" yaml:"params,omitempty"`
}

func (f Fault) String() string {
	s := fmt.Sprintf("%s %s", f.Kind, f.Target)
	keys := make([]string, 0, len(f.Params))
	for k := range f.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%g", k, f.Params[k])
	}
	return s
}

// params each kind accepts, with whether it is required.
var kindParams = map[Kind]map[string]bool{
	Latency:   {"latency_ms": true, "jitter_ms": false, "upstream": false},
	Bandwidth: {"rate_kbps": true, "upstream": false},
	Blackhole: {"timeout_ms": false},
	Reset:     {"timeout_ms": false, "upstream": false},
	CPU:       {"cpus": true},
}

func (k Kind) network() bool {
	return k == Partition || k == Latency || k == Bandwidth || k == Blackhole || k == Reset
}

func (k Kind) op() testbed.Op {
	switch {
	case k.network():
		return testbed.OpProxy
	case k == CPU:
		return testbed.OpCPU
	case k == Isolate:
		return testbed.OpIsolate
	}
	return testbed.Op(k)
}

// ErrInvalid is wrapped by every refusal of a fault description.
var ErrInvalid = errors.New("invalid fault")

// Validate checks faults against a target before any load starts: known
// kinds, parameters in range, existing components and links, and a
// testbed that can apply them (url refuses every fault, local refuses cpu).
func Validate(t Target, faults []Fault) error {
	var errs []error
	for i, f := range faults {
		if err := validate(t, f); err != nil {
			errs = append(errs, fmt.Errorf("fault %d (%s): %w", i+1, f, err))
		}
	}
	return errors.Join(errs...)
}

func validate(t Target, f Fault) error {
	if !slices.Contains(Kinds, f.Kind) {
		return fmt.Errorf("%w: unknown kind %q (want one of %v)", ErrInvalid, f.Kind, Kinds)
	}
	if f.Start < 0 || f.Duration < 0 {
		return fmt.Errorf("%w: negative start or duration", ErrInvalid)
	}
	allowed := kindParams[f.Kind]
	for k, v := range f.Params {
		if _, ok := allowed[k]; !ok {
			return fmt.Errorf("%w: %s takes no parameter %q", ErrInvalid, f.Kind, k)
		}
		if v < 0 {
			return fmt.Errorf("%w: %s=%g is negative", ErrInvalid, k, v)
		}
	}
	for k, req := range allowed {
		if _, ok := f.Params[k]; req && !ok {
			return fmt.Errorf("%w: %s needs the parameter %s", ErrInvalid, f.Kind, k)
		}
	}
	if f.Kind == CPU && f.Params["cpus"] <= 0 {
		return fmt.Errorf("%w: cpus must be above 0", ErrInvalid)
	}
	if f.Kind == Bandwidth && f.Params["rate_kbps"] <= 0 {
		return fmt.Errorf("%w: rate_kbps must be above 0", ErrInvalid)
	}
	if err := t.Supports(f.Kind.op()); err != nil {
		return err
	}
	if f.Kind.network() {
		_, err := links(t, f.Target)
		return err
	}
	for _, c := range t.Components() {
		if c.Name == f.Target {
			return nil
		}
	}
	return fmt.Errorf("%w: no component %q (have %v)", ErrInvalid, f.Target, componentNames(t))
}

func componentNames(t Target) []string {
	var out []string
	for _, c := range t.Components() {
		out = append(out, c.Name)
	}
	return out
}

// links resolves a network fault's target to link names.
func links(t Target, target string) ([]string, error) {
	all := t.Links()
	switch {
	case slices.Contains(all, target):
		return []string{target}, nil
	case target == SignerLinks:
		var out []string
		for _, l := range all {
			if strings.HasPrefix(l, "portal->signer-") {
				out = append(out, l)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	default:
		// A component: every link with it at either end.
		var out []string
		for _, l := range all {
			from, to, _ := strings.Cut(l, "->")
			if from == target || to == target {
				out = append(out, l)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: no link or component %q on the fault proxy (links %v, or %s)", ErrInvalid, target, all, SignerLinks)
}

// Undo reverses an applied fault.
type Undo func(ctx context.Context) error

var toxicSeq atomic.Int64

// Apply applies f now and returns its undo (nil for faults that have
// none: start, restart, resume).
func Apply(ctx context.Context, t Target, f Fault) (Undo, error) {
	if err := validate(t, f); err != nil {
		return nil, err
	}
	switch f.Kind {
	case Kill, Stop:
		do := t.Kill
		if f.Kind == Stop {
			do = t.Stop
		}
		if err := do(ctx, f.Target); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return t.Start(ctx, f.Target) }, nil
	case Start:
		return nil, t.Start(ctx, f.Target)
	case Restart:
		return nil, t.Restart(ctx, f.Target)
	case Pause:
		if err := t.Pause(ctx, f.Target); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return t.Resume(ctx, f.Target) }, nil
	case Resume:
		return nil, t.Resume(ctx, f.Target)
	case CPU:
		if err := t.CPU(ctx, f.Target, f.Params["cpus"]); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return t.CPU(ctx, f.Target, 0) }, nil
	case Isolate:
		if err := t.Isolate(ctx, f.Target); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return t.Rejoin(ctx, f.Target) }, nil
	case Partition:
		return applyPartition(t, f)
	default:
		return applyToxic(t, f)
	}
}

func proxies(t Target, target string) ([]*toxiproxy.Proxy, error) {
	names, err := links(t, target)
	if err != nil {
		return nil, err
	}
	out := make([]*toxiproxy.Proxy, 0, len(names))
	for _, n := range names {
		p, err := t.Proxy(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// applyPartition disables the links: listeners close, open connections
// are cut, new ones are refused.
func applyPartition(t Target, f Fault) (Undo, error) {
	ps, err := proxies(t, f.Target)
	if err != nil {
		return nil, err
	}
	var done []*toxiproxy.Proxy
	for _, p := range ps {
		if err := p.Disable(); err != nil {
			for _, d := range done {
				_ = d.Enable()
			}
			return nil, fmt.Errorf("chaos: partitioning %s: %w", p.Name, err)
		}
		done = append(done, p)
	}
	return func(context.Context) error {
		var errs []error
		for _, p := range done {
			if err := p.Enable(); err != nil {
				errs = append(errs, fmt.Errorf("chaos: healing %s: %w", p.Name, err))
			}
		}
		return errors.Join(errs...)
	}, nil
}

// applyToxic adds one toxic per link, named uniquely so overlapping faults
// on a link undo independently.
func applyToxic(t Target, f Fault) (Undo, error) {
	ps, err := proxies(t, f.Target)
	if err != nil {
		return nil, err
	}
	stream := "downstream"
	if f.Params["upstream"] > 0 || f.Kind == Blackhole {
		// A black hole swallows the requests: a downstream one would
		// still pass the server's closing EOF through.
		stream = "upstream"
	}
	var typ string
	attrs := toxiproxy.Attributes{}
	switch f.Kind {
	case Latency:
		typ = "latency"
		attrs["latency"] = int64(f.Params["latency_ms"])
		attrs["jitter"] = int64(f.Params["jitter_ms"])
	case Bandwidth:
		typ = "bandwidth"
		attrs["rate"] = max(int64(f.Params["rate_kbps"]), 1)
	case Blackhole:
		typ = "timeout"
		attrs["timeout"] = int64(f.Params["timeout_ms"])
	case Reset:
		typ = "reset_peer"
		attrs["timeout"] = int64(f.Params["timeout_ms"])
	}
	name := fmt.Sprintf("golive-%s-%d", f.Kind, toxicSeq.Add(1))
	var done []*toxiproxy.Proxy
	for _, p := range ps {
		if _, err := p.AddToxic(name, typ, stream, 1, attrs); err != nil {
			for _, d := range done {
				_ = d.RemoveToxic(name)
			}
			return nil, fmt.Errorf("chaos: %s on %s: %w", f.Kind, p.Name, err)
		}
		done = append(done, p)
	}
	return func(context.Context) error {
		var errs []error
		for _, p := range done {
			if err := p.RemoveToxic(name); err != nil {
				errs = append(errs, fmt.Errorf("chaos: removing %s from %s: %w", f.Kind, p.Name, err))
			}
		}
		return errors.Join(errs...)
	}, nil
}
