// Package engine runs a scenario end to end: it starts the issuer on a
// testbed, onboards the simulated pharmacies and attackers, sets the
// portal's business day, drives every traffic class with loadgen on the
// scenario's compressed clock, injects the scenario's faults, scrapes the
// portal's metrics, lets the deferred backlog drain, checks that nothing
// acknowledged was lost, evaluates thresholds and writes the run directory
// (docs/run-format.md).
package engine

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golive-dev/golive/chaos"
	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/loadgen/balance"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/consistency"
	"github.com/golive-dev/golive/scenarios/evidence"
	"github.com/golive-dev/golive/scenarios/spec"
	"github.com/golive-dev/golive/scenarios/threshold"
)

// Options configure one run of one profile.
type Options struct {
	Scenario *spec.Scenario
	// Target is auto, docker, local or url=BASE.
	Target string
	// Profile overrides the scenario's (hardened or naive-2021).
	Profile string
	// Timescale and DemandScale override the scenario's when > 0.
	Timescale, DemandScale float64
	// Out is the run directory (created).
	Out  string
	Seed uint64
	// Binary is the golive executable the testbed runs (default: this one).
	Binary string
	// RunID names the testbed's containers and processes (default: fresh).
	RunID string
	// Thresholds are added to the scenario's.
	Thresholds []string
	// AdminToken and DataDir describe a url target's deployment: the admin
	// token, and a directory holding its register.jsonl and mailbox/.
	AdminToken, DataDir string
	// Browsers is how many headless Chromium staff journeys run beside
	// the load (0: none; at most loadgen.MaxJourneyUsers).
	Browsers int
	// MetricsToken is the bearer token the portal's /metrics asks for when
	// it was served with one (empty: none sent).
	MetricsToken string
	// CPUWaitLimit is the CPU wait per CPU second over which the machine
	// counts as starved and failures become inconclusive (0: the default,
	// DefaultCPUWaitLimit; negative: never).
	CPUWaitLimit float64
	// Workers > 0 sends the load from that many load workers (golive
	// worker: containers on docker, child processes on local) and merges
	// their results; 0 sends it from this process.
	Workers int
	// WorkersDir makes the workers someone else's to start (Kubernetes
	// pods, golive k8s render): the shards are written to
	// WorkersDir/worker-N, which the workers must see at the same path.
	WorkersDir string
	// WorkerCPUSets pins docker workers to CPU sets ("0", "2-3"), in turn.
	WorkerCPUSets []string
	// TLS serves the system over https with a CA the testbed makes for
	// the run, trusted by every client of the harness (also on when the
	// scenario says system.tls; see tls.go).
	TLS bool
	// Progress receives a live status line about every second (a
	// terminal); nil keeps quiet.
	Progress func(line string)
	Logger   *slog.Logger

	// workersStarted, for tests, learns the started workers and the
	// agreed start.
	workersStarted func(procs []testbed.WorkerProc, start time.Time)
}

