package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
)

// A journey is a traffic class whose users are people driving a real
// client (a browser) through the staff pages rather than HTTP requests
// sent by vegeta: sign in, fill the issuance form, press "issue", wait
// for the PDF. Each executor kind lives in its own file and is registered
// in journeyKinds below, the one place that lists them.

// JourneyKind names a journey executor.
type JourneyKind string

// JourneyBrowser drives headless Chromium (journey_browser.go).
const JourneyBrowser JourneyKind = "browser"

// journeyKinds is the registry of journey executors.
var journeyKinds = map[JourneyKind]func() JourneyExecutor{
	JourneyBrowser: func() JourneyExecutor { return &browserJourneys{} },
}

// JourneyKinds lists the registered executors.
func JourneyKinds() []JourneyKind {
	out := make([]JourneyKind, 0, len(journeyKinds))
	for k := range journeyKinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// JourneyExecutor runs a plan's users until its duration or journey count
// is spent, reporting every journey to observe (from several goroutines).
type JourneyExecutor interface {
	Run(ctx context.Context, p JourneyPlan, observe func(JourneyResult)) error
}

// MaxJourneyUsers bounds JourneyPlan.Users: each is a browser process of
// its own, roughly a core under load.
const MaxJourneyUsers = 16

// Named defaults of a journey plan.
const (
	// DefaultAnswerTimeout is how long staff wait for a page.
	DefaultAnswerTimeout = 30 * time.Second
	// DefaultTicketWait is how long a journey stays on the ticket page
	// (which reloads itself) for the certificate before taking the next
	// customer.
	DefaultTicketWait = 40 * time.Second
	// DefaultHangShotAfter is when a post still without an answer is
	// photographed (the form "doing nothing", as in 2021).
	DefaultHangShotAfter = 2 * time.Second
	// DefaultJourneyPause is the time between two customers.
	DefaultJourneyPause = 500 * time.Millisecond
	// DefaultMaxShots bounds the screenshots a run keeps.
	DefaultMaxShots = 40
)

// JourneyLogin is one simulated pharmacy's sign-in.
type JourneyLogin struct {
	PharmacyID, ClientID, ClientSecret string
}

// JourneyPlan configures the journeys of a run.
type JourneyPlan struct {
	// BaseURL is the portal (its staff pages are under /staff/).
	BaseURL string
	// Users is how many run at once, each with its own browser and
	// pharmacy (Logins[i % len]).
	Users  int
	Logins []JourneyLogin
	// Duration bounds the time journeys are started in (required);
	// MaxJourneys, if > 0, their number per user.
	Duration time.Duration
	// Start, if set, holds the journeys back until it is closed: the
	// browsers start (one at a time, a busy machine starts three at once
	// slowly) and sign in before it, and Duration counts from it.
	Start <-chan struct{}
	// Ready, if set, is called once when every browser has started and
	// signed in (or given up), so a caller can hold Start until then.
	Ready       func()
	MaxJourneys int
	// Sim maps a wall instant to the simulated clock (nil: the wall
	// clock), read only once Start has closed; Phase names the scenario
	// phase of a simulated instant ("" none).
	Sim   func(wall time.Time) time.Time
	Phase func(sim time.Time) string
	// Payloads gives the holders typed into the forms.
	Payloads *Payloads
	// Dir receives screenshots under rundir.BrowsersDir; "" keeps none.
	Dir string
	// Timeouts and pacing; zero values take the defaults above.
	AnswerTimeout, TicketWait, HangShotAfter, Pause time.Duration
	MaxShots                                        int
	// Observe, if set, sees every journey as it ends (from several
	// goroutines).
	Observe func(JourneyResult)
	// BeforeIssue, if set, is called when a form is filled, before
	// "issue" is pressed: the moment a phone call at the counter lets a
	// session expire (tests move the portal's clock here).
	BeforeIssue func(user, seq int)
	// ExecPath is the browser binary ("" looks for chromium on PATH).
	ExecPath string
	// TrustSPKI are base64 SHA-256 hashes of the public keys of
	// certificates the browser accepts although no root it knows signed
	// them (Chromium's --ignore-certificate-errors-spki-list): a testbed's
	// portal certificates, so the browsers trust those keys alone, not
	// every certificate as --ignore-certificate-errors would.
	TrustSPKI []string
	Logger    *slog.Logger
}

func (p *JourneyPlan) defaults() error {
	if p.BaseURL == "" {
		return errors.New("loadgen: journeys: no base URL")
	}
	if p.Users < 1 || p.Users > MaxJourneyUsers {
		return fmt.Errorf("loadgen: journeys: %d users, want 1 to %d", p.Users, MaxJourneyUsers)
	}
	if len(p.Logins) == 0 {
		return errors.New("loadgen: journeys: no pharmacy logins")
	}
	if p.Duration <= 0 {
		return errors.New("loadgen: journeys: no duration (every journey loop is bounded)")
	}
	if p.AnswerTimeout <= 0 {
		p.AnswerTimeout = DefaultAnswerTimeout
	}
	if p.TicketWait <= 0 {
		p.TicketWait = DefaultTicketWait
	}
	if p.HangShotAfter <= 0 {
		p.HangShotAfter = DefaultHangShotAfter
	}
	if p.Pause <= 0 {
		p.Pause = DefaultJourneyPause
	}
	if p.MaxShots <= 0 {
		p.MaxShots = DefaultMaxShots
	}
	if p.Payloads == nil {
		p.Payloads = &Payloads{Seed: 1}
	}
	if p.Sim == nil {
		p.Sim = func(t time.Time) time.Time { return t }
	}
	if p.Phase == nil {
		p.Phase = func(time.Time) string { return "" }
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// JourneyOutcome is how a journey ended.
type JourneyOutcome string

// Journey outcomes (rundir.BrowserCounts says what each means).
const (
	JourneyPDF     JourneyOutcome = "pdf"
	JourneyTicket  JourneyOutcome = "ticket"
	JourneyBusy    JourneyOutcome = "busy"
	JourneyFailed  JourneyOutcome = "failed"
	JourneyTimeout JourneyOutcome = "timeout"
)

// JourneyResult is one journey.
type JourneyResult struct {
	User int
	Seq  int
	// Pressed is when "issue" was pressed (wall), Sim its simulated
	// instant, Phase that instant's phase.
	Pressed time.Time
	Sim     time.Time
	Phase   string
	Outcome JourneyOutcome
	// ToAnswer is until the first page answering the post; ToPDF until
	// the PDF was shown (0: none).
	ToAnswer, ToPDF time.Duration
	// Page is the data-page of the answer, Status its HTTP status.
	Page   string
	Status int64
	Banner bool
	// SessionLost: the post met an expired session; FormLost: the form
	// was not filled again after signing in.
	SessionLost, FormLost bool
	Err                   string
	// UVCI is the certificate the journey got (its page's UVCI), for the
	// after-run check that nothing acknowledged was lost; "" without one.
	UVCI string
}

// RunJourneys runs the plan with the executor kind and returns every
// journey in the order they ended, with the screenshots kept.
func RunJourneys(ctx context.Context, kind JourneyKind, p JourneyPlan) ([]JourneyResult, []rundir.BrowserShot, error) {
	mk, ok := journeyKinds[kind]
	if !ok {
		return nil, nil, fmt.Errorf("loadgen: no journey kind %q (have %v)", kind, JourneyKinds())
	}
	if err := p.defaults(); err != nil {
		return nil, nil, err
	}
	ex := mk()
	var mu sync.Mutex
	var out []JourneyResult
	err := ex.Run(ctx, p, func(r JourneyResult) {
		mu.Lock()
		out = append(out, r)
		mu.Unlock()
		if p.Observe != nil {
			p.Observe(r)
		}
	})
	var shots []rundir.BrowserShot
	if s, ok := ex.(interface{ Shots() []rundir.BrowserShot }); ok {
		shots = s.Shots()
	}
	return out, shots, err
}

// SummarizeJourneys is summary.json's browsers: the run's and each
// phase's counts and percentiles (phases in the order given; journeys
// outside every phase count only in the run's).
func SummarizeJourneys(users int, answerTimeout time.Duration, phases []string, rs []JourneyResult, shots []rundir.BrowserShot) *rundir.Browsers {
	b := &rundir.Browsers{Instances: users, AnswerTimeoutMS: float64(answerTimeout.Microseconds()) / 1000,
		Phases: []rundir.BrowserPhase{}, Screenshots: shots}
	b.BrowserCounts = countJourneys(rs)
	byPhase := map[string][]JourneyResult{}
	for _, r := range rs {
		byPhase[r.Phase] = append(byPhase[r.Phase], r)
	}
	for _, name := range phases {
		b.Phases = append(b.Phases, rundir.BrowserPhase{Name: name, BrowserCounts: countJourneys(byPhase[name])})
	}
	sort.SliceStable(b.Screenshots, func(i, j int) bool { return b.Screenshots[i].File < b.Screenshots[j].File })
	return b
}

func countJourneys(rs []JourneyResult) rundir.BrowserCounts {
	var c rundir.BrowserCounts
	var toPDF, toAnswer []time.Duration
	for _, r := range rs {
		c.Journeys++
		switch r.Outcome {
		case JourneyPDF:
			c.PDF++
		case JourneyTicket:
			c.Ticket++
		case JourneyBusy:
			c.Busy++
		case JourneyTimeout:
			c.Timeout++
		default:
			c.Failed++
		}
		if r.Banner {
			c.Banner++
		}
		if r.SessionLost {
			c.SessionsLost++
		}
		if r.FormLost {
			c.FormsLost++
		}
		if r.ToPDF > 0 {
			toPDF = append(toPDF, r.ToPDF)
		}
		if r.ToAnswer > 0 {
			toAnswer = append(toAnswer, r.ToAnswer)
		}
	}
	c.TimeToPDF, c.TimeToAnswer = rundir.Percentiles(toPDF), rundir.Percentiles(toAnswer)
	return c
}
