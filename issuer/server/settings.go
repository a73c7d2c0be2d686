// Package server assembles the issuer's roles into running services for
// `golive serve`: a portal, signer replicas, an all-in-one process and the
// fault proxy. It owns the data directory layout, its bootstrap, and the
// effective settings (a profile preset, then a --config file, then flags).
package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/golive-dev/golive/issuer/booking/bookingapi"
	"github.com/golive-dev/golive/issuer/duration"
	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/lists/listsapi"
	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
	"github.com/golive-dev/golive/issuer/store"
	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
)

// Roles.
const (
	RolePortal = "portal"
	RoleSigner = "signer"
	RoleProxy  = "proxy"
	RoleAll    = "all"
)

// Roles lists the role names.
func Roles() []string { return []string{RoleAll, RolePortal, RoleSigner, RoleProxy} }

// Duration is written "1.5s" in settings files.
type Duration = duration.Duration

// SignerSettings are the signer replica's behaviours (package signer's
// Config in file form); the contract and its presets are in signerapi.
type SignerSettings = signerapi.Settings

// SignerClientSettings tune the portal's calls to the replicas.
type SignerClientSettings struct {
	CallTimeout     Duration `json:"call_timeout"`
	MaxAttempts     int      `json:"max_attempts"`
	HealthInterval  Duration `json:"health_interval"`
	BreakerFailures int      `json:"breaker_failures"`
	BreakerOpenFor  Duration `json:"breaker_open_for"`
	// CA is a PEM bundle the signers' https:// certificates are verified
	// against (--signer-ca; empty: the system's roots). A testbed run with
	// TLS passes its own CA here.
	CA string `json:"ca,omitempty"`
}

// StoreSettings tune the registry's writer.
type StoreSettings struct {
	GroupCommitWindow Duration `json:"group_commit_window"`
	// MaxBatch writes per transaction (1: no group commit).
	MaxBatch int `json:"max_batch"`
	// Writers commit batches at once (PostgreSQL; 0: the store's
	// default; SQLite always has one).
	Writers int `json:"writers,omitempty"`
	// WriteTimeout bounds one write transaction (0: the store's default).
	WriteTimeout Duration `json:"write_timeout,omitempty"`
}

// SimSettings is the simulated business clock a scenario replays. Zero
// Start means real time.
type SimSettings struct {
	Start     time.Time `json:"start,omitzero"`
	Timescale float64   `json:"timescale"`
}

// TLSSettings serve the portal (roles all and portal) or a signer (role
// signer) over HTTPS. Cert and Key are PEM files (the certificate file
// may hold the chain); ClientCA, a PEM bundle, turns on mutual TLS on the
// portal: every client must present a certificate that chains to it.
type TLSSettings struct {
	Cert     string `json:"cert,omitempty"`
	Key      string `json:"key,omitempty"`
	ClientCA string `json:"client_ca,omitempty"`
}

// Enabled reports whether the portal serves HTTPS.
func (t TLSSettings) Enabled() bool { return t.Cert != "" || t.Key != "" }

