package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/internal/proccpu"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/capacity"
	"github.com/golive-dev/golive/scenarios/consistency"
	"github.com/golive-dev/golive/scenarios/spec"
)

// CapacityOptions configure a capacity search.
type CapacityOptions struct {
	// Scenario holds the search settings (its capacity section) and, unless
	// SystemFromForecast, the system to measure; the built-in "capacity"
	// when nil.
	Scenario *spec.Scenario
	// Forecast is the scenario whose peak issuance demand the capacity is
	// compared with (e.g. launch-day); nil: no headroom verdict.
	Forecast *spec.Scenario
	// SystemFromForecast measures the forecast scenario's system (profile,
	// signers, HSM model, portal and signer settings) instead of
	// Scenario's.
	SystemFromForecast bool
	// Signers and HSMSlots replace the system's when > 0 (to apply the
	// advice of an earlier search); Portals and Registry ("sqlite",
	// "postgres") likewise when set (several portals imply postgres).
	Signers, HSMSlots, Portals int
	Registry                   string
	// RegistrySeed and RegistryDSN start the measured system on a
	// registry that already holds certificates (testbed.Options; local
	// target only): a data directory 'golive registry fill' filled, and
	// for PostgreSQL the filled database.
	RegistrySeed, RegistryDSN string
	// KeepControls measures with the per-pharmacy quota and the anomaly
	// detector's suspension and revocation as the system configures them.
	// By default they are held out: they limit what one account may do,
	// and a search that trips them measures the policy, not the system.
	KeepControls bool
	// DemandScale multiplies the forecast (default 1).
	DemandScale float64
	// SLO overrides the scenario's when P99 > 0.
	SLO     capacity.SLO
	Target  string
	Profile string
	Out     string
	Binary  string
	RunID   string
	// AdminToken and DataDir describe a url target.
	AdminToken, DataDir string
	Progress            func(string)
	Logger              *slog.Logger
}

// ErrCapacitySetup wraps the mistakes in a capacity search's setup that no
// run can fix (a CLI reports them as usage errors).
var ErrCapacitySetup = errors.New("capacity setup")

// CapacityResult is capacity.json (package rundir owns the format): the
// search's steps, the capacity, the analytic model it was checked against,
// the binding resource and the sizing advice.
type CapacityResult = rundir.Capacity

// Named bounds of the search's housekeeping.
const (
	// capacityDrainTimeout bounds the wait for the deferred backlog before
	// a step; a step that starts on a remaining backlog says so.
	capacityDrainTimeout = 2 * time.Minute
	// capacityPoll is how often the drain reads the portal's metrics.
	capacityPoll = 250 * time.Millisecond
	// capacityAdminConcurrency stays within the portal's admin route limit.
	capacityAdminConcurrency = 4
	// capacityMaxPharmacies bounds onboarding time; the load spreads over
	// them.
	capacityMaxPharmacies = 80
	// capacityCheckTimeout bounds the consistency check after the search.
	capacityCheckTimeout = 5 * time.Minute
)

// capacitySetup is a search's resolved inputs.
type capacitySetup struct {
	sc         *spec.Scenario // search settings and the system to measure
	systemFrom string
	profile    string
	portal     portalapi.Config
	slo        capacity.SLO
	heldOut    []string
}

// serveConfig is the measured system's signer settings and the testbed's
// serve configuration.
func (su *capacitySetup) serveConfig() (signerapi.Settings, []byte, error) {
	signerCfg, err := su.sc.SignerConfig(su.profile)
	if err != nil {
		return signerapi.Settings{}, nil, err
	}
	cfg, err := serveConfigOf(su.portal, signerCfg, su.sc.RegisterSize())
	return signerCfg, cfg, err
}

// defaultProbeTimeout bounds one probe request when the class sets none.
const defaultProbeTimeout = 5 * time.Second

// issueRunnerOptions are what a capacity search and an A/B comparison
// choose for their runner.
type issueRunnerOptions struct {
	DataDir    string // url target: where its register and mailbox are
	Pharmacies int    // at most; the register may hold fewer
	KeyPrefix  string // of the idempotency keys, before a per-run stamp
	Timeout    time.Duration
	Logger     *slog.Logger
	Say        func(format string, a ...any) // progress, may be nil
}

