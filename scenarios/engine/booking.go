package engine

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/booking/bookingapi"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/consistency"
	"github.com/golive-dev/golive/scenarios/spec"
)

// The booking classes: their pharmacies publish slots and choose a
// channel before the day, citizens book and come (loadgen.RunBookings),
// a visit is an issue action through the pharmacy's account, and staff
// who see visits fail cancel the next hours through their channel.

// bookingRuns are the booking classes' results, by class.
type bookingRuns struct {
	mu       sync.Mutex
	stats    map[string]loadgen.BookingStats
	channels map[string]map[string]string // class -> pharmacy -> channel
}

// withBooking adds booking.enabled to a --config when the scenario has a
// booking class.
func withBooking(sc *spec.Scenario, cfg []byte) ([]byte, error) {
	has := false
	for _, c := range sc.Traffic {
		has = has || c.Kind == spec.KindBooking
	}
	if !has {
		return cfg, nil
	}
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		return nil, err
	}
	m["booking"] = map[string]any{"enabled": true}
	return json.Marshal(m)
}

// bookingClient is the citizens' and staff's client of the booking
// routes (through the portals' entrance, like the load).
func (r *run) bookingClient() *bookingapi.Client {
	return &bookingapi.Client{BaseURL: r.client.BaseURL, HTTP: r.client.HTTP}
}

// startBookings runs every booking class beside the load; wait returns
// when their last citizen is done.
func (r *run) startBookings(ctx context.Context, setups []*classSetup, wallDur time.Duration) (wait func()) {
	r.bookings = &bookingRuns{stats: map[string]loadgen.BookingStats{}, channels: map[string]map[string]string{}}
	var wg sync.WaitGroup
	for i, cs := range setups {
		if cs.spec.Kind != spec.KindBooking || cs.accounts == nil || cs.accounts.len() == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := r.runBookingClass(ctx, i, cs, wallDur)
			r.bookings.mu.Lock()
			r.bookings.stats[cs.spec.Name] = st
			r.bookings.mu.Unlock()
		}()
	}
	return wg.Wait
}

// bookingSetupTimeout bounds the staff's set-up of one pharmacy.
const bookingSetupTimeout = 30 * time.Second

func (r *run) runBookingClass(ctx context.Context, idx int, cs *classSetup, wallDur time.Duration) loadgen.BookingStats {
	c, b := cs.spec, cs.spec.Booking
	bc := r.bookingClient()
	rnd := rand.New(rand.NewPCG(r.seed+uint64(idx), 0xc4a7))
	channels := map[string]string{}
	// Slots from the next whole step on: one already begun cannot be
	// published.
	first := b.Open
	if now := r.clock.Now().Add(time.Minute); first.Before(now) {
		first = b.Open.Add((now.Sub(b.Open)/b.SlotEvery + 1) * b.SlotEvery)
	}
	var slots []bookingapi.Slot
	for t := first; t.Before(b.Close); t = t.Add(b.SlotEvery) {
		slots = append(slots, bookingapi.Slot{Start: t.Truncate(time.Minute), Capacity: b.SlotCapacity})
	}
	var ids []string
	for _, ph := range cs.accounts.list {
		ch := b.Channels.Pick(rnd.Float64())
		sctx, cancel := context.WithTimeout(ctx, bookingSetupTimeout)
		err := func() error {
			tok, err := cs.accounts.token(sctx, ph)
			if err != nil {
				return err
			}
			if err := bc.SetChannel(sctx, tok, bookingapi.Channel(ch)); err != nil {
				return err
			}
			for start := 0; start < len(slots); start += bookingapi.MaxSlotsPerRequest {
				if _, err := bc.Publish(sctx, tok, slots[start:min(start+bookingapi.MaxSlotsPerRequest, len(slots))]); err != nil {
					return err
				}
			}
			return nil
		}()
		cancel()
		if err != nil {
			r.log.Warn("booking: a pharmacy's set-up failed", "class", c.Name, "pharmacy", ph.ID, "err", err)
			continue
		}
		channels[ph.ID] = ch
		ids = append(ids, ph.ID)
	}
	r.bookings.mu.Lock()
	r.bookings.channels[c.Name] = channels
	r.bookings.mu.Unlock()
	if len(ids) == 0 {
		return loadgen.BookingStats{}
	}
	sort.Strings(ids)
	r.say("%s: %d pharmacies publish %d slots each (channels %v)", c.Name, len(ids), len(slots), countChannels(channels))
	staff := &staffWatch{failures: map[string]int{}}
	payloads := &loadgen.Payloads{Seed: r.seed + uint64(idx), Mix: loadgen.Mix{V: spec.DefaultMix.Vaccination,
		T: spec.DefaultMix.Test, R: spec.DefaultMix.Recovery}}
	return loadgen.RunBookings(ctx, loadgen.BookingPlan{
		Class: c.Name, Clock: r.clock, Demand: c.Demand, DemandScale: r.demandScale, Duration: wallDur,
		Client: bc, Pharmacies: ids, Close: b.Close, LeadMin: b.LeadMin, LeadMax: b.LeadMax,
		RebookAfter: b.RebookAfter, MaxRebooks: b.MaxRebooks, Seed: r.seed + uint64(idx),
		Visit: func(ctx context.Context, pharmacy, ref, key string) loadgen.VisitOutcome {
			return r.bookingVisit(ctx, cs, bc, payloads, pharmacy, ref, r.runKey+"-"+key)
		},
		Failed: func(ctx context.Context, pharmacy string) {
			if b.StaffCancelAfter > 0 && staff.failed(pharmacy, b.StaffCancelAfter) {
				r.staffCancel(ctx, cs, bc, pharmacy, b.StaffCancelHorizon)
			}
		},
		Logger: r.log,
	})
}

