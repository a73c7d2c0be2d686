package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/golive-dev/golive/chaos/fault"
)

// Event records one applied (or failed) fault for the reports.
type Event struct {
	Kind   fault.Kind `json:"kind"`
	Target string     `json:"target"`
	Start  time.Time  `json:"start"`
	End    time.Time  `json:"end,omitzero"` // zero while active; = Start for faults without undo
	// Params by their events.json keys (fault.Spec.Event).
	Params map[string]float64 `json:"params,omitempty"`
	Error  string             `json:"error,omitempty"` // applying or undoing failed
}

// Injector applies faults to a target and keeps the record. Safe for
// concurrent use.
type Injector struct {
	target Target
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	events []Event
	active map[int]Undo // event index -> undo
}

// NewInjector returns an injector for t; log may be nil.
func NewInjector(t Target, log *slog.Logger) *Injector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Injector{target: t, log: log, now: time.Now, active: map[int]Undo{}}
}

// Inject applies f now. It returns the event's index for Revert; the event
// is recorded even when applying fails.
func (in *Injector) Inject(ctx context.Context, f Fault) (int, error) {
	start := in.now()
	undo, err := Apply(ctx, in.target, f)
	in.mu.Lock()
	defer in.mu.Unlock()
	ev := Event{Kind: f.Kind, Target: f.Target, Start: start, Params: f.Kind.Spec().Event(f.Params)}
	id := len(in.events)
	switch {
	case err != nil:
		ev.End, ev.Error = in.now(), err.Error()
		in.log.Warn("chaos: fault failed", "fault", f.String(), "err", err)
	case undo == nil:
		ev.End = in.now()
		in.log.Info("chaos: fault applied", "fault", f.String())
	default:
		in.active[id] = undo
		in.log.Info("chaos: fault applied", "fault", f.String(), "until", "undo")
	}
	in.events = append(in.events, ev)
	if err != nil {
		return id, fmt.Errorf("chaos: %s: %w", f, err)
	}
	return id, nil
}

// Revert undoes the fault of event id if it is still active.
func (in *Injector) Revert(ctx context.Context, id int) error {
	in.mu.Lock()
	undo, ok := in.active[id]
	delete(in.active, id)
	in.mu.Unlock()
	if !ok {
		return nil
	}
	err := undo(ctx)
	in.mu.Lock()
	defer in.mu.Unlock()
	ev := &in.events[id]
	ev.End = in.now()
	if err != nil {
		msg := "undo: " + err.Error()
		if ev.Error != "" {
			msg = ev.Error + "; " + msg
		}
		ev.Error = msg
		in.log.Warn("chaos: undo failed", "kind", ev.Kind, "target", ev.Target, "err", err)
		return fmt.Errorf("chaos: undoing %s %s: %w", ev.Kind, ev.Target, err)
	}
	in.log.Info("chaos: fault undone", "kind", ev.Kind, "target", ev.Target)
	return nil
}

// UndoAll undoes every active fault, newest first. Give it a fresh context:
// it runs when the run's own may be cancelled.
func (in *Injector) UndoAll(ctx context.Context) error {
	in.mu.Lock()
	ids := make([]int, 0, len(in.active))
	for id := range in.active {
		ids = append(ids, id)
	}
	in.mu.Unlock()
	slices.Sort(ids)
	var errs []error
	for i := len(ids) - 1; i >= 0; i-- {
		if err := in.Revert(ctx, ids[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Active is the number of faults currently applied.
func (in *Injector) Active() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.active)
}

// Events returns a copy of the record so far.
func (in *Injector) Events() []Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.events)
}

// undoTimeout bounds the final undo after an interrupted run.
const undoTimeout = time.Minute

// Run applies the schedule: each fault at its Start offset from now, and
// its undo Duration later. It returns when every fault with a duration has
// been undone (faults without one stay until UndoAll), or when ctx ends,
// in which case everything still active is undone with a fresh context.
// Failures to apply are recorded and do not stop the schedule; Run
// returns them joined.
func (in *Injector) Run(ctx context.Context, faults []Fault) error {
	if err := Validate(in.target, faults); err != nil {
		return err
	}
	t0 := time.Now()
	type step struct {
		at    time.Duration
		fault int
		undo  bool
	}
	var steps []step
	for i, f := range faults {
		steps = append(steps, step{at: f.Start, fault: i})
		if f.Duration > 0 {
			steps = append(steps, step{at: f.Start + f.Duration, fault: i, undo: true})
		}
	}
	// Stable: at equal times applies come before undos in the given order.
	slices.SortStableFunc(steps, func(a, b step) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		if a.undo != b.undo {
			if a.undo {
				return 1
			}
			return -1
		}
		return 0
	})
	ids := make([]int, len(faults))
	for i := range ids {
		ids[i] = -1
	}
	var errs []error
	for _, s := range steps {
		wait := time.Until(t0.Add(s.at))
		if wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
				defer cancel()
				return errors.Join(append(errs, ctx.Err(), in.UndoAll(uctx))...)
			case <-timer.C:
			}
		}
		if s.undo {
			if ids[s.fault] >= 0 {
				if err := in.Revert(ctx, ids[s.fault]); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		id, err := in.Inject(ctx, faults[s.fault])
		ids[s.fault] = id
		if err != nil {
			errs = append(errs, err)
		}
	}
	if ctx.Err() != nil {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
		defer cancel()
		errs = append(errs, ctx.Err(), in.UndoAll(uctx))
	}
	return errors.Join(errs...)
}
