package portalapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/duration"
)

// Profile names.
const (
	ProfileHardened  = "hardened"
	ProfileNaive2021 = "naive-2021"
)

// Duration is written "60s" in settings (package duration).
type Duration = duration.Duration

// RouteLimit is the admission control of one group of routes: at most
// MaxConcurrent requests in flight, at most MaxQueue more waiting, each for
// at most MaxQueueWait. Excess gets 503 + Retry-After at once.
// MaxConcurrent 0 means no limit at all (the 2021 portal).
type RouteLimit struct {
	MaxConcurrent int      `json:"max_concurrent"`
	MaxQueue      int      `json:"max_queue"`
	MaxQueueWait  Duration `json:"max_queue_wait"`
}

// Validate refuses negative values; what names the limit in settings
// ("limits.issue", "limit") prefixes the error.
func (l RouteLimit) Validate(what string) error {
	if l.MaxConcurrent < 0 || l.MaxQueue < 0 || l.MaxQueueWait < 0 {
		return fmt.Errorf("%s: negative value", what)
	}
	return nil
}

// RouteLimits groups the routes by cost.
type RouteLimits struct {
	// Issue: POST /v1/certificates (validation, registry writes, a signer call).
	Issue RouteLimit `json:"issue"`
	// Login: POST /v1/token.
	Login RouteLimit `json:"login"`
	// Onboarding: POST /v1/pharmacies and .../activate.
	Onboarding RouteLimit `json:"onboarding"`
	// Read: tickets, certificate metadata, PNG and PDF. (The verifier apps'
	// lists and the finder have admission control of their own.)
	Read RouteLimit `json:"read"`
	// Verify: POST /v1/verify (a signature check per request).
	Verify RouteLimit `json:"verify"`
	// Admin: /v1/admin/...
	Admin RouteLimit `json:"admin"`
}

// QuotaConfig is the per-pharmacy issuance quota: a token bucket of Rate
// certificates per second up to Burst. Over it: 429 + Retry-After.
type QuotaConfig struct {
	Enabled bool    `json:"enabled"`
	Rate    float64 `json:"rate_per_second"`
	Burst   int     `json:"burst"`
}

// AnomalyConfig configures fraud detection (package fraud).
type AnomalyConfig struct {
	Enabled bool `json:"enabled"`
	// OpeningHours "08:00-20:00" in TimeZone; issuance outside them counts
	// as off-hours (the 2021 abuse issued mostly 21:00-24:00).
	OpeningHours string `json:"opening_hours"`
	TimeZone     string `json:"time_zone"`
	// OffHoursLimit certificates outside opening hours per OffHoursWindow
	// are tolerated (night duty); the next one suspends the pharmacy.
	OffHoursLimit  int      `json:"off_hours_limit"`
	OffHoursWindow Duration `json:"off_hours_window"`
	// Volume rule: more than max(VolumeFloor, BaselineFactor x the
	// pharmacy's own mean per VolumeWindow over BaselineWindow).
	VolumeWindow   Duration `json:"volume_window"`
	VolumeFloor    int      `json:"volume_floor"`
	BaselineFactor float64  `json:"baseline_factor"`
	BaselineWindow Duration `json:"baseline_window"`
	// SuspendPharmacy suspends the pharmacy on an anomaly (else only an
	// event and an audit entry are recorded).
	SuspendPharmacy bool `json:"suspend_pharmacy"`
	// RevokeSinceAnomaly revokes every certificate the pharmacy issued
	// since the anomaly began.
	RevokeSinceAnomaly bool `json:"revoke_since_anomaly"`
}

