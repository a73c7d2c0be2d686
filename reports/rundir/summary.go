package rundir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golive-dev/golive/scenarios/verdict"
)

// Summary is summary.json (docs/run-format.md). Counts are int64 whatever
// their source so readers can subtract them.
type Summary struct {
	Schema string `json:"schema"`
	// Kind is KindCapacity for a capacity search's directory, empty for a
	// scenario run.
	Kind    string `json:"kind,omitempty"`
	Verdict string `json:"verdict"`
	// Reasons say why the verdict is fail.
	Reasons []string `json:"reasons,omitempty"`
	// Judgement adds verdict_text, reproduces, inconclusive and evidence
	// (package verdict, a leaf, owns their meaning).
	verdict.Judgement
	Scenario    string    `json:"scenario"`
	Target      string    `json:"target"`
	Profile     string    `json:"profile"`
	Seed        uint64    `json:"seed"`
	Timescale   float64   `json:"timescale"`
	DemandScale float64   `json:"demand_scale"`
	Started     time.Time `json:"started"`
	WallSeconds float64   `json:"wall_seconds"`
	Interrupted bool      `json:"interrupted,omitempty"`
	// Aborted says which abortOnFail threshold stopped the load.
	Aborted string `json:"aborted,omitempty"`
	// FaultError says why the fault schedule did not run as written (a
	// fault that could not be applied or undone); the run then fails, as
	// it did not test what the scenario says. Added 2026-12-02.
	FaultError string   `json:"fault_error,omitempty"`
	Sim        SimSpan  `json:"sim"`
	Requests   Requests `json:"requests"`
	// OfferedRate and Goodput are per wall second (RateUnit) over the
	// GoodputClasses; see Rates for the definitions.
	OfferedRate Rate `json:"offered_rate"`
	Goodput     Rate `json:"goodput"`
	// GoodputClasses are the traffic classes of legitimate customers that
	// offered load and goodput count (attackers, verifiers and login
	// guessing are left out); empty means every class.
	GoodputClasses []string  `json:"goodput_classes,omitempty"`
	Latency        LatencyMS `json:"latency_ms"`
	Service        LatencyMS `json:"service_ms"`
	LateSends      int64     `json:"late_sends"`
	DroppedSends   int64     `json:"dropped_sends"`
	// Machine says whether the machine gave the run the CPU it asked
	// for; a starved run's failures are inconclusive (docs/run-format.md).
	Machine     *Machine    `json:"machine,omitempty"`
	Consistency Consistency `json:"consistency"`
	Security    Security    `json:"security"`
	// SlowClients is what each slow attacker class (slow-header,
	// slow-body) did; absent without one.
	SlowClients []SlowClients `json:"slow_clients,omitempty"`
	// TimeToCert is every legitimate customer's time from the first
	// attempt to the certificate; nil without issue classes.
	TimeToCert *TimeToCert             `json:"time_to_cert_ms,omitempty"`
	Checks     []Check                 `json:"checks"`
	Thresholds []Threshold             `json:"thresholds"`
	Classes    map[string]ClassSummary `json:"classes"`
	Phases     []PhaseSummary          `json:"phases"`
	Probes     []Probe                 `json:"probes"`
	// Workers is how many load workers (golive worker) sent the load, 0
	// when the engine's own process did; WorkerHealth is each one's.
	Workers      int            `json:"workers,omitempty"`
	WorkerHealth []WorkerHealth `json:"worker_health,omitempty"`
	// System is the topology under test; Recovery how the service came
	// back after a registry failover (nil without one). Both additive.
	System   *System   `json:"system,omitempty"`
	Recovery *Recovery `json:"recovery,omitempty"`
	// Browsers is what the browser journeys met (golive run --browsers);
	// nil when none ran.
	Browsers *Browsers `json:"browsers,omitempty"`
	// Cost is the CPU the components spent per request (cost.go); nil
	// when the testbed cannot tell (url) or the run predates it.
	Cost *Cost `json:"cost,omitempty"`
	// CameInVain is the booking classes' citizens who came at their
	// booked time and left with nothing, unwarned (the sum of
	// classes.*.booking.came_in_vain); nil without a booking class.
	// Added 2026-12-02.
	CameInVain *int64 `json:"came_in_vain,omitempty"`
}