// Settings is everything `golive serve` runs with.
type Settings struct {
	Role    string `json:"role"`
	Profile string `json:"profile"`
	Listen  string `json:"listen"`
	// Data is the data directory (see Layout).
	Data string `json:"data"`
	// PKI overrides Data/pki.
	PKI string `json:"pki,omitempty"`
	// Register overrides Data/register.jsonl.
	Register string `json:"register,omitempty"`
	// Registry is where the portal keeps its registry: empty for SQLite
	// in Data/registry, or a PostgreSQL DSN (postgres://user@host/db, or
	// keywords such as "host=db1,db2 dbname=registry
	// target_session_attrs=read-write"). With PostgreSQL the seal key
	// stays in Data/registry/seal.key: every portal of one registry needs
	// the same key.
	Registry string `json:"registry,omitempty"`
	// Signers are the replicas' base URLs (role portal).
	Signers []string `json:"signers,omitempty"`
	// Replicas is the number of DSCs a new data directory gets and of
	// in-process signers in role all.
	Replicas int `json:"replicas"`
	// SignerIndex picks the DSC of role signer (1-based).
	SignerIndex int `json:"signer_index,omitempty"`
	// RegisterSize is the size of a new synthetic register.
	RegisterSize int    `json:"register_size"`
	LogLevel     string `json:"log_level"`

	// SchemaDir holds the official DCC schemas, one
	// <version>.combined-schema.json per release, that POST /v1/verify
	// checks against when a request asks for it ("": such requests get
	// 400 schema_unavailable).
	SchemaDir string `json:"schema_dir,omitempty"`

	TLS TLSSettings `json:"tls"`
	// MetricsToken, when set, is the bearer token GET /metrics asks for
	// ($GOLIVE_METRICS_TOKEN, --metrics-token).
	MetricsToken string `json:"metrics_token,omitempty"`
	// SealKeyFile is the registry's sealing key (32 raw bytes or 64 hex
	// digits, mode 0600), best kept outside the data directory so a copy
	// of the data directory alone opens no sealed data. Empty: the key in
	// the registry directory, created on first start.
	SealKeyFile string `json:"seal_key_file,omitempty"`
	// SealKey is the sealing key itself, 64 hex digits, from
	// $GOLIVE_SEAL_KEY; never written to a settings file or printed.
	SealKey string `json:"-"`

	Sim    SimSettings      `json:"sim"`
	Portal portalapi.Config `json:"portal"`
	// Finder is the public pharmacy finder and Lists the verifier apps'
	// downloads; both run in the portal's process (roles all and portal).
	Finder finderapi.Config `json:"finder"`
	Lists  listsapi.Config  `json:"lists"`
	// Mailout is the vaccination centres' batch issuance, in the portal's
	// process too; off unless mailout.enabled (or --mailout).
	Mailout mailoutapi.Config `json:"mailout"`
	// Booking is the pharmacies' appointment booking, in the portal's
	// process too; off unless booking.enabled (or --booking).
	Booking bookingapi.Config `json:"booking"`
	// Vendors is vendor access (pharmacy-software vendors issuing for the
	// pharmacies that delegated to them), in the portal's process; off
	// unless vendors.enabled (or --vendors).
	Vendors      vendorapi.Config     `json:"vendors"`
	Signer       SignerSettings       `json:"signer"`
	SignerClient SignerClientSettings `json:"signer_client"`
	Store        StoreSettings        `json:"store"`
}

// Defaults are the settings of profile before any override.
func Defaults(profile string) (Settings, error) {
	pc, err := portalapi.ConfigForProfile(profile)
	if err != nil {
		return Settings{}, err
	}
	fc, err := finderapi.ConfigForProfile(profile)
	if err != nil {
		return Settings{}, err
	}
	lc, err := listsapi.ConfigForProfile(profile)
	if err != nil {
		return Settings{}, err
	}
	mc, err := mailoutapi.ConfigForProfile(profile)
	if err != nil {
		return Settings{}, err
	}
	bc, err := bookingapi.ConfigForProfile(profile)
	if err != nil {
		return Settings{}, err
	}
	vc, err := vendorapi.ConfigForProfile(profile)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{
		Role: RoleAll, Profile: profile, Listen: "127.0.0.1:8080", Data: "golive-data",
		Replicas: 3, RegisterSize: 2000, LogLevel: "info",
		Portal: pc, Finder: fc, Lists: lc, Mailout: mc, Booking: bc, Vendors: vc,
	}
	switch profile {
	case portalapi.ProfileNaive2021:
		// One central backend: the 2021 signing client's 4 s timeout, no
		// retry elsewhere, no breaker worth the name.
		s.Replicas = 1
		s.Signer = signerapi.Naive2021Settings()
		s.SignerClient = SignerClientSettings{CallTimeout: Duration(4 * time.Second), MaxAttempts: 1,
			HealthInterval: Duration(2 * time.Second), BreakerFailures: 1 << 30, BreakerOpenFor: Duration(time.Second)}
	default:
		s.Signer = signerapi.HardenedSettings()
		s.SignerClient = SignerClientSettings{CallTimeout: Duration(600 * time.Millisecond), MaxAttempts: 3,
			HealthInterval: Duration(time.Second), BreakerFailures: 3, BreakerOpenFor: Duration(2 * time.Second)}
	}
	return s, nil
}

// ApplyFile overrides the settings a --config file names (JSON, or YAML
// when name ends in .yaml/.yml or the data is not JSON). Unknown keys are
// errors: a typo must not be silently ignored.
func (s *Settings) ApplyFile(data []byte, name string) error {
	trimmed := bytes.TrimSpace(data)
	ext := strings.ToLower(filepath.Ext(name))
	if ext == ".yaml" || ext == ".yml" || (len(trimmed) > 0 && trimmed[0] != '{') {
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		j, err := json.Marshal(normalizeYAML(v))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		data = j
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return fmt.Errorf("%s: trailing data after the settings object", name)
	}
	return nil
}