// HTTPConfig bounds how long a client may take over each part of a
// request, so a slow client costs a connection and never an admission
// slot others need. 0 disables a bound.
type HTTPConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout Duration `json:"read_header_timeout"`
	// BodyReadTimeout bounds reading a request's body (the whole body,
	// from the handler's start), OnboardingBodyReadTimeout that of an
	// application with its documents. Past it the answer is 408
	// body_timeout and the connection closes.
	BodyReadTimeout           Duration `json:"body_read_timeout"`
	OnboardingBodyReadTimeout Duration `json:"onboarding_body_read_timeout"`
	// ResponseTimeout bounds handling a request and writing its answer,
	// counted once the body is read: a client that does not read its
	// answer loses the connection instead of holding the handler.
	ResponseTimeout Duration `json:"response_timeout"`
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout Duration `json:"idle_timeout"`
	// MaxHeaderBytes bounds a request's header block (0: Go's 1 MB).
	MaxHeaderBytes int `json:"max_header_bytes"`
	// MaxConnsPerSource is the most connections one source address may
	// hold open; further ones are closed as they are accepted, so a client
	// opening hundreds of slow connections costs itself, never others.
	MaxConnsPerSource int `json:"max_conns_per_source"`
	// MaxConns is the most connections open at once from all sources; one
	// over it is answered 503 "overloaded" with Retry-After and closed,
	// without its request reaching a handler (over TLS: closed without an
	// answer, since the handshake is the expensive part). It keeps the accept loop draining the listen
	// queue while the handlers have the CPU (docs/BENCHMARKS.md, overload).
	// 0: no cap.
	MaxConns int `json:"max_conns"`
	// Workers models a thread-per-request web server (the 2021 portal's):
	// a request holds one of Workers from its first byte until its answer
	// is written, and waits, unread, while all are busy. 0: no pool (Go
	// serves every connection on its own goroutine).
	Workers int `json:"workers"`
}

// Apply sets the server-wide bounds on srv (the per-request ones are the
// portal's own).
func (h HTTPConfig) Apply(srv *http.Server) {
	srv.ReadHeaderTimeout = h.ReadHeaderTimeout.D()
	srv.IdleTimeout = h.IdleTimeout.D()
	srv.MaxHeaderBytes = h.MaxHeaderBytes
}

// LoginThrottle slows guessing at POST /v1/token: failed client-credential
// logins are counted per client ID and per source address in a sliding
// window (a token bucket that refills the limit over Window); at the limit
// the next attempt is answered 429 login_throttled with Retry-After,
// without checking the secret. A source a client has logged in from is
// that client's own for TrustedSourceTTL: its attempts for that client are
// never throttled, so failures from elsewhere cannot lock a pharmacy out of
// its own network (secrets are 256 bits: the throttle bounds the cost and
// noise of floods, guessing is hopeless anyway). 0 disables a limit.
type LoginThrottle struct {
	FailuresPerClient int      `json:"failures_per_client"`
	FailuresPerSource int      `json:"failures_per_source"`
	Window            Duration `json:"window"`
	TrustedSourceTTL  Duration `json:"trusted_source_ttl"`
	// MaxKeys bounds the clients, sources and trusted pairs remembered
	// each (least recently used dropped first: a flood of keys can only
	// make the throttle forget, never refuse more).
	MaxKeys int `json:"max_keys"`
}