// Machine is how much the run waited for a CPU during the load.
type Machine struct {
	// CPUWaitPerCPUSecond is the seconds golive's threads spent runnable
	// but waiting for a CPU per CPU second they got (/proc schedstat).
	CPUWaitPerCPUSecond float64 `json:"cpu_wait_s_per_cpu_s"`
	// CPUWaitLimit is the limit it was judged against (--cpu-wait-limit).
	CPUWaitLimit float64 `json:"cpu_wait_limit"`
	// Starved: the wait was over the limit.
	Starved bool `json:"starved"`
}

// Reason says in one line why a starved run cannot judge a failure.
func (m Machine) Reason() string {
	return fmt.Sprintf("CPU-starved machine: golive waited %.1f s for a CPU per CPU second it got (limit %g); rerun on a quieter machine or raise --cpu-wait-limit",
		m.CPUWaitPerCPUSecond, m.CPUWaitLimit)
}

// WorkerHealth is one load worker's account of its share of a run.
type WorkerHealth struct {
	Name  string `json:"name"`
	Shard int    `json:"shard"`
	// State is "finished" or "lost" (it died, hung or never started:
	// Lost says when, Reason how; the run then fails).
	State  string     `json:"state"`
	Lost   *time.Time `json:"lost,omitempty"`
	Reason string     `json:"reason,omitempty"`
	// Requests and Actions are the attempts and user actions the worker
	// recorded (its own count when it finished; what its files held when
	// lost). The workers' Requests add up to the run's requests.total.
	Requests  int64 `json:"requests"`
	Actions   int64 `json:"actions"`
	LateSends int64 `json:"late_sends"`
	// StartedLateMS is how long after the agreed start the worker was
	// ready to send (0: in time).
	StartedLateMS float64 `json:"started_late_ms"`
	// CPUSeconds is the worker process's CPU time (user + system).
	CPUSeconds float64 `json:"cpu_seconds"`
	// ClockOffsetMS is the worker's clock minus the coordinator's, from
	// its last heartbeat.
	ClockOffsetMS float64 `json:"clock_offset_ms"`
}

// Worker states.
const (
	WorkerFinished = "finished"
	WorkerLost     = "lost"
)

// KindCapacity is summary.json's kind for a capacity search: its requests
// sum the steps, its latency is the step at capacity, and it has no
// per-second files.
const KindCapacity = "capacity"

// SimSpan is the scenario's span on the simulated clock.
type SimSpan struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Seconds is the span's length, 0 when it is not known.
func (s SimSpan) Seconds() float64 {
	if s.Start.IsZero() || !s.End.After(s.Start) {
		return 0
	}
	return s.End.Sub(s.Start).Seconds()
}

// Requests counts request attempts by outcome (docs/run-format.md).
type Requests struct {
	Total              int64   `json:"total"`
	Actions            int64   `json:"actions"`
	OK                 int64   `json:"ok"`
	Deferred           int64   `json:"deferred"`
	TicketDone         int64   `json:"ticket_done"`
	Rejected           int64   `json:"rejected"`
	Overload           int64   `json:"overload"`
	Error              int64   `json:"error"`
	Timeout            int64   `json:"timeout"`
	Transport          int64   `json:"transport"`
	Retries            int64   `json:"retries"`
	RetryAmplification float64 `json:"retry_amplification"`
	// PastTimeout counts the attempts that ended more than a second after
	// their client timeout (a client that hung past its own deadline);
	// an attempt that timed out on time is in Timeout, not here.
	PastTimeout int64 `json:"past_timeout"`
	// Failovers counts the tries a client sent to another portal replica
	// after one failed (several portals only).
	Failovers int64 `json:"failovers,omitempty"`
}

// RateUnit is the unit of every rate in summary.json and of every "/s"
// golive prints: per wall second, which on golive's compressed clock is
// the real-world rate the scenario's demand curves are written in (a
// timescale shortens the day, it does not change the rate), and so does
// not depend on the timescale the run used.
const RateUnit = "per wall second"

// Rate is a mean and a peak per wall second, and the count they are made of.
type Rate struct {
	Mean float64 `json:"mean"`
	// Peak is the busiest single wall second.
	Peak float64 `json:"peak"`
	// Count is the number of events over the run (customer actions for
	// offered_rate, certificates delivered for goodput).
	Count int64  `json:"count"`
	Unit  string `json:"unit,omitempty"`
}

// LatencyMS are percentiles in milliseconds; zero means not reported.
type LatencyMS struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Consistency is the after-run check: what the portal acknowledged
// against what the store holds afterwards.
type Consistency struct {
	Acknowledged   int64    `json:"acknowledged"`
	Verified       int64    `json:"verified"`
	Lost           int64    `json:"lost"`
	Duplicates     int64    `json:"duplicates"`
	Unverified     int64    `json:"unverified"`
	TicketsPending int64    `json:"tickets_pending"`
	Error          string   `json:"error,omitempty"`
	LostExamples   []string `json:"lost_examples,omitempty"`
}

