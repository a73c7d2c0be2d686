package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/scenarios/capacity"
)

// ABOptions configure an A/B comparison of two golive builds: both run
// the same system side by side on one machine, and take turns at the same
// constant issuance rate, so whatever else the machine does hits both.
type ABOptions struct {
	// Baseline and Candidate are the two golive executables.
	Baseline, Candidate string
	// Target is local (default) or docker.
	Target string
	// Rate (issuances per second) and Round (how long each build holds
	// it per turn).
	Rate  float64
	Round time.Duration
	// MaxRounds bounds the turns per build; Budget the wall time of the
	// whole comparison, set-up included.
	MaxRounds int
	Budget    time.Duration
	// Pharmacies the load spreads over (default 8).
	Pharmacies int
	// Decide is asked after every pair of turns whether the answer is
	// clear; true stops the comparison.
	Decide   func(pairs []ABPair) bool
	Progress func(string)
	Logger   *slog.Logger
	RunID    string
}

// ABRound is one build's turn: what it answered and the CPU each part of
// its system used.
type ABRound struct {
	Requests int64
	OK       int64
	P50, P99 time.Duration
	// CPU seconds by part: portal, signers (summed), proxy.
	CPU  map[string]float64
	Wall time.Duration
}

// CPUPerRequest is part's CPU seconds per answered request (0 when none).
func (r ABRound) CPUPerRequest(part string) float64 {
	if r.Requests == 0 {
		return 0
	}
	if part == "system" {
		var s float64
		for _, v := range r.CPU {
			s += v
		}
		return s / float64(r.Requests)
	}
	return r.CPU[part] / float64(r.Requests)
}

// ABPair is a baseline turn and the candidate turn next to it.
type ABPair struct {
	Baseline, Candidate ABRound
	// CandidateFirst: the order within the pair alternates (AB, BA, AB,
	// ...), so a drift of the machine's state does not favour one build.
	CandidateFirst bool
}

// Named bounds of the comparison's housekeeping.
const (
	abDefaultRate       = 40
	abDefaultRound      = 5 * time.Second
	abDefaultBudget     = 5 * time.Minute
	abDefaultMaxRounds  = 30
	abDefaultPharmacies = 8
	abStopTimeout       = 2 * time.Minute
)

// ErrABSetup wraps the mistakes in an A/B comparison's setup.
var ErrABSetup = errors.New("a/b setup")

// RunAB starts both builds' systems and runs turns in pairs until Decide
// says the answer is clear, MaxRounds pairs have run, or the next pair
// would overrun the Budget. It returns the pairs it ran.
func RunAB(ctx context.Context, o ABOptions) ([]ABPair, error) {
	if o.Rate <= 0 {
		o.Rate = abDefaultRate
	}
	if o.Round <= 0 {
		o.Round = abDefaultRound
	}
	if o.Budget <= 0 {
		o.Budget = abDefaultBudget
	}
	if o.MaxRounds <= 0 {
		o.MaxRounds = abDefaultMaxRounds
	}
	if o.Pharmacies <= 0 {
		o.Pharmacies = abDefaultPharmacies
	}
	if o.Target == "" {
		o.Target = string(testbed.KindLocal)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RunID == "" {
		o.RunID = testbed.NewRunID()
	}
	for _, b := range []string{o.Baseline, o.Candidate} {
		if st, err := os.Stat(b); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("%w: %s is not an executable golive build", ErrABSetup, b)
		}
	}
	say := func(format string, a ...any) {
		o.Logger.Info(fmt.Sprintf(format, a...))
		if o.Progress != nil {
			o.Progress(fmt.Sprintf(format, a...))
		}
	}
	deadline := time.Now().Add(o.Budget)
	bctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	say("starting both builds' systems")
	var builds [2]*abBuild
	for i, bin := range []string{o.Baseline, o.Candidate} {
		b, err := startABBuild(bctx, o, bin, fmt.Sprintf("%s-%c", o.RunID, 'a'+i))
		if b != nil {
			defer b.close()
		}
		if err != nil {
			return nil, err
		}
		builds[i] = b
	}
	// A warm-up turn each: the first requests pay for connections, caches
	// and the Go runtime growing its heap.
	for _, b := range builds {
		if _, err := b.turn(bctx, o.Rate, min(o.Round, 2*time.Second)); err != nil {
			return nil, fmt.Errorf("engine: warm-up: %w", err)
		}
	}
	var pairs []ABPair
	var pairWall time.Duration
	for i := 0; i < o.MaxRounds; i++ {
		if pairWall > 0 && time.Until(deadline) < pairWall+pairWall/4 {
			say("stopping: the next pair would overrun the %s budget", o.Budget)
			break
		}
		t0 := time.Now()
		p := ABPair{CandidateFirst: i%2 == 1}
		order := []int{0, 1}
		if p.CandidateFirst {
			order = []int{1, 0}
		}
		for _, k := range order {
			r, err := builds[k].turn(bctx, o.Rate, o.Round)
			if err != nil {
				if bctx.Err() != nil && ctx.Err() == nil {
					say("stopping: the %s budget ran out during a turn", o.Budget)
					return pairs, nil
				}
				return pairs, fmt.Errorf("engine: turn %d: %w", i+1, err)
			}
			if k == 0 {
				p.Baseline = r
			} else {
				p.Candidate = r
			}
		}
		pairWall = max(pairWall, time.Since(t0))
		pairs = append(pairs, p)
		say("pair %2d: CPU/request baseline %.0f µs, candidate %.0f µs; p50 %.1f ms vs %.1f ms",
			i+1, p.Baseline.CPUPerRequest("system")*1e6, p.Candidate.CPUPerRequest("system")*1e6,
			ms(p.Baseline.P50), ms(p.Candidate.P50))
		if o.Decide != nil && o.Decide(pairs) {
			break
		}
	}
	return pairs, nil
}