// Config holds every behaviour of the portal that differs between the
// profiles, each as its own field; HardenedConfig and Naive2021Config are
// the presets.
type Config struct {
	// Profile names the preset the config started from (logs, metrics).
	Profile string `json:"profile"`
	// Country is the issuing member state (UVCI country, CWT iss).
	Country string `json:"country"`
	// UVCIIssuer is the first block of the UVCI's issuer part; the
	// pharmacy's code follows, so every UVCI names its pharmacy:
	// URN:UVCI:01:DE:<UVCIIssuer>/<pharmacy code>/<random>#<check>.
	UVCIIssuer string `json:"uvci_issuer"`

	// --- onboarding ---

	// OnboardingCheckTelematikFormat checks the Telematik-ID's sector and
	// check digit (naive-2021 only wanted 19 digits).
	OnboardingCheckTelematikFormat bool `json:"onboarding_check_telematik_format"`
	// OnboardingVerifyRegister requires the Telematik-ID to be in the
	// pharmacy register and name and address to match its entry.
	OnboardingVerifyRegister bool `json:"onboarding_verify_register"`
	// ActivationToRegisterAddress sends the activation code to the
	// register's contact address; false sends it to the address in the
	// application (where the 2021 forgers received theirs).
	ActivationToRegisterAddress bool `json:"activation_to_register_address"`
	// ActivationCodeTTL is how long an activation code works.
	ActivationCodeTTL Duration `json:"activation_code_ttl"`
	// ActivationMaxAttempts wrong codes in all void the code (410
	// activation_locked); a resend gives a fresh one.
	ActivationMaxAttempts int `json:"activation_max_attempts"`
	// ActivationAttemptsPerSource wrong codes for one application from one
	// source address within ActivationAttemptWindow make that source wait
	// (429 activation_throttled + Retry-After); other sources, the owner's
	// included, are not affected. 0: no per-source limit.
	ActivationAttemptsPerSource int      `json:"activation_attempts_per_source"`
	ActivationAttemptWindow     Duration `json:"activation_attempt_window"`
	// ActivationResendInterval is the least time between two codes for one
	// application: POST /v1/pharmacies/{id}/resend-code and a repeated
	// application of a pending pharmacy send a fresh code (to the
	// register's address) at most this often. 0: no resending, and a
	// repeated application is 409 pharmacy_exists (the 2021 portal).
	ActivationResendInterval Duration `json:"activation_resend_interval"`
	// MaxDocumentBytes bounds each uploaded document (after base64).
	MaxDocumentBytes int64 `json:"max_document_bytes"`
	// PracticeOnboardingFrom is the first business day ("2006-01-02", in
	// Europe/Berlin) doctors' practices may apply: before it an
	// application with party_kind practice is 403
	// practice_onboarding_not_open. It follows the portal's business
	// clock (a scenario's simulated day). Empty: no practice may apply.
	PracticeOnboardingFrom string `json:"practice_onboarding_from"`

	// --- login ---

	// AccessTokenTTL is the access token lifetime: 60 s after the 2021 fix,
	// a long-lived password session before it.
	AccessTokenTTL Duration `json:"access_token_ttl"`
	// RefreshTokenTTL is a refresh token's lifetime (rotated on each use).
	RefreshTokenTTL Duration `json:"refresh_token_ttl"`
	// MaxRefreshTokens bounded the refresh tokens held in memory. Refresh
	// tokens now live in the registry, bounded by their lifetime (expired
	// rows are purged); the key is kept so settings files stay valid.
	MaxRefreshTokens int `json:"max_refresh_tokens"`
	// LoginThrottle limits failed logins per client and per source.
	LoginThrottle LoginThrottle `json:"login_throttle"`

	// --- issuance ---

	// RequireIdempotencyKey refuses POST /v1/certificates without one.
	RequireIdempotencyKey bool `json:"require_idempotency_key"`
	// IssueDeadline bounds POST /v1/certificates as a whole (0: none, the
	// request lasts as long as the signer call).
	IssueDeadline Duration `json:"issue_deadline"`
	// SignCallTimeout bounds the signing step of one request (every
	// replica attempt included).
	SignCallTimeout Duration `json:"sign_call_timeout"`
	// RetrySignUntilTimeout keeps calling the signers until
	// SignCallTimeout passes, as the 2021 portal's "create PDF" hung.
	RetrySignUntilTimeout bool `json:"retry_sign_until_timeout"`
	// DeferOnSignerUnavailable persists a request no signer can sign in
	// time and answers 202 with a ticket; false answers 503/504.
	DeferOnSignerUnavailable bool `json:"defer_on_signer_unavailable"`
	// DeferredRetryAfter is the Retry-After of a 202 (when to poll).
	DeferredRetryAfter Duration `json:"deferred_retry_after"`
	// DeferredDrainRate is how many deferred requests per second the
	// background worker signs once signers recover (so the backlog does
	// not knock them over again), DeferredDrainConcurrency how many at once.
	DeferredDrainRate        float64 `json:"deferred_drain_rate"`
	DeferredDrainConcurrency int     `json:"deferred_drain_concurrency"`
	// DeferredMaxAge: a deferred request older than this is failed rather
	// than signed (the customer has long gone home).
	DeferredMaxAge Duration `json:"deferred_max_age"`
	// MaxBodyBytes bounds JSON request bodies (onboarding: documents
	// included).
	MaxBodyBytes           int64 `json:"max_body_bytes"`
	MaxOnboardingBodyBytes int64 `json:"max_onboarding_body_bytes"`

	// --- admission control ---

	Limits        RouteLimits `json:"limits"`
	PharmacyQuota QuotaConfig `json:"pharmacy_quota"`
	// AdmitAfterBody reads a request's body (within HTTP.BodyReadTimeout)
	// before it takes an admission slot, so a client sending slowly holds
	// a connection and never a slot; false admits first (the 2021 portal).
	AdmitAfterBody bool `json:"admit_after_body"`
	// HTTP bounds each part of a request.
	HTTP HTTPConfig `json:"http"`

	// --- fraud ---

	Anomaly AnomalyConfig `json:"anomaly"`

	// --- operations ---
	// (How long sealed HC1s and deferred requests are kept is the store's
	// Retention option.)

	// ReadyRequiresSigner makes /readyz fail while no signer is available.
	// A portal that defers stays ready: pharmacies keep working.
	ReadyRequiresSigner bool `json:"ready_requires_signer"`
	// CleanupInterval is the period of the retention purge.
	CleanupInterval Duration `json:"cleanup_interval"`

	// --- the staff web portal ---

	StaffWeb StaffWebConfig `json:"staff_web"`
}

