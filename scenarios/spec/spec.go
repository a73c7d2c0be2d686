// Package spec is the scenario model: what a scenario file says (a
// simulated clock, the system under test, traffic classes with demand
// curves, faults, phases, thresholds and checks), how it is parsed from
// YAML with file:line:col errors, and the built-in scenarios embedded in
// the binary. It runs nothing; the scenario engine does.
//
// Time has two axes. Everything that says when (demand points, fault
// windows, phases) is on the simulated clock, written "HH:MM" on the
// scenario's date or as RFC 3339. Everything that says how long a client or
// a network waits (timeouts, backoff, latency) is wall time, because the
// HTTP client and the proxies run on the wall clock.
//
// Demand is in requests per real second of the real-world population at a
// simulated instant. The load generator sends Rate(sim) x demand scale
// requests per wall second: time compression shortens the day, it does not
// multiply the rate, so a run sends Total(start, end) / timescale requests.
package spec

import (
	"fmt"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/scenarios/threshold"
)

// Scenario is one parsed and validated scenario file.
type Scenario struct {
	// Name identifies the scenario (lower-case letters, digits, '-').
	Name string
	// Description says what the scenario rehearses; its first line is the
	// summary `golive scenarios list` prints.
	Description string
	// Seed makes every random choice of the run reproducible (default 1).
	Seed int64
	// DemandScale multiplies every demand curve (default 1); the run's
	// --demand-scale replaces it.
	DemandScale float64
	Clock       Clock
	System      System
	// Traffic is the list of traffic classes, in file order.
	Traffic []Class
	// Faults are in file order (not sorted by time).
	Faults []Fault
	// Phases are named windows for reports, sorted by start, disjoint.
	Phases []Phase
	// Thresholds and Checks apply to every profile; Profiles adds more.
	Thresholds []Threshold
	Checks     []string
	// Profiles holds what differs per system profile (keys are
	// portalapi.Profiles() names).
	Profiles map[string]ProfileSpec
	// Capacity, when set, makes this a capacity search (see Capacity).
	Capacity *Capacity

	// Source names the file in errors and reports: a path, or
	// "builtin/<name>.yaml" for a built-in.
	Source string
	// Raw is the file as read.
	Raw []byte
}

// Clock is the simulated window a run replays and how fast.
type Clock struct {
	// Date is the simulated day "HH:MM" times refer to ("2021-06-14").
	Date string
	// Location is the time zone of Date and of "HH:MM" times
	// (Europe/Berlin unless time_zone says otherwise).
	Location *time.Location
	// Start and End bound the run on the simulated clock. A capacity
	// search's End is derived: Start + MaxSteps x Step x Timescale.
	Start, End time.Time
	// Timescale is simulated seconds per wall second (180: three simulated
	// minutes per wall second). When the file leaves it out it is chosen so
	// the run lasts at most DefaultWallTarget.
	Timescale float64
}

// DefaultWallTarget is the wall time a run takes when the file gives no
// timescale.
const DefaultWallTarget = 4 * time.Minute

// SimDuration is the simulated length of the run.
func (c Clock) SimDuration() time.Duration { return c.End.Sub(c.Start) }

// WallDuration is how long the simulated window lasts on the wall at
// timescale (Clock.Timescale when timescale <= 0).
func (c Clock) WallDuration(timescale float64) time.Duration {
	if timescale <= 0 {
		timescale = c.Timescale
	}
	return time.Duration(float64(c.SimDuration()) / timescale)
}

// Contains reports whether t lies in [Start, End].
func (c Clock) Contains(t time.Time) bool {
	return !t.Before(c.Start) && !t.After(c.End)
}

// MaxPortals bounds system.portals (the testbed's limit too).
const MaxPortals = 16