// newIssueRunner onboards the pharmacies and returns a runner whose probe
// issues certificates straight to the portal (no faults are injected, and
// the fault proxy's copying would be priced as the system's), and the
// number of pharmacies it onboarded.
func newIssueRunner(ctx context.Context, tb testbed.Testbed, sc *spec.Scenario, o issueRunnerOptions) (*capacityRunner, int, error) {
	reg, mail, err := participants(tb, o.DataDir)
	if err != nil {
		return nil, 0, err
	}
	client := portalclient.New(tb.DirectPortalURL())
	client.AdminToken = tb.AdminToken()
	n := min(o.Pharmacies, reg.Len())
	if o.Say != nil {
		o.Say("onboarding %d pharmacies", n)
	}
	phs, err := onboardAll(ctx, client, mail, reg.Entries()[:n], nil)
	if err != nil {
		return nil, 0, fmt.Errorf("engine: onboarding: %w", err)
	}
	acc := newAccounts(client, phs)
	it := &loadgen.IssueTargets{BaseURL: tb.DirectPortalURL(), Payloads: &loadgen.Payloads{Seed: uint64(max(sc.Seed, 1))},
		Credentials: acc, KeyPrefix: o.KeyPrefix + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"}
	var seq atomic.Uint64
	run := &capacityRunner{tb: tb, client: client, phs: phs, acc: acc, sc: sc, log: o.Logger, signers: sc.System.Signers,
		metrics: &scraper{url: tb.DirectPortalURL(), http: &http.Client{Timeout: 5 * time.Second}, sim: func(t time.Time) time.Time { return t }}}
	run.probe = capacity.HTTPProbe{
		Targeter: func(t *vegeta.Target) error {
			req, err := it.Request(ctx, seq.Add(1))
			*t = req.Target
			return err
		},
		Timeout:  o.Timeout,
		OK:       func(c uint16) bool { return c == http.StatusCreated },
		Replicas: testbed.DirectPortalURLs(tb),
	}
	return run, n, nil
}

// resolveCapacity picks the system, applies the overrides and holds the
// controls out; its errors wrap ErrCapacitySetup.
func resolveCapacity(o CapacityOptions) (*capacitySetup, error) {
	sc := o.Scenario
	if sc == nil {
		var err error
		if sc, err = spec.Builtin("capacity"); err != nil {
			return nil, err
		}
	}
	if sc.Capacity == nil {
		return nil, fmt.Errorf("%w: %s has no capacity section", ErrCapacitySetup, sc.Name)
	}
	cp := *sc
	su := &capacitySetup{sc: &cp, systemFrom: sc.Name}
	if o.SystemFromForecast {
		if o.Forecast == nil {
			return nil, fmt.Errorf("%w: the system is to come from the forecast, and there is none", ErrCapacitySetup)
		}
		cp.System = o.Forecast.System
		cp.Profiles = o.Forecast.Profiles
		su.systemFrom = o.Forecast.Name
	}
	if o.Signers > 0 {
		cp.System.Signers = o.Signers
	}
	if o.HSMSlots > 0 {
		cp.System.HSM.Slots = o.HSMSlots
	}
	if o.Registry != "" {
		cp.System.Registry = o.Registry
	}
	if o.Portals > 0 {
		cp.System.Portals = o.Portals
		if o.Portals > 1 && o.Registry == "" {
			cp.System.Registry = spec.RegistryPostgres
		}
	}
	if cp.System.Portals > 1 && cp.System.Registry != spec.RegistryPostgres {
		return nil, fmt.Errorf("%w: %d portals share one registry: use --registry postgres", ErrCapacitySetup, cp.System.Portals)
	}
	if cp.System.Signers < 1 {
		cp.System.Signers = 1
	}
	profile, err := cp.ProfileFor(o.Profile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCapacitySetup, err)
	}
	su.profile = profile
	if su.portal, err = cp.PortalConfig(profile); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCapacitySetup, err)
	}
	if !o.KeepControls {
		if su.portal.PharmacyQuota.Enabled {
			su.heldOut = append(su.heldOut, "per-pharmacy quota")
			su.portal.PharmacyQuota.Enabled = false
		}
		if su.portal.Anomaly.Enabled && (su.portal.Anomaly.SuspendPharmacy || su.portal.Anomaly.RevokeSinceAnomaly) {
			su.heldOut = append(su.heldOut, "anomaly suspension and revocation (detection still runs and is counted)")
			su.portal.Anomaly.SuspendPharmacy, su.portal.Anomaly.RevokeSinceAnomaly = false, false
		}
	}
	cs := cp.Capacity
	su.slo = capacity.SLO{P99: cs.SLO.P99, MinSuccess: cs.SLO.MinSuccess, MinGoodput: cs.SLO.MinGoodput, MinRequests: cs.MinRequests}
	if o.SLO.P99 > 0 {
		su.slo.P99 = o.SLO.P99
		if o.SLO.MinSuccess > 0 {
			su.slo.MinSuccess = o.SLO.MinSuccess
		}
	}
	scfg, err := cp.SignerConfig(profile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCapacitySetup, err)
	}
	if scfg.HSMLatency.D() >= su.slo.P99 {
		return nil, fmt.Errorf("%w: %s's HSM takes %s a signature, not less than the SLO's p99 %s: no rate can pass (give a longer p99 with --slo, e.g. \"p99<%s\")",
			ErrCapacitySetup, su.systemFrom, scfg.HSMLatency.D(), su.slo.P99, 4*scfg.HSMLatency.D())
	}
	return su, nil
}