// StaffWebConfig tunes the staff web portal at /staff/ (docs/staff-portal.md).
type StaffWebConfig struct {
	// SessionIdle ends a staff session after this long without a request,
	// SessionMaxAge after this long in any case (0: 30 minutes, 12 hours).
	SessionIdle   Duration `json:"session_idle"`
	SessionMaxAge Duration `json:"session_max_age"`
	// KeepFormsOnExpiry carries a form posted into an expired session
	// through the sign-in page back into the form. Off, the entries are
	// lost, as they were at the 2021 counter.
	KeepFormsOnExpiry bool `json:"keep_forms_on_expiry"`
	// SecureCookies marks the staff cookies Secure on plain HTTP too, for
	// a portal behind a proxy that ends TLS (over TLS they always are).
	SecureCookies bool `json:"secure_cookies"`
	// WaitForSigner is how long the issuance page keeps sending a form
	// again (same Idempotency-Key, so at most one certificate) while the
	// answer is that no signer could sign, before it says so. 0 answers at
	// once. The 2021 page did not say so: "you press 'create PDF' and
	// then nothing happens" (../shared/seeds), so staff waited until they
	// gave up; naive-2021 reproduces that with a wait longer than any
	// browser's patience. A client that leaves ends the wait.
	WaitForSigner Duration `json:"wait_for_signer,omitempty"`
}

