package booking

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/booking/bookingapi"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/store"
)

// writeTimeout bounds a registry write a request waits for.
const writeTimeout = 15 * time.Second

// scopePharmacy is the scope of a pharmacy's access token (the portal's).
const scopePharmacy = "pharmacy"

// registryRetryAfter is the Retry-After of a registry that does not answer.
const registryRetryAfter = time.Second

// admit is the admission control of every route.
func (b *Booking) admit(h http.HandlerFunc) http.HandlerFunc {
	if b.limiter == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		release, err := b.limiter.Acquire(r.Context())
		if err != nil {
			b.m.rejected.WithLabelValues(overload.Reason(err)).Inc()
			overload.WriteReject(w, r, err)
			return
		}
		defer release()
		h(w, r)
	}
}

func (b *Booking) refuse(w http.ResponseWriter, p problem.Problem) {
	b.m.refused.WithLabelValues(p.Code).Inc()
	problem.Write(w, p)
}

// staff authenticates a pharmacy's access token (as the portal does: the
// pharmacy scope, an active account) and passes its id on.
func (b *Booking) staff(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, err := auth.BearerToken(r)
		if err != nil {
			b.refuse(w, problem.Unauthorized(bookingapi.CodeUnauthorized, "send Authorization: Bearer <the pharmacy's access token>"))
			return
		}
		c, err := b.tokens.Verify(tok)
		switch {
		case errors.Is(err, auth.ErrExpired):
			b.refuse(w, problem.Unauthorized(bookingapi.CodeTokenExpired, "the access token has expired; refresh it"))
			return
		case err != nil:
			b.refuse(w, problem.Unauthorized(bookingapi.CodeInvalidToken, "the access token is not valid"))
			return
		case !c.HasScope(scopePharmacy):
			b.refuse(w, problem.Forbidden(bookingapi.CodeInsufficientScope, "this token cannot use the pharmacy API"))
			return
		}
		rec, err := b.reg.Pharmacy(r.Context(), c.Subject)
		switch {
		case errors.Is(err, store.ErrNotFound):
			b.refuse(w, problem.Unauthorized(bookingapi.CodeInvalidToken, "the access token is not valid"))
			return
		case err != nil:
			b.registryFailed(w, "pharmacy", err)
			return
		case rec.Status != store.PharmacyActive:
			b.refuse(w, problem.Forbidden(bookingapi.CodePharmacyInactive, "this pharmacy account is not active"))
			return
		}
		h(w, r, c.Subject)
	}
}

// citizen rate-limits the anonymous routes per source address.
func (b *Booking) citizen(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := b.citizens.Allow(sourceOf(r), time.Now()); !ok {
			p := problem.TooManyRequests(wait)
			p.Code, p.Detail = bookingapi.CodeRateLimited, "too many booking requests from this address; retry later"
			b.refuse(w, p)
			return
		}
		h(w, r)
	}
}

func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (b *Booking) registryFailed(w http.ResponseWriter, op string, err error) {
	b.log.Error("registry operation failed", "op", op, "err", err)
	p := problem.Unavailable(registryRetryAfter)
	p.Code, p.Detail = bookingapi.CodeRegistryUnavailable, "the registry did not answer; retry"
	b.refuse(w, p)
}

// writeJSON is problem.WriteJSON: one encoding for every API answer.
func writeJSON(w http.ResponseWriter, status int, v any) { problem.WriteJSON(w, status, v) }

func bad(status int, code, field, detail string) problem.Problem {
	p := problem.New(status, code, detail)
	p.Field = field
	return p
}

// channelOf is a pharmacy's channel, the default until its staff chose.
func (b *Booking) channelOf(ctx context.Context, pharmacy string) (bookingapi.Channel, error) {
	ch, err := b.reg.BookingChannel(ctx, pharmacy)
	if err != nil {
		return "", err
	}
	if ch == "" {
		return b.cfg.DefaultChannel, nil
	}
	return bookingapi.Channel(ch), nil
}

func (b *Booking) handleGetSettings(w http.ResponseWriter, r *http.Request, pharmacy string) {
	ch, err := b.channelOf(r.Context(), pharmacy)
	if err != nil {
		b.registryFailed(w, "settings", err)
		return
	}
	writeJSON(w, http.StatusOK, bookingapi.Settings{PharmacyID: pharmacy, Channel: ch})
}