// SlowClients is one slow attacker class's connections: opened, the most
// held at once, and those the server closed (a deadline, a cap or an
// answer) or refused.
type SlowClients struct {
	Class      string `json:"class"`
	Kind       string `json:"kind"`
	Opened     int64  `json:"opened"`
	MaxHeld    int64  `json:"max_held"`
	CutOff     int64  `json:"cut_off"`
	DialFailed int64  `json:"dial_failed"`
}

// Security counts what attackers tried and got.
type Security struct {
	FraudAttempts     int64 `json:"fraud_attempts"`
	ForgedAccounts    int64 `json:"forged_accounts"`
	FraudIssued       int64 `json:"fraud_issued"`
	FraudRevoked      int64 `json:"fraud_revoked"`
	FraudEscaped      int64 `json:"fraud_escaped"`
	AccountsSuspended int64 `json:"accounts_suspended"`
	StuffedLogins     int64 `json:"stuffed_logins"`
}

// Check is a named check of the scenario.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Threshold is one evaluated threshold (scenarios/threshold's Result as
// the file holds it).
type Threshold struct {
	Expr   string `json:"expr"`
	OK     bool   `json:"ok"`
	Value  string `json:"value"`
	Scope  string `json:"scope"`
	Detail string `json:"detail,omitempty"`
	Abort  bool   `json:"abort,omitempty"`
}

// ClassSummary is one traffic class's totals.
type ClassSummary struct {
	Requests int64 `json:"requests"`
	Actions  int64 `json:"actions"`
	OK       int64 `json:"ok"`
	Deferred int64 `json:"deferred"`
	// Delivered is the certificates the class's users received (Counts.Delivered).
	Delivered int64     `json:"delivered"`
	Failed    int64     `json:"failed"`
	Late      int64     `json:"late"`
	Latency   LatencyMS `json:"latency_ms"`
	// TimeToCert is the customers' time to certificate (issue classes).
	TimeToCert *TimeToCert `json:"time_to_cert_ms,omitempty"`
	// Kind is the class's traffic kind (scenario spec). Added 2026-12-02,
	// as are the fields below.
	Kind string `json:"kind,omitempty"`
	// Bytes is the response bodies' bytes the class received (every
	// attempt); NotModified its attempts answered 304.
	Bytes       int64 `json:"bytes"`
	NotModified int64 `json:"not_modified"`
	// CacheHitRate is NotModified / Requests: the share of the class's
	// requests its clients' caches answered after revalidating. Only for
	// classes that revalidate (finder, verifier-lists).
	CacheHitRate *float64 `json:"cache_hit_rate,omitempty"`
	// Finder and Lists are what a finder or verifier-lists class judged.
	Finder *FinderClass `json:"finder,omitempty"`
	Lists  *ListsClass  `json:"lists,omitempty"`
	// DeadListings (finder classes) is Finder.DeadListings, flat so that
	// thresholds name it as dead_listings(CLASS).
	DeadListings *int64 `json:"dead_listings,omitempty"`
	// SignatureFailures (verifier-lists classes) is Lists.SignatureFailures.
	SignatureFailures *int64 `json:"signature_failures,omitempty"`
	// Booking is a booking class's figures (booking.go); nil for others.
	Booking *Booking `json:"booking,omitempty"`
	// Vendors breaks a vendor class down by vendor (kind vendor only).
	Vendors map[string]VendorSummary `json:"vendors,omitempty"`
	// DirectStoppedAt is when a vendor class's scenario switched direct
	// portal access off (simulated time).
	DirectStoppedAt *time.Time `json:"direct_stopped_at,omitempty"`
	// Mailout is a mailout class's jobs and items (mailout classes only;
	// their Requests are the job submissions and status polls, Actions
	// the items).
	Mailout *MailoutClass `json:"mailout,omitempty"`
}