// HardenedConfig is the design that survives 2021: register-checked
// onboarding, 60 s tokens, idempotent issuance that defers instead of
// hanging, bounded admission per route, per-pharmacy quotas and anomaly
// detection that suspends and revokes.
func HardenedConfig() Config {
	return Config{
		Profile:                        ProfileHardened,
		Country:                        "DE",
		UVCIIssuer:                     "GL",
		OnboardingCheckTelematikFormat: true,
		OnboardingVerifyRegister:       true,
		ActivationToRegisterAddress:    true,
		ActivationCodeTTL:              Duration(72 * time.Hour),
		// A code is 80 random bits: a per-source limit makes guessing
		// slower still, and the total is only a backstop, high enough
		// that nobody else's wrong codes void the owner's.
		ActivationMaxAttempts:       1000,
		ActivationAttemptsPerSource: 5,
		ActivationAttemptWindow:     Duration(15 * time.Minute),
		ActivationResendInterval:    Duration(5 * time.Minute),
		MaxDocumentBytes:            2 << 20,
		PracticeOnboardingFrom:      DefaultPracticeOnboardingFrom,
		AccessTokenTTL:              Duration(60 * time.Second),
		RefreshTokenTTL:             Duration(12 * time.Hour),
		MaxRefreshTokens:            200000,
		LoginThrottle: LoginThrottle{FailuresPerClient: 10, FailuresPerSource: 20, Window: Duration(15 * time.Minute),
			TrustedSourceTTL: Duration(30 * 24 * time.Hour), MaxKeys: 100000},
		RequireIdempotencyKey:    true,
		IssueDeadline:            Duration(3 * time.Second),
		SignCallTimeout:          Duration(1500 * time.Millisecond),
		RetrySignUntilTimeout:    false,
		DeferOnSignerUnavailable: true,
		DeferredRetryAfter:       Duration(30 * time.Second),
		DeferredDrainRate:        50,
		DeferredDrainConcurrency: 8,
		DeferredMaxAge:           Duration(72 * time.Hour),
		MaxBodyBytes:             64 << 10,
		MaxOnboardingBodyBytes:   6 << 20,
		Limits: RouteLimits{
			// Issue waits at most 5 ms for a slot: excess is answered 503
			// within 5 ms (the queue absorbs jitter, not overload).
			Issue:      RouteLimit{MaxConcurrent: 64, MaxQueue: 128, MaxQueueWait: Duration(5 * time.Millisecond)},
			Login:      RouteLimit{MaxConcurrent: 16, MaxQueue: 64, MaxQueueWait: Duration(200 * time.Millisecond)},
			Onboarding: RouteLimit{MaxConcurrent: 4, MaxQueue: 16, MaxQueueWait: Duration(500 * time.Millisecond)},
			Read:       RouteLimit{MaxConcurrent: 32, MaxQueue: 64, MaxQueueWait: Duration(100 * time.Millisecond)},
			Verify:     RouteLimit{MaxConcurrent: 8, MaxQueue: 32, MaxQueueWait: Duration(100 * time.Millisecond)},
			Admin:      RouteLimit{MaxConcurrent: 4, MaxQueue: 16, MaxQueueWait: Duration(time.Second)},
		},
		// 1 a second with a burst of 60 is far above any pharmacy's honest
		// need (one workstation made about 12 an hour) and caps what one
		// stolen login can do.
		PharmacyQuota:  QuotaConfig{Enabled: true, Rate: 1, Burst: 60},
		AdmitAfterBody: true,
		// Headers within 5 s whole (not per byte), bodies within 10 s, 32 KiB
		// of headers (a bearer token and a staff session cookie need under
		// 4), and 512 connections per source: far above one pharmacy's
		// workstations, low enough that one address cannot hold the
		// server's file descriptors.
		HTTP: HTTPConfig{ReadHeaderTimeout: Duration(5 * time.Second), BodyReadTimeout: Duration(10 * time.Second),
			OnboardingBodyReadTimeout: Duration(2 * time.Minute), ResponseTimeout: Duration(30 * time.Second),
			IdleTimeout: Duration(2 * time.Minute), MaxHeaderBytes: 32 << 10, MaxConnsPerSource: 512},
		Anomaly:             anomalyPreset(true),
		ReadyRequiresSigner: false,
		CleanupInterval:     Duration(time.Minute),
		StaffWeb: StaffWebConfig{SessionIdle: Duration(30 * time.Minute), SessionMaxAge: Duration(12 * time.Hour),
			KeepFormsOnExpiry: true},
	}
}