func (b *Booking) handlePutSettings(w http.ResponseWriter, r *http.Request, pharmacy string) {
	var req bookingapi.Settings
	if pr := problem.DecodeJSON(r, &req, b.cfg.MaxBodyBytes); pr != nil {
		b.refuse(w, *pr)
		return
	}
	switch {
	case req.Channel == "":
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeRequired, "channel", "channel is none, email or sms"))
		return
	case !req.Channel.Valid():
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidChannel, "channel", "channel is none, email or sms"))
		return
	case req.PharmacyID != "" && req.PharmacyID != pharmacy:
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, "pharmacy_id", "a pharmacy sets its own settings only"))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	if err := b.reg.SetBookingChannel(ctx, pharmacy, string(req.Channel), b.now()); err != nil {
		b.registryFailed(w, "settings", err)
		return
	}
	writeJSON(w, http.StatusOK, bookingapi.Settings{PharmacyID: pharmacy, Channel: req.Channel})
}

// wholeMinute: slots start on a minute (no seconds, no fractions).
func wholeMinute(t time.Time) bool { return t.Equal(t.Truncate(time.Minute)) }

func (b *Booking) handlePublish(w http.ResponseWriter, r *http.Request, pharmacy string) {
	var req bookingapi.SlotsRequest
	if pr := problem.DecodeJSON(r, &req, b.cfg.MaxBodyBytes); pr != nil {
		b.refuse(w, *pr)
		return
	}
	switch {
	case len(req.Slots) == 0:
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeRequired, "slots", "publish at least one slot"))
		return
	case len(req.Slots) > bookingapi.MaxSlotsPerRequest:
		b.refuse(w, bad(http.StatusRequestEntityTooLarge, bookingapi.CodeTooManySlots, "slots",
			fmt.Sprintf("at most %d slots a request", bookingapi.MaxSlotsPerRequest)))
		return
	}
	now := b.now()
	seen := make(map[int64]int, len(req.Slots))
	slots := make([]store.BookingSlot, 0, len(req.Slots))
	for i, sl := range req.Slots {
		f := fmt.Sprintf("slots[%d]", i)
		switch {
		case sl.Start.IsZero():
			b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeRequired, f+".start", "every slot needs a start"))
			return
		case !wholeMinute(sl.Start):
			b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, f+".start", "a slot starts on a whole minute"))
			return
		case sl.Start.Before(now):
			b.refuse(w, bad(http.StatusUnprocessableEntity, bookingapi.CodeSlotPast, f+".start", "a slot cannot start in the past"))
			return
		case sl.Start.Sub(now) > bookingapi.MaxWindow:
			b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, f+".start", "slots are published at most 31 days ahead"))
			return
		case sl.Capacity < 0 || sl.Capacity > bookingapi.MaxSlotCapacity:
			b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, f+".capacity",
				fmt.Sprintf("capacity is 0 to %d", bookingapi.MaxSlotCapacity)))
			return
		}
		if j, dup := seen[sl.Start.UnixNano()]; dup {
			b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeDuplicateSlot, f+".start", fmt.Sprintf("the start of slots[%d] again", j)))
			return
		}
		seen[sl.Start.UnixNano()] = i
		slots = append(slots, store.BookingSlot{PharmacyID: pharmacy, Start: sl.Start.UTC(), Capacity: sl.Capacity})
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	n, err := b.reg.PublishBookingSlots(ctx, pharmacy, slots)
	if ce := (*store.BookingCapacityError)(nil); errors.As(err, &ce) {
		i := seen[ce.Start.UnixNano()]
		b.refuse(w, bad(http.StatusConflict, bookingapi.CodeCapacityBelow, fmt.Sprintf("slots[%d].capacity", i),
			fmt.Sprintf("the slot holds %d bookings; cancel them first", ce.Booked)))
		return
	}
	if err != nil {
		b.registryFailed(w, "publish", err)
		return
	}
	writeJSON(w, http.StatusOK, bookingapi.SlotsResult{Published: n})
}

