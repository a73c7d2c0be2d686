package booking

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/booking/bookingapi"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// TestHostileRequests: every malformed, oversized, unauthorised or
// conflicting request gets problem+json with a stable code and the field
// at fault; nothing refused is booked; the booking keeps answering.
func TestHostileRequests(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, func(c *bookingapi.Config) {
		c.MaxBodyBytes = 64 << 10
		c.CitizenBurst = 100000
	})
	ph, staff := e.staffToken(t)
	slots := e.slotsFrom(2, 10*time.Minute, 1)
	e.publish(t, staff, slots)
	held := e.mustBook(t, "held", ph, slots[0].Start)
	start := slots[1].Start.Format(time.RFC3339)
	past := e.Clock.Now().Add(-time.Hour).Truncate(time.Minute).Format(time.RFC3339)
	manySlots := make([]string, bookingapi.MaxSlotsPerRequest+1)
	for i := range manySlots {
		manySlots[i] = fmt.Sprintf(`{"start":%q,"capacity":1}`, slots[1].Start.Add(time.Duration(i+10)*time.Minute).Format(time.RFC3339))
	}
	key := func(k string) http.Header { return http.Header{bookingapi.IdempotencyHeader: {k}} }
	tok := func(k string) http.Header { return http.Header{bookingapi.TokenHeader: {k}} }
	const (
		post = http.MethodPost
		get  = http.MethodGet
		put  = http.MethodPut
		del  = http.MethodDelete
	)
	for _, tc := range []struct {
		name         string
		method, path string
		token        string
		header       http.Header
		body         string
		ctype        string
		status       int
		code, field  string
	}{
		{"staff route without a token", put, bookingapi.PathSettings, "", nil, `{"channel":"sms"}`, "", 401, bookingapi.CodeUnauthorized, ""},
		{"staff route with garbage", put, bookingapi.PathSettings, "x.y", nil, `{"channel":"sms"}`, "", 401, bookingapi.CodeInvalidToken, ""},
		{"unknown channel", put, bookingapi.PathSettings, staff, nil, `{"channel":"pigeon"}`, "", 400, bookingapi.CodeInvalidChannel, "channel"},
		{"no channel", put, bookingapi.PathSettings, staff, nil, `{}`, "", 400, bookingapi.CodeRequired, "channel"},
		{"another pharmacy's settings", put, bookingapi.PathSettings, staff, nil, `{"pharmacy_id":"PH-other","channel":"sms"}`, "", 400, bookingapi.CodeInvalidValue, "pharmacy_id"},
		{"unknown field", put, bookingapi.PathSettings, staff, nil, `{"channel":"sms","phone":"1"}`, "", 400, "unknown_field", "phone"},
		{"not JSON", put, bookingapi.PathSettings, staff, nil, `{"channel":`, "", 400, "malformed_json", ""},
		{"not JSON media type", put, bookingapi.PathSettings, staff, nil, `{"channel":"sms"}`, "text/plain", 415, "unsupported_media_type", ""},
		{"no slots", post, bookingapi.PathSlots, staff, nil, `{"slots":[]}`, "", 400, bookingapi.CodeRequired, "slots"},
		{"too many slots", post, bookingapi.PathSlots, staff, nil, `{"slots":[` + strings.Join(manySlots, ",") + `]}`, "", 413, bookingapi.CodeTooManySlots, "slots"},
		{"slot off the minute", post, bookingapi.PathSlots, staff, nil, `{"slots":[{"start":"` + slots[1].Start.Add(time.Second).Format(time.RFC3339) + `","capacity":1}]}`, "", 400, bookingapi.CodeInvalidValue, "slots[0].start"},
		{"slot in the past", post, bookingapi.PathSlots, staff, nil, `{"slots":[{"start":"` + past + `","capacity":1}]}`, "", 422, bookingapi.CodeSlotPast, "slots[0].start"},
		{"slot without start", post, bookingapi.PathSlots, staff, nil, `{"slots":[{"capacity":1}]}`, "", 400, bookingapi.CodeRequired, "slots[0].start"},
		{"negative capacity", post, bookingapi.PathSlots, staff, nil, `{"slots":[{"start":"` + start + `","capacity":-1}]}`, "", 400, bookingapi.CodeInvalidValue, "slots[0].capacity"},
		{"huge capacity", post, bookingapi.PathSlots, staff, nil, `{"slots":[{"start":"` + start + `","capacity":99999999999}]}`, "", 400, bookingapi.CodeInvalidValue, "slots[0].capacity"},
		{"duplicate slot", post, bookingapi.PathSlots, staff, nil, `{"slots":[{"start":"` + start + `","capacity":1},{"start":"` + start + `","capacity":2}]}`, "", 400, bookingapi.CodeDuplicateSlot, "slots[1].start"},
		{"capacity a string", post, bookingapi.PathSlots, staff, nil, `{"slots":[{"start":"` + start + `","capacity":"1"}]}`, "", 400, "invalid_type", "slots[0].capacity"},
		{"deep JSON", post, bookingapi.PathSlots, staff, nil, strings.Repeat(`{"slots":`, 3000), "", 400, "", ""},
		{"cancel without from", post, bookingapi.PathCancellations, staff, nil, `{"until":"` + start + `"}`, "", 400, bookingapi.CodeRequired, "from"},
		{"cancel backwards", post, bookingapi.PathCancellations, staff, nil, `{"from":"` + start + `","until":"` + past + `"}`, "", 400, bookingapi.CodeInvalidValue, "until"},
		{"cancel a year", post, bookingapi.PathCancellations, staff, nil, `{"from":"2021-01-01T00:00:00Z","until":"2022-01-01T00:00:00Z"}`, "", 400, bookingapi.CodeInvalidValue, "until"},
		{"visit without outcome", post, bookingapi.VisitLink(held.Ref), staff, nil, `{}`, "", 400, bookingapi.CodeRequired, "outcome"},
		{"visit with a made-up outcome", post, bookingapi.VisitLink(held.Ref), staff, nil, `{"outcome":"maybe"}`, "", 400, bookingapi.CodeInvalidValue, "outcome"},
		{"visit of a malformed ref", post, bookingapi.VisitLink("../../etc"), staff, nil, `{"outcome":"issued"}`, "", 404, "", ""},
		{"visit of an unknown ref", post, bookingapi.VisitLink("bk_aaaaaaaaaaaaaaaaaaaaaaaaaa"), staff, nil, `{"outcome":"issued"}`, "", 404, bookingapi.CodeBookingNotFound, "ref"},
		{"appointments with a bad from", get, bookingapi.PathAppointments + "?from=yesterday", staff, nil, "", "", 400, bookingapi.CodeInvalidValue, "from"},
		{"appointments with an unknown parameter", get, bookingapi.PathAppointments + "?limit=5", staff, nil, "", "", 400, "unknown_parameter", "limit"},
		{"book without a key", post, bookingapi.PathBookings, "", nil, `{"pharmacy_id":"` + ph + `","start":"` + start + `"}`, "", 400, bookingapi.CodeMissingIdemKey, bookingapi.IdempotencyHeader},
		{"book with a control character key", post, bookingapi.PathBookings, "", key("a\tb"), `{"pharmacy_id":"` + ph + `","start":"` + start + `"}`, "", 400, bookingapi.CodeInvalidIdemKey, bookingapi.IdempotencyHeader},
		{"book with a long key", post, bookingapi.PathBookings, "", key(strings.Repeat("k", 65)), `{"pharmacy_id":"` + ph + `","start":"` + start + `"}`, "", 400, bookingapi.CodeInvalidIdemKey, bookingapi.IdempotencyHeader},
		{"book without pharmacy", post, bookingapi.PathBookings, "", key("h-1"), `{"start":"` + start + `"}`, "", 400, bookingapi.CodeRequired, "pharmacy_id"},
		{"book without start", post, bookingapi.PathBookings, "", key("h-2"), `{"pharmacy_id":"` + ph + `"}`, "", 400, bookingapi.CodeRequired, "start"},
		{"book a bad time", post, bookingapi.PathBookings, "", key("h-3"), `{"pharmacy_id":"` + ph + `","start":"soon"}`, "", 400, "", "start"},
		{"book the past", post, bookingapi.PathBookings, "", key("h-4"), `{"pharmacy_id":"` + ph + `","start":"` + past + `"}`, "", 422, bookingapi.CodeSlotPast, "start"},
		{"book no slot", post, bookingapi.PathBookings, "", key("h-5"), `{"pharmacy_id":"` + ph + `","start":"` + slots[1].Start.Add(time.Minute).Format(time.RFC3339) + `"}`, "", 404, bookingapi.CodeSlotNotFound, "start"},
		{"book a full slot", post, bookingapi.PathBookings, "", key("h-6"), `{"pharmacy_id":"` + ph + `","start":"` + slots[0].Start.Format(time.RFC3339) + `"}`, "", 409, bookingapi.CodeSlotFull, "start"},
		{"book with a control character contact", post, bookingapi.PathBookings, "", key("h-7"), `{"pharmacy_id":"` + ph + `","start":"` + start + `","contact":"a\u0000b"}`, "", 400, bookingapi.CodeInvalidValue, "contact"},
		{"book with a long contact", post, bookingapi.PathBookings, "", key("h-8"), `{"pharmacy_id":"` + ph + `","start":"` + start + `","contact":"` + strings.Repeat("x", 300) + `"}`, "", 400, bookingapi.CodeInvalidValue, "contact"},
		{"book a long pharmacy id", post, bookingapi.PathBookings, "", key("h-9"), `{"pharmacy_id":"` + strings.Repeat("P", 100) + `","start":"` + start + `"}`, "", 400, bookingapi.CodeInvalidValue, "pharmacy_id"},
		{"book a huge body", post, bookingapi.PathBookings, "", key("h-10"), `{"pharmacy_id":"` + strings.Repeat("P", 70<<10) + `"}`, "", 413, "", ""},
		{"read without a token", get, bookingapi.BookingLink(held.Ref), "", nil, "", "", 401, bookingapi.CodeInvalidBookingTok, ""},
		{"read with another booking's token", get, bookingapi.BookingLink(held.Ref), "", tok(e.B.tokenFor("bk_bbbbbbbbbbbbbbbbbbbbbbbbbb")), "", "", 404, bookingapi.CodeBookingNotFound, "ref"},
		{"cancel with a wrong token", del, bookingapi.BookingLink(held.Ref), "", tok("bt_x"), "", "", 404, bookingapi.CodeBookingNotFound, "ref"},
		{"free slots with a bad until", get, bookingapi.FreeSlotsLink(ph) + "?until=%zz", "", nil, "", "", 400, "", ""},
		{"free slots of a month and more", get, bookingapi.FreeSlotsLink(ph) + "?from=2021-01-01T00:00:00Z&until=2021-06-01T00:00:00Z", "", nil, "", "", 400, bookingapi.CodeInvalidValue, "until"},
		{"free slots twice from", get, bookingapi.FreeSlotsLink(ph) + "?from=2021-01-01T00:00:00Z&from=2021-01-02T00:00:00Z", "", nil, "", "", 400, "duplicate_parameter", "from"},
		{"wrong method", http.MethodPatch, bookingapi.PathBookings, "", nil, `{}`, "", 405, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := portaltest.Request{Method: tc.method, Path: tc.path, Token: tc.token, Header: tc.header, ContentType: tc.ctype}
			if tc.body != "" {
				req.Body = tc.body
			}
			r := e.Do(t, req)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt != "application/problem+json" || r.Problem.Code == "" {
				t.Fatalf("not a problem with a code: %q %s", mt, r.Body)
			}
			if tc.code != "" && r.Problem.Code != tc.code {
				t.Errorf("code %q, want %q", r.Problem.Code, tc.code)
			}
			if tc.field != "" && r.Problem.Field != tc.field {
				t.Errorf("field %q, want %q", r.Problem.Field, tc.field)
			}
		})
	}
	// Nothing refused was booked: the second slot is still free, the held
	// booking still booked.
	if got := e.freeSlots(t, ph); len(got) != 1 || !got[0].Start.Equal(slots[1].Start) {
		t.Errorf("free slots after the hostile requests: %+v", got)
	}
	var v bookingapi.Booking
	e.get(t, held.Ref, held.Token).Decode(t, &v)
	if v.State != bookingapi.StateBooked {
		t.Errorf("held booking %+v", v)
	}
	raw, _ := json.Marshal(v)
	if strings.Contains(string(raw), "example.invalid") {
		t.Errorf("the contact handle is shown: %s", raw)
	}
}