// anomalyPreset is both profiles' detector settings: the same rules, acted
// on (suspend, revoke) only where the detector is on.
func anomalyPreset(on bool) AnomalyConfig {
	return AnomalyConfig{
		Enabled:            on,
		OpeningHours:       "08:00-20:00",
		TimeZone:           "Europe/Berlin",
		OffHoursLimit:      10,
		OffHoursWindow:     Duration(24 * time.Hour),
		VolumeWindow:       Duration(time.Hour),
		VolumeFloor:        120,
		BaselineFactor:     5,
		BaselineWindow:     Duration(7 * 24 * time.Hour),
		SuspendPharmacy:    on,
		RevokeSinceAnomaly: on,
	}
}

// Naive2021Config is the 2021 portal: any well-formed application gets an
// account and the code goes to the address it names, password sessions
// last a working day, no idempotency, no admission control or quotas, no
// anomaly detection, and when the signer does not answer the request hangs
// until the signing client's 4 s timeout and fails.
func Naive2021Config() Config {
	unlimited := RouteLimit{}
	return Config{
		Profile:                        ProfileNaive2021,
		Country:                        "DE",
		UVCIIssuer:                     "GL",
		OnboardingCheckTelematikFormat: false,
		OnboardingVerifyRegister:       false,
		ActivationToRegisterAddress:    false,
		ActivationCodeTTL:              Duration(14 * 24 * time.Hour),
		ActivationMaxAttempts:          1000,
		ActivationAttemptWindow:        Duration(15 * time.Minute),
		MaxDocumentBytes:               2 << 20,
		PracticeOnboardingFrom:         DefaultPracticeOnboardingFrom,
		AccessTokenTTL:                 Duration(12 * time.Hour),
		RefreshTokenTTL:                Duration(30 * 24 * time.Hour),
		MaxRefreshTokens:               200000,
		RequireIdempotencyKey:          false,
		IssueDeadline:                  0,
		SignCallTimeout:                Duration(4 * time.Second),
		RetrySignUntilTimeout:          true,
		DeferOnSignerUnavailable:       false,
		DeferredRetryAfter:             Duration(30 * time.Second),
		DeferredDrainRate:              50,
		DeferredDrainConcurrency:       8,
		DeferredMaxAge:                 Duration(72 * time.Hour),
		MaxBodyBytes:                   64 << 10,
		MaxOnboardingBodyBytes:         6 << 20,
		Limits: RouteLimits{
			Issue: unlimited, Login: unlimited, Onboarding: unlimited,
			Read: unlimited, Verify: unlimited, Admin: unlimited,
		},
		PharmacyQuota: QuotaConfig{Enabled: false, Rate: 1, Burst: 60},
		// The 2021 server: a thread-per-request pool of 256 workers (Apache's
		// MaxRequestWorkers default) whose read timeout restarts with every
		// byte received, so a client dribbling its headers or its body is
		// never cut off (no header or body deadline as a whole), no
		// per-address connection cap, idle keep-alives closed after 2m.
		HTTP:                HTTPConfig{IdleTimeout: Duration(2 * time.Minute), Workers: 256},
		LoginThrottle:       LoginThrottle{Window: Duration(15 * time.Minute), MaxKeys: 100000},
		Anomaly:             anomalyPreset(false),
		ReadyRequiresSigner: true,
		CleanupInterval:     Duration(time.Minute),
		StaffWeb: StaffWebConfig{SessionIdle: Duration(30 * time.Minute), SessionMaxAge: Duration(12 * time.Hour),
			KeepFormsOnExpiry: false, WaitForSigner: Duration(2 * time.Minute)},
	}
}

// Profiles lists the preset names.
func Profiles() []string { return []string{ProfileHardened, ProfileNaive2021} }

// ConfigForProfile returns the preset named name.
func ConfigForProfile(name string) (Config, error) {
	return Preset("portal", name, HardenedConfig, Naive2021Config)
}

// Preset picks a component's preset by profile name, so the portal and
// every component beside it (finder, lists, ...) spell the profiles and
// the error the same way.
func Preset[C any](component, name string, hardened, naive2021 func() C) (C, error) {
	switch name {
	case ProfileHardened:
		return hardened(), nil
	case ProfileNaive2021:
		return naive2021(), nil
	}
	var zero C
	return zero, fmt.Errorf("%s: unknown profile %q (want %s)", component, name, strings.Join(Profiles(), " or "))
}