// Run executes the scenario and writes o.Out. The returned summary's
// Verdict is "pass", "fail" or "inconclusive" (too few events to judge a
// threshold or check, and nothing judged failed); an error means the run
// itself could not be carried out (the directory then holds what was
// gathered).
func Run(ctx context.Context, o Options) (*Summary, error) {
	sc := o.Scenario
	if sc == nil {
		return nil, errors.New("engine: no scenario")
	}
	if sc.Capacity != nil {
		return nil, fmt.Errorf("engine: %s is a capacity search: run it with golive capacity", sc.Name)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	set, err := settle(o)
	if err != nil {
		return nil, err
	}
	profile, timescale, demandScale, exprs := set.profile, set.timescale, set.demandScale, set.exprs
	seed := o.Seed
	if seed == 0 {
		seed = uint64(max(sc.Seed, 1))
	}
	tkind, url, err := parseTarget(o.Target)
	if err != nil {
		return nil, err
	}
	if err := checkTLSTarget(o, tkind, url); err != nil {
		return nil, err
	}
	if o.Workers < 0 || o.Workers > maxWorkers {
		return nil, fmt.Errorf("engine: %d workers: want 0 (this process) to %d", o.Workers, maxWorkers)
	}
	if o.WorkersDir != "" && o.Workers == 0 {
		return nil, errors.New("engine: a workers directory needs a worker count")
	}
	if err := checkBrowsers(o.Browsers); err != nil {
		return nil, err
	}
	if err := checkVendorRun(sc, o); err != nil {
		return nil, err
	}
	if tkind == testbed.KindURL && len(sc.Faults) > 0 {
		return nil, fmt.Errorf("engine: %s injects %d faults, and a url target cannot be hurt: use --target docker or local", sc.Name, len(sc.Faults))
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("engine: run directory: %w", err)
	}

	cfg, err := serveConfig(sc, profile)
	if err != nil {
		return nil, err
	}
	r := &run{o: o, sc: sc, log: log, profile: profile, timescale: timescale, demandScale: demandScale, seed: seed,
		started: time.Now(), progress: o.Progress, needs: set.needs,
		ticketsDone: map[string]time.Time{}, waits: &certWaits{end: sc.Clock.End}}
	r.runKey = strconv.FormatInt(r.started.UnixNano(), 36)
	r.warnShort()
	r.say("starting the %s testbed (%s, %d signers, %d portals)", tkind, profile, sc.System.Signers, max(sc.System.Portals, 1))
	tb, err := testbed.Start(ctx, testbed.Options{
		Kind: tkind, URL: url, AdminToken: o.AdminToken, Profile: profile, Signers: max(sc.System.Signers, 1),
		Portals: max(sc.System.Portals, 1),
		Binary:  o.Binary, Config: cfg, SimStart: sc.Clock.Start, Timescale: timescale, Logger: log, RunID: o.RunID,
		Registry: sc.System.Registry, RegistryStandby: sc.System.RegistryStandby, TLS: wantsTLS(o),
		Mailout: sc.HasMailout(),
	})
	if err != nil {
		return nil, fmt.Errorf("engine: starting the testbed: %w", err)
	}
	r.tb, r.tls = tb, testbed.ClientTLS(tb)
	if tkind == testbed.KindAuto {
		r.say("auto target: using %s (%s)", tb.Kind(), map[bool]string{true: "a Docker daemon answered", false: "no Docker daemon answered"}[tb.Kind() == testbed.KindDocker])
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := tb.Close(cctx); err != nil {
			log.Warn("closing the testbed", "err", err)
		}
	}()
	return r.execute(ctx, exprs)
}

// portalClientTimeout bounds one set-up, probe or ticket follow-up call.
const portalClientTimeout = 30 * time.Second

// portalClientOf is the harness's own client of the portals at urls (the
// first one, or spread over all of them like the load is): the set-up,
// probes and ticket follow-ups of a run or a worker, so no portal is the
// harness's own single point of failure.
func portalClientOf(urls []string, tc *tls.Config) (*portalclient.Client, error) {
	if len(urls) == 0 {
		return nil, errors.New("engine: no portal URL")
	}
	c := portalclient.New(urls[0])
	c.HTTP = httpClient(tc, portalClientTimeout)
	if len(urls) > 1 {
		spread, err := balance.New(urls, c.HTTP.Transport)
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		c.HTTP.Transport = spread
	}
	return c, nil
}

// maxWorkers bounds --workers (each is a process or container).
const maxWorkers = 64

// serveConfig is the --config the components get: the scenario's portal
// settings for the profile and its HSM model and signer overrides.
func serveConfig(sc *spec.Scenario, profile string) ([]byte, error) {
	pc, err := sc.PortalConfig(profile)
	if err != nil {
		return nil, err
	}
	scfg, err := sc.SignerConfig(profile)
	if err != nil {
		return nil, err
	}
	cfg, err := serveConfigOf(pc, scfg, sc.RegisterSize())
	if err != nil {
		return nil, err
	}
	if cfg, err = withBooking(sc, cfg); err != nil {
		return nil, err
	}
	return withVendors(cfg, sc, profile)
}

// serveConfigOf is the --config for a portal and a signer configuration
// and the register size the data directory is generated with.
func serveConfigOf(pc portalapi.Config, scfg signerapi.Settings, registerSize int) ([]byte, error) {
	return json.Marshal(map[string]any{"portal": pc, "signer": scfg, "register_size": registerSize})
}

// run is the state of one run.
type run struct {
	o           Options
	sc          *spec.Scenario
	tb          testbed.Testbed
	log         *slog.Logger
	profile     string
	timescale   float64
	demandScale float64
	seed        uint64
	started     time.Time
	// runKey prefixes the idempotency keys: the coordinator's, shared by its workers.
	runKey   string
	progress func(string)
	// needs are the minimum event counts thresholds and checks declare
	// (scenarios/evidence).
	needs []evidence.Need
	// cost meters the components' CPU over the load (nil on url).
	cost *costMeter

	client *portalclient.Client
	clock  simclock.Clock
	tls    *tls.Config // the clients' TLS toward the system; nil: plain HTTP

	mu      sync.Mutex
	acks    []consistency.Ack
	tickets []pendingTicket // left pending by their users (a 202 at the end)
	// ticketsDone is when the drain found each of those signed (wall).
	ticketsDone map[string]time.Time
	// waits is every customer's time to certificate.
	waits *certWaits
	// ticketsPending is how many of those never completed.
	ticketsPending int
	security       rundir.Security
	machine        *rundir.Machine           // CPU starvation over the load
	sample         string                    // an HC1 for verify classes
	stuffed        int                       // credential-stuffing logins that succeeded
	timeouts       map[string]time.Duration  // by class, set before the load
	kinds          map[string]spec.ClassKind // by class, set before the load
	// goodputClasses are the legitimate issuance classes: the customers
	// whose actions are offered load and whose certificates are goodput.
	goodputClasses []string

	// live judges "over" thresholds during the load; one marked
	// abortOnFail that fails stops it (aborted says why).
	live     *threshold.Live
	stopLoad context.CancelFunc
	aborted  string
	faultErr error // the fault schedule's, set before faultsDone closes

	// workerHealth is each load worker's account (Options.Workers).
	workerHealth []rundir.WorkerHealth
	// browsers are the browser journeys (nil without --browsers).
	browsers *browserRun
	// public are the finder and verifier-lists classes (public.go).
	public *publicClasses
	// bookings are the booking classes' citizens (booking.go).
	bookings *bookingRuns
	// vendors are the vendor classes' gateways (nil without one; vendor.go).
	vendors *vendorRun
}

type pendingTicket struct {
	class, ticket, key, pharmacy string
	fraud                        bool
	at                           time.Time // the action's simulated instant
}

func (r *run) say(format string, a ...any) {
	r.log.Info(fmt.Sprintf(format, a...))
	if r.progress != nil {
		r.progress(fmt.Sprintf(format, a...))
	}
}

// classSetup is a traffic class made ready to send.
type classSetup struct {
	spec     spec.Class
	accounts *accounts
	fraud    bool
	// practices and mail onboard a practice class (parties.go).
	practices []register.Entry
	mail      portalclient.Mail
}

func (r *run) execute(ctx context.Context, exprs []*threshold.Expr) (*Summary, error) {
	sc, tb := r.sc, r.tb
	client, err := portalClientOf(testbed.PortalURLs(tb), r.tls)
	if err != nil {
		return nil, err
	}
	r.client = client
	r.client.AdminToken = tb.AdminToken()
	direct := r.portalClient(tb.DirectPortalURL())
	direct.AdminToken = tb.AdminToken()
	events := &rundir.Events{}
	// Faults the testbed cannot apply are refused before any load.
	probeClock := simclock.Clock{SimStart: sc.Clock.Start, WallStart: time.Now(), Scale: r.timescale}
	if err := newFaultRunner(tb, probeClock, r.log).validate(sc.Faults, sc.System); err != nil {
		return nil, fmt.Errorf("engine: %s: %w", sc.Name, err)
	}

	// Who takes part: legitimate pharmacies from the register, attackers.
	reg, mail, err := participants(tb, r.o.DataDir)
	if err != nil {
		return nil, err
	}
	entries := reg.Entries()
	rnd := rand.New(rand.NewPCG(r.seed, 99))
	rnd.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	next := 0
	setups := make([]*classSetup, len(sc.Traffic))
	for i, c := range sc.Traffic {
		cs := &classSetup{spec: c, fraud: c.Kind.Attacker()}
		setups[i] = cs
		switch c.Kind {
		case spec.KindIssue, spec.KindStolenCredentials, spec.KindBooking, spec.KindVendor:
			if c.IsPractice() {
				break
			}
			n := max(c.Pharmacies, 1)
			if next+n > len(entries) {
				return nil, fmt.Errorf("engine: the register has %d pharmacies, the scenario needs more (class %s wants %d)", len(entries), c.Name, n)
			}
			r.say("onboarding %d pharmacies for %s", n, c.Name)
			phs, err := onboardAll(ctx, r.client, mail, entries[next:next+n], nil)
			if err != nil {
				return nil, fmt.Errorf("engine: onboarding %s: %w", c.Name, err)
			}
			next += n
			cs.accounts = newAccounts(r.client, phs)
		case spec.KindForgedOnboarding:
			phs := r.forge(ctx, mail, c, rnd)
			cs.accounts = newAccounts(r.client, phs)
		}
		if c.IsPractice() { // party.go: from the practice register, now or at join_at
			if err := r.setUpPractices(ctx, cs, mail); err != nil {
				return nil, err
			}
		}
	}

	if err := r.startVendors(ctx, setups); err != nil {
		return nil, err
	}

	// The browsers' pharmacies: their own, so their sessions, quotas and
	// certificates are theirs alone.
	var browserPhs []*portalclient.Pharmacy
	if n := r.o.Browsers; n > 0 {
		if next+n > len(entries) {
			return nil, fmt.Errorf("engine: the register has %d pharmacies, the scenario and %d browsers need more", len(entries), n)
		}
		r.say("onboarding %d pharmacies for the browsers", n)
		if browserPhs, err = onboardAll(ctx, r.client, mail, entries[next:next+n], nil); err != nil {
			return nil, fmt.Errorf("engine: onboarding the browsers' pharmacies: %w", err)
		}
		next += n
	}
	// They start now, while the testbed is still quiet (three browsers
	// starting at once under load take minutes on two cores), and begin
	// their journeys with the business day.
	wallDur := time.Duration(float64(sc.Clock.SimDuration()) / r.timescale)
	dayStarts := make(chan struct{})
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	if len(browserPhs) > 0 {
		r.say("starting %d browsers", len(browserPhs))
		r.browsers = r.startBrowsers(loadCtx, browserPhs, dayStarts, wallDur)
	}

	// Steady state before the first fault: every component ready and one
	// real issuance.
	var legit *accounts
	for _, cs := range setups {
		if cs.spec.Kind == spec.KindIssue && !cs.spec.Joins() {
			legit = cs.accounts
			break
		}
	}
	events.Probes = append(events.Probes, r.probe(ctx, "before", legit))
	if r.browsers != nil {
		r.say("waiting for the browsers to start and sign in")
		r.browsers.awaitReady(ctx)
	}

	// Workers start before the day does: how long a container takes to
	// come up is nobody's business but the testbed's.
	var workers *fleet
	lead := 500 * time.Millisecond
	if r.o.Workers > 0 {
		if workers, err = r.launchWorkers(ctx); err != nil {
			return nil, err
		}
		defer workers.killAll() // after a normal end they are gone already
		lead = workerLead
	}
	// The business day starts now, on the portal and in the load alike.
	r.clock = simclock.Clock{SimStart: sc.Clock.Start, WallStart: time.Now().Add(lead), Scale: r.timescale}
	for _, u := range testbed.DirectPortalURLs(tb) {
		r.setBusinessClock(ctx, u)
	}
	classes := r.classes(setups)
	if workers != nil {
		if err := workers.writeShards(setups, wallDur); err != nil {
			return nil, err
		}
	}
	time.Sleep(time.Until(r.clock.WallStart))
	close(dayStarts)
	r.vendors.run(loadCtx, r.clock, r.say, r.log.Warn)

	// Faults and metrics run beside the load.
	// The live buckets merge every class (see judgeLive).
	r.live, r.stopLoad = threshold.NewLive(exprs).WithRates(r.timescale, nil), stopLoad
	faults := newFaultRunner(&portalClocks{Testbed: tb, set: r.setBusinessClock}, r.clock, r.log)
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		r.faultErr = faults.run(loadCtx, sc.Faults, sc.System)
	}()
	scr := &scraper{url: tb.DirectPortalURL(), token: r.o.MetricsToken, http: httpClient(r.tls, 2*time.Second), sim: r.clock.Sim}
	scrCtx, stopScrape := context.WithCancel(context.WithoutCancel(ctx))
	scrDone := make(chan struct{})
	go func() { defer close(scrDone); scr.run(scrCtx, time.Second) }()

	slow := r.slowAttacks(tb)
	mailouts, err := r.startMailouts(loadCtx, wallDur)
	if err != nil {
		stopScrape()
		return nil, err
	}
	r.joinParties(loadCtx, setups)
	cpuBefore := readSelfCPU()
	r.say("replaying %s %s-%s at %gx (%s wall), demand x%g", sc.Name,
		sc.Clock.Start.Format("15:04"), sc.Clock.End.Format("15:04"), r.timescale, wallDur.Round(time.Second), r.demandScale)
	// CPU per request: from the start of the load to the end of the drain.
	r.cost = startCostMeter(tb, r.log)
	defer r.cost.stop()
	var totals loadgen.Totals
	var loadErr error
	waitBookings := r.startBookings(loadCtx, setups, wallDur)
	if workers != nil {
		// Slow attackers hold connections from this process: they send
		// next to nothing, so they need no sharding.
		slowDone := make(chan []loadgen.SlowStats, 1)
		go func() { slowDone <- loadgen.RunSlowAttacks(loadCtx, slow, r.clock, r.demandScale, wallDur) }()
		totals, loadErr = workers.wait(loadCtx, classes)
		totals.Slow = <-slowDone
	} else {
		// The load starts at the clock's instant exactly, as workers do:
		// the pacers cover the scenario's simulated span, no more, no less.
		totals, loadErr = loadgen.Run(loadCtx, loadgen.Plan{
			Clock: r.clock, DemandScale: r.demandScale, Duration: wallDur, Classes: classes, Slow: slow, Dir: r.o.Out,
			Portals: testbed.PortalURLs(tb), TLS: r.tls,
			Observer: r.observe, Progress: r.onProgress, Logger: r.log, Start: r.clock.WallStart,
		})
	}
	// The last journeys end on their own (each is bounded by its
	// timeouts); the faults stay until then. So do the last visits.
	r.browsers.wait()
	waitBookings()
	r.machine = machineOf(cpuBefore, readSelfCPU(), r.o.CPUWaitLimit)
	interrupted := ctx.Err() != nil
	for _, st := range totals.Slow {
		r.say("%s (%s): %d connections opened, at most %d held at once, %d cut off by the portal",
			st.Name, st.Kind, st.Opened, st.MaxHeld, st.CutOff)
	}
	// Undo every fault, even after Ctrl-C.
	stopLoad()
	<-faultsDone
	r.vendors.stop(r.log.Warn)
	undoCtx, cancelUndo := context.WithTimeout(context.Background(), 2*time.Minute)
	faults.undoAll(undoCtx)
	cancelUndo()
	events.Faults = faults.events()
	events.Failovers = r.failovers()

	// Let the deferred backlog drain and follow the tickets users left.
	r.mu.Lock()
	r.ticketsPending = len(r.tickets) // until drain follows them
	r.mu.Unlock()
	drainCtx, cancelDrain := context.WithTimeout(context.WithoutCancel(ctx), 90*time.Second)
	if !interrupted {
		r.say("waiting for the deferred backlog to drain")
		r.drain(drainCtx, scr, setups)
	}
	cancelDrain()
	mailoutClasses := r.finishMailouts(context.WithoutCancel(ctx), mailouts, interrupted)
	r.cost.stop()
	r.waitedForTickets()
	events.Probes = append(events.Probes, r.probe(context.WithoutCancel(ctx), "after", legit))
	stopScrape()
	<-scrDone

	// Nothing acknowledged lost?
	r.say("checking consistency of %d acknowledged certificates", len(r.acks))
	cctx, cancelCheck := context.WithTimeout(context.Background(), 5*time.Minute)
	rep, cerr := consistency.Check(cctx, consistency.Config{BaseURL: tb.DirectPortalURL(), AdminToken: tb.AdminToken(), HTTP: httpClient(r.tls, consistencyTimeout)}, r.acks)
	cancelCheck()
	if cerr != nil {
		r.log.Error("consistency check failed to run", "err", cerr)
	}
	var fe portalapi.EventPage
	if err := direct.Admin(context.Background(), http.MethodGet, "/v1/admin/fraud-events?limit=1000", nil, &fe); err == nil {
		r.security.AccountsSuspended = int64(len(fe.Entries))
	}

	// The run directory.
	events.Phases = phasesOf(sc, r.clock)
	sum := r.summary(totals, rep, cerr, events, interrupted)
	r.bookingSummaries(sum)
	r.vendors.summarize(sum)
	addMailouts(sum, mailoutClasses)
	for _, st := range totals.Slow {
		sum.SlowClients = append(sum.SlowClients, rundir.SlowClients{Class: st.Name, Kind: string(st.Kind),
			Opened: st.Opened, MaxHeld: st.MaxHeld, CutOff: st.CutOff, DialFailed: st.DialFailed})
	}
	if err := r.write(sum, events, scr.readings()); err != nil {
		return sum, err
	}
	sum.Thresholds = r.evaluate(exprs)
	if err := r.verdict(sum); err != nil {
		return sum, err
	}
	if loadErr != nil && !errors.Is(loadErr, context.Canceled) {
		return sum, fmt.Errorf("engine: load: %w", loadErr)
	}
	if interrupted {
		return sum, ctx.Err()
	}
	return sum, nil
}

