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
	"strings"
	"sync/atomic"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/golive-dev/golive/chaos/fault"
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

// SignerLinks is a partition/toxic target meaning every portal->signer-N link.
const SignerLinks = "portal->signers"

// Fault is one scheduled fault; its kind and params are in the fault
// vocabulary (package fault).
type Fault struct {
	Kind fault.Kind
	// Target is a component (portal, signer-2, proxy) for process faults,
	// a link (client->portal, portal->signer-1), portal->signers, or a
	// component (meaning every link that touches it) for network faults.
	Target string
	// Start is the offset from the schedule's start (wall time; the
	// engine converts simulated times).
	Start time.Duration
	// Duration until the undo; 0 keeps the fault until the run ends.
	Duration time.Duration
	// Params not given take the vocabulary's defaults (toxicity 1).
	Params fault.Params
}

func (f Fault) String() string {
	s := fmt.Sprintf("%s %s", f.Kind, f.Target)
	if p := f.Kind.Spec().Format(f.Params); p != "" {
		s += " " + p
	}
	return s
}

func op(s fault.Spec) testbed.Op {
	if s.Network() {
		return testbed.OpProxy
	}
	// The testbed names its process operations after the kinds.
	return testbed.Op(s.Kind)
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
	spec, ok := fault.Lookup(f.Kind)
	if !ok {
		return fmt.Errorf("%w: unknown kind %q (want one of %v)", ErrInvalid, f.Kind, fault.Kinds())
	}
	if f.Start < 0 || f.Duration < 0 {
		return fmt.Errorf("%w: negative start or duration", ErrInvalid)
	}
	if spec.Window == fault.WindowNone && f.Duration > 0 {
		return fmt.Errorf("%w: a %s happens at one instant; it has no duration", ErrInvalid, f.Kind)
	}
	if err := spec.Validate(f.Params); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if f.Kind == fault.KillPrimary {
		return validateKillPrimary(t, f)
	}
	if err := t.Supports(op(spec)); err != nil {
		return err
	}
	if spec.Network() {
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
// none: restart).
func Apply(ctx context.Context, t Target, f Fault) (Undo, error) {
	if err := validate(t, f); err != nil {
		return nil, err
	}
	spec := f.Kind.Spec()
	if spec.Toxic != nil {
		return applyToxic(t, f, spec)
	}
	return actions[f.Kind](ctx, t, f)
}

// action applies a kind that is not a toxic and returns its undo.
type action func(ctx context.Context, t Target, f Fault) (Undo, error)

// actions holds every kind that is not a toxic; TestEveryKindApplies
// fails for a kind added to the vocabulary without one.
var actions = map[fault.Kind]action{
	fault.Kill:        undoable(Target.Kill, Target.Start),
	fault.KillPrimary: applyKillPrimary,
	fault.Stop:        undoable(Target.Stop, Target.Start),
	fault.Restart:     instant(Target.Restart),
	fault.Pause:       undoable(Target.Pause, Target.Resume),
	fault.Isolate:     undoable(Target.Isolate, Target.Rejoin),
	fault.CPU:         applyCPU,
	fault.Partition:   applyPartition,
}

type componentOp func(t Target, ctx context.Context, name string) error

func undoable(do, undo componentOp) action {
	return func(ctx context.Context, t Target, f Fault) (Undo, error) {
		if err := do(t, ctx, f.Target); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return undo(t, ctx, f.Target) }, nil
	}
}

func instant(do componentOp) action {
	return func(ctx context.Context, t Target, f Fault) (Undo, error) {
		return nil, do(t, ctx, f.Target)
	}
}

// applyCPU sets the quota; the undo lifts it (0 cores: no limit).
func applyCPU(ctx context.Context, t Target, f Fault) (Undo, error) {
	if err := t.CPU(ctx, f.Target, f.Params.CPUs); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return t.CPU(ctx, f.Target, 0) }, nil
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
func applyPartition(_ context.Context, t Target, f Fault) (Undo, error) {
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

// applyToxic adds the kind's toxic to each link with the fault's
// toxicity, named uniquely so overlapping faults on a link undo
// independently.
func applyToxic(t Target, f Fault, spec fault.Spec) (Undo, error) {
	ps, err := proxies(t, f.Target)
	if err != nil {
		return nil, err
	}
	p := spec.WithDefaults(f.Params)
	attrs := toxiproxy.Attributes{}
	for k, v := range spec.Toxic.Attrs(p) {
		attrs[k] = v
	}
	name := fmt.Sprintf("golive-%s-%d", f.Kind, toxicSeq.Add(1))
	var done []*toxiproxy.Proxy
	for _, px := range ps {
		if _, err := px.AddToxic(name, spec.Toxic.Type, spec.Toxic.Stream, float32(p.Toxicity), attrs); err != nil {
			for _, d := range done {
				_ = d.RemoveToxic(name)
			}
			return nil, fmt.Errorf("chaos: %s on %s: %w", f.Kind, px.Name, err)
		}
		done = append(done, px)
	}
	return func(context.Context) error {
		var errs []error
		for _, px := range done {
			if err := px.RemoveToxic(name); err != nil {
				errs = append(errs, fmt.Errorf("chaos: removing %s from %s: %w", f.Kind, px.Name, err))
			}
		}
		return errors.Join(errs...)
	}, nil
}
