package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/booking/bookingapi"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/simclock"
)

// Citizens who book: a booking class's population. Each citizen books a
// slot at a pharmacy some time ahead (the booking API), comes at the
// slot's time and is served at the counter (Visit: the pharmacy issues
// through its account). Before leaving home a citizen looks whether a
// notice reached them (only what the channel delivered: the booking's
// warned_in_time); a warned citizen stays home and books again later,
// as does one who came in vain.

// VisitOutcome is how a visit at the counter ended.
type VisitOutcome struct {
	// Outcome is bookingapi.VisitIssued, VisitTicket or VisitFailed.
	Outcome string
	// Wait is from the visit's start to the certificate or ticket (wall).
	Wait time.Duration
}

// BookingPlan is a booking class's run.
type BookingPlan struct {
	Class       string
	Clock       simclock.Clock
	Demand      Demand
	DemandScale float64
	Duration    time.Duration
	Client      *bookingapi.Client
	// Pharmacies are the class's pharmacy ids; slots are theirs.
	Pharmacies []string
	// Close is the simulated end of the slots.
	Close            time.Time
	LeadMin, LeadMax time.Duration // simulated
	RebookAfter      time.Duration // simulated
	MaxRebooks       int
	Seed             uint64
	// Visit serves a citizen at the counter (the engine's issue action
	// through the pharmacy's account) and records the visit's outcome;
	// key is the visit's idempotency key.
	Visit func(ctx context.Context, pharmacy, ref, key string) VisitOutcome
	// Failed is told of every failed visit (the staff's view).
	Failed func(ctx context.Context, pharmacy string)
	Logger *slog.Logger
}

// BookingStats is what a booking class's citizens met.
type BookingStats struct {
	Citizens     int64 // who wanted a slot
	Booked       int64 // bookings made (rebookings included)
	NoSlot       int64 // attempts that found no free slot
	BookFailed   int64 // booking requests that failed
	Visits       int64 // citizens who came
	Issued       int64 // left with the certificate
	Tickets      int64 // left with a ticket
	CameInVain   int64 // came, nothing issued, not warned in time
	Warned       int64 // a notice reached them in time: stayed home
	GaveUp       int64 // out of rebookings or slots
	Waits        []time.Duration
	MaxBacklog   map[string]int64 // per pharmacy: most citizens waiting at once
	FinalBacklog map[string]int64 // per pharmacy: still waiting at the end
}

// bookingTimeout bounds one booking API call.
const bookingTimeout = 10 * time.Second

// bookingTick is the arrival loop's step (wall).
const bookingTick = 50 * time.Millisecond

type bookingRun struct {
	p  BookingPlan
	mu sync.Mutex
	st BookingStats
	// open counts each pharmacy's citizens between booking and service.
	open map[string]int64
}

// RunBookings runs a booking class for p.Duration from now: citizens
// arrive by p.Demand (bookings per wall second at DemandScale, like
// every class), then live their appointments until served, given up or
// ctx ends. It waits for every citizen whose slot is within the run.
func RunBookings(ctx context.Context, p BookingPlan) BookingStats {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	b := &bookingRun{p: p, open: map[string]int64{},
		st: BookingStats{MaxBacklog: map[string]int64{}, FinalBacklog: map[string]int64{}}}
	for _, ph := range p.Pharmacies {
		b.st.MaxBacklog[ph] = 0
	}
	var wg sync.WaitGroup
	end := time.Now().Add(p.Duration)
	rnd := rand.New(rand.NewPCG(p.Seed, 0xb00c))
	var owed float64
	seq := 0
	t := time.NewTicker(bookingTick)
	defer t.Stop()
	last := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-t.C:
			if now.After(end) {
				break loop
			}
			owed += p.Demand.Rate(p.Clock.Sim(now)) * p.DemandScale * now.Sub(last).Seconds()
			last = now
			for ; owed >= 1; owed-- {
				seq++
				ph := p.Pharmacies[rnd.IntN(len(p.Pharmacies))]
				lead := p.LeadMin + time.Duration(rnd.Float64()*float64(p.LeadMax-p.LeadMin))
				wg.Add(1)
				go func(seq int, ph string, lead time.Duration) {
					defer wg.Done()
					b.citizen(ctx, seq, ph, lead)
				}(seq, ph, lead)
			}
		}
	}
	wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	for ph, n := range b.open {
		b.st.FinalBacklog[ph] = n
	}
	return b.st
}