// window reads from and until (RFC 3339): now .. now+DefaultWindow when
// absent, at most MaxWindow long.
func (b *Booking) window(r *http.Request) (time.Time, time.Time, *problem.Problem) {
	q, pr := problem.ParseQuery(r, bookingapi.MaxQueryBytes, bookingapi.ParamFrom, bookingapi.ParamUntil)
	if pr != nil {
		return time.Time{}, time.Time{}, pr
	}
	from := b.now()
	if v := q.Get(bookingapi.ParamFrom); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			p := bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, bookingapi.ParamFrom, "from is an RFC 3339 time")
			return time.Time{}, time.Time{}, &p
		}
		from = t
	}
	until := from.Add(bookingapi.DefaultWindow)
	if v := q.Get(bookingapi.ParamUntil); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			p := bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, bookingapi.ParamUntil, "until is an RFC 3339 time")
			return time.Time{}, time.Time{}, &p
		}
		until = t
	}
	if !until.After(from) || until.Sub(from) > bookingapi.MaxWindow {
		p := bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, bookingapi.ParamUntil, "until must be after from, at most 31 days")
		return time.Time{}, time.Time{}, &p
	}
	return from, until, nil
}

func (b *Booking) handleAppointments(w http.ResponseWriter, r *http.Request, pharmacy string) {
	from, until, pr := b.window(r)
	if pr != nil {
		b.refuse(w, *pr)
		return
	}
	list, err := b.reg.Bookings(r.Context(), pharmacy, from, until, bookingapi.MaxList)
	if err != nil {
		b.registryFailed(w, "appointments", err)
		return
	}
	page := bookingapi.AppointmentPage{Appointments: make([]bookingapi.Booking, 0, len(list))}
	for _, bk := range list {
		page.Appointments = append(page.Appointments, view(bk))
	}
	writeJSON(w, http.StatusOK, page)
}