// FinderClass is what a finder class's answers showed against what the
// scenario's own pharmacies met when they issued (docs/run-format.md,
// "Dead listings").
type FinderClass struct {
	// Answers are the answers users were shown: a 200's body, or the body
	// a 304 confirmed.
	Answers int64 `json:"answers"`
	// Judged are the answers that listed at least one pharmacy with
	// evidence at that moment (one of the scenario's issuing pharmacies).
	Judged int64 `json:"judged"`
	// DeadListings are the answers that listed as issuing at least one
	// pharmacy that could not issue then; DeadEntries counts the listed
	// pharmacies themselves.
	DeadListings int64 `json:"dead_listings"`
	DeadEntries  int64 `json:"dead_entries"`
	// FirstDead and LastDead are when (simulated clock) users received
	// the first and the last dead listing; absent without one.
	FirstDead *time.Time `json:"first_dead,omitempty"`
	LastDead  *time.Time `json:"last_dead,omitempty"`
	// GraceS is how long (wall seconds) a pharmacy must have failed before
	// a listing of it as issuing counts: the finder's refresh, the
	// portal's signing timeout and slack.
	GraceS float64 `json:"grace_s"`
}

// ListsClass is what a verifier-lists class's apps downloaded.
type ListsClass struct {
	// TrustList, Revocations and Deltas count the answers of each route
	// with a body (200); FullDeltas the deltas that replaced the app's list.
	TrustList   int64 `json:"trust_list"`
	Revocations int64 `json:"revocations"`
	Deltas      int64 `json:"deltas"`
	FullDeltas  int64 `json:"full_deltas"`
	// Verified counts the signatures checked with the pinned key;
	// SignatureFailures those that did not verify (a missing header
	// included). KeySource says where the key came from: "pinned" (the
	// deployment's lists-signing.jwks.json) or "fetched" (/v1/lists/keys).
	Verified          int64  `json:"verified"`
	SignatureFailures int64  `json:"signature_failures"`
	KeySource         string `json:"key_source,omitempty"`
}

// VendorSummary is one pharmacy-software vendor's part of a vendor class:
// what its pharmacies asked for and how it ended. Errors counts the
// actions that ended without a certificate by how they ended: "STATUS
// code" for an answer (problem code; "422 incompatible_format", "429
// vendor_quota", "504 signer_timeout"), or the transport's failure:
// gateway_down (connection refused: the vendor not ready or down),
// timeout, connection_lost, transport_error.
type VendorSummary struct {
	Pharmacies int     `json:"pharmacies"`
	Share      float64 `json:"share"`
	Actions    int64   `json:"actions"`
	// Requests counts attempts (retries and ticket polls included).
	Requests int64 `json:"requests"`
	// Issued counts actions that ended with a certificate (201 or a
	// completed ticket); Pending those left with a ticket still open.
	Issued  int64            `json:"issued"`
	Pending int64            `json:"pending"`
	Errors  map[string]int64 `json:"errors"`
	// ReadyAt is when the vendor's access began to work (simulated);
	// Fault and FaultUntil what its gateway did wrong and until when.
	ReadyAt    *time.Time `json:"ready_at,omitempty"`
	Fault      string     `json:"fault,omitempty"`
	FaultUntil *time.Time `json:"fault_until,omitempty"`
}

// MailoutClass is what a mailout class's vaccination centres submitted
// through the mail-out API and what became of it.
type MailoutClass struct {
	Centres int `json:"centres"`
	// Jobs were submitted (each with its Idempotency-Key, retried as one
	// job), JobsAccepted answered 202/200, JobsDone reached state done
	// before the run's end, JobsRefused were given up on (an error
	// answer, or no answer after the client's retries).
	Jobs         int64 `json:"jobs"`
	JobsAccepted int64 `json:"jobs_accepted"`
	JobsDone     int64 `json:"jobs_done"`
	JobsRefused  int64 `json:"jobs_refused"`
	// Items is every item submitted, ItemsAccepted those of accepted
	// jobs; of these ItemsDone were issued (a UVCI and an HC1),
	// ItemsFailed refused by the signer, ItemsPending unfinished when the
	// run stopped waiting (not lost: a later poll finds them), and
	// ItemsLost missing from their job's items or without a UVCI (an
	// accepted item the registry does not hold). DuplicateUVCIs counts
	// UVCIs found on more than one item.
	Items          int64 `json:"items"`
	ItemsAccepted  int64 `json:"items_accepted"`
	ItemsDone      int64 `json:"items_done"`
	ItemsFailed    int64 `json:"items_failed"`
	ItemsPending   int64 `json:"items_pending"`
	ItemsLost      int64 `json:"items_lost"`
	DuplicateUVCIs int64 `json:"duplicate_uvcis"`
	// ItemLatency is from a job's submission to the poll that first saw
	// each item finished (wall ms, so at the resolution of poll_every);
	// JobCompletion from submission to the poll that saw the job done.
	ItemLatency   LatencyMS `json:"item_latency_ms"`
	JobCompletion LatencyMS `json:"job_completion_ms"`
}