func (b *bookingRun) count(f func(st *BookingStats)) {
	b.mu.Lock()
	f(&b.st)
	b.mu.Unlock()
}

// waiting moves a pharmacy's backlog by d.
func (b *bookingRun) waiting(ph string, d int64) {
	b.mu.Lock()
	b.open[ph] += d
	if b.open[ph] > b.st.MaxBacklog[ph] {
		b.st.MaxBacklog[ph] = b.open[ph]
	}
	b.mu.Unlock()
}

// citizen is one citizen's appointments.
func (b *bookingRun) citizen(ctx context.Context, seq int, ph string, lead time.Duration) {
	p := b.p
	b.count(func(st *BookingStats) { st.Citizens++ })
	b.waiting(ph, 1)
	served := false
	defer func() {
		if !served {
			b.count(func(st *BookingStats) { st.GaveUp++ })
		}
		b.waiting(ph, -1)
	}()
	want := p.Clock.Now().Add(lead)
	for attempt := 0; attempt <= p.MaxRebooks; attempt++ {
		booked, ok := b.book(ctx, fmt.Sprintf("%s-%d-%d", p.Class, seq, attempt), ph, want)
		if !ok {
			return
		}
		// Live until the slot; a run that ends first ends the citizen.
		select {
		case <-ctx.Done():
			served = true // not the citizen's failure: the run ended
			return
		case <-time.After(time.Until(p.Clock.Wall(booked.Start))):
		}
		cctx, cancel := context.WithTimeout(ctx, bookingTimeout)
		v, err := p.Client.Get(cctx, booked.Ref, booked.Token)
		cancel()
		if err == nil && v.WarnedInTime {
			b.count(func(st *BookingStats) { st.Warned++ })
			want = p.Clock.Now().Add(p.RebookAfter)
			continue
		}
		b.count(func(st *BookingStats) { st.Visits++ })
		out := p.Visit(ctx, ph, booked.Ref, fmt.Sprintf("%s-visit-%d-%d", p.Class, seq, attempt))
		switch out.Outcome {
		case bookingapi.VisitIssued, bookingapi.VisitTicket:
			b.count(func(st *BookingStats) {
				if out.Outcome == bookingapi.VisitIssued {
					st.Issued++
				} else {
					st.Tickets++
				}
				st.Waits = append(st.Waits, out.Wait)
			})
			served = true
			return
		}
		if ctx.Err() != nil {
			served = true
			return
		}
		b.count(func(st *BookingStats) { st.CameInVain++ })
		if p.Failed != nil {
			p.Failed(ctx, ph)
		}
		want = p.Clock.Now().Add(p.RebookAfter)
	}
}

// book finds the first free slot at ph from want and books it, trying
// the next one when it is taken meanwhile.
func (b *bookingRun) book(ctx context.Context, key, ph string, want time.Time) (bookingapi.Booked, bool) {
	p := b.p
	if !want.Before(p.Close) {
		b.count(func(st *BookingStats) { st.NoSlot++ })
		return bookingapi.Booked{}, false
	}
	cctx, cancel := context.WithTimeout(ctx, bookingTimeout)
	defer cancel()
	fs, err := p.Client.FreeSlots(cctx, ph, want, p.Close)
	if err != nil {
		b.count(func(st *BookingStats) { st.BookFailed++ })
		p.Logger.Debug("listing free slots failed", "class", p.Class, "err", err)
		return bookingapi.Booked{}, false
	}
	sort.Slice(fs.Slots, func(i, j int) bool { return fs.Slots[i].Start.Before(fs.Slots[j].Start) })
	for i, sl := range fs.Slots {
		if i >= 5 {
			break
		}
		bk, err := p.Client.Book(cctx, fmt.Sprintf("%s-%d", key, i), bookingapi.BookRequest{PharmacyID: ph, Start: sl.Start,
			Contact: "citizen-" + key + "@example.invalid"})
		if err == nil {
			b.count(func(st *BookingStats) { st.Booked++ })
			return bk, true
		}
		var pr problem.Problem
		if errors.As(err, &pr) && (pr.Code == bookingapi.CodeSlotFull || pr.Code == bookingapi.CodeSlotPast) {
			continue
		}
		b.count(func(st *BookingStats) { st.BookFailed++ })
		p.Logger.Debug("booking failed", "class", p.Class, "err", err)
		return bookingapi.Booked{}, false
	}
	b.count(func(st *BookingStats) { st.NoSlot++ })
	return bookingapi.Booked{}, false
}