// System is the topology under test and its settings.
type System struct {
	// Profile is hardened or naive-2021 (portalapi.ProfileHardened,
	// portalapi.ProfileNaive2021); the run's --profile replaces it.
	Profile string
	// Signers is the number of signer replicas (default 1), named
	// signer-1 .. signer-N in fault targets.
	Signers int
	// Portals is the number of portal replicas (default 1, named portal;
	// with more, portal-1 .. portal-N in fault targets). More than one
	// share a PostgreSQL registry, and clients spread their requests over
	// them.
	Portals int
	// HSM overrides each signer's HSM model; zero fields keep the
	// profile's preset (10 slots, 50 ms).
	HSM HSM
	// Portal overrides portalapi.Config fields by their JSON names (nested
	// objects for limits, pharmacy_quota, anomaly), JSON-compatible values
	// (durations as strings). Apply it with portalapi.Config.ApplyJSON, or use
	// Scenario.PortalConfig.
	Portal map[string]any
	// Signer overrides signerapi.Settings fields for every replica.
	Signer SignerOverrides
	// Registry is the portal's registry: RegistrySQLite (the default, the
	// portal's embedded file) or RegistryPostgres (a PostgreSQL cluster
	// the testbed runs).
	Registry string
	// RegistryStandby adds a synchronous streaming-replication standby to
	// a PostgreSQL registry, promoted when the primary dies; the target
	// of the kill-primary fault is "registry".
	RegistryStandby bool
	// TLS serves the portals and the signers over HTTPS with certificates
	// from a CA the testbed makes for the run, and every client of the
	// harness trusts that CA (golive run --tls turns it on too).
	TLS bool
}

// Registry backends of System.Registry.
const (
	RegistrySQLite   = "sqlite"
	RegistryPostgres = "postgres"
)

// HSM is the signer's hardware security module model.
type HSM struct {
	// Slots is how many signatures run at once (0: the preset's 10).
	Slots int
	// Latency is the time each signature holds a slot (0: the preset's).
	Latency time.Duration
}

// SignerOverrides changes signerapi.Settings fields; nil leaves the profile's
// preset. YAML names are in parentheses.
type SignerOverrides struct {
	Shed             *bool          // (shed)
	ShedRetryAfter   *time.Duration // (shed_retry_after)
	RejectUnmeetable *bool          // (reject_unmeetable)
	LockoutMark      *int           // (lockout_mark) 0 disables the 2021 lockout
	LockoutFor       *time.Duration // (lockout_for)
	ClampValidity    *bool          // (clamp_validity)
}

// ClassKind says what a traffic class does.
type ClassKind string

// The traffic class kinds.
const (
	// KindIssue: legitimate pharmacies issuing certificates.
	KindIssue ClassKind = "issue"
	// KindForgedOnboarding: an attacker applies with forged documents and a
	// random Telematik-ID, then issues with every account accepted.
	KindForgedOnboarding ClassKind = "forged-onboarding"
	// KindCredentialStuffing: login attempts with guessed secrets against
	// existing pharmacy accounts.
	KindCredentialStuffing ClassKind = "credential-stuffing"
	// KindStolenCredentials: a legitimate account used by an insider or a
	// thief (typically in bursts outside opening hours).
	KindStolenCredentials ClassKind = "stolen-credentials"
	// KindVerify: verifier app calls against issued certificates.
	KindVerify ClassKind = "verify"
	// KindSlowHeader: slowloris attackers holding connections to the
	// portal by sending their headers one byte at a time, never ending.
	KindSlowHeader ClassKind = "slow-header"
	// KindSlowBody: attackers that declare a request body and send it
	// one byte at a time.
	KindSlowBody ClassKind = "slow-body"
	// KindFinder, KindLists: citizens at the pharmacy finder, verifier
	// apps downloading their lists (finder.go, lists.go).
	KindFinder ClassKind = kindFinder
	KindLists  ClassKind = kindLists
)

// MaxSlowConnections bounds a slow class's demand: the connections its
// attackers hold at once.
const MaxSlowConnections = 2000

// ClassKinds lists every kind.
func ClassKinds() []ClassKind {
	return []ClassKind{KindIssue, KindForgedOnboarding, KindCredentialStuffing, KindStolenCredentials, KindVerify,
		KindSlowHeader, KindSlowBody, KindFinder, KindLists, KindBooking, KindVendor, KindMailout}
}

// Slow reports whether the kind holds connections by sending slowly: its
// demand's rate is the connections its attackers hold at that instant,
// not requests per second, and it sends no requests the load counts.
func (k ClassKind) Slow() bool { return k == KindSlowHeader || k == KindSlowBody }

