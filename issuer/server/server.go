package server

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/booking"
	"github.com/golive-dev/golive/issuer/booking/bookingapi"
	"github.com/golive-dev/golive/issuer/connlimit"
	"github.com/golive-dev/golive/issuer/dcc/dccschema"
	"github.com/golive-dev/golive/issuer/finder"
	"github.com/golive-dev/golive/issuer/lists"
	"github.com/golive-dev/golive/issuer/mailout"
	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/issuer/signer"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
	"github.com/golive-dev/golive/issuer/signerclient"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/issuer/store"
	"github.com/golive-dev/golive/issuer/vendors"
)

// Ready is told each role's base URL once it listens.
type Ready func(role, url string)

// Run starts the role s names and serves until ctx ends, then stops
// gracefully. An empty data directory is bootstrapped first.
func Run(ctx context.Context, s Settings, log *slog.Logger, ready Ready) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if ready == nil {
		ready = func(string, string) {}
	}
	if s.Role == RoleProxy {
		return runProxy(ctx, s, log, ready)
	}
	if _, err := Bootstrap(s.Data, BootstrapOptions{Replicas: s.Replicas, RegisterSize: s.RegisterSize, Country: s.Portal.Country}); err != nil {
		return fmt.Errorf("bootstrap %s: %w", s.Data, err)
	}
	var biz *simclock.Clock
	if !s.Sim.Start.IsZero() {
		c, err := simclock.New(s.Sim.Start, s.Sim.Timescale)
		if err != nil {
			return err
		}
		biz = &c
	}
	switch s.Role {
	case RoleSigner:
		return runSigner(ctx, s, biz, log, ready)
	case RolePortal:
		return runPortal(ctx, s, biz, s.Signers, nil, log, ready)
	default:
		return runAll(ctx, s, biz, log, ready)
	}
}

func (s Settings) layout() Layout { return Layout{s.Data} }

func (s Settings) pkiDir() string {
	if s.PKI != "" {
		return s.PKI
	}
	return s.layout().PKI()
}

// signerConfig is the replica's config; the 2021 lockout lasts its
// duration of business-day time, so a compressed day compresses it too.
func (s Settings) signerConfig(name, token string, biz *simclock.Clock) signer.Config {
	c := signer.HardenedConfig()
	if s.Profile == signerapi.ProfileNaive2021 {
		c = signer.Naive2021Config()
	}
	c.ApplySettings(s.Signer)
	c.Name, c.AuthToken, c.Country = name, token, s.Portal.Country
	// A test-only knob: a deliberately slower signer for calibrating
	// golive gate --ab (docs/gate.md). Unset in every real deployment.
	if v := os.Getenv(signer.EnvExtraSignWork); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			c.ExtraSignWork = n
		}
	}
	if biz != nil && c.LockoutFor > 0 {
		c.LockoutFor = max(biz.WallDuration(c.LockoutFor), time.Second)
	}
	return c
}

func (s Settings) clientConfig(endpoints []string, token string) signerclient.Config {
	sc := s.SignerClient
	return signerclient.Config{
		Endpoints: endpoints, AuthToken: token,
		CallTimeout: sc.CallTimeout.D(), MaxAttempts: sc.MaxAttempts, HealthInterval: sc.HealthInterval.D(),
		Breaker: signerclient.BreakerConfig{FailureThreshold: sc.BreakerFailures, OpenFor: sc.BreakerOpenFor.D()},
	}
}

func runSigner(ctx context.Context, s Settings, biz *simclock.Clock, log *slog.Logger, ready Ready) error {
	tlsCfg, err := s.TLS.tlsConfig()
	if err != nil {
		return err
	}
	dir := s.pkiDir()
	dsc, err := pki.LoadKeyPair(filepath.Join(dir, pki.DSCCertFile(s.SignerIndex)), filepath.Join(dir, pki.DSCKeyFile(s.SignerIndex)))
	if err != nil {
		return fmt.Errorf("signer %d: %w (the PKI in %s has one DSC per replica)", s.SignerIndex, err, dir)
	}
	token, err := ReadToken(s.layout().SignerToken())
	if err != nil {
		return err
	}
	srv, err := signer.New(s.signerConfig(fmt.Sprintf("dsc-%d", s.SignerIndex), token, biz), dsc, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("signer: listen %s: %w", s.Listen, err)
	}
	return serveHTTP(ctx, ln, tlsCfg, srv.Handler(), defaultHTTP, func(url string) { ready(RoleSigner, url) })
}