// PhaseSummary is one phase's totals, from timeseries.csv. Per-second
// percentiles do not merge, so the engine reports a phase's worst
// second's p99 and its maximum rather than a made-up phase p99.
type PhaseSummary struct {
	Name     string `json:"name"`
	Requests int64  `json:"requests"`
	// Good is the ok column: 201s and completed tickets, per attempt.
	Good      int64        `json:"good"`
	Delivered int64        `json:"delivered"`
	Failed    int64        `json:"failed"`
	Latency   PhaseLatency `json:"latency_ms"`
	// TimeToCert covers the customer actions that began in the phase.
	TimeToCert *TimeToCert `json:"time_to_cert_ms,omitempty"`
}

// TimeToCert is the distribution of the time to certificate (ms) over a
// set of customer actions: from the first attempt to the certificate being
// available, directly or through a ticket. Percentiles are nil when they
// lie beyond the run (more customers left without a certificate than the
// percentile leaves out).
type TimeToCert struct {
	Actions     int64    `json:"actions"`
	WithCert    int64    `json:"with_cert"`
	WithoutCert int64    `json:"without_cert"`
	LeftShare   float64  `json:"left_without_share"`
	P50         *float64 `json:"p50"`
	P90         *float64 `json:"p90"`
	P99         *float64 `json:"p99"`
	Max         *float64 `json:"max"`
}

// PhaseLatency is a phase's latency in ms; P99 is the worst second's p99
// when the engine wrote it.
type PhaseLatency struct {
	P50 float64 `json:"p50,omitempty"`
	P90 float64 `json:"p90,omitempty"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Probe is a steady-state probe: its checks and what deviated.
type Probe struct {
	When       string       `json:"when"`
	At         time.Time    `json:"at"`
	OK         bool         `json:"ok"`
	Deviations []string     `json:"deviations,omitempty"`
	Checks     []ProbeCheck `json:"checks,omitempty"`
}

// ProbeCheck is one check of a steady-state probe (chaos's Probe).
type ProbeCheck struct {
	Phase   string    `json:"phase"` // before, after
	Check   string    `json:"check"` // "ready portal", "ready signer-1", "issue"
	Time    time.Time `json:"time"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"`
	Elapsed float64   `json:"elapsed_ms"` // until OK (or giving up)
}

// ReadSummary reads dir's summary.json; a missing file is an error
// wrapping fs.ErrNotExist, a newer major schema one wrapping ErrSchema.
func ReadSummary(dir string) (*Summary, error) {
	path := filepath.Join(dir, SummaryFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeSummary(path, data)
}

// DecodeSummary decodes summary.json's bytes (path names it in errors).
func DecodeSummary(path string, data []byte) (*Summary, error) {
	if err := SchemaOf(path, data); err != nil {
		return nil, err
	}
	var s Summary
	if err := decodeJSON(path, data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SchemaOf checks the schema of summary.json's bytes before anything else
// is decoded, so a newer file is refused with that reason rather than
// with a type error in a key whose meaning changed.
func SchemaOf(path string, data []byte) error {
	var head struct {
		Schema any `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return decodeJSON(path, data, &head)
	}
	switch v := head.Schema.(type) {
	case nil:
		return nil
	case string:
		return CheckSchema(path, v)
	default:
		return schemaErrorf("%s: schema is %v, want a string like %q", path, v, Schema)
	}
}

// WriteSummary writes dir/summary.json in the current schema, atomically:
// the gate may read it while the engine rewrites it with the verdict.
func WriteSummary(dir string, s *Summary) error {
	s.Schema = Schema
	return writeJSON(filepath.Join(dir, SummaryFile), s)
}

// decodeJSON unmarshals data and says where a syntax or type error sits.
func decodeJSON(path string, data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off >= 0 {
		line, col := lineCol(data, off)
		return fmt.Errorf("%s:%d:%d: %w", path, line, col, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

func lineCol(data []byte, off int64) (line, col int) {
	off = min(off, int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = max(int(off)-(bytes.LastIndexByte(before, '\n')+1), 1)
	return line, col
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return WriteFileAtomic(path, append(b, '\n'))
}

// WriteFileAtomic replaces path atomically so a reader never sees half a
// file (every run-directory file and the reports written beside them).
func WriteFileAtomic(path string, data []byte) error { return WriteFileAtomicMode(path, data, 0o644) }

// WriteFileAtomicMode is WriteFileAtomic with the file's permissions (0600
// for files that hold credentials, such as a load worker's shard).
func WriteFileAtomicMode(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