// CheckCapacity reports the setup mistakes RunCapacity would stop on,
// without starting anything.
func CheckCapacity(o CapacityOptions) error {
	_, err := resolveCapacity(o)
	return err
}

// RunCapacity starts the system on a testbed and searches for the highest
// issuance rate that meets the SLO, then compares it with the forecast.
func RunCapacity(ctx context.Context, o CapacityOptions) (*CapacityResult, error) {
	su, err := resolveCapacity(o)
	if err != nil {
		return nil, err
	}
	sc, profile, cs := su.sc, su.profile, *su.sc.Capacity
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	say := func(format string, a ...any) {
		log.Info(fmt.Sprintf(format, a...))
		if o.Progress != nil {
			o.Progress(fmt.Sprintf(format, a...))
		}
	}
	signerCfg, cfg, err := su.serveConfig()
	if err != nil {
		return nil, err
	}
	tkind, url, err := parseTarget(o.Target)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	started := time.Now()
	say("starting the %s testbed (%s system: %s, signers %d x %d HSM slots of %s)", tkind, su.systemFrom, profile,
		sc.System.Signers, signerCfg.HSMSlots, signerCfg.HSMLatency.D())
	if len(su.heldOut) > 0 {
		say("held out of the measurement: %s", strings.Join(su.heldOut, "; "))
	}
	tb, err := testbed.Start(ctx, testbed.Options{Kind: tkind, URL: url, AdminToken: o.AdminToken, Profile: profile,
		Signers: sc.System.Signers, Portals: max(sc.System.Portals, 1), Registry: sc.System.Registry,
		RegistryStandby: sc.System.RegistryStandby, Binary: o.Binary, Config: cfg, SimStart: sc.Clock.Start,
		Timescale: sc.Clock.Timescale, Logger: log, RunID: o.RunID,
		RegistrySeed: o.RegistrySeed, RegistryDSN: o.RegistryDSN})
	if err != nil {
		return nil, fmt.Errorf("engine: starting the testbed: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = tb.Close(cctx)
	}()

	n := 40
	class, _ := sc.Class(cs.Class)
	if class.Pharmacies > 0 {
		n = class.Pharmacies
	}
	timeout := class.Client.Timeout
	if timeout <= 0 {
		timeout = defaultProbeTimeout
	}
	run, n, err := newIssueRunner(ctx, tb, sc, issueRunnerOptions{DataDir: o.DataDir, Pharmacies: min(n, capacityMaxPharmacies),
		KeyPrefix: "cap-", Timeout: timeout, Logger: log, Say: say})
	if err != nil {
		return nil, err
	}
	run.probe.Observe = run.observe
	stepNo := 0
	res, serr := capacity.Search(ctx, run, su.slo, capacity.Options{
		Start: cs.StartRate, Max: cs.MaxRate, Growth: cs.Growth, Rel: cs.Precision, MaxSteps: cs.MaxSteps,
		Step: cs.Step, MinDuration: cs.MinDuration,
		Progress: func(s capacity.Step) {
			stepNo++
			for _, line := range stepLines(stepNo, cs.MaxSteps, s) {
				say("%s", line)
			}
		}})
	if serr != nil && !errors.Is(serr, capacity.ErrStartFails) {
		return nil, serr
	}

	out := &CapacityResult{CapacityRPS: res.Capacity, Bounded: res.Bounded, Profile: profile, Target: string(tb.Kind()),
		Signers: sc.System.Signers, Portals: max(sc.System.Portals, 1), Registry: sc.System.Registry,
		HSMSlots: signerCfg.HSMSlots, HSMLatencyMS: ms(signerCfg.HSMLatency.D()),
		Scenario: o.scenarioName(), SystemFrom: su.systemFrom, Pharmacies: n, ControlsHeldOut: su.heldOut, Started: started.UTC()}
	out.SLO.P99MS, out.SLO.MinSuccess, out.SLO.MinGoodput, out.SLO.MinRequests = ms(su.slo.P99), su.slo.MinSuccess, su.slo.MinGoodput, su.slo.MinRequests
	if out.SLO.MinGoodput == 0 {
		out.SLO.MinGoodput = 0.95
	}
	if out.SLO.MinSuccess == 0 {
		out.SLO.MinSuccess = 0.99
	}
	for _, s := range res.Steps {
		out.Steps = append(out.Steps, stepRecord(s))
	}
	sys := capacity.System{Signers: sc.System.Signers, HSMSlots: signerCfg.HSMSlots, HSMLatency: signerCfg.HSMLatency.D(),
		IssueConcurrency: su.portal.Limits.Issue.MaxConcurrent, Portals: max(sc.System.Portals, 1), Pharmacies: n, Shed: signerCfg.Shed, MaxLoss: 1 - out.SLO.MinSuccess}
	if q := su.portal.PharmacyQuota; q.Enabled {
		sys.QuotaRate, sys.QuotaBurst = q.Rate, q.Burst
	}
	if a := su.portal.Anomaly; a.Enabled && a.SuspendPharmacy {
		sys.SuspendAfter = a.VolumeFloor
		if ts := sc.Clock.Timescale; ts > 0 {
			sys.SuspendWindow = time.Duration(float64(a.VolumeWindow.D()) / ts)
		}
	}
	out.SignerRPS = sys.HSMRate() / float64(sys.Signers)
	// The CPU price of a request: at the capacity, or at the first failing
	// step when none passed.
	priced, found := res.Knee()
	if found {
		out.KneeRPS = priced.Offered
	} else {
		priced, _ = res.Limit()
	}
	if priced.CPU != nil {
		if c, ok := capacity.Cost(priced, *priced.CPU); ok {
			out.CPUCost = &c
		}
	} else {
		out.Notes = append(out.Notes, fmt.Sprintf("CPU per request not measured on the %s target: the model has no CPU bound", tb.Kind()))
	}
	out.Bounds = sys.Bounds(out.CPUCost, cs.Step)
	out.Binding = capacity.Bind(res, out.Bounds)
	out.MeasuredSignerRPS = res.Capacity / float64(sys.Signers)
	if o.Forecast != nil {
		scale := o.DemandScale
		if scale <= 0 {
			scale = 1
		}
		out.ForecastScenario = o.Forecast.Name
		out.ForecastPeakRPS = forecastPeak(o.Forecast) * scale
		if out.ForecastPeakRPS > 0 {
			out.Headroom = out.CapacityRPS / out.ForecastPeakRPS
		}
		z := capacity.Size(res.Capacity, sys, out.ForecastPeakRPS, out.Binding, out.CPUCost)
		out.Sizing = &z
		out.NeededSigners, out.NeededHSMSlots, out.Advice, out.Apply = z.NeededSigners, z.NeededSlots, z.Advice, z.Apply
		out.Verdict = "pass"
		if out.Headroom < 1 {
			out.Verdict = "fail"
		}
	}

	// Nothing acknowledged lost? The search's 201s against the registry.
	acks := run.takeAcks()
	say("checking consistency of %d acknowledged certificates", len(acks))
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), capacityCheckTimeout)
	rep, cerr := consistency.Check(cctx, consistency.Config{BaseURL: tb.DirectPortalURL(), AdminToken: tb.AdminToken()}, acks)
	cancel()
	out.Consistency = &rundir.CapacityConsistency{Acknowledged: rep.Acknowledged, Verified: rep.Verified, Lost: rep.Lost,
		Duplicates: rep.Duplicates, Unverified: rep.Unverified}
	if cerr != nil {
		out.Consistency.Error = cerr.Error()
		log.Error("consistency check failed to run", "err", cerr)
	}
	out.WallSeconds = time.Since(started).Seconds()

	if err := rundir.WriteCapacity(o.Out, out); err != nil {
		return out, fmt.Errorf("engine: %w", err)
	}
	if serr != nil {
		return out, serr
	}
	return out, nil
}