// ApplyJSON overrides the fields data sets and leaves the others: a
// --config file names only what it changes. Unknown fields are errors (a
// typo must not be silently ignored).
func (c *Config) ApplyJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("portal config: %w", err)
	}
	if dec.More() {
		return errors.New("portal config: trailing data after the JSON object")
	}
	return c.Validate()
}

var uvciBlock = regexp.MustCompile(`^[A-Z0-9]{1,16}$`)

// Validate checks a configuration for values that cannot work.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, err := c.PracticeOnboardingStart(); err != nil {
		bad("%v", err)
	}
	if len(c.Country) != 2 || strings.ToUpper(c.Country) != c.Country {
		bad("country %q is not a two-letter upper-case code", c.Country)
	}
	if !uvciBlock.MatchString(c.UVCIIssuer) {
		bad("uvci_issuer %q must be 1-16 of A-Z0-9", c.UVCIIssuer)
	}
	if c.ActivationCodeTTL <= 0 || c.ActivationMaxAttempts < 1 {
		bad("activation_code_ttl and activation_max_attempts must be positive")
	}
	if c.ActivationAttemptsPerSource < 0 || c.ActivationResendInterval < 0 ||
		(c.ActivationAttemptsPerSource > 0 && c.ActivationAttemptWindow <= 0) {
		bad("activation_attempts_per_source and activation_resend_interval must not be negative, and a per-source limit needs a positive activation_attempt_window")
	}
	if lt := c.LoginThrottle; lt.FailuresPerClient < 0 || lt.FailuresPerSource < 0 || lt.TrustedSourceTTL < 0 ||
		((lt.FailuresPerClient > 0 || lt.FailuresPerSource > 0) && (lt.Window <= 0 || lt.MaxKeys < 1)) {
		bad("login_throttle: limits must not be negative, and a limit needs a positive window and max_keys")
	}
	if h := c.HTTP; h.ReadHeaderTimeout < 0 || h.BodyReadTimeout < 0 || h.OnboardingBodyReadTimeout < 0 ||
		h.ResponseTimeout < 0 || h.IdleTimeout < 0 || h.MaxHeaderBytes < 0 || h.MaxConnsPerSource < 0 || h.Workers < 0 || h.MaxConns < 0 {
		bad("http timeouts and limits must not be negative")
	}
	if c.AccessTokenTTL.D() < time.Second || c.RefreshTokenTTL.D() < time.Second || c.MaxRefreshTokens < 1 {
		bad("token lifetimes must be at least 1s and max_refresh_tokens positive")
	}
	if c.SignCallTimeout <= 0 {
		bad("sign_call_timeout must be positive")
	}
	if c.IssueDeadline < 0 || (c.IssueDeadline > 0 && c.IssueDeadline <= c.SignCallTimeout && c.DeferOnSignerUnavailable) {
		bad("issue_deadline must exceed sign_call_timeout when deferring (time is needed to record the ticket)")
	}
	if c.DeferredDrainRate <= 0 || c.DeferredDrainConcurrency < 1 || c.DeferredMaxAge <= 0 || c.DeferredRetryAfter < Duration(time.Second) {
		bad("deferred drain settings must be positive (retry-after at least 1s)")
	}
	if c.CleanupInterval <= 0 {
		bad("cleanup_interval must be positive")
	}
	if c.MaxBodyBytes < 1024 || c.MaxOnboardingBodyBytes < 1024 || c.MaxDocumentBytes < 1 {
		bad("body limits too small")
	}
	for name, l := range map[string]RouteLimit{
		"issue": c.Limits.Issue, "login": c.Limits.Login, "onboarding": c.Limits.Onboarding,
		"read": c.Limits.Read, "verify": c.Limits.Verify, "admin": c.Limits.Admin,
	} {
		if err := l.Validate("limits." + name); err != nil {
			errs = append(errs, err)
		}
	}
	if c.PharmacyQuota.Enabled && (!(c.PharmacyQuota.Rate > 0) || c.PharmacyQuota.Burst < 1) {
		bad("pharmacy_quota: rate must be > 0 and burst >= 1")
	}
	if c.Anomaly.Enabled {
		if err := c.Anomaly.Validate(); err != nil {
			bad("anomaly: %v", err)
		}
	}
	if c.StaffWeb.SessionIdle < 0 || c.StaffWeb.SessionMaxAge < 0 || c.StaffWeb.WaitForSigner < 0 {
		bad("staff_web: session_idle, session_max_age and wait_for_signer must not be negative")
	}
	return errors.Join(errs...)
}