func (b *Booking) handleCancelWindow(w http.ResponseWriter, r *http.Request, pharmacy string) {
	var req bookingapi.CancelRequest
	if pr := problem.DecodeJSON(r, &req, b.cfg.MaxBodyBytes); pr != nil {
		b.refuse(w, *pr)
		return
	}
	switch {
	case req.From.IsZero():
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeRequired, "from", "from is required"))
		return
	case req.Until.IsZero():
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeRequired, "until", "until is required"))
		return
	case !req.Until.After(req.From) || req.Until.Sub(req.From) > bookingapi.MaxWindow:
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, "until", "until must be after from, at most 31 days"))
		return
	case len(req.Reason) > 200 || !utf8.ValidString(req.Reason):
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, "reason", "reason is at most 200 bytes of UTF-8"))
		return
	}
	ch, err := b.channelOf(r.Context(), pharmacy)
	if err != nil {
		b.registryFailed(w, "cancel", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	out, err := b.reg.CancelBookings(ctx, pharmacy, req.From, req.Until, b.now(), bookingapi.CancelledByPharmacy, string(ch), b.reachedAt)
	if err != nil {
		b.registryFailed(w, "cancel", err)
		return
	}
	reached := b.countNotices(bookingapi.CancelledByPharmacy, out)
	b.log.Info("appointments cancelled by the pharmacy", "pharmacy_id", pharmacy, "cancelled", len(out), "reached", reached, "channel", ch)
	writeJSON(w, http.StatusOK, bookingapi.CancelResult{Channel: ch, Cancelled: len(out), Reached: reached})
}

func (b *Booking) handleVisit(w http.ResponseWriter, r *http.Request, pharmacy string) {
	ref := r.PathValue("ref")
	if !validRef(ref) {
		b.refuse(w, bad(http.StatusNotFound, bookingapi.CodeBookingNotFound, "ref", "no such booking"))
		return
	}
	var req bookingapi.VisitRequest
	if pr := problem.DecodeJSON(r, &req, b.cfg.MaxBodyBytes); pr != nil {
		b.refuse(w, *pr)
		return
	}
	switch req.Outcome {
	case bookingapi.VisitIssued, bookingapi.VisitTicket, bookingapi.VisitFailed:
	case "":
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeRequired, "outcome", "outcome is issued, ticket or failed"))
		return
	default:
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, "outcome", "outcome is issued, ticket or failed"))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	bk, fresh, err := b.reg.RecordBookingVisit(ctx, ref, pharmacy, req.Outcome, b.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		b.refuse(w, bad(http.StatusNotFound, bookingapi.CodeBookingNotFound, "ref", "no such booking at this pharmacy"))
		return
	case errors.Is(err, store.ErrState):
		b.refuse(w, bad(http.StatusConflict, bookingapi.CodeAlreadyVisited, "outcome", "the visit was recorded with another outcome"))
		return
	case err != nil:
		b.registryFailed(w, "visit", err)
		return
	}
	v := view(bk)
	if fresh {
		b.m.visits.WithLabelValues(req.Outcome).Inc()
		if v.CameInVain {
			b.m.cameInVain.Inc()
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func (b *Booking) handleFreeSlots(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || len(id) > 64 || !utf8.ValidString(id) {
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, "id", "not a pharmacy id"))
		return
	}
	from, until, pr := b.window(r)
	if pr != nil {
		b.refuse(w, *pr)
		return
	}
	if now := b.now(); from.Before(now) {
		from = now // a free slot in the past is no slot
	}
	out := bookingapi.FreeSlots{PharmacyID: id, Slots: []bookingapi.FreeSlot{}}
	if until.After(from) {
		slots, err := b.reg.BookingSlots(r.Context(), id, from, until, true, bookingapi.MaxList)
		if err != nil {
			b.registryFailed(w, "slots", err)
			return
		}
		for _, sl := range slots {
			out.Slots = append(out.Slots, bookingapi.FreeSlot{Start: sl.Start, Free: sl.Capacity - sl.Booked})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// idempotencyKey reads the required Idempotency-Key: 1 to 64 printable
// ASCII characters.
func idempotencyKey(r *http.Request) (string, *problem.Problem) {
	vals := r.Header.Values(bookingapi.IdempotencyHeader)
	if len(vals) == 0 {
		p := bad(http.StatusBadRequest, bookingapi.CodeMissingIdemKey, bookingapi.IdempotencyHeader,
			"a booking needs an Idempotency-Key, so a retry never books twice")
		return "", &p
	}
	k := vals[0]
	ok := len(vals) == 1 && k != "" && len(k) <= 64
	for i := 0; ok && i < len(k); i++ {
		ok = k[i] > ' ' && k[i] < 0x7f
	}
	if !ok {
		p := bad(http.StatusBadRequest, bookingapi.CodeInvalidIdemKey, bookingapi.IdempotencyHeader,
			"Idempotency-Key must be one header of 1 to 64 printable ASCII characters")
		return "", &p
	}
	return k, nil
}

// validContact: up to MaxContactLen bytes of UTF-8 without control
// characters (an address or a number; its form is the channel's business).
func validContact(s string) bool {
	if len(s) > bookingapi.MaxContactLen || !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < ' ' || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return false
		}
	}
	return true
}

func (b *Booking) handleBook(w http.ResponseWriter, r *http.Request) {
	key, pr := idempotencyKey(r)
	if pr != nil {
		b.refuse(w, *pr)
		return
	}
	var req bookingapi.BookRequest
	if pr := problem.DecodeJSON(r, &req, b.cfg.MaxBodyBytes); pr != nil {
		b.refuse(w, *pr)
		return
	}
	switch {
	case req.PharmacyID == "":
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeRequired, "pharmacy_id", "pharmacy_id is required"))
		return
	case len(req.PharmacyID) > 64 || !utf8.ValidString(req.PharmacyID):
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, "pharmacy_id", "not a pharmacy id"))
		return
	case req.Start.IsZero():
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeRequired, "start", "start is required"))
		return
	case !validContact(req.Contact):
		b.refuse(w, bad(http.StatusBadRequest, bookingapi.CodeInvalidValue, "contact",
			fmt.Sprintf("contact is at most %d characters, no control characters", bookingapi.MaxContactLen)))
		return
	}
	now := b.now()
	if req.Start.Before(now) {
		b.refuse(w, bad(http.StatusUnprocessableEntity, bookingapi.CodeSlotPast, "start", "the slot has begun"))
		return
	}
	h := sha256.Sum256([]byte(req.PharmacyID + "\x00" + strconv.FormatInt(req.Start.UnixNano(), 10) + "\x00" + req.Contact))
	ref, err := b.newRef()
	if err != nil {
		b.refuse(w, problem.Internal("could not create a booking reference"))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	sb := store.Booking{Ref: ref, PharmacyID: req.PharmacyID, Start: req.Start.UTC(), IdemKey: key,
		RequestHash: hex.EncodeToString(h[:]), CreatedAt: now}
	existing, err := b.reg.CreateBooking(ctx, sb, []byte(req.Contact))
	switch {
	case errors.Is(err, store.ErrIdempotencyConflict):
		b.refuse(w, bad(http.StatusUnprocessableEntity, bookingapi.CodeIdemKeyReused, bookingapi.IdempotencyHeader,
			"this Idempotency-Key was used for another booking"))
		return
	case errors.Is(err, store.ErrBookingNoSlot):
		b.refuse(w, bad(http.StatusNotFound, bookingapi.CodeSlotNotFound, "start", "the pharmacy has no slot at that time"))
		return
	case errors.Is(err, store.ErrBookingFull):
		b.refuse(w, bad(http.StatusConflict, bookingapi.CodeSlotFull, "start", "the slot is full; pick another"))
		return
	case err != nil:
		b.registryFailed(w, "book", err)
		return
	}
	status := http.StatusCreated
	if existing != nil {
		status, sb = http.StatusOK, *existing
	} else {
		sb.State = string(bookingapi.StateBooked)
		b.m.booked.Inc()
	}
	w.Header().Set("Location", bookingapi.BookingLink(sb.Ref))
	writeJSON(w, status, bookingapi.Booked{Booking: view(sb), Token: b.tokenFor(sb.Ref)})
}