func (o CapacityOptions) scenarioName() string {
	if o.Scenario == nil {
		return "capacity"
	}
	return o.Scenario.Name
}

func stepRecord(s capacity.Step) rundir.CapacityStep {
	r := rundir.CapacityStep{Rate: s.Offered, Goodput: s.Goodput, P99MS: ms(s.P99), Success: s.Success, OK: s.Pass,
		DurationS: s.Duration.Seconds(), Planned: s.Planned, Requests: s.Requests, P50MS: ms(s.P50), P90MS: ms(s.P90),
		Outcomes: s.Outcomes, Problems: s.Problems, Controls: s.Controls, ControlEvents: s.ControlEvents,
		Cause: string(s.Cause), Reasons: s.Reasons, Error: s.Err, Notes: s.Notes, CPU: s.CPU}
	if s.CPU != nil {
		if c, ok := capacity.Cost(s, *s.CPU); ok {
			r.CPUMSPerRequest = c.Total * 1000
		}
	}
	return r
}

// stepLines is a step as the progress shows it: what was offered, what
// came back, and why it failed.
func stepLines(n, of int, s capacity.Step) []string {
	verdict := "pass"
	if !s.Pass {
		verdict = "FAIL"
	}
	cpu := ""
	if s.CPU != nil {
		if c, ok := capacity.Cost(s, *s.CPU); ok {
			cpu = fmt.Sprintf(", CPU %.2f ms/request", c.Total*1000)
			if w, ok := s.CPU.WaitRatio(); ok {
				cpu += fmt.Sprintf(" (+%.2f s waiting per CPU s)", w)
			}
		}
	}
	lines := []string{fmt.Sprintf("step %2d/%d %7.1f/s for %s: %d requests (%s), goodput %.1f/s, p50 %.0f ms, p99 %.0f ms%s: %s",
		n, of, s.Offered, s.Duration.Round(100*time.Millisecond), s.Requests, s.Outcomes, s.Goodput, ms(s.P50), ms(s.P99), cpu, verdict)}
	for _, r := range s.Reasons {
		lines = append(lines, "          why: "+r)
	}
	for _, note := range s.Notes {
		lines = append(lines, "          note: "+note)
	}
	return lines
}