func countChannels(m map[string]string) map[string]int64 {
	out := map[string]int64{}
	for _, ch := range m {
		out[ch]++
	}
	return out
}

// staffWatch counts each pharmacy's failed visits since its staff last
// cancelled.
type staffWatch struct {
	mu       sync.Mutex
	failures map[string]int
}

// failed counts one and reports whether the staff cancel now.
func (s *staffWatch) failed(pharmacy string, after int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[pharmacy]++
	if s.failures[pharmacy] >= after {
		s.failures[pharmacy] = 0
		return true
	}
	return false
}

// staffCancel is a pharmacy's staff cancelling the next horizon: "issuance
// is down, don't come", through the pharmacy's channel.
func (r *run) staffCancel(ctx context.Context, cs *classSetup, bc *bookingapi.Client, pharmacy string, horizon time.Duration) {
	ph := cs.accounts.byID[pharmacy]
	if ph == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, bookingSetupTimeout)
	defer cancel()
	tok, err := cs.accounts.token(cctx, ph)
	if err != nil {
		return
	}
	now := r.clock.Now()
	res, err := bc.CancelWindow(cctx, tok, now, now.Add(horizon), "issuance is down")
	if err != nil {
		r.log.Warn("booking: staff could not cancel", "pharmacy", pharmacy, "err", err)
		return
	}
	r.log.Info("booking: staff cancelled", "pharmacy", pharmacy, "channel", res.Channel, "cancelled", res.Cancelled, "reached", res.Reached)
}