// forge submits the class's forged applications; the accepted ones
// (naive-2021) are activated from the attacker's own mailbox.
func (r *run) forge(ctx context.Context, mail *register.DirMailbox, c spec.Class, rnd *rand.Rand) []*portalclient.Pharmacy {
	var phs []*portalclient.Pharmacy
	n := max(c.Pharmacies, 1)
	for range n {
		r.mu.Lock()
		r.security.FraudAttempts++
		r.mu.Unlock()
		acc, err := r.client.Apply(ctx, portalclient.ForgedApplication(rnd))
		if err != nil {
			r.log.Info("forged application refused", "class", c.Name, "err", err)
			continue
		}
		code, err := portalclient.ActivationCode(ctx, mail, portalclient.ForgerMail, acc.PharmacyID, 5*time.Second)
		if err != nil {
			r.log.Info("forged application accepted but no code reached the attacker", "pharmacy", acc.PharmacyID)
			continue
		}
		creds, err := r.client.Activate(ctx, acc.PharmacyID, code)
		if err != nil {
			continue
		}
		ph := &portalclient.Pharmacy{ID: acc.PharmacyID, ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}
		if err := r.client.LoginPharmacy(ctx, ph); err != nil {
			continue
		}
		r.mu.Lock()
		r.security.ForgedAccounts++
		r.mu.Unlock()
		phs = append(phs, ph)
	}
	r.say("%s: %d of %d forged applications got an account", c.Name, len(phs), n)
	return phs
}