// Validate checks the anomaly rules' settings by their JSON names. The
// detector (package fraud) checks its own Config again when the portal
// builds it; this check lets a scenario or a --config file be refused
// before any server starts, at the setting's name.
func (a AnomalyConfig) Validate() error {
	if _, err := a.Location(); err != nil {
		return err
	}
	if _, _, err := a.Hours(); err != nil {
		return err
	}
	switch {
	case a.OffHoursLimit < 0 || a.OffHoursWindow <= 0:
		return errors.New("off_hours_limit must be >= 0 and off_hours_window > 0")
	case a.VolumeWindow.D() < time.Minute || a.VolumeFloor < 1:
		return errors.New("volume_window must be >= 1m and volume_floor >= 1")
	case !(a.BaselineFactor >= 1) || math.IsInf(a.BaselineFactor, 0):
		return errors.New("baseline_factor must be >= 1")
	case a.BaselineWindow < a.VolumeWindow:
		return errors.New("baseline_window must be at least volume_window")
	}
	return nil
}

// Location is the time zone opening hours are judged in.
func (a AnomalyConfig) Location() (*time.Location, error) {
	loc, err := time.LoadLocation(a.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time_zone %q: %w", a.TimeZone, err)
	}
	return loc, nil
}

// Hours reads OpeningHours as offsets from midnight.
func (a AnomalyConfig) Hours() (from, until time.Duration, err error) {
	return parseOpeningHours(a.OpeningHours)
}

// parseOpeningHours reads "HH:MM-HH:MM" ("24:00" allowed as the end).
func parseOpeningHours(s string) (time.Duration, time.Duration, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("opening_hours %q is not HH:MM-HH:MM", s)
	}
	from, err1 := parseClock(a)
	until, err2 := parseClock(b)
	if err1 != nil || err2 != nil || from == 24*time.Hour {
		return 0, 0, fmt.Errorf("opening_hours %q is not HH:MM-HH:MM", s)
	}
	return from, until, nil
}

func parseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, errors.New("bad clock time")
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, errors.New("bad clock time")
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// DefaultPracticeOnboardingFrom is when doctors' practices could first be
// connected: Monday 12 July 2021 ("by mid-July").
const DefaultPracticeOnboardingFrom = "2021-07-12"

// practiceZone is the zone PracticeOnboardingFrom's day is in.
var practiceZone = func() *time.Location {
	if loc, err := time.LoadLocation("Europe/Berlin"); err == nil {
		return loc
	}
	return time.FixedZone("CEST", 2*3600) // no tzdata: summer time, as in July
}()

// PracticeOnboardingStart is the instant practices may first apply
// (midnight of PracticeOnboardingFrom in Europe/Berlin); zero when the
// setting is empty (practices never may).
func (c Config) PracticeOnboardingStart() (time.Time, error) {
	if c.PracticeOnboardingFrom == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", c.PracticeOnboardingFrom, practiceZone)
	if err != nil {
		return time.Time{}, fmt.Errorf("practice_onboarding_from %q is not a date YYYY-MM-DD", c.PracticeOnboardingFrom)
	}
	return t, nil
}
