package engine

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/golive-dev/golive/chaos"
	"github.com/golive-dev/golive/chaos/fault"
	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// chaosFaults turns the scenario's faults (simulated times) into a chaos
// schedule (wall offsets from the load's start). A kill or stop without a
// window that a later restart ends is undone (started) at that restart,
// and the restart itself is dropped: chaos's undo of a kill is the start.
func chaosFaults(faults []spec.Fault, sys spec.System, clock simclock.Clock) []chaos.Fault {
	offset := func(t time.Time) time.Duration { return max(clock.Wall(t).Sub(clock.WallStart), 0) }
	// nextRestart is the first restart of target after t (zero: none).
	nextRestart := func(target spec.Target, t time.Time) time.Time {
		var first time.Time
		for _, g := range faults {
			if g.Kind == fault.Restart && g.Target == target && g.At.After(t) && (first.IsZero() || g.At.Before(first)) {
				first = g.At
			}
		}
		return first
	}
	consumed := map[string]bool{} // restarts that end an open kill or stop
	for _, f := range faults {
		if f.Kind.Spec().Window == fault.WindowOptional && !f.Windowed() {
			if r := nextRestart(f.Target, f.At); !r.IsZero() {
				consumed[string(f.Target)+"@"+r.String()] = true
			}
		}
	}
	var out []chaos.Fault
	for _, f := range faults {
		if f.Kind == fault.Restart && consumed[string(f.Target)+"@"+f.At.String()] {
			continue
		}
		sys.Signers = max(sys.Signers, 1)
		targets := f.Target.ExpandIn(sys)
		if f.Kind.Network() && len(targets) > 1 && string(f.Target) == chaos.SignerLinks {
			targets = []string{string(f.Target)} // chaos expands portal->signers itself
		}
		for _, target := range targets {
			cf := chaos.Fault{Kind: f.Kind, Target: target, Start: offset(f.At), Params: f.Params}
			switch {
			case f.Windowed():
				cf.Duration = offset(f.Until) - cf.Start
			case f.Kind.Spec().Window == fault.WindowOptional:
				if r := nextRestart(f.Target, f.At); !r.IsZero() {
					cf.Duration = offset(r) - cf.Start
				}
			}
			out = append(out, cf)
		}
	}
	return out
}

// faultRunner runs the chaos schedule beside the load.
type faultRunner struct {
	in    *chaos.Injector
	tb    testbed.Testbed
	clock simclock.Clock
	log   *slog.Logger
}

func newFaultRunner(tb testbed.Testbed, clock simclock.Clock, log *slog.Logger) *faultRunner {
	return &faultRunner{in: chaos.NewInjector(tb, log), tb: tb, clock: clock, log: log}
}

// validate refuses faults the testbed cannot apply before any load starts.
func (fr *faultRunner) validate(faults []spec.Fault, sys spec.System) error {
	return chaos.Validate(fr.tb, chaosFaults(faults, sys, fr.clock))
}

// run applies and undoes faults on schedule until ctx ends; call it at the
// clock's WallStart. Its error says what did not run as written (nil when
// ctx ended it).
func (fr *faultRunner) run(ctx context.Context, faults []spec.Fault, sys spec.System) error {
	cf := chaosFaults(faults, sys, fr.clock)
	if len(cf) == 0 {
		return nil
	}
	if d := time.Until(fr.clock.WallStart); d > 0 {
		time.Sleep(d)
	}
	if err := fr.in.Run(ctx, cf); err != nil && ctx.Err() == nil {
		fr.log.Warn("faults", "err", err)
		return err
	}
	return nil
}

// undoAll undoes every fault still in effect (end of run, Ctrl-C).
func (fr *faultRunner) undoAll(ctx context.Context) {
	if err := fr.in.UndoAll(ctx); err != nil {
		fr.log.Warn("undoing faults", "err", err)
	}
}

// events are the applied faults for events.json: chaos's records with
// their times on the simulated clock beside the wall clock.
func (fr *faultRunner) events() []rundir.Fault {
	var out []rundir.Fault
	for _, e := range fr.in.Events() {
		fe := rundir.Fault{Kind: string(e.Kind), Target: e.Target, Start: fr.clock.Sim(e.Start), WallStart: e.Start,
			Params: e.Params, Error: e.Error}
		if !e.End.IsZero() {
			fe.End, fe.WallEnd = fr.clock.Sim(e.End), e.End
		}
		out = append(out, fe)
	}
	return out
}

// portalClocks is the testbed as the fault runner sees it: a portal it
// starts again (the undo of a kill, a restart) gets the run's business
// clock back, which a portal keeps in memory only.
type portalClocks struct {
	testbed.Testbed
	set func(ctx context.Context, directURL string)
}

// Registry passes the testbed's PostgreSQL registry through: the embedded
// interface alone would hide it, and kill-primary would find no cluster.
func (p *portalClocks) Registry() testbed.RegistryCluster { return testbed.RegistryOf(p.Testbed) }

func (p *portalClocks) Start(ctx context.Context, name string) error {
	if err := p.Testbed.Start(ctx, name); err != nil {
		return err
	}
	p.resync(ctx, name)
	return nil
}

func (p *portalClocks) Restart(ctx context.Context, name string) error {
	if err := p.Testbed.Restart(ctx, name); err != nil {
		return err
	}
	p.resync(ctx, name)
	return nil
}

func (p *portalClocks) resync(ctx context.Context, name string) {
	if name != testbed.Portal && !strings.HasPrefix(name, testbed.Portal+"-") {
		return
	}
	for _, c := range p.Components() {
		if c.Name == name {
			p.set(ctx, c.URL)
		}
	}
}