// Class is one traffic class: a population of clients of one kind whose
// combined demand follows a curve on the simulated clock.
type Class struct {
	// Name is the class in results (vegeta's Attack field), unique in the
	// scenario: lower-case letters, digits and '-'.
	Name string
	Kind ClassKind
	// Pharmacies is how many simulated pharmacy accounts the class uses;
	// the engine onboards each over HTTP, so keep it modest. Its meaning
	// by kind: issue, stolen-credentials: legitimate accounts onboarded
	// (stolen-credentials: the accounts stolen); forged-onboarding: forged
	// applications submitted; credential-stuffing: existing accounts
	// targeted; verify, slow-header, slow-body: 0 (unused).
	Pharmacies int
	// Mix is the certificate types requested (issuing kinds only).
	Mix Mix
	// Demand is the class's real-world requests per second over simulated
	// time (slow kinds: the connections held). Empty only for the class a
	// capacity search drives.
	Demand Curve
	Client Client
	// Booking is a booking class's behaviour (nil for other kinds).
	Booking *Booking
	// Vendor is a vendor class's vendors (vendor.go); nil for other kinds.
	Vendor *VendorClass
	Pos    Pos
	// Party is who an issue class issues as: PartyPharmacy (the default)
	// or PartyPractice; JoinAt, when set, is when its accounts onboard
	// (party.go). Empty for other kinds.
	Party  string
	JoinAt time.Time
	// Mailout is a mailout class's job settings (mailout.go); nil for
	// other kinds.
	Mailout *Mailout
}

// Issues reports whether the kind sends issuance requests (and so has a Mix).
func (k ClassKind) Issues() bool {
	return k == KindIssue || k == KindForgedOnboarding || k == KindStolenCredentials || k == KindVendor
}

// Attacker reports whether the kind's traffic is fraud: what it obtains
// must be refused or revoked.
func (k ClassKind) Attacker() bool {
	return k == KindForgedOnboarding || k == KindStolenCredentials
}

// Mix is the share of each certificate type among issuance requests,
// normalised so the shares sum to 1.
type Mix struct {
	Vaccination, Test, Recovery float64 // YAML v, t, r
}

// DefaultMix is June 2021's: mostly vaccinations (two per customer), a
// few recoveries and tests.
var DefaultMix = Mix{Vaccination: 0.9, Test: 0.02, Recovery: 0.08}

// Pick maps u in [0, 1) to a certificate type by the shares.
func (m Mix) Pick(u float64) dcc.Type {
	switch {
	case u < m.Vaccination:
		return dcc.TypeVaccination
	case u < m.Vaccination+m.Test:
		return dcc.TypeTest
	case m.Recovery > 0:
		return dcc.TypeRecovery
	case m.Test > 0:
		return dcc.TypeTest
	}
	return dcc.TypeVaccination
}

// Client is how a class's clients behave; durations are wall time.
type Client struct {
	// Timeout bounds one attempt (the client gives up and counts a timeout).
	Timeout time.Duration
	Retries Retries
	// HonourRetryAfter waits at least the server's Retry-After before the
	// next attempt (attackers usually do not).
	HonourRetryAfter bool
	// ImpatientProbability is the chance that a user whose request has not
	// answered after 3 s presses the button again: a concurrent duplicate
	// with the same Idempotency-Key (the 2021 "create PDF" clicked twice).
	ImpatientProbability float64
	// PollTickets follows a 202's ticket until it is done (Retry-After
	// apart) rather than treating the 202 as the end.
	PollTickets bool
	// ScaleWaits counts the waits between attempts (backoff, an honoured
	// Retry-After, ticket polls) on the simulated clock: divided by the
	// timescale, so a compressed run keeps a fault window's length in
	// proportion to them. Timeouts stay wall time: they bound real work.
	ScaleWaits bool
}

// Retries is the retry policy after a failed attempt.
type Retries struct {
	// Max is the number of retries after the first attempt (0: none).
	Max int
	// BackoffBase is the wait before the first retry, doubled for each
	// further one up to BackoffMax (the engine adds jitter).
	BackoffBase time.Duration
	BackoffMax  time.Duration
}

