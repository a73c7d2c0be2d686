package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// A vendor class's pharmacies issue through their software vendors. Each
// vendor is modelled by its gateway, run here in the harness: an HTTP
// server on loopback that takes the pharmacy software's request, signs a
// fresh assertion with the vendor's key and forwards it to the portal's
// vendor API. The gateway is where a vendor's faults happen: before its
// readiness and while "down" it does not listen (connection refused);
// "slow" holds a request past the pharmacy client's timeout and then
// forwards nothing the client gave up on; "incompatible" sends the birth
// date as DD.MM.YYYY. Every one of them ends in an error class of its own
// in the vendor's row of summary.json, and the consistency check covers
// every certificate a vendor's pharmacy saw.

// vendorTick is how often a gateway checks whether its fault changed.
const vendorTick = 20 * time.Millisecond

// vendorAssertionTTL is how long a gateway's assertions live (one request).
const vendorAssertionTTL = time.Minute

// vendorSetupTimeout bounds a registration or a delegation call.
const vendorSetupTimeout = 30 * time.Second

// vendorRun is every vendor class's gateways and the per-vendor counts.
type vendorRun struct {
	classes  map[string]*vendorClassRun // by class
	byPharma map[string]*vendorGateway  // pharmacy -> its vendor's gateway
	directs  []string                   // direct portal URLs: the admin's switch
	admin    string
	stopped  atomic.Bool // direct access switched off by the run
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type vendorClassRun struct {
	spec     spec.Class
	gateways []*vendorGateway
	total    float64
}

// vendorGateway is one vendor's gateway and its counts.
type vendorGateway struct {
	v          spec.Vendor
	key        ed25519.PrivateKey
	portal     string // base URL of the portal
	clock      simclock.Clock
	hold       time.Duration // a slow gateway's hold: past the client's timeout
	addr       string
	pharmacies []*portalclient.Pharmacy
	hc         *http.Client

	mu  sync.Mutex
	srv *http.Server // nil while down

	stats vendorStats
}

type vendorStats struct {
	mu                                 sync.Mutex
	actions, requests, issued, pending int64
	errors                             map[string]int64
}

// checkVendorRun refuses what vendor classes cannot run with: their
// gateways live in this process, and vendors' keys and delegations in
// one portal's data directory.
func checkVendorRun(sc *spec.Scenario, o Options) error {
	for _, c := range sc.Traffic {
		if c.Kind != spec.KindVendor {
			continue
		}
		if o.Workers > 0 {
			return fmt.Errorf("engine: class %s: vendor classes run their vendors' gateways in this process; run without --workers", c.Name)
		}
		if sc.System.Portals > 1 {
			return fmt.Errorf("engine: class %s: vendor access keeps vendors and delegations in one portal's data directory; use one portal", c.Name)
		}
	}
	return nil
}

// startVendors registers each vendor class's vendors with the portal
// (the admin's PUT, a key made here), lets each of the class's pharmacies
// delegate to its vendor (its own token), and starts the gateways.
func (r *run) startVendors(ctx context.Context, setups []*classSetup) error {
	vr := &vendorRun{classes: map[string]*vendorClassRun{}, byPharma: map[string]*vendorGateway{},
		directs: directURLs(r.tb), admin: r.tb.AdminToken()}
	for _, cs := range setups {
		if cs.spec.Kind != spec.KindVendor || cs.spec.Vendor == nil {
			continue
		}
		vc := cs.spec.Vendor
		cr := &vendorClassRun{spec: cs.spec, total: vc.TotalShare()}
		counts := vc.PharmaciesOf(cs.accounts.len())
		next := 0
		for i, v := range vc.Vendors {
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return fmt.Errorf("engine: vendor %s key: %w", v.Name, err)
			}
			for _, u := range vr.directs {
				c := portalclient.New(u)
				c.AdminToken = vr.admin
				cctx, cancel := context.WithTimeout(ctx, vendorSetupTimeout)
				err := c.Admin(cctx, http.MethodPut, "/v1/admin/vendors/"+v.Name, vendorapi.Registration{PublicKey: vendorapi.EncodePublicKey(pub)}, nil)
				cancel()
				if err != nil {
					return fmt.Errorf("engine: registering vendor %s (is vendor access on?): %w", v.Name, err)
				}
			}
			g := &vendorGateway{v: v, key: priv, portal: r.client.BaseURL, hold: cs.spec.Client.Timeout + 2*time.Second,
				hc: &http.Client{Timeout: cs.spec.Client.Timeout + 5*time.Second}}
			g.stats.errors = map[string]int64{}
			end := min(next+counts[i], cs.accounts.len())
			g.pharmacies = cs.accounts.list[next:end]
			next = end
			for _, ph := range g.pharmacies {
				if err := r.delegate(ctx, cs.accounts, ph, v.Name); err != nil {
					return err
				}
				vr.byPharma[ph.ID] = g
			}
			// A port of its own, kept while the gateway is down so a
			// pharmacy's software always calls the same address.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("engine: vendor %s gateway: %w", v.Name, err)
			}
			g.addr = ln.Addr().String()
			ln.Close()
			cr.gateways = append(cr.gateways, g)
		}
		r.say("%s: %d vendors, %d pharmacies delegated", cs.spec.Name, len(cr.gateways), next)
		vr.classes[cs.spec.Name] = cr
	}
	if len(vr.classes) > 0 {
		r.vendors = vr
	}
	return nil
}