// classes turns the scenario's traffic into loadgen classes.
func (r *run) classes(setups []*classSetup) []loadgen.Class {
	var out []loadgen.Class
	runKey := r.runKey
	r.timeouts = map[string]time.Duration{}
	r.kinds = map[string]spec.ClassKind{}
	for i, cs := range setups {
		c := cs.spec
		if c.Kind.Slow() {
			continue // slowAttacks
		}
		if c.Kind == spec.KindBooking {
			r.kinds[c.Name] = c.Kind
			continue // startBookings
		}
		if c.Kind == spec.KindMailout {
			r.kinds[c.Name] = c.Kind
			continue // mailout.go: jobs beside the pacers
		}
		cl := c.Client
		cc := loadgen.ClientConfig{Timeout: cl.Timeout, MaxRetries: cl.Retries.Max,
			BackoffBase: cl.Retries.BackoffBase, BackoffMax: cl.Retries.BackoffMax}
		if cl.PollTickets {
			cc.MaxPolls = 20
		}
		if cl.ImpatientProbability > 0 {
			cc.ImpatientProb = cl.ImpatientProbability
		}
		if !cl.HonourRetryAfter {
			cc.RetryAfterMax = time.Millisecond
		}
		if cl.ScaleWaits {
			cc.WaitScale = 1 / r.timescale
		}
		r.timeouts[c.Name] = cc.Timeout
		r.kinds[c.Name] = c.Kind
		if c.Kind == spec.KindIssue || c.Kind == spec.KindVendor {
			r.goodputClasses = append(r.goodputClasses, c.Name)
		}
		lc := loadgen.Class{Name: c.Name, Demand: c.Demand, Client: cc}
		payloads := &loadgen.Payloads{Seed: r.seed + uint64(i), Mix: loadgen.Mix{V: c.Mix.Vaccination, T: c.Mix.Test, R: c.Mix.Recovery}}
		now := func() time.Time { return time.Now() }
		switch c.Kind {
		case spec.KindIssue, spec.KindStolenCredentials:
			it := &loadgen.IssueTargets{BaseURL: r.client.BaseURL, Payloads: payloads, Credentials: cs.accounts,
				KeyPrefix: runKey + "-" + c.Name + "-", Now: now}
			lc.Request, lc.Refresh = it.Request, cs.accounts.refresh
		case spec.KindForgedOnboarding:
			if cs.accounts.len() > 0 {
				it := &loadgen.IssueTargets{BaseURL: r.client.BaseURL, Payloads: payloads, Credentials: cs.accounts,
					KeyPrefix: runKey + "-" + c.Name + "-", Now: now}
				lc.Request, lc.Refresh = it.Request, cs.accounts.refresh
			} else {
				// No account: the attacker keeps applying.
				lc.Request = r.forgedApplyRequest(c.Name)
			}
		case spec.KindCredentialStuffing:
			lc.Request = r.stuffingRequest(setups)
		case spec.KindVerify:
			lc.Request = r.verifyRequest()
		case spec.KindFinder, spec.KindLists:
			lc.Request = r.publicRequest(c, r.seed+uint64(i), setups)
		case spec.KindVendor:
			lc.Demand = loadgen.DemandFunc(c.DemandAt)
			lc.Request = r.vendorRequest(cs, payloads, runKey+"-"+c.Name+"-")
		}
		out = append(out, lc)
	}
	return out
}