// Backoff is the wait before retry number n (1 for the first retry),
// without jitter.
func (r Retries) Backoff(n int) time.Duration {
	if n < 1 {
		return 0
	}
	d := r.BackoffBase
	for i := 1; i < n && d < r.BackoffMax; i++ {
		d *= 2
	}
	return min(d, r.BackoffMax)
}

// DefaultClient is the client behaviour of kind before the file's client
// settings: people at a counter wait and retry, attackers hammer.
func DefaultClient(kind ClassKind) Client {
	switch kind {
	case KindCredentialStuffing, KindForgedOnboarding:
		return Client{Timeout: 10 * time.Second, Retries: Retries{Max: 0, BackoffBase: time.Second, BackoffMax: 10 * time.Second}}
	case KindStolenCredentials:
		return Client{Timeout: 30 * time.Second, Retries: Retries{Max: 1, BackoffBase: time.Second, BackoffMax: 10 * time.Second}, PollTickets: true}
	case KindFinder, KindLists:
		return publicClient()
	case KindVendor:
		return vendorClient()
	case KindVerify:
		return Client{Timeout: 5 * time.Second, Retries: Retries{Max: 1, BackoffBase: 500 * time.Millisecond, BackoffMax: 5 * time.Second}, HonourRetryAfter: true}
	}
	return Client{
		Timeout:              30 * time.Second,
		Retries:              Retries{Max: 2, BackoffBase: time.Second, BackoffMax: 10 * time.Second},
		HonourRetryAfter:     true,
		ImpatientProbability: 0.1,
		PollTickets:          true,
	}
}

// DefaultPharmacies is the Pharmacies of kind when the file gives none.
func DefaultPharmacies(kind ClassKind) int {
	switch kind {
	case KindIssue:
		return 200
	case KindForgedOnboarding:
		return 2
	case KindCredentialStuffing:
		return 20
	case KindStolenCredentials:
		return 1
	case KindBooking:
		return 20
	case KindVendor:
		return 30
	}
	return 0
}

// Phase is a named window of simulated time that reports break out.
type Phase struct {
	Name       string
	Start, End time.Time
	Pos        Pos
}

// Contains reports whether t lies in [Start, End).
func (p Phase) Contains(t time.Time) bool { return !t.Before(p.Start) && t.Before(p.End) }

// Threshold is one pass/fail expression over the run's results, in the
// k6-like language of the threshold evaluator ("p99(issue) < 500ms",
// "rate(status>=500) < 1%", "goodput >= 0.95*offered over 1m",
// "lost == 0 per phase"). The parser only checks its outline.
type Threshold struct {
	Expr string
	Pos  Pos
}

// ProfileSpec is what applies only when the run uses one profile: e.g.
// thresholds that assert the 2021 failure shows under naive-2021 (the run
// "passes" as a reproduction) and that it does not under hardened.
type ProfileSpec struct {
	// Note says what the profile's run is expected to show.
	Note string
	// Reproduces names the failure this profile's thresholds and checks
	// assert ("2021"): the run is a reproduction, and reports label it
	// "reproduces 2021: yes/no" instead of PASS/FAIL so that it never reads
	// as a design passing beside the reference design. Empty: the profile
	// is judged as a design. A naive-2021 block with thresholds or checks
	// defaults to "2021" (YAML `reproduces: ""` turns it off).
	Reproduces string
	// Thresholds and Checks are added to the scenario's common ones.
	Thresholds []Threshold
	Checks     []string
	// Portal and Signer overrides apply on top of System's.
	Portal map[string]any
	Signer SignerOverrides
}

// Capacity turns the scenario into a capacity search: the named class runs
// at a constant rate per step (its demand curve is not used), rates grow
// by Growth while steps meet the SLO, then bisect (see
// scenarios/capacity). Rates here are wall requests per second.
type Capacity struct {
	Class     string
	StartRate float64
	MaxRate   float64
	Growth    float64
	// Step is the wall time each rate runs.
	Step time.Duration
	// MaxSteps bounds the number of steps (and so the run's wall time).
	MaxSteps int
	// Precision stops bisecting when the bracket is within this fraction.
	Precision float64
	// MinRequests is the least a step must measure to be judged, and
	// MinDuration the least wall time it lasts: a step at a low rate runs
	// longer than Step to gather MinRequests.
	MinRequests int64
	MinDuration time.Duration
	SLO         SLO
}