// capacityRunner runs the search's steps on a testbed. Before each step it
// drains the deferred backlog, reinstates every pharmacy (which also
// forgets its anomaly history), logs them in afresh and restarts the
// portal's business day at the scenario's start, so every step starts from
// the same state.
type capacityRunner struct {
	tb      testbed.Testbed
	client  *portalclient.Client // direct to the portal, with the admin token
	phs     []*portalclient.Pharmacy
	acc     *accounts
	sc      *spec.Scenario
	log     *slog.Logger
	metrics *scraper
	probe   capacity.HTTPProbe
	signers int

	notes []string // about the coming step's start

	mu   sync.Mutex
	acks []consistency.Ack
}

// Reset implements capacity.Runner.
func (r *capacityRunner) Reset(ctx context.Context) error {
	r.notes = nil
	t0 := time.Now()
	m, err := r.drain(ctx)
	if err != nil {
		return err
	}
	switch waited := time.Since(t0); {
	case !r.settled(m):
		r.notes = append(r.notes, fmt.Sprintf("started unsettled after %s: %.0f deferred requests pending, %.0f in flight, %.0f of %d signer replicas available",
			capacityDrainTimeout, m.DeferredBacklog, m.InFlight, m.SignersAvailable, r.signers))
	case waited > 2*time.Second:
		r.notes = append(r.notes, fmt.Sprintf("waited %s for the previous step's backlog to drain and the signer replicas to return", waited.Round(100*time.Millisecond)))
	}
	if r.client.AdminToken == "" {
		r.notes = append(r.notes, "no admin token: pharmacies were not reinstated and anomaly windows not reset")
	} else if err := r.eachPharmacy(ctx, func(ctx context.Context, ph *portalclient.Pharmacy) error {
		return r.client.Admin(ctx, http.MethodPost, "/v1/admin/pharmacies/"+ph.ID+"/reinstate", map[string]any{}, nil)
	}); err != nil {
		return fmt.Errorf("reinstating the pharmacies: %w", err)
	}
	// Fresh tokens: a step shorter than a token's life needs no login.
	if err := r.eachPharmacy(ctx, func(ctx context.Context, ph *portalclient.Pharmacy) error {
		r.acc.mu.Lock()
		cp := *ph
		r.acc.mu.Unlock()
		if err := r.client.LoginPharmacy(ctx, &cp); err != nil {
			return err
		}
		r.acc.mu.Lock()
		ph.Token, ph.Refresh, ph.TokenExpires = cp.Token, cp.Refresh, cp.TokenExpires
		r.acc.mu.Unlock()
		return nil
	}); err != nil {
		return fmt.Errorf("logging the pharmacies in: %w", err)
	}
	if r.client.AdminToken != "" {
		clk := portalapi.BusinessClock{SimStart: r.sc.Clock.Start, WallStart: time.Now(), Timescale: r.sc.Clock.Timescale}
		if err := r.client.Admin(ctx, http.MethodPut, "/v1/admin/business-clock", clk, nil); err != nil {
			r.log.Warn("setting the portal's business clock", "err", err)
		}
	}
	return nil
}