// slowAttacks turns the scenario's slow classes into loadgen's slow
// attackers against the portal itself (not through the fault proxy: they
// come from their own loopback address, as another host would).
func (r *run) slowAttacks(tb testbed.Testbed) []loadgen.SlowAttack {
	var out []loadgen.SlowAttack
	for _, c := range r.sc.Traffic {
		if !c.Kind.Slow() {
			continue
		}
		a := loadgen.SlowAttack{Name: c.Name, Conns: c.Demand, TLS: r.tls}
		switch c.Kind {
		case spec.KindSlowHeader:
			a.Kind, a.URL = loadgen.SlowHeader, tb.DirectPortalURL()+"/v1/certificates"
		case spec.KindSlowBody:
			a.Kind, a.URL = loadgen.SlowBody, tb.DirectPortalURL()+"/v1/token"
		}
		r.kinds[c.Name] = c.Kind
		out = append(out, a)
	}
	return out
}

func jsonTarget(method, url string, body any, header http.Header) (loadgen.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return loadgen.Request{}, err
	}
	if header == nil {
		header = http.Header{}
	}
	header.Set("Content-Type", "application/json")
	return loadgen.Request{Target: vegetaTarget(method, url, b, header)}, nil
}

func (r *run) forgedApplyRequest(class string) loadgen.RequestFunc {
	return func(_ context.Context, seq uint64) (loadgen.Request, error) {
		rnd := rand.New(rand.NewPCG(r.seed, seq+1<<40))
		return jsonTarget(http.MethodPost, r.client.BaseURL+"/v1/pharmacies", portalclient.ForgedApplication(rnd), nil)
	}
}