// SLO is what a capacity step must meet.
type SLO struct {
	P99        time.Duration
	MinSuccess float64
	MinGoodput float64
}

// CheckNames lists the named checks a scenario may ask for.
func CheckNames() []string {
	return []string{
		"consistency",                 // nothing acknowledged lost, nothing duplicated (scenarios/consistency)
		"backlog_drained",             // no deferred ticket still pending at the end of the run
		"no_request_outlives_timeout", // no request took longer than its client timeout + grace
		"fraud_contained",             // every certificate issued by an attacker was refused or revoked
		"signers_recovered",           // every signer answers after the last fault is undone
		"steady_state",                // the steady-state probe passes before the first and after the last fault
	}
}

// ProfileFor is the profile a run uses: override (the --profile flag) when
// given, else System.Profile. It fails on an unknown name.
func (s *Scenario) ProfileFor(override string) (string, error) {
	p := s.System.Profile
	if override != "" {
		p = override
	}
	if !validProfile(p) {
		return "", fmt.Errorf("scenario %s: unknown profile %q (want %s)", s.Name, p, profileList())
	}
	return p, nil
}

// ThresholdsFor is the common thresholds followed by profile's.
func (s *Scenario) ThresholdsFor(profile string) []Threshold {
	out := append([]Threshold(nil), s.Thresholds...)
	return append(out, s.Profiles[profile].Thresholds...)
}

// ReproducesFor is what a run under profile reproduces ("2021"), or ""
// when the run judges a design (see ProfileSpec.Reproduces).
func (s *Scenario) ReproducesFor(profile string) string {
	return s.Profiles[profile].Reproduces
}

// ChecksFor is the common checks followed by profile's, without repeats.
func (s *Scenario) ChecksFor(profile string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range append(append([]string(nil), s.Checks...), s.Profiles[profile].Checks...) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// Class returns the traffic class named name.
func (s *Scenario) Class(name string) (Class, bool) {
	for _, c := range s.Traffic {
		if c.Name == name {
			return c, true
		}
	}
	return Class{}, false
}

// OfferedTotal is the real-world requests every class's demand asks for
// over the clock's window, before demand scale.
func (s *Scenario) OfferedTotal() float64 {
	var n float64
	for _, c := range s.Traffic {
		if !c.Kind.Slow() { // a count of connections, not of requests
			n += c.Demand.Total(s.Clock.Start, s.Clock.End)
		}
	}
	return n
}

// Requests is how many requests a run sends (first attempts, before
// retries) at timescale and demandScale (<= 0: the scenario's defaults):
// OfferedTotal x demandScale / timescale. For a capacity search it is an
// upper bound: every step passing, rates growing to MaxRate.
func (s *Scenario) Requests(timescale, demandScale float64) float64 {
	if timescale <= 0 {
		timescale = s.Clock.Timescale
	}
	if demandScale <= 0 {
		demandScale = s.DemandScale
	}
	if s.Capacity != nil {
		// The most the search can send: rates grow to MaxRate and stay.
		c, n, rate := s.Capacity, 0.0, s.Capacity.StartRate
		for range c.MaxSteps {
			n += rate * c.Step.Seconds()
			rate = min(rate*c.Growth, c.MaxRate)
		}
		return n
	}
	return s.OfferedTotal() * demandScale / timescale
}

// WallDuration is how long a run takes on the wall at timescale (<= 0:
// the scenario's). A capacity search takes at most MaxSteps x Step.
func (s *Scenario) WallDuration(timescale float64) time.Duration {
	if s.Capacity != nil {
		return time.Duration(s.Capacity.MaxSteps) * s.Capacity.Step
	}
	return s.Clock.WallDuration(timescale)
}

// ThresholdNames are the classes and phases thresholds may name.
func (s *Scenario) ThresholdNames() threshold.Names {
	var n threshold.Names
	for _, c := range s.Traffic {
		n.Classes = append(n.Classes, c.Name)
	}
	for _, p := range s.Phases {
		n.Phases = append(n.Phases, p.Name)
	}
	return n
}