// normalizeYAML turns YAML maps with non-string keys into JSON-able maps.
func normalizeYAML(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeYAML(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = normalizeYAML(e)
		}
		return t
	}
	return v
}

// Validate checks the settings of the chosen role.
func (s Settings) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch s.Role {
	case RoleAll, RolePortal, RoleSigner, RoleProxy:
	default:
		bad("role %q is not one of %s", s.Role, strings.Join(Roles(), ", "))
	}
	if s.Data == "" {
		bad("a data directory is required (--data DIR)")
	}
	if s.Listen == "" {
		bad("a listen address is required (--listen 127.0.0.1:8080)")
	}
	if _, err := store.RegistryKind(s.Registry); err != nil && (s.Role == RoleAll || s.Role == RolePortal) {
		bad("registry %q is not a PostgreSQL DSN (postgres://user@host:5432/db, or host=... dbname=...); leave it empty for SQLite in the data directory", store.RedactDSN(s.Registry))
	}
	if s.Store.Writers < 0 || s.Store.WriteTimeout < 0 || s.Store.MaxBatch < 0 {
		bad("store.writers, store.write_timeout and store.max_batch must not be negative")
	}
	if s.Replicas < 1 || s.Replicas > 64 {
		bad("replicas %d must be 1..64", s.Replicas)
	}
	if s.RegisterSize < 1 || s.RegisterSize > 100000 {
		bad("register_size %d must be 1..100000", s.RegisterSize)
	}
	if s.Role == RoleSigner && s.SignerIndex < 1 {
		bad("role signer needs --signer-index N (which DSC of the PKI to sign with)")
	}
	if s.Role == RolePortal && len(s.Signers) == 0 {
		bad("role portal needs --signers URL,... (the signer replicas)")
	}
	if s.Signer.HSMSlots < 1 || s.Signer.HSMLatency < 0 {
		bad("signer.hsm_slots must be >= 1 and hsm_latency >= 0")
	}
	if s.SignerClient.CallTimeout <= 0 || s.SignerClient.MaxAttempts < 1 || s.SignerClient.HealthInterval <= 0 {
		bad("signer_client: call_timeout, max_attempts and health_interval must be positive")
	}
	if !s.Sim.Start.IsZero() && !(s.Sim.Timescale > 0) {
		bad("sim.timescale must be positive when sim.start is set")
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level %q is not debug, info, warn or error", s.LogLevel)
	}
	if s.TLS.Enabled() || s.TLS.ClientCA != "" {
		switch {
		case s.Role == RoleProxy:
			bad("tls serves the portal or a signer: role proxy does not take --tls-cert, --tls-key or --tls-client-ca (TLS passes through the fault proxy)")
		case s.Role == RoleSigner && s.TLS.ClientCA != "":
			bad("--tls-client-ca (mutual TLS) is the portal's: a signer authenticates the portal by its token")
		case s.TLS.Cert == "" || s.TLS.Key == "":
			bad("tls needs both a certificate and a key (--tls-cert FILE --tls-key FILE)")
		}
	}
	if s.SignerClient.CA != "" && s.Role != RolePortal {
		bad("--signer-ca is the portal's trust in its signers (role portal), not role %s's", s.Role)
	}
	if s.SealKeyFile != "" && s.SealKey != "" {
		bad("the sealing key comes from --seal-key-file or $GOLIVE_SEAL_KEY, not both")
	}
	if s.Role == RoleAll || s.Role == RolePortal {
		if err := s.Portal.Validate(); err != nil {
			bad("portal: %v", err)
		}
		if err := s.Finder.Validate(); err != nil {
			bad("finder: %v", err)
		}
		if err := s.Lists.Validate(); err != nil {
			bad("lists: %v", err)
		}
		if err := s.Mailout.Validate(); err != nil {
			bad("mailout: %v", err)
		}
		if err := s.Booking.Validate(); err != nil {
			bad("booking: %v", err)
		}
		if err := s.Vendors.Validate(); err != nil {
			bad("vendors: %v", err)
		}
	}
	return errors.Join(errs...)
}

// JSON is the indented effective settings (--print-config).
func (s Settings) JSON() []byte {
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}