// stuffingRequest guesses secrets for the client IDs of real accounts.
func (r *run) stuffingRequest(setups []*classSetup) loadgen.RequestFunc {
	var ids []string
	for _, cs := range setups {
		if cs.accounts != nil && !cs.fraud {
			for _, p := range cs.accounts.list {
				ids = append(ids, p.ClientID)
			}
		}
	}
	return func(_ context.Context, seq uint64) (loadgen.Request, error) {
		rnd := rand.New(rand.NewPCG(r.seed, seq+1<<41))
		id := "unknown-client"
		if len(ids) > 0 {
			id = ids[rnd.IntN(len(ids))]
		}
		guess := fmt.Sprintf("Apotheke%04d!", rnd.IntN(10000))
		return jsonTarget(http.MethodPost, r.client.BaseURL+"/v1/token",
			portalapi.TokenRequest{GrantType: "client_credentials", ClientID: id, ClientSecret: guess}, nil)
	}
}

func (r *run) verifyRequest() loadgen.RequestFunc {
	return func(_ context.Context, seq uint64) (loadgen.Request, error) {
		r.mu.Lock()
		hc1 := r.sample
		if n := len(r.acks); n > 0 {
			if a := r.acks[loadgen.Pick(seq, n)]; a.HC1 != "" {
				hc1 = a.HC1
			}
		}
		r.mu.Unlock()
		return jsonTarget(http.MethodPost, r.client.BaseURL+"/v1/verify", portalapi.VerifyRequest{HC1: hc1}, nil)
	}
}

