package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/capacity"
	"github.com/golive-dev/golive/scenarios/spec"
)

// CapacityOptions configure a capacity search.
type CapacityOptions struct {
	// Scenario holds the search settings (its capacity section) and the
	// system to measure; the built-in "capacity" when nil.
	Scenario *spec.Scenario
	// Forecast is the scenario whose peak issuance demand the capacity is
	// compared with (e.g. launch-day); nil: no headroom verdict.
	Forecast *spec.Scenario
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

// CapacityResult is capacity.json (package rundir owns the format): the
// capacity curve and the sizing advice.
type CapacityResult = rundir.Capacity

// RunCapacity starts the system on a testbed and searches for the highest
// issuance rate that meets the SLO, then compares it with the forecast.
func RunCapacity(ctx context.Context, o CapacityOptions) (*CapacityResult, error) {
	sc := o.Scenario
	if sc == nil {
		var err error
		if sc, err = spec.Builtin("capacity"); err != nil {
			return nil, err
		}
	}
	if sc.Capacity == nil {
		return nil, fmt.Errorf("engine: %s has no capacity section", sc.Name)
	}
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
	profile, err := sc.ProfileFor(o.Profile)
	if err != nil {
		return nil, err
	}
	cs := *sc.Capacity
	slo := capacity.SLO{P99: cs.SLO.P99, MinSuccess: cs.SLO.MinSuccess, MinGoodput: cs.SLO.MinGoodput}
	if o.SLO.P99 > 0 {
		slo.P99 = o.SLO.P99
		if o.SLO.MinSuccess > 0 {
			slo.MinSuccess = o.SLO.MinSuccess
		}
	}
	cfg, err := serveConfig(sc, profile)
	if err != nil {
		return nil, err
	}
	signerCfg, err := sc.SignerConfig(profile)
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
	say("starting the %s testbed (%s, %d signers)", tkind, profile, sc.System.Signers)
	tb, err := testbed.Start(ctx, testbed.Options{Kind: tkind, URL: url, AdminToken: o.AdminToken, Profile: profile,
		Signers: max(sc.System.Signers, 1), Binary: o.Binary, Config: cfg, Logger: log, RunID: o.RunID})
	if err != nil {
		return nil, fmt.Errorf("engine: starting the testbed: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = tb.Close(cctx)
	}()

	reg, mail, err := participants(tb, o.DataDir)
	if err != nil {
		return nil, err
	}
	client := portalclient.New(tb.PortalURL())
	n := 40
	if c, ok := sc.Class(cs.Class); ok && c.Pharmacies > 0 {
		n = min(c.Pharmacies, 80, reg.Len())
	}
	say("onboarding %d pharmacies", n)
	phs, err := onboardAll(ctx, client, mail, reg.Entries()[:n], nil)
	if err != nil {
		return nil, fmt.Errorf("engine: onboarding: %w", err)
	}
	acc := newAccounts(client, phs)
	it := &loadgen.IssueTargets{BaseURL: tb.PortalURL(), Payloads: &loadgen.Payloads{Seed: uint64(max(sc.Seed, 1))},
		Credentials: acc, KeyPrefix: "cap-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"}
	var seq atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		req, err := it.Request(ctx, seq.Add(1))
		*t = req.Target
		return err
	}
	probe := capacity.HTTPProbe{Targeter: targeter, Duration: cs.Step, Timeout: 5 * time.Second,
		OK: func(c uint16) bool { return c == http.StatusCreated }}
	res, serr := capacity.Search(ctx, probe.Run, slo, capacity.Options{
		Start: cs.StartRate, Max: cs.MaxRate, Growth: cs.Growth, Rel: cs.Precision, MaxSteps: cs.MaxSteps,
		Progress: func(s capacity.Step) {
			say("%7.1f/s offered  %7.1f/s good  p99 %7.1f ms  success %.3f  %s", s.Offered, s.Goodput,
				float64(s.P99.Microseconds())/1000, s.Success, map[bool]string{true: "pass", false: "FAIL"}[s.Pass])
		}})
	if serr != nil && !errors.Is(serr, capacity.ErrStartFails) {
		return nil, serr
	}

	out := &CapacityResult{CapacityRPS: res.Capacity, Bounded: res.Bounded, Profile: profile, Target: string(tb.Kind()),
		Signers: max(sc.System.Signers, 1), HSMSlots: signerCfg.HSMSlots}
	out.SLO.P99MS = float64(slo.P99.Microseconds()) / 1000
	out.SLO.MinSuccess = slo.MinSuccess
	for _, s := range res.Steps {
		out.Steps = append(out.Steps, rundir.CapacityStep{Rate: s.Offered, Goodput: s.Goodput,
			P99MS: float64(s.P99.Microseconds()) / 1000, Success: s.Success, OK: s.Pass})
	}
	if k, ok := res.Knee(); ok {
		out.KneeRPS = k.Offered
	}
	if signerCfg.HSMLatency > 0 {
		out.SignerRPS = float64(signerCfg.HSMSlots) / signerCfg.HSMLatency.D().Seconds()
	}
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
		out.NeededSigners, out.NeededHSMSlots, out.Advice = sizing(out)
		out.Verdict = "pass"
		if out.Headroom < 1 {
			out.Verdict = "fail"
		}
	}
	if err := rundir.WriteCapacity(o.Out, out); err != nil {
		return out, fmt.Errorf("engine: %w", err)
	}
	if serr != nil {
		return out, serr
	}
	return out, nil
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

// sizing says how many signer replicas, or HSM slots per replica, the
// forecast peak needs. The HSM model bounds each replica at
// slots/latency signatures per second; the measured capacity shows how
// much of that the whole system reaches.
func sizing(r *CapacityResult) (signers, slots int, advice string) {
	if r.ForecastPeakRPS <= 0 {
		return r.Signers, r.HSMSlots, "no forecast demand"
	}
	// The per-replica rate actually achieved: the HSM bound, or less when
	// the measured capacity is lower.
	perReplica := r.SignerRPS
	if measured := r.CapacityRPS / float64(r.Signers); measured > 0 && (perReplica == 0 || measured < perReplica) {
		perReplica = measured
	}
	if perReplica <= 0 {
		return r.Signers, r.HSMSlots, "capacity not measured"
	}
	need := r.ForecastPeakRPS * 1.25 // a quarter in reserve for the surge's noise
	signers = int(math.Ceil(need / perReplica))
	slots = int(math.Ceil(float64(r.HSMSlots) * need / (perReplica * float64(r.Signers))))
	if r.Headroom >= 1.25 {
		return signers, slots, fmt.Sprintf("capacity %.0f/s covers the forecast peak %.1f/s %.1fx; %d signer replicas of %d HSM slots suffice",
			r.CapacityRPS, r.ForecastPeakRPS, r.Headroom, max(signers, 1), r.HSMSlots)
	}
	return signers, slots, fmt.Sprintf("capacity %.0f/s is %.2fx the forecast peak %.1f/s: run %d signer replicas (now %d), or %d HSM slots each",
		r.CapacityRPS, r.Headroom, r.ForecastPeakRPS, signers, r.Signers, slots)
}