func runAll(ctx context.Context, s Settings, biz *simclock.Clock, log *slog.Logger, ready Ready) error {
	set, err := pki.Load(s.pkiDir())
	if err != nil {
		return err
	}
	token, err := ReadToken(s.layout().SignerToken())
	if err != nil {
		return err
	}
	n := min(s.Replicas, len(set.DSCs))
	replicas := inprocTransport{}
	var endpoints []string
	for i := range n {
		name := fmt.Sprintf("dsc-%d", i+1)
		srv, err := signer.New(s.signerConfig(name, token, biz), set.DSCs[i], log)
		if err != nil {
			return err
		}
		host := name + ".inproc"
		replicas[host] = srv.Handler()
		endpoints = append(endpoints, "http://"+host)
	}
	return runPortal(ctx, s, biz, endpoints, &http.Client{Transport: replicas}, log, ready)
}

// runPortal serves the portal; hc reaches the signers (nil: over the
// network).
func runPortal(ctx context.Context, s Settings, biz *simclock.Clock, endpoints []string, hc *http.Client, log *slog.Logger, ready Ready) error {
	l := s.layout()
	// TLS files are read before anything starts: a bad certificate is an
	// operator's mistake to report at once.
	tlsCfg, err := s.TLS.tlsConfig()
	if err != nil {
		return err
	}
	tl, err := pki.LoadTrustList(filepath.Join(s.pkiDir(), pki.TrustListFile))
	if err != nil {
		return err
	}
	regPath := s.Register
	if regPath == "" {
		regPath = l.Register()
	}
	reg, err := register.LoadKind(regPath, register.KindPharmacy)
	if err != nil {
		return err
	}
	// The doctors' practices' own register (docs/doctors.md).
	practices, err := register.LoadKind(l.Practices(), register.KindPractice)
	if err != nil {
		return err
	}
	signerToken, err := ReadToken(l.SignerToken())
	if err != nil {
		return err
	}
	adminToken, err := ReadToken(l.AdminToken())
	if err != nil {
		return err
	}
	tokenKey, err := os.ReadFile(l.TokenKey())
	if err != nil {
		return fmt.Errorf("token key: %w", err)
	}
	mb, err := register.NewDirMailbox(l.Mailbox())
	if err != nil {
		return err
	}
	mb.Log = log
	sealKey, err := s.sealKey()
	if err != nil {
		return err
	}
	st, err := store.OpenRegistry(ctx, s.Registry, l.Registry(), store.Options{Logger: log, SealKey: s.SealKeyFile, SealKeyMaterial: sealKey,
		GroupCommitWindow: s.Store.GroupCommitWindow.D(), MaxBatch: s.Store.MaxBatch,
		Writers: s.Store.Writers, WriteTimeout: s.Store.WriteTimeout.D()})
	if err != nil {
		return err
	}
	defer st.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scfg := s.clientConfig(endpoints, signerToken)
	scfg.HTTPClient = hc
	if scfg.TLS, err = s.SignerClient.tlsConfig(); err != nil {
		return err
	}
	sc := signerclient.New(scfg, log)
	sc.Start(ctx)
	cfg := s.Portal
	cfg.Profile = s.Profile
	listsKey, err := LoadListsKey(l)
	if err != nil {
		return err
	}
	lcfg := s.Lists
	lcfg.Profile = s.Profile
	ls, err := lists.New(lcfg, lists.Deps{Source: st, TrustList: tl, Key: listsKey, Logger: log})
	if err != nil {
		return err
	}
	fcfg := s.Finder
	fcfg.Profile = s.Profile
	fd, err := finder.New(fcfg, finder.Deps{Source: st, Logger: log,
		IssuanceAvailable: func() bool { return sc.Available() > 0 }})
	if err != nil {
		return err
	}
	runs := []func(context.Context) error{ls.Run, fd.Run}
	components := []portal.Component{fd}
	var lanes *overload.Lanes
	if s.Mailout.Enabled {
		mcfg := s.Mailout
		mcfg.Profile = s.Profile
		mo, ml, err := newMailout(mcfg, l, st, sc, s.Portal, log)
		if err != nil {
			return err
		}
		lanes = ml
		components = append(components, mo)
		runs = append(runs, mo.Run)
	}
	// The booking lives on the portal's business clock, which exists once
	// the portal does.
	var bizPortal atomic.Pointer[portal.Portal]
	if s.Booking.Enabled {
		bcfg := s.Booking
		bcfg.Profile = s.Profile
		bk, err := newBooking(bcfg, s.Portal, tokenKey, st, sc, &bizPortal, log)
		if err != nil {
			return err
		}
		components = append(components, bk)
		runs = append(runs, bk.Run)
	}
	var vd *vendors.Vendors
	if s.Vendors.Enabled {
		vcfg := s.Vendors
		vcfg.Profile = s.Profile
		if vd, err = vendors.New(vcfg, vendors.Deps{File: l.Vendors(), AdminTokenHash: auth.HashToken(adminToken), Logger: log}); err != nil {
			return err
		}
		components = append(components, vd)
		log.Info("vendor access enabled", "delegation_required", vcfg.DelegationRequired, "quota", vcfg.Quota.Enabled)
	}
	deps := portal.Deps{
		Store: st, TrustList: tl, Lists: ls, Components: components, Lanes: lanes,
		Register: reg, Practices: practices, Mailbox: mb, Signer: sc,
		AdminTokenHash: auth.HashToken(adminToken), TokenKey: tokenKey, Logger: log, Business: biz,
		MetricsToken: s.MetricsToken,
	}
	if s.SchemaDir != "" {
		set, err := dccschema.LoadDir(s.SchemaDir)
		if err != nil {
			return fmt.Errorf("schema_dir: %w", err)
		}
		deps.Schemas = set
		log.Info("verify schemas loaded", "dir", s.SchemaDir, "versions", strings.Join(set.Versions(), ","))
	}
	p, err := portal.New(cfg, deps)
	if err != nil {
		return err
	}
	defer p.Close()
	bizPortal.Store(p)
	if vd != nil {
		vd.Attach(p)
	}
	// The portal's workers and the components' refresh loops.
	runs = append(runs, p.Run)
	runDone := make(chan error, len(runs))
	for _, run := range runs {
		go func() { runDone <- run(ctx) }()
	}
	wait := func(err error) error {
		cancel()
		for range runs {
			if rerr := <-runDone; rerr != nil && !errors.Is(rerr, context.Canceled) && err == nil {
				err = rerr
			}
		}
		return err
	}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return wait(fmt.Errorf("portal: listen %s: %w", s.Listen, err))
	}
	return wait(serveHTTP(ctx, ln, tlsCfg, p.Handler(), cfg.HTTP, func(url string) { ready(RolePortal, url) }))
}

