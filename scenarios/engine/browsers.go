package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/consistency"
	"github.com/golive-dev/golive/scenarios/spec"
)

// browserClass names the browsers' certificates in the consistency check.
const browserClass = "browsers"

// Browser journeys (Options.Browsers): real headless Chromium sessions of
// simulated pharmacy staff beside the scenario's API load, each with a
// pharmacy of its own, on the same compressed clock and faults. What they
// meet goes into summary.json's browsers and the screenshots into
// DIR/browsers/.

// ErrNoChromium is Run's error for browsers without a Chromium to drive.
var ErrNoChromium = errors.New("browser journeys need Chromium: install Debian's chromium package (make test-deps, or apt-get install -y chromium)")

// browserRun is the journeys of one run.
type browserRun struct {
	plan    loadgen.JourneyPlan
	done    chan struct{}
	ready   chan struct{} // closed when every browser is up and signed in
	results []loadgen.JourneyResult
	shots   []rundir.BrowserShot
	err     error
	// seen and pdfs feed the progress line.
	seen, pdfs atomic.Int64
}

// checkBrowsers refuses a browser count before anything starts.
func checkBrowsers(n int) error {
	if n < 0 || n > loadgen.MaxJourneyUsers {
		return fmt.Errorf("engine: %d browsers, want 0 to %d", n, loadgen.MaxJourneyUsers)
	}
	if n > 0 && loadgen.ChromiumPath() == "" {
		return ErrNoChromium
	}
	return nil
}

// browserTimeout is how long staff wait for a page: the first legitimate
// issue class's client timeout, else loadgen's default.
func (r *run) browserTimeout() time.Duration {
	for _, c := range r.sc.Traffic {
		if c.Kind == spec.KindIssue && c.Client.Timeout > 0 {
			return c.Client.Timeout
		}
	}
	return loadgen.DefaultAnswerTimeout
}

// phaseOf names the scenario phase of a simulated instant.
func (r *run) phaseOf(sim time.Time) string {
	name := ""
	for _, ph := range r.sc.Phases {
		if ph.Contains(sim) {
			name = ph.Name
		}
	}
	return name
}

// startBrowsers launches the browsers and signs them in; their journeys
// begin when start closes (the business day's start, after r.clock is
// set) and run until wallDur has passed from then (or ctx ends). Wait for
// them with browserRun.wait.
func (r *run) startBrowsers(ctx context.Context, phs []*portalclient.Pharmacy, start <-chan struct{}, wallDur time.Duration) *browserRun {
	logins := make([]loadgen.JourneyLogin, len(phs))
	for i, p := range phs {
		logins[i] = loadgen.JourneyLogin{PharmacyID: p.ID, ClientID: p.ClientID, ClientSecret: p.ClientSecret}
	}
	b := &browserRun{done: make(chan struct{}), ready: make(chan struct{}), plan: loadgen.JourneyPlan{
		BaseURL: r.tb.PortalURL(), Users: len(phs), Logins: logins, Duration: wallDur, Start: start,
		Sim: func(t time.Time) time.Time { return r.clock.Sim(t) }, Phase: r.phaseOf, Payloads: &loadgen.Payloads{Seed: r.seed + 1<<20}, Dir: r.o.Out,
		AnswerTimeout: r.browserTimeout(), Logger: r.log, TrustSPKI: r.browserTrust(),
	}}
	var once sync.Once
	b.plan.Ready = func() { once.Do(func() { close(b.ready) }) }
	b.plan.Observe = func(j loadgen.JourneyResult) {
		b.seen.Add(1)
		if j.Outcome == loadgen.JourneyPDF {
			b.pdfs.Add(1)
		}
		// A certificate shown to staff is acknowledged like a 201: the
		// after-run check must find it in the registry.
		if j.Outcome == loadgen.JourneyPDF && j.UVCI != "" && j.User >= 0 && j.User < len(logins) {
			r.ack(consistency.Ack{Class: browserClass, PharmacyID: logins[j.User].PharmacyID, UVCI: j.UVCI})
		}
	}
	go func() {
		defer close(b.done)
		b.results, b.shots, b.err = loadgen.RunJourneys(ctx, loadgen.JourneyBrowser, b.plan)
		if b.err != nil {
			r.log.Warn("browser journeys", "err", b.err)
		}
	}()
	return b
}

// progress is the journeys so far for the progress line ("" without).
func (b *browserRun) progress() string {
	if b == nil {
		return ""
	}
	return fmt.Sprintf(" browsers %d/%d pdf", b.pdfs.Load(), b.seen.Load())
}

// browsersReadyTimeout bounds the wait for the browsers before the
// business day starts without the slow ones.
const browsersReadyTimeout = 5 * time.Minute

// awaitReady waits until every browser is up and signed in.
func (b *browserRun) awaitReady(ctx context.Context) {
	if b == nil {
		return
	}
	select {
	case <-b.ready:
	case <-b.done:
	case <-ctx.Done():
	case <-time.After(browsersReadyTimeout):
	}
}

// wait returns once every journey has ended.
func (b *browserRun) wait() {
	if b != nil {
		<-b.done
	}
}

// summary is summary.json's browsers.
func (b *browserRun) summary(phases []rundir.Phase) *rundir.Browsers {
	if b == nil {
		return nil
	}
	names := make([]string, len(phases))
	for i, p := range phases {
		names[i] = p.Name
	}
	s := loadgen.SummarizeJourneys(b.plan.Users, b.plan.AnswerTimeout, names, b.results, b.shots)
	if b.err != nil {
		s.Error = b.err.Error()
	}
	return s
}
