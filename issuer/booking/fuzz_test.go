package booking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/booking/bookingapi"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// Auth modes of a fuzz input (auth % 4).
const (
	fuzzAuthNone    = 0
	fuzzAuthStaff   = 1 // a pharmacy's access token
	fuzzAuthBooking = 2 // the held booking's token in Booking-Token
	fuzzAuthGarbage = 3 // a broken access token and a broken booking token
)

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead}

// fuzzAnswerTimeout catches a hang, not a slow answer on a busy machine.
const fuzzAnswerTimeout = time.Minute

// FuzzBookingAPI sends arbitrary requests to the booking, mounted in a
// complete issuer as golive serve --booking mounts it, and checks what
// must hold for every one: no 5xx but 503 with Retry-After, every 4xx a
// problem+json body with a code, and the issuer still answers /healthz.
func FuzzBookingAPI(f *testing.F) {
	e := startEnv(f, portalapi.ProfileHardened, func(c *bookingapi.Config) {
		c.MaxBodyBytes = 64 << 10
		c.CitizenBurst = 1 << 30
	})
	ph, staff := e.staffToken(f)
	slots := e.slotsFrom(4, 10*time.Minute, 2)
	e.publish(f, staff, slots)
	held := e.mustBook(f, "fuzz-held", ph, slots[0].Start)
	client := &http.Client{Timeout: fuzzAnswerTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f.Cleanup(client.CloseIdleConnections)
	expand := func(s string) string {
		return strings.NewReplacer("{ph}", ph, "{ref}", held.Ref, "{start}", slots[1].Start.Format(time.RFC3339)).Replace(s)
	}
	for _, s := range []struct {
		method, path, key string
		auth              uint8
		body              string
	}{
		{"POST", bookingapi.PathBookings, "k-1", fuzzAuthNone, `{"pharmacy_id":"{ph}","start":"{start}","contact":"a@b"}`},
		{"POST", bookingapi.PathBookings, "k-1", fuzzAuthNone, `{"pharmacy_id":"{ph}","start":"{start}","contact":"other"}`},
		{"POST", bookingapi.PathBookings, "", fuzzAuthNone, `{"pharmacy_id":"{ph}","start":"0000-01-01T00:00:00Z"}`},
		{"POST", bookingapi.PathBookings, "k-2", fuzzAuthNone, `{"pharmacy_id":"{ph}","start":"9999-12-31T23:59:59Z"}`},
		{"GET", "/v1/booking/pharmacies/{ph}/slots?from=2021-06-15T08:00:00%2B02:00", "", fuzzAuthNone, ""},
		{"GET", "/v1/booking/bookings/{ref}", "", fuzzAuthBooking, ""},
		{"DELETE", "/v1/booking/bookings/{ref}", "", fuzzAuthGarbage, ""},
		{"PUT", bookingapi.PathSettings, "", fuzzAuthStaff, `{"channel":"sms"}`},
		{"POST", bookingapi.PathSlots, "", fuzzAuthStaff, `{"slots":[{"start":"{start}","capacity":0}]}`},
		{"POST", bookingapi.PathCancellations, "", fuzzAuthStaff, `{"from":"{start}","until":"9999-12-31T23:59:59Z"}`},
		{"POST", "/v1/booking/appointments/{ref}/visit", "", fuzzAuthStaff, `{"outcome":"failed"}`},
		{"GET", bookingapi.PathAppointments + "?from=-1&until=%00", "", fuzzAuthStaff, ""},
		{"POST", bookingapi.PathSlots, "", fuzzAuthStaff, strings.Repeat(`[`, 5000)},
	} {
		f.Add(s.method, s.path, s.key, s.auth, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, key string, auth uint8, body []byte) {
		if !slices.Contains(fuzzMethods, method) {
			method = fuzzMethods[len(method)%len(fuzzMethods)]
		}
		if len(path) > 4<<10 || len(body) > 256<<10 || len(key) > 1<<10 {
			return
		}
		u, err := url.Parse(e.URL + "/" + strings.TrimLeft(expand(path), "/"))
		if err != nil {
			return // not a URL any client could send
		}
		var rd io.Reader
		if len(body) > 0 {
			rd = bytes.NewReader([]byte(expand(string(body))))
		}
		req, err := http.NewRequest(method, u.String(), rd)
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		if k := strings.Map(headerRune, key); k != "" {
			req.Header.Set(bookingapi.IdempotencyHeader, k)
		}
		switch auth % 4 {
		case fuzzAuthStaff:
			req.Header.Set("Authorization", "Bearer "+staff)
		case fuzzAuthBooking:
			req.Header.Set(bookingapi.TokenHeader, held.Token)
		case fuzzAuthGarbage:
			req.Header.Set("Authorization", "Bearer "+staff[:len(staff)-2]+"xx")
			req.Header.Set(bookingapi.TokenHeader, held.Token[:len(held.Token)-2]+"xx")
		}
		input := fmt.Sprintf("%s %s (key %q, auth %d, body %.200q)", method, u.RequestURI(), key, auth%4, body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: no answer: %v", input, err)
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: 503 without Retry-After", input)
			}
		case resp.StatusCode >= 500:
			t.Errorf("%s: %d %s", input, resp.StatusCode, raw)
		}
		if resp.StatusCode >= 400 && method != http.MethodHead {
			mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			var pr struct {
				Code string `json:"code"`
			}
			if mt != "application/problem+json" || json.Unmarshal(raw, &pr) != nil || pr.Code == "" {
				t.Errorf("%s: %d as %q, want problem+json with a code: %.300s", input, resp.StatusCode, mt, raw)
			}
		}
		hr, err := client.Get(e.URL + "/healthz")
		if err != nil {
			t.Fatalf("after %s: /healthz: %v", input, err)
		}
		hr.Body.Close()
		if hr.StatusCode != http.StatusOK {
			t.Fatalf("after %s: /healthz answered %d", input, hr.StatusCode)
		}
	})
}

// headerRune drops what a client may not send in a header value.
func headerRune(r rune) rune {
	if (r < ' ' && r != '\t') || r == 0x7f || r > 0x7e {
		return -1
	}
	return r
}