// observe collects what users saw acknowledged.
func (r *run) observe(f loadgen.Final) {
	kind := r.kinds[f.Class]
	if r.observePublic(f, kind) {
		return
	}
	fraud := kind.Attacker()
	if kind == spec.KindCredentialStuffing && f.Code == http.StatusOK {
		r.mu.Lock()
		r.stuffed++
		r.mu.Unlock()
	}
	if fraud { // every attacker action is an attempt, whatever it got
		r.mu.Lock()
		r.security.FraudAttempts++
		r.mu.Unlock()
	}
	r.vendors.observe(f)
	customer := kind == spec.KindIssue || kind == spec.KindVendor // a legitimate customer at the counter
	at := r.clock.Sim(f.Intended)
	switch f.Outcome {
	case loadgen.OutcomeOK:
		if customer {
			r.waits.direct(f.Class, at, f.Done.Sub(f.Intended), true)
		}
		var iss portalapi.Issued
		if json.Unmarshal(f.Body, &iss) == nil && iss.UVCI != "" {
			r.ack(consistency.Ack{Class: f.Class, PharmacyID: f.Tag, IdempotencyKey: f.IdempotencyKey, UVCI: iss.UVCI, HC1: iss.HC1, Fraud: fraud})
		}
	case loadgen.OutcomeTicketDone:
		var tv portalapi.TicketView
		ok := json.Unmarshal(f.Body, &tv) == nil
		if customer {
			done := f.Done // when the user saw it, if the portal does not say
			if ok && tv.CompletedAt != nil {
				done = *tv.CompletedAt
			}
			r.waits.deferred(f.Class, at, r.clock.Sim(done))
		}
		if ok && tv.UVCI != "" {
			r.ack(consistency.Ack{Class: f.Class, PharmacyID: f.Tag, IdempotencyKey: f.IdempotencyKey, UVCI: tv.UVCI, HC1: tv.HC1, Fraud: fraud})
		}
	case loadgen.OutcomeDeferred:
		var d portalapi.Deferred
		if json.Unmarshal(f.Body, &d) == nil && d.Ticket != "" {
			r.mu.Lock()
			r.tickets = append(r.tickets, pendingTicket{class: f.Class, ticket: d.Ticket, key: f.IdempotencyKey, pharmacy: f.Tag, fraud: fraud, at: at})
			r.mu.Unlock()
		} else if customer {
			r.waits.direct(f.Class, at, 0, false)
		}
	default:
		if customer {
			r.waits.direct(f.Class, at, 0, false)
		}
	}
}

func (r *run) ack(a consistency.Ack) {
	r.mu.Lock()
	r.acks = append(r.acks, a)
	if a.Fraud {
		r.security.FraudIssued++
	}
	r.mu.Unlock()
}