// newMailout builds the centres' mail-out over the portal's registry and
// signer client, with the lanes the portal marks its issuance on, and the
// centres' tokens of the data directory.
func newMailout(cfg mailoutapi.Config, l Layout, st *store.Store, sc *signerclient.Client, pc portalapi.Config, log *slog.Logger) (*mailout.Mailout, *overload.Lanes, error) {
	tokens, err := LoadCentreTokens(l)
	if err != nil {
		return nil, nil, err
	}
	centres := make(map[string]string, len(tokens))
	for id, tok := range tokens {
		centres[auth.HashToken(tok)] = id
	}
	var lanes *overload.Lanes
	if cfg.Yield {
		lanes = overload.NewLanes(cfg.Quiet.D())
	}
	m, err := mailout.New(cfg, mailout.Deps{Registry: st, Signer: sc, Lanes: lanes, Centres: centres,
		Country: pc.Country, UVCIIssuer: pc.UVCIIssuer, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	log.Info("mail-out enabled", "centres", len(centres), "yield", cfg.Yield)
	return m, lanes, nil
}

// newBooking builds the pharmacies' appointment booking over the portal's
// registry: pharmacy access tokens are checked with the portal's token
// key, issuance is followed through the signer client, and the business
// clock is the portal's once it exists.
func newBooking(cfg bookingapi.Config, pc portalapi.Config, tokenKey []byte, st *store.Store, sc *signerclient.Client,
	p *atomic.Pointer[portal.Portal], log *slog.Logger) (*booking.Booking, error) {
	tokens, err := auth.NewIssuer(tokenKey, pc.AccessTokenTTL.D(), nil)
	if err != nil {
		return nil, err
	}
	b, err := booking.New(cfg, booking.Deps{Registry: st, Tokens: tokens, Key: tokenKey, Logger: log,
		Now: func() time.Time {
			if pp := p.Load(); pp != nil {
				return pp.BusinessNow()
			}
			return time.Now()
		},
		IssuanceAvailable: func() bool { return sc.Available() > 0 },
		PortalDefers:      pc.DeferOnSignerUnavailable})
	if err != nil {
		return nil, err
	}
	log.Info("booking enabled", "follow_issuance", cfg.FollowIssuance, "portal_defers", pc.DeferOnSignerUnavailable)
	return b, nil
}

// runProxy serves the toxiproxy API: testbeds create the proxies (client
// to portal, portal to each signer) and their toxics through it.
func runProxy(ctx context.Context, s Settings, log *slog.Logger, ready Ready) error {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("proxy: listen %s: %w", s.Listen, err)
	}
	defer func() {
		// Closing the API does not close the proxies' own listeners.
		_ = srv.Collection.Clear()
	}()
	log.Info("fault proxy up", "listen", ln.Addr().String())
	return serveHTTP(ctx, ln, nil, srv.Routes(), defaultHTTP, func(url string) { ready(RoleProxy, url) })
}

// defaultHTTP bounds the signer's and the proxy's servers (the portal's
// are its Config.HTTP). The signer reads a body before it takes an HSM
// slot, so a slow client costs it a connection only.
var defaultHTTP = portal.HTTPConfig{ReadHeaderTimeout: portal.Duration(10 * time.Second),
	IdleTimeout: portal.Duration(2 * time.Minute)}

// shutdownTimeout bounds a graceful stop.
const shutdownTimeout = 10 * time.Second

// serveHTTP serves h on ln with the bounds of hc, over TLS when tc is set,
// until ctx ends, then shuts down within shutdownTimeout.
func serveHTTP(ctx context.Context, ln net.Listener, tc *tls.Config, h http.Handler, hc portal.HTTPConfig, onReady func(url string)) error {
	srv := &http.Server{Handler: h, TLSConfig: tc}
	hc.Apply(srv)
	if hc.MaxConnsPerSource > 0 || hc.Workers > 0 || hc.MaxConns > 0 {
		lim := connlimit.Limits{PerSource: hc.MaxConnsPerSource, Workers: hc.Workers, Total: hc.MaxConns}
		if tc == nil {
			lim.TurnAway = overload.TurnAwayResponse()
		}
		cl := connlimit.Wrap(ln, lim)
		ln, srv.ConnState = cl, cl.ConnState
	}
	errc := make(chan error, 1)
	scheme := "http"
	if tc != nil {
		// HTTP/1.1 only: the portal's slow-client bounds (body deadlines,
		// admission after the body) are built and tested for it.
		scheme = "https"
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	onReady(scheme + "://" + ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serving %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	return nil
}

// sealKey decodes $GOLIVE_SEAL_KEY's value (nil when unset: the store reads
// SealKeyFile or its own key file).
func (s Settings) sealKey() ([]byte, error) {
	if s.SealKey == "" {
		return nil, nil
	}
	k, err := hex.DecodeString(strings.TrimSpace(s.SealKey))
	if err != nil || len(k) != store.SealKeySize {
		return nil, fmt.Errorf("GOLIVE_SEAL_KEY must be %d hex digits (e.g. openssl rand -hex %d)", 2*store.SealKeySize, store.SealKeySize)
	}
	return k, nil
}