// ownBooking reads the booking the request's token opens. An unknown ref
// and a wrong token answer alike: a ref alone tells nothing.
func (b *Booking) ownBooking(w http.ResponseWriter, r *http.Request) (string, bool) {
	ref := r.PathValue("ref")
	tok := r.Header.Get(bookingapi.TokenHeader)
	if tok == "" {
		b.refuse(w, problem.Unauthorized(bookingapi.CodeInvalidBookingTok, "send the booking's token in "+bookingapi.TokenHeader))
		return "", false
	}
	if !validRef(ref) || !b.tokenOK(ref, tok) {
		b.refuse(w, bad(http.StatusNotFound, bookingapi.CodeBookingNotFound, "ref", "no such booking"))
		return "", false
	}
	return ref, true
}

func (b *Booking) handleGetBooking(w http.ResponseWriter, r *http.Request) {
	ref, ok := b.ownBooking(w, r)
	if !ok {
		return
	}
	bk, err := b.reg.GetBooking(r.Context(), ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		b.refuse(w, bad(http.StatusNotFound, bookingapi.CodeBookingNotFound, "ref", "no such booking"))
		return
	case err != nil:
		b.registryFailed(w, "booking", err)
		return
	}
	writeJSON(w, http.StatusOK, view(bk))
}

func (b *Booking) handleCancelBooking(w http.ResponseWriter, r *http.Request) {
	ref, ok := b.ownBooking(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	bk, err := b.reg.CancelBooking(ctx, ref, b.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		b.refuse(w, bad(http.StatusNotFound, bookingapi.CodeBookingNotFound, "ref", "no such booking"))
		return
	case errors.Is(err, store.ErrState):
		b.refuse(w, bad(http.StatusConflict, bookingapi.CodeNotCancellable, "ref", "the visit has taken place"))
		return
	case err != nil:
		b.registryFailed(w, "cancel", err)
		return
	}
	if bk.CancelledBy == bookingapi.CancelledByCitizen && bk.NoticeChannel == "" {
		b.m.cancelled.WithLabelValues(bookingapi.CancelledByCitizen).Inc()
	}
	writeJSON(w, http.StatusOK, view(bk))
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// view is a booking as the API shows it.
func view(bk store.Booking) bookingapi.Booking {
	v := bookingapi.Booking{Ref: bk.Ref, PharmacyID: bk.PharmacyID, Start: bk.Start.UTC(), State: bookingapi.State(bk.State),
		CreatedAt: bk.CreatedAt.UTC(), CancelledAt: timePtr(bk.CancelledAt), CancelledBy: bk.CancelledBy,
		VisitOutcome: bk.VisitOutcome, VisitedAt: timePtr(bk.VisitedAt)}
	if bk.NoticeChannel != "" {
		v.Notice = &bookingapi.Notice{Channel: bookingapi.Channel(bk.NoticeChannel), SentAt: bk.NoticeSentAt.UTC(), ReachedAt: timePtr(bk.ReachedAt)}
		v.WarnedInTime = !bk.ReachedAt.IsZero() && !bk.ReachedAt.After(bk.Start)
	}
	v.CameInVain = bk.VisitOutcome == bookingapi.VisitFailed && !v.WarnedInTime
	return v
}