// drain waits for the portal's deferred backlog to reach zero, then
// follows every ticket a user left pending to its end.
func (r *run) drain(ctx context.Context, scr *scraper, setups []*classSetup) {
	for ctx.Err() == nil {
		s := scr.once(ctx)
		if s.Up && s.DeferredBacklog == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	byClass := map[string]*accounts{}
	for _, cs := range setups {
		byClass[cs.spec.Name] = cs.accounts
	}
	r.mu.Lock()
	pending := append([]pendingTicket(nil), r.tickets...)
	r.mu.Unlock()
	notDone := len(pending)
	defer func() {
		r.mu.Lock()
		r.ticketsPending = notDone
		r.mu.Unlock()
	}()
	for _, t := range pending {
		acc := byClass[t.class]
		if acc == nil {
			continue
		}
		ph := acc.byID[t.pharmacy]
		if ph == nil {
			continue
		}
		for ctx.Err() == nil {
			tok, err := acc.token(ctx, ph)
			if err != nil {
				break
			}
			tv, err := r.client.Ticket(ctx, tok, t.ticket)
			if err == nil && tv.State == "done" {
				r.ack(consistency.Ack{Class: t.class, PharmacyID: t.pharmacy, IdempotencyKey: t.key, UVCI: tv.UVCI, HC1: tv.HC1, Fraud: t.fraud})
				notDone--
				done := time.Now()
				if tv.CompletedAt != nil {
					done = *tv.CompletedAt
				}
				r.mu.Lock()
				r.ticketsDone[t.ticket] = done
				r.mu.Unlock()
				break
			}
			if err == nil && tv.State == "failed" {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

// waitedForTickets records the time to certificate of every customer who
// left with a ticket: its completion if the drain saw one, else none.
func (r *run) waitedForTickets() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tickets {
		if k := r.kinds[t.class]; k != spec.KindIssue && k != spec.KindVendor {
			continue
		}
		var done time.Time
		if d, ok := r.ticketsDone[t.ticket]; ok {
			done = r.clock.Sim(d)
		}
		r.waits.deferred(t.class, t.at, done)
	}
}

// probe is the steady-state check (chaos.SteadyState): every component
// ready and one real issuance, retried for up to 30 s so a component
// still recovering from an undo gets its chance.
func (r *run) probe(ctx context.Context, when string, acc *accounts) rundir.Probe {
	var issue chaos.IssueFunc
	if acc != nil && acc.len() > 0 {
		ph := acc.list[0]
		issue = func(ctx context.Context) error {
			tok, err := acc.token(ctx, ph)
			if err != nil {
				return err
			}
			payload, _, err := (&loadgen.Payloads{Seed: r.seed}).JSON(uint64(time.Now().UnixNano()), time.Now())
			if err != nil {
				return err
			}
			res, err := r.client.Issue(ctx, tok, fmt.Sprintf("probe-%s-%d", when, time.Now().UnixNano()), portalapi.IssueRequest{Payload: payload})
			if err != nil {
				return err
			}
			if res.Issued == nil {
				return fmt.Errorf("answered %d, not 201", res.Status)
			}
			r.mu.Lock()
			r.sample = res.Issued.HC1
			r.mu.Unlock()
			r.ack(consistency.Ack{Class: "probe", PharmacyID: ph.ID, UVCI: res.Issued.UVCI, HC1: res.Issued.HC1})
			return nil
		}
	}
	p := rundir.Probe{When: when, At: time.Now(), Checks: chaos.SteadyState(ctx, r.tb, when, 30*time.Second, issue)}
	for _, d := range chaos.Deviations(p.Checks) {
		p.Deviations = append(p.Deviations, d.Check+": "+d.Error)
	}
	p.OK = len(p.Deviations) == 0
	return p
}

func (r *run) onProgress(p loadgen.Progress) {
	r.judgeLive(p)
	if r.progress == nil {
		return
	}
	phase := r.phaseOf(p.Sim)
	r.progress(fmt.Sprintf("%s %-16s offered %6.1f/s achieved %6.1f/s p99 %6s errors %d in-flight %d late %d%s",
		p.Sim.Format("15:04"), phase, p.Offered, p.Achieved, p.P99.Round(time.Millisecond), p.Errors, p.InFlight, p.Late, r.browsers.progress()))
}

var _ io.Writer = (*os.File)(nil)

// participants opens the register legitimate pharmacies come from and the
// mailbox their activation codes (and an attacker's) arrive in: the
// testbed's data directory, or dir for a deployment at a URL.
func participants(tb testbed.Testbed, dir string) (*register.Register, *register.DirMailbox, error) {
	if d := tb.DataDir(); d != "" {
		dir = d
	}
	if dir == "" {
		return nil, nil, errors.New("engine: the target's register and mailbox are unknown: pass the deployment's data directory")
	}
	reg, err := register.Load(filepath.Join(dir, "register.jsonl"))
	if err != nil {
		return nil, nil, err
	}
	mail, err := register.NewDirMailbox(filepath.Join(dir, "mailbox"))
	if err != nil {
		return nil, nil, err
	}
	return reg, mail, nil
}

// judgeLive feeds the once-a-second progress to the live thresholds as a
// bucket of all classes (answers in the last wall second, those that were
// not good counted as errors, their p99; the actions due and certificates
// delivered in it) and stops the load when a threshold marked abortOnFail
// fails. The final verdict is still judged on the written timeseries.
func (r *run) judgeLive(p loadgen.Progress) {
	if r.live == nil || r.stopLoad == nil {
		return
	}
	done := int64(p.Achieved)
	errs := min(int64(p.Errors), done)
	b := threshold.Bucket{Start: p.Sim.Truncate(time.Second), P99: float64(p.P99.Microseconds()) / 1000,
		Max: float64(p.P99.Microseconds()) / 1000}
	b.Class = "all"
	b.OK, b.Error = done-errs, errs
	b.Offered, b.Sent, b.Delivered, b.Accepted = int64(p.Actions), done, int64(p.Delivered), int64(p.Accepted)
	r.live.Add(b)
	if res, abort := threshold.ShouldAbort(r.live.Check()); abort {
		r.mu.Lock()
		first := r.aborted == ""
		if first {
			r.aborted = fmt.Sprintf("%s failed (%s, %s)", res.Expr, res.Value, res.Scope)
		}
		r.mu.Unlock()
		if first {
			r.say("aborting: %s", r.aborted)
			r.stopLoad()
		}
	}
}

// parseTarget reads --target: auto, docker, local or url=BASE.
func parseTarget(s string) (testbed.Kind, string, error) {
	if base, ok := strings.CutPrefix(s, "url="); ok {
		return testbed.KindURL, base, nil
	}
	k, err := testbed.ParseKind(s)
	return k, "", err
}

// businessClockTimeout bounds one PUT of the business clock.
const businessClockTimeout = 10 * time.Second

// setBusinessClock sets the run's business day on the portal at
// directURL (every portal keeps its own copy in memory).
func (r *run) setBusinessClock(ctx context.Context, directURL string) {
	c := r.portalClient(directURL)
	c.AdminToken = r.tb.AdminToken()
	ctx, cancel := context.WithTimeout(ctx, businessClockTimeout)
	defer cancel()
	if err := c.Admin(ctx, http.MethodPut, "/v1/admin/business-clock", portalapi.BusinessClock{
		SimStart: r.clock.SimStart, WallStart: r.clock.WallStart, Timescale: r.clock.Scale}, nil); err != nil {
		r.log.Warn("setting the portal's business clock", "portal", directURL, "err", err)
	}
}