// abBuild is one build's running system and its load.
type abBuild struct {
	tb     testbed.Testbed
	runner *capacityRunner
	fine   testbed.FineCPUReader
	cpu    testbed.CPUReader
}

func startABBuild(ctx context.Context, o ABOptions, binary, runID string) (*abBuild, error) {
	su, err := resolveCapacity(CapacityOptions{})
	if err != nil {
		return nil, err
	}
	sc, profile := su.sc, su.profile
	_, cfg, err := su.serveConfig()
	if err != nil {
		return nil, err
	}
	kind, _, err := parseTarget(o.Target)
	if err != nil {
		return nil, err
	}
	if kind != testbed.KindLocal && kind != testbed.KindDocker {
		return nil, fmt.Errorf("%w: target %s: an A/B comparison starts its own systems (local or docker)", ErrABSetup, kind)
	}
	tb, err := testbed.Start(ctx, testbed.Options{Kind: kind, Profile: profile, Signers: sc.System.Signers, Binary: binary,
		Config: cfg, SimStart: sc.Clock.Start, Timescale: sc.Clock.Timescale, Logger: o.Logger, RunID: runID})
	if err != nil {
		return nil, fmt.Errorf("engine: starting %s: %w", binary, err)
	}
	b := &abBuild{tb: tb}
	b.fine, _ = tb.(testbed.FineCPUReader)
	b.cpu, _ = tb.(testbed.CPUReader)
	if b.fine == nil && b.cpu == nil {
		return b, fmt.Errorf("%w: the %s testbed cannot read CPU time", ErrABSetup, kind)
	}
	b.runner, _, err = newIssueRunner(ctx, tb, sc, issueRunnerOptions{Pharmacies: o.Pharmacies, KeyPrefix: "ab-",
		Timeout: defaultProbeTimeout, Logger: o.Logger})
	if err != nil {
		return b, err
	}
	return b, nil
}

// turn resets the system, holds rate for d and reads the CPU each part
// used meanwhile.
func (b *abBuild) turn(ctx context.Context, rate float64, d time.Duration) (ABRound, error) {
	if err := b.runner.Reset(ctx); err != nil {
		return ABRound{}, err
	}
	c0, err := b.readCPU()
	if err != nil {
		return ABRound{}, err
	}
	t0 := time.Now()
	st, err := b.runner.probe.Step(ctx, capacity.Plan{Rate: rate, Duration: d})
	if err != nil {
		return ABRound{}, err
	}
	c1, err := b.readCPU()
	if err != nil {
		return ABRound{}, err
	}
	r := ABRound{Requests: st.Requests, OK: st.Outcomes.OK, P50: st.P50, P99: st.P99, CPU: map[string]float64{}, Wall: time.Since(t0)}
	for part, v := range c1 {
		r.CPU[part] = max((v - c0[part]).Seconds(), 0)
	}
	return r, nil
}

// readCPU reads every part's CPU time, the signers summed.
func (b *abBuild) readCPU() (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, c := range b.tb.Components() {
		var t time.Duration
		var err error
		if b.fine != nil {
			t, err = b.fine.CPUTimeFine(c.Name)
		} else {
			t, err = b.cpu.CPUTime(c.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the CPU time of %s: %w", c.Name, err)
		}
		part := c.Name
		if strings.HasPrefix(part, "signer-") {
			part = "signers"
		}
		out[part] += t
	}
	return out, nil
}

func (b *abBuild) close() {
	ctx, cancel := context.WithTimeout(context.Background(), abStopTimeout)
	defer cancel()
	_ = b.tb.Close(ctx)
}