// drain waits until the portal is settled, or capacityDrainTimeout
// passes; it returns the last reading.
func (r *capacityRunner) drain(ctx context.Context) (rundir.Scrape, error) {
	deadline := time.Now().Add(capacityDrainTimeout)
	for {
		m := r.metrics.once(ctx)
		if r.settled(m) || time.Now().After(deadline) {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-time.After(capacityPoll):
		}
	}
}

// settled: no deferred backlog, nothing in flight, and every signer
// replica eligible again (a breaker the previous step opened, or a replica
// marked busy by its Retry-After, would make the next step defer from its
// first request). The scrape itself is not counted in flight (/metrics is
// not instrumented), but a slow client's abandoned request may be.
func (r *capacityRunner) settled(m rundir.Scrape) bool {
	return m.Up && m.DeferredBacklog == 0 && m.InFlight <= 1 && m.SignersAvailable >= float64(r.signers)
}

func (r *capacityRunner) eachPharmacy(ctx context.Context, f func(context.Context, *portalclient.Pharmacy) error) error {
	sem := make(chan struct{}, capacityAdminConcurrency)
	errs := make([]error, len(r.phs))
	var wg sync.WaitGroup
	for i, ph := range r.phs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for attempt := range 3 {
				if errs[i] = f(ctx, ph); errs[i] == nil || ctx.Err() != nil {
					return
				}
				time.Sleep(time.Duration(100*(attempt+1)) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Run implements capacity.Runner: the step, with the CPU the run used and
// the anomaly detector's events meanwhile.
func (r *capacityRunner) Run(ctx context.Context, p capacity.Plan) (capacity.Step, error) {
	m0 := r.metrics.once(ctx)
	c0 := r.cpu()
	st, err := r.probe.Step(ctx, p)
	if err != nil {
		return st, err
	}
	c1 := r.cpu()
	m1 := r.metrics.once(ctx)
	st.CPU = c1.since(c0)
	if m0.Up && m1.Up {
		st.ControlEvents = int64(math.Round(m1.FraudEvents - m0.FraudEvents))
	}
	st.Notes = append(st.Notes, r.notes...)
	if st.ControlEvents > 0 {
		st.Notes = append(st.Notes, fmt.Sprintf("the anomaly detector flagged %d times (held out: recorded, nobody suspended)", st.ControlEvents))
	}
	return st, nil
}

// observe keeps every 201 for the consistency check.
func (r *capacityRunner) observe(res *vegeta.Result) {
	if res.Code != http.StatusCreated {
		return
	}
	var iss portalapi.Issued
	if json.Unmarshal(res.Body, &iss) != nil || iss.UVCI == "" {
		return
	}
	r.mu.Lock()
	r.acks = append(r.acks, consistency.Ack{Class: "issue", UVCI: iss.UVCI, HC1: iss.HC1})
	r.mu.Unlock()
}

func (r *capacityRunner) takeAcks() []consistency.Ack {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acks
}

// cpuReading is the CPU time of the run's parts and of the machine at one
// moment.
type cpuReading struct {
	at      time.Time
	parts   map[string]time.Duration
	waited  map[string]time.Duration // nil when the testbed cannot tell
	machine time.Duration
	ok      bool
}

// cpu reads the components' CPU time (when the testbed can tell), this
// process's (the load generator) and the machine's.
func (r *capacityRunner) cpu() cpuReading {
	rd := cpuReading{at: time.Now(), parts: map[string]time.Duration{}, waited: map[string]time.Duration{}}
	cr, ok := r.tb.(testbed.CPUReader)
	if !ok {
		return rd
	}
	for _, name := range testbed.Metered(r.tb) {
		part := capacityPart(name)
		t, err := cr.CPUTime(name)
		if err != nil {
			r.log.Warn("reading CPU time", "component", name, "err", err)
			return rd
		}
		rd.parts[part] += t
		if part == capacityRegistry {
			continue // a process group's run-queue wait is not read
		}
		if w, err := cr.CPUWait(name); err == nil && rd.waited != nil {
			rd.waited[part] += w
		} else {
			rd.waited = nil
		}
	}
	self, err1 := proccpu.Self()
	machine, err2 := proccpu.Machine()
	if err1 != nil || err2 != nil {
		r.log.Warn("reading CPU time", "err", errors.Join(err1, err2))
		return rd
	}
	if w, err := proccpu.WaitedSelf(); err == nil && rd.waited != nil {
		rd.waited["generator"] = w
	} else {
		rd.waited = nil
	}
	rd.parts["generator"], rd.machine, rd.ok = self, machine, true
	return rd
}

// The capacity model's tiers: replicas of one role are priced together
// (a request goes to one portal and one signer of several).
const (
	capacityPortal   = "portal"
	capacitySigners  = "signers"
	capacityRegistry = "registry"
)

// capacityPart is the tier a metered component's CPU counts in.
func capacityPart(name string) string {
	switch {
	case strings.HasPrefix(name, "signer-"):
		return capacitySigners
	case strings.HasPrefix(name, "portal-"):
		return capacityPortal
	case strings.HasPrefix(name, "registry-"):
		return capacityRegistry
	}
	return name
}

// since is the CPU used between two readings; nil when either failed.
func (rd cpuReading) since(from cpuReading) *capacity.CPU {
	if !rd.ok || !from.ok {
		return nil
	}
	c := &capacity.CPU{Seconds: map[string]float64{}, Wall: rd.at.Sub(from.at).Seconds(), Cores: runtime.NumCPU()}
	var ours float64
	for part, t := range rd.parts {
		d := (t - from.parts[part]).Seconds()
		c.Seconds[part] = d
		ours += d
	}
	c.Other = max((rd.machine-from.machine).Seconds()-ours, 0)
	if rd.waited != nil && from.waited != nil {
		c.Waited = map[string]float64{}
		for part, w := range rd.waited {
			c.Waited[part] = max((w - from.waited[part]).Seconds(), 0)
		}
	}
	return c
}

// forecastPeak is the highest combined issuance demand of a scenario.
func forecastPeak(sc *spec.Scenario) float64 {
	peak := 0.0
	for t := sc.Clock.Start; !t.After(sc.Clock.End); t = t.Add(time.Minute) {
		sum := 0.0
		for _, c := range sc.Traffic {
			if c.Kind.Issues() {
				sum += c.Demand.Rate(t)
			}
		}
		peak = max(peak, sum)
	}
	return peak
}
