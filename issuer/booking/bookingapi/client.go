package bookingapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/golive-dev/golive/issuer/problem"
)

// Client speaks to the booking routes of a portal at BaseURL: staff calls
// take the pharmacy's access token, citizens' calls none.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// maxAnswer bounds an answer the client reads.
const maxAnswer = 4 << 20

// call sends body as JSON and decodes a 2xx answer into out; any other
// answer is the problem it carried (a problem.Problem error).
func (c *Client) call(ctx context.Context, method, path, token string, h http.Header, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return 0, err
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("booking %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		p, err := problem.Read(resp)
		if err != nil {
			return resp.StatusCode, fmt.Errorf("booking %s %s: %d: %w", method, path, resp.StatusCode, err)
		}
		return resp.StatusCode, p
	}
	if out != nil {
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("booking %s %s: decoding: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// SetChannel sets the pharmacy's cancellation channel.
func (c *Client) SetChannel(ctx context.Context, token string, ch Channel) error {
	_, err := c.call(ctx, http.MethodPut, PathSettings, token, nil, Settings{Channel: ch}, nil)
	return err
}

// Publish publishes slots.
func (c *Client) Publish(ctx context.Context, token string, slots []Slot) (SlotsResult, error) {
	var out SlotsResult
	_, err := c.call(ctx, http.MethodPost, PathSlots, token, nil, SlotsRequest{Slots: slots}, &out)
	return out, err
}

// CancelWindow cancels the pharmacy's appointments in [from, until).
func (c *Client) CancelWindow(ctx context.Context, token string, from, until time.Time, reason string) (CancelResult, error) {
	var out CancelResult
	_, err := c.call(ctx, http.MethodPost, PathCancellations, token, nil, CancelRequest{From: from, Until: until, Reason: reason}, &out)
	return out, err
}

// Visit records a visit's outcome.
func (c *Client) Visit(ctx context.Context, token, ref, outcome string) (Booking, error) {
	var out Booking
	_, err := c.call(ctx, http.MethodPost, VisitLink(ref), token, nil, VisitRequest{Outcome: outcome}, &out)
	return out, err
}

// FreeSlots lists a pharmacy's free slots in [from, until).
func (c *Client) FreeSlots(ctx context.Context, pharmacy string, from, until time.Time) (FreeSlots, error) {
	var out FreeSlots
	q := url.Values{ParamFrom: {from.Format(time.RFC3339)}, ParamUntil: {until.Format(time.RFC3339)}}
	_, err := c.call(ctx, http.MethodGet, FreeSlotsLink(pharmacy)+"?"+q.Encode(), "", nil, nil, &out)
	return out, err
}

// Book books a slot under an idempotency key.
func (c *Client) Book(ctx context.Context, key string, req BookRequest) (Booked, error) {
	var out Booked
	_, err := c.call(ctx, http.MethodPost, PathBookings, "", http.Header{IdempotencyHeader: {key}}, req, &out)
	return out, err
}

// Get reads a booking with its token.
func (c *Client) Get(ctx context.Context, ref, token string) (Booking, error) {
	var out Booking
	_, err := c.call(ctx, http.MethodGet, BookingLink(ref), "", http.Header{TokenHeader: {token}}, nil, &out)
	return out, err
}