func directURLs(tb interface{ DirectPortalURL() string }) []string {
	return []string{tb.DirectPortalURL()}
}

// delegate is the pharmacy's own POST of a delegation.
func (r *run) delegate(ctx context.Context, acc *accounts, ph *portalclient.Pharmacy, vendor string) error {
	cctx, cancel := context.WithTimeout(ctx, vendorSetupTimeout)
	defer cancel()
	tok, err := acc.token(cctx, ph)
	if err != nil {
		return fmt.Errorf("engine: pharmacy %s token: %w", ph.ID, err)
	}
	res, err := r.client.Do(cctx, http.MethodPost, vendorapi.PathDelegations, tok, nil, vendorapi.Delegation{Vendor: vendor})
	if err != nil {
		return fmt.Errorf("engine: pharmacy %s delegating to %s: %w", ph.ID, vendor, err)
	}
	if res.Status != http.StatusCreated && res.Status != http.StatusOK {
		return fmt.Errorf("engine: pharmacy %s delegating to %s: %d", ph.ID, vendor, res.Status)
	}
	return nil
}

// run starts the gateways' fault loops and the admin's direct-access
// switch on the run's clock.
func (vr *vendorRun) run(ctx context.Context, clock simclock.Clock, say func(string, ...any), log func(string, ...any)) {
	if vr == nil {
		return
	}
	ctx, vr.cancel = context.WithCancel(ctx)
	for _, cr := range vr.classes {
		for _, g := range cr.gateways {
			g.clock = clock
			vr.wg.Go(func() { g.loop(ctx) })
		}
		vc := cr.spec.Vendor
		if !vc.StopDirectAt.IsZero() {
			vr.wg.Go(func() {
				if sleepUntil(ctx, clock.Wall(vc.StopDirectAt)) {
					say("%s: direct portal access stopped (%s)", cr.spec.Name, vc.StopDirectAt.Format("02 Jan 15:04"))
					vr.switchDirect(ctx, false, log)
				}
				if !vc.RestartDirectAt.IsZero() && sleepUntil(ctx, clock.Wall(vc.RestartDirectAt)) {
					say("%s: direct portal access restarted", cr.spec.Name)
					vr.switchDirect(ctx, true, log)
				}
			})
		}
	}
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// switchDirect is the admin's PUT /v1/admin/direct-access on every portal.
func (vr *vendorRun) switchDirect(ctx context.Context, on bool, log func(string, ...any)) {
	for _, u := range vr.directs {
		c := portalclient.New(u)
		c.AdminToken = vr.admin
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), vendorSetupTimeout)
		if err := c.Admin(cctx, http.MethodPut, "/v1/admin/direct-access", portalapi.DirectAccess{Enabled: on}, nil); err != nil {
			log("switching direct access", "portal", u, "on", on, "err", err)
		}
		cancel()
	}
	vr.stopped.Store(!on)
}

// stop ends the gateways and, like an undone fault, gives pharmacies
// their direct access back (the after-run probe issues directly).
func (vr *vendorRun) stop(log func(string, ...any)) {
	if vr == nil {
		return
	}
	if vr.cancel != nil {
		vr.cancel()
	}
	vr.wg.Wait()
	for _, cr := range vr.classes {
		for _, g := range cr.gateways {
			g.setUp(false)
		}
	}
	if vr.stopped.Load() {
		vr.switchDirect(context.Background(), true, log)
	}
}