// bookingVisit serves a citizen at the counter: the pharmacy issues
// through its account under the class's client (timeout, retries) and
// records the visit's outcome. A 201 is a certificate, a 202 a ticket
// (followed after the run like any other), anything else after the last
// attempt a visit in vain.
func (r *run) bookingVisit(ctx context.Context, cs *classSetup, bc *bookingapi.Client, payloads *loadgen.Payloads,
	pharmacy, ref, key string) loadgen.VisitOutcome {
	began := time.Now()
	out := loadgen.VisitOutcome{Outcome: bookingapi.VisitFailed}
	ph := cs.accounts.byID[pharmacy]
	cl := cs.spec.Client
	payload, _, err := payloads.JSON(hashKey(key), time.Now())
	if ph == nil || err != nil {
		return out
	}
	for attempt := 0; attempt <= cl.Retries.Max && ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			wait := cl.Retries.Backoff(attempt)
			if cl.ScaleWaits {
				wait = time.Duration(float64(wait) / r.timescale)
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		actx, cancel := context.WithTimeout(ctx, cl.Timeout)
		tok, err := cs.accounts.token(actx, ph)
		if err != nil {
			cancel()
			continue
		}
		res, err := r.client.Issue(actx, tok, key, portalapi.IssueRequest{Payload: payload})
		cancel()
		if err != nil {
			continue
		}
		if res.Issued != nil && res.Issued.UVCI != "" {
			r.ack(consistency.Ack{Class: cs.spec.Name, PharmacyID: pharmacy, IdempotencyKey: key, UVCI: res.Issued.UVCI, HC1: res.Issued.HC1})
			out = loadgen.VisitOutcome{Outcome: bookingapi.VisitIssued, Wait: time.Since(began)}
			break
		}
		if res.Deferred != nil && res.Deferred.Ticket != "" {
			r.mu.Lock()
			r.tickets = append(r.tickets, pendingTicket{class: cs.spec.Name, ticket: res.Deferred.Ticket, key: key, pharmacy: pharmacy,
				at: r.clock.Sim(began)})
			r.mu.Unlock()
			out = loadgen.VisitOutcome{Outcome: bookingapi.VisitTicket, Wait: time.Since(began)}
			break
		}
	}
	// The counter records the visit (best effort: the figures are the
	// citizens' own).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookingSetupTimeout)
	defer cancel()
	if tok, err := cs.accounts.token(rctx, ph); err == nil {
		if _, err := bc.Visit(rctx, tok, ref, out.Outcome); err != nil {
			r.log.Debug("booking: recording a visit failed", "err", err)
		}
	}
	return out
}

// hashKey maps a visit's key to the payload generator's sequence number.
func hashKey(key string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return h
}

// bookingSummaries puts each booking class's figures into s and the run's
// came_in_vain on top.
func (r *run) bookingSummaries(s *rundir.Summary) {
	if r.bookings == nil {
		return
	}
	r.bookings.mu.Lock()
	defer r.bookings.mu.Unlock()
	var inVain int64
	any := false
	for _, c := range r.sc.Traffic {
		if c.Kind != spec.KindBooking {
			continue
		}
		any = true
		st := r.bookings.stats[c.Name]
		chans := r.bookings.channels[c.Name]
		b := &rundir.Booking{Citizens: st.Citizens, Booked: st.Booked, NoSlot: st.NoSlot, BookFailed: st.BookFailed,
			Visits: st.Visits, IssuedAtVisit: st.Issued, Tickets: st.Tickets, CameInVain: st.CameInVain, Warned: st.Warned,
			GaveUp: st.GaveUp, Channels: countChannels(chans)}
		b.WaitMS = waitOf(st.Waits)
		for ph, mx := range st.MaxBacklog {
			fin := st.FinalBacklog[ph]
			b.Backlog.Pharmacies = append(b.Backlog.Pharmacies, rundir.PharmacyBacklog{Pharmacy: ph, Channel: chans[ph], Max: mx, Final: fin})
			b.Backlog.Max, b.Backlog.MaxFinal = max(b.Backlog.Max, mx), max(b.Backlog.MaxFinal, fin)
		}
		sort.Slice(b.Backlog.Pharmacies, func(i, j int) bool { return b.Backlog.Pharmacies[i].Pharmacy < b.Backlog.Pharmacies[j].Pharmacy })
		cs := s.Classes[c.Name]
		cs.Actions = st.Visits
		cs.OK = st.Issued + st.Tickets
		cs.Deferred = st.Tickets
		cs.Delivered = st.Issued
		cs.Failed = st.CameInVain
		cs.Booking = b
		s.Classes[c.Name] = cs
		inVain += st.CameInVain
	}
	if any {
		s.CameInVain = &inVain
	}
}

func waitOf(ws []time.Duration) rundir.BookingWait {
	if len(ws) == 0 {
		return rundir.BookingWait{}
	}
	sorted := append([]time.Duration(nil), ws...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	at := func(q float64) float64 {
		i := min(int(q*float64(len(sorted))), len(sorted)-1)
		return float64(sorted[i].Microseconds()) / 1000
	}
	return rundir.BookingWait{Count: int64(len(sorted)), P50: at(0.5), P99: at(0.99), Max: float64(sorted[len(sorted)-1].Microseconds()) / 1000}
}