// loop keeps the gateway listening exactly while its vendor is not down.
func (g *vendorGateway) loop(ctx context.Context) {
	t := time.NewTicker(vendorTick)
	defer t.Stop()
	for {
		g.setUp(g.v.FaultAt(g.clock.Now()) != spec.VendorDown)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g *vendorGateway) setUp(up bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case up && g.srv == nil:
		ln, err := net.Listen("tcp", g.addr)
		if err != nil {
			return // the port is busy for a moment: the next tick tries again
		}
		g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
		go func(s *http.Server) { _ = s.Serve(ln) }(g.srv)
	case !up && g.srv != nil:
		// Close ends the open connections too: a down gateway answers nobody.
		_ = g.srv.Close()
		g.srv = nil
	}
}

// ServeHTTP is the gateway: the vendor's software between the pharmacy
// and the portal.
func (g *vendorGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fault := g.v.FaultAt(g.clock.Now())
	if fault == spec.VendorSlow {
		// Held past the pharmacy's patience; what it gave up on is not sent.
		select {
		case <-r.Context().Done():
			return
		case <-time.After(g.hold):
		}
		writeProblem(w, http.StatusGatewayTimeout, "vendor_gateway_timeout")
		return
	}
	var path string
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/certificates":
		path = vendorapi.PathIssue
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/tickets/"):
		path = vendorapi.TicketLink(strings.TrimPrefix(r.URL.Path, "/v1/tickets/"))
	default:
		writeProblem(w, http.StatusNotFound, "not_found")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "body_unreadable")
		return
	}
	if fault == spec.VendorIncompatible && len(body) > 0 {
		body = germanDates(body)
	}
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, g.portal+path, rd)
	if err != nil {
		writeProblem(w, http.StatusBadGateway, "vendor_gateway_error")
		return
	}
	for _, h := range []string{"Content-Type", "Idempotency-Key", vendorapi.OnBehalfHeader, "X-Request-Deadline"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	a, err := vendorapi.Sign(g.key, g.v.Name, time.Now(), vendorAssertionTTL)
	if err != nil {
		writeProblem(w, http.StatusBadGateway, "vendor_gateway_error")
		return
	}
	req.Header.Set("Authorization", "Bearer "+a)
	resp, err := g.hc.Do(req)
	if err != nil {
		writeProblem(w, http.StatusBadGateway, "vendor_gateway_error")
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Retry-After", "Location"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func writeProblem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "code": code, "title": http.StatusText(status)})
}

// germanDates rewrites the payload's birth date as the vendor's software
// keeps it (14.06.1980): the incompatibility of July 2021.
func germanDates(body []byte) []byte {
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil {
		return body
	}
	var p map[string]any
	if json.Unmarshal(req["payload"], &p) != nil {
		return body
	}
	if dob, ok := p["dob"].(string); ok && len(dob) == 10 {
		p["dob"] = dob[8:10] + "." + dob[5:7] + "." + dob[0:4]
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return body
	}
	req["payload"] = raw
	out, err := json.Marshal(req)
	if err != nil {
		return body
	}
	return out
}

// vendorRequest is a vendor class's load: each action picks a vendor by
// its demand at that instant, one of its pharmacies, and sends the
// pharmacy software's request to the vendor's gateway.
func (r *run) vendorRequest(cs *classSetup, payloads *loadgen.Payloads, keyPrefix string) loadgen.RequestFunc {
	cr := r.vendors.classes[cs.spec.Name]
	return func(_ context.Context, seq uint64) (loadgen.Request, error) {
		now := time.Now()
		sim := r.clock.Sim(now)
		g := cr.pick(sim, seq)
		if g == nil || len(g.pharmacies) == 0 {
			return loadgen.Request{}, errors.New("no vendor has demand now")
		}
		ph := g.pharmacies[loadgen.Pick(seq>>8, len(g.pharmacies))]
		payload, typ, err := payloads.JSON(seq, now)
		if err != nil {
			return loadgen.Request{}, err
		}
		h := http.Header{"Idempotency-Key": {fmt.Sprintf("%s%d", keyPrefix, seq)}, vendorapi.OnBehalfHeader: {ph.ID}}
		t, err := jsonTarget(http.MethodPost, "http://"+g.addr+"/v1/certificates", portalapi.IssueRequest{Type: string(typ), Payload: payload}, h)
		if err != nil {
			return loadgen.Request{}, err
		}
		t.Tag = ph.ID
		g.stats.mu.Lock()
		g.stats.actions++
		g.stats.mu.Unlock()
		return t, nil
	}
}

// pick chooses the vendor of action seq at sim by the vendors' demand then.
func (cr *vendorClassRun) pick(sim time.Time, seq uint64) *vendorGateway {
	var sum float64
	rates := make([]float64, len(cr.gateways))
	for i, g := range cr.gateways {
		rates[i] = g.v.Rate(cr.spec.Demand, cr.total, sim)
		sum += rates[i]
	}
	if !(sum > 0) {
		return nil
	}
	u := float64(loadgen.Pick(seq*2654435761+1, 1<<20)) / (1 << 20) * sum
	for i, g := range cr.gateways {
		if u < rates[i] {
			return g
		}
		u -= rates[i]
	}
	return cr.gateways[len(cr.gateways)-1]
}

// observeVendor counts a vendor class's action in its vendor's row.
func (vr *vendorRun) observe(f loadgen.Final) {
	if vr == nil {
		return
	}
	g := vr.byPharma[f.Tag]
	if g == nil {
		return
	}
	g.stats.mu.Lock()
	defer g.stats.mu.Unlock()
	g.stats.requests += int64(f.Attempts)
	switch f.Outcome {
	case loadgen.OutcomeOK, loadgen.OutcomeTicketDone:
		g.stats.issued++
	case loadgen.OutcomeDeferred:
		g.stats.pending++
	default:
		g.stats.errors[errorClass(f)]++
	}
}

// errorClass names how an action failed: "STATUS code" from the problem
// body, or the transport's failure (gateway_down for a refused
// connection, timeout).
func errorClass(f loadgen.Final) string {
	if f.Code == 0 {
		e := strings.ToLower(f.Error)
		switch {
		case strings.Contains(e, "connection refused"):
			return "gateway_down"
		case strings.Contains(e, "timeout") || strings.Contains(e, "deadline"):
			return "timeout"
		case strings.Contains(e, "reset") || strings.Contains(e, "eof"):
			return "connection_lost"
		case strings.HasPrefix(e, "dropped"):
			return "dropped"
		}
		return "transport_error"
	}
	var p struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(f.Body, &p) == nil && p.Code != "" {
		return fmt.Sprintf("%d %s", f.Code, p.Code)
	}
	return fmt.Sprintf("%d", f.Code)
}

// summarize adds each vendor class's vendor rows to sum.
func (vr *vendorRun) summarize(sum *Summary) {
	if vr == nil || sum == nil {
		return
	}
	for name, cr := range vr.classes {
		cls := sum.Classes[name]
		cls.Vendors = map[string]rundir.VendorSummary{}
		for _, g := range cr.gateways {
			g.stats.mu.Lock()
			vs := rundir.VendorSummary{Pharmacies: len(g.pharmacies), Share: g.v.Share, Actions: g.stats.actions,
				Requests: g.stats.requests, Issued: g.stats.issued, Pending: g.stats.pending,
				Errors: map[string]int64{}, Fault: string(g.v.Fault)}
			for k, n := range g.stats.errors {
				vs.Errors[k] = n
			}
			g.stats.mu.Unlock()
			if !g.v.ReadyAt.IsZero() {
				t := g.v.ReadyAt
				vs.ReadyAt = &t
			}
			if !g.v.FaultUntil.IsZero() {
				t := g.v.FaultUntil
				vs.FaultUntil = &t
			}
			cls.Vendors[g.v.Name] = vs
		}
		if cr.spec.Vendor != nil && !cr.spec.Vendor.StopDirectAt.IsZero() {
			t := cr.spec.Vendor.StopDirectAt
			cls.DirectStoppedAt = &t
		}
		sum.Classes[name] = cls
	}
}

// withVendors turns vendor access on in the --config of a scenario with
// a vendor class, with the profile's preset.
func withVendors(cfg []byte, sc *spec.Scenario, profile string) ([]byte, error) {
	has := false
	for _, c := range sc.Traffic {
		has = has || c.Kind == spec.KindVendor
	}
	if !has {
		return cfg, nil
	}
	vc, err := vendorapi.ConfigForProfile(profile)
	if err != nil {
		return nil, err
	}
	vc.Enabled = true
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		return nil, fmt.Errorf("engine: serve config: %w", err)
	}
	m["vendors"] = vc
	return json.Marshal(m)
}
