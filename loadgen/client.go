package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// ClientConfig is how the simulated users behave. The zero value sends
// once with a 30 s timeout and never retries, duplicates or polls.
type ClientConfig struct {
	// Timeout bounds one attempt, waiting for a connection included. Default 30 s.
	Timeout time.Duration
	// MaxRetries is how many times a user retries after an overload
	// (429/503), a 5xx, a timeout, a transport error or a 409 carrying
	// Retry-After (the same Idempotency-Key still in progress).
	MaxRetries int
	// BackoffBase and BackoffMax shape the full-jitter backoff used when the
	// server gives no Retry-After: uniform in [0, min(Max, Base*2^retry)].
	// Defaults 500 ms and 30 s.
	BackoffBase, BackoffMax time.Duration
	// RetryAfterMax caps an honoured Retry-After (wall time). Default 5 min.
	RetryAfterMax time.Duration
	// ImpatientProb is the probability that a user presses the button
	// again when the first request has not answered after ImpatientAfter
	// (default 3 s): a concurrent duplicate with the same Idempotency-Key.
	ImpatientProb  float64
	ImpatientAfter time.Duration
	// MaxPolls is how often a user polls the ticket of a 202 (0: never),
	// waiting Retry-After between polls, or PollInterval (default 2 s)
	// when the answer has none.
	MaxPolls     int
	PollInterval time.Duration
	// WaitScale multiplies every wait between attempts (backoff, an
	// honoured Retry-After, the pause before a ticket poll): 1/timescale
	// counts them on a compressed simulated clock. 0 means 1 (wall time).
	WaitScale float64
	// MaxBody is how much of a response body is kept for the Observer. Default 1 MiB.
	MaxBody int64
}

func (c ClientConfig) withDefaults() (ClientConfig, error) {
	if c.Timeout < 0 || c.MaxRetries < 0 || c.BackoffBase < 0 || c.BackoffMax < 0 || c.RetryAfterMax < 0 ||
		c.ImpatientAfter < 0 || c.MaxPolls < 0 || c.PollInterval < 0 || c.MaxBody < 0 || c.WaitScale < 0 {
		return c, errors.New("client settings must not be negative")
	}
	if !(c.ImpatientProb >= 0 && c.ImpatientProb <= 1) {
		return c, fmt.Errorf("impatient probability %v must be in [0, 1]", c.ImpatientProb)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Timeout, 30*time.Second)
	def(&c.BackoffBase, 500*time.Millisecond)
	def(&c.BackoffMax, 30*time.Second)
	def(&c.RetryAfterMax, 5*time.Minute)
	def(&c.ImpatientAfter, 3*time.Second)
	def(&c.PollInterval, 2*time.Second)
	if c.MaxBody == 0 {
		c.MaxBody = 1 << 20
	}
	if c.WaitScale == 0 {
		c.WaitScale = 1
	}
	return c, nil
}

// Request is a user action's first request. Its Idempotency-Key header (if
// any) goes unchanged with every retry and duplicate.
type Request struct {
	Target vegeta.Target
	// Tag is opaque to loadgen and handed back to Refresh and the
	// Observer (the pharmacy that sent the request, say).
	Tag string
}

// RequestFunc builds the request of user action seq (counting from 0
// within the class, in the order vegeta's pacer released the hits). It is
// called concurrently. An error drops the action: it is recorded as never sent.
type RequestFunc func(ctx context.Context, seq uint64) (Request, error)

// Refresher updates the headers of a retry, duplicate or poll before it is
// sent (a fresh access token, say).
type Refresher func(ctx context.Context, tag string, h http.Header) error

// Final is what the user saw at the end of an action.
type Final struct {
	Class          string
	Seq            uint64
	Tag            string
	IdempotencyKey string
	Outcome        Outcome
	Code           int
	// Body is the final response's body (up to ClientConfig.MaxBody): the
	// 201's certificate, the completed ticket, or the 202 when the ticket
	// was still pending when the user stopped polling.
	Body []byte
	// Header is the final response's header (nil without one): the
	// ETag and signature a list or finder client keeps.
	Header   http.Header
	Error    string
	Attempts int
	Intended time.Time
	Done     time.Time
}

// Observer learns every user action's final outcome. It is called
// concurrently from the load's goroutines and must be quick.
type Observer func(Final)

// attempt is one request's result as the action logic needs it.
type attempt struct {
	rec    Record
	header http.Header
	body   []byte
}

// classRun is one class's client: vegeta's http.Client calls RoundTrip once
// per hit, and RoundTrip plays the whole user action (retries, duplicate,
// polls), recording every attempt, and answers with the final outcome.
type classRun struct {
	name     string
	cfg      ClientConfig
	request  RequestFunc
	refresh  Refresher
	pacer    *Pacer
	rt       http.RoundTripper
	reqCtx   context.Context // cancelled when in-flight work must end
	record   func(*Record)
	observer Observer
	inFlight *atomic.Int64
	shard    Shard
	ticks    atomic.Uint64 // this worker's hits seen: the highest local hit + 1
	// pastTimeout counts attempts that outlived their timeout.
	pastTimeout *atomic.Int64
}

// OutlivedGrace is how far past its timeout an attempt may end before it
// counts as having outlived it: the time a loaded machine takes to notice
// the deadline and unwind the request.
const OutlivedGrace = time.Second

// errNoSeq means the request did not come from a vegeta Attacker.
var errNoSeq = errors.New("loadgen: request without X-Vegeta-Seq")

// RoundTrip implements http.RoundTripper for vegeta's client.
func (c *classRun) RoundTrip(vreq *http.Request) (*http.Response, error) {
	if vreq.Body != nil {
		vreq.Body.Close()
	}
	local, err := strconv.ParseUint(vreq.Header.Get("X-Vegeta-Seq"), 10, 64)
	if err != nil {
		return nil, errNoSeq
	}
	for {
		old := c.ticks.Load()
		if local+1 <= old || c.ticks.CompareAndSwap(old, local+1) {
			break
		}
	}
	seq := c.shard.global(local)
	intended, ok := c.pacer.Intended(seq)
	if !ok {
		intended = time.Now() // unlimited rate: due when vegeta released it
	}
	if err := c.reqCtx.Err(); err != nil {
		c.dropped(seq, intended, "dropped: run stopped")
		return nil, errors.New("run stopped")
	}
	r, err := c.request(c.reqCtx, seq)
	if err != nil {
		c.dropped(seq, intended, "dropped: "+err.Error())
		return nil, fmt.Errorf("loadgen: building request %s/%d: %w", c.name, seq, err)
	}
	c.inFlight.Add(1)
	fin := c.act(seq, intended, r)
	c.inFlight.Add(-1)
	if c.observer != nil {
		c.observer(fin)
	}
	if fin.Code == 0 {
		return nil, errors.New(fin.Error)
	}
	return &http.Response{StatusCode: fin.Code, Status: strconv.Itoa(fin.Code) + " " + http.StatusText(fin.Code),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: http.NoBody, Request: vreq}, nil
}

func (c *classRun) dropped(seq uint64, intended time.Time, why string) {
	c.record(&Record{Class: c.name, Seq: seq, Attempt: 0, Intended: intended, Sent: intended,
		Outcome: OutcomeTransport, Error: why})
}

// act plays one user action and returns what the user finally saw.
func (c *classRun) act(seq uint64, intended time.Time, r Request) Final {
	var n atomic.Int32 // attempt numbers, shared with a concurrent duplicate
	tgt := r.Target
	key := tgt.Header.Get("Idempotency-Key")
	fin := func(a attempt) Final {
		return Final{Class: c.name, Seq: seq, Tag: r.Tag, IdempotencyKey: key, Outcome: a.rec.Outcome,
			Code: a.rec.Code, Body: a.body, Header: a.header, Error: a.rec.Error, Attempts: int(n.Load()),
			Intended: intended, Done: a.rec.End()}
	}
	res := c.first(seq, intended, r, &n)
	for retries := 0; ; retries++ {
		if res.rec.Code == http.StatusAccepted {
			return fin(c.poll(seq, r, res, &n))
		}
		if !retryable(res) || retries >= c.cfg.MaxRetries {
			return fin(res)
		}
		wait := c.scaled(c.retryWait(res, retries))
		due := time.Now().Add(wait)
		if !sleep(c.reqCtx, wait) {
			return fin(res)
		}
		t, err := c.again(r)
		if err != nil {
			return fin(res)
		}
		res = c.send(seq, int(n.Add(1)), due, t, false)
	}
}

// first sends the first attempt; an impatient user presses again while it
// is pending, and sees whichever answer is better.
func (c *classRun) first(seq uint64, intended time.Time, r Request, n *atomic.Int32) attempt {
	no := int(n.Add(1))
	if c.cfg.ImpatientProb == 0 || rand.Float64() >= c.cfg.ImpatientProb {
		return c.send(seq, no, intended, r.Target, false)
	}
	ch := make(chan attempt, 2)
	go func() { ch <- c.send(seq, no, intended, r.Target, false) }()
	t := time.NewTimer(c.cfg.ImpatientAfter)
	defer t.Stop()
	select {
	case a := <-ch:
		return a
	case <-c.reqCtx.Done():
		return <-ch
	case <-t.C:
	}
	dup, err := c.again(r)
	if err != nil {
		return <-ch
	}
	due := time.Now()
	dno := int(n.Add(1))
	go func() { ch <- c.send(seq, dno, due, dup, false) }()
	a, b := <-ch, <-ch
	if rank(b.rec.Outcome) > rank(a.rec.Outcome) {
		return b
	}
	return a
}

func rank(o Outcome) int {
	switch o {
	case OutcomeOK, OutcomeTicketDone:
		return 2
	case OutcomeDeferred:
		return 1
	}
	return 0
}

// again copies the target for another send, refreshing its headers.
func (c *classRun) again(r Request) (vegeta.Target, error) {
	t := r.Target
	t.Header = t.Header.Clone()
	if t.Header == nil {
		t.Header = http.Header{}
	}
	if c.refresh != nil {
		if err := c.refresh(c.reqCtx, r.Tag, t.Header); err != nil {
			return t, err
		}
	}
	return t, nil
}

func retryable(a attempt) bool {
	switch a.rec.Outcome {
	case OutcomeOverload, OutcomeError, OutcomeTimeout, OutcomeTransport:
		return true
	}
	// 409: the same key is still being processed; the server says when to come back.
	_, ok := retryAfter(a.header)
	return a.rec.Code == http.StatusConflict && ok
}

// retryWait honours Retry-After (plus up to 10 % jitter so retries spread)
// and otherwise backs off with full jitter.
func (c *classRun) retryWait(a attempt, retries int) time.Duration {
	if ra, ok := retryAfter(a.header); ok {
		ra = min(ra, c.cfg.RetryAfterMax)
		return ra + rand.N(ra/10+1)
	}
	ceil := c.cfg.BackoffMax
	if retries < 30 {
		ceil = min(ceil, c.cfg.BackoffBase<<retries)
	}
	return rand.N(ceil + 1)
}

// scaled converts a wait between attempts to wall time (WaitScale).
func (c *classRun) scaled(d time.Duration) time.Duration {
	if c.cfg.WaitScale == 1 {
		return d
	}
	return time.Duration(float64(d) * c.cfg.WaitScale)
}

// retryAfter parses Retry-After: delay seconds or an HTTP date.
func retryAfter(h http.Header) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// poll follows a 202's ticket until it is done, failed, or the user gives up.
func (c *classRun) poll(seq uint64, r Request, accepted attempt, n *atomic.Int32) attempt {
	link := ticketLink(accepted)
	if c.cfg.MaxPolls == 0 || link == "" {
		return accepted
	}
	base, err := url.Parse(r.Target.URL)
	if err != nil {
		return accepted
	}
	ref, err := url.Parse(link)
	if err != nil {
		return accepted
	}
	u := base.ResolveReference(ref).String()
	last := accepted
	for range c.cfg.MaxPolls {
		wait, ok := retryAfter(last.header)
		if !ok {
			wait = c.cfg.PollInterval
		}
		wait = c.scaled(min(wait, c.cfg.RetryAfterMax))
		due := time.Now().Add(wait)
		if !sleep(c.reqCtx, wait) {
			break
		}
		t, err := c.again(r)
		if err != nil {
			break
		}
		t.Method, t.URL, t.Body = http.MethodGet, u, nil
		t.Header.Del("Idempotency-Key")
		t.Header.Del("Content-Type")
		last = c.send(seq, int(n.Add(1)), due, t, true)
		switch last.rec.Outcome {
		case OutcomeTicketDone:
			return last
		case OutcomeRejected:
			return last // the ticket is gone or not ours: polling will not help
		case OutcomeError:
			if last.rec.Code == http.StatusOK {
				return last // the ticket failed
			}
		}
	}
	return accepted
}

// ticketLink finds a 202's ticket: Location, else the body's links.
func ticketLink(a attempt) string {
	if l := a.header.Get("Location"); l != "" {
		return l
	}
	var d portalapi.Deferred
	if json.Unmarshal(a.body, &d) == nil {
		if d.Links.Ticket != "" {
			return d.Links.Ticket
		}
		if d.Ticket != "" {
			return "/v1/tickets/" + url.PathEscape(d.Ticket)
		}
	}
	return ""
}

// send performs one attempt and records it. The send time is when the
// connection was obtained, so waiting for a pooled connection counts as
// lateness, not as service time.
func (c *classRun) send(seq uint64, no int, intended time.Time, t vegeta.Target, isPoll bool) attempt {
	rec := Record{Class: c.name, Seq: seq, Attempt: no, Intended: intended, Method: t.Method, URL: t.URL}
	start := time.Now()
	var gotConn atomic.Int64 // nanoseconds after start, +1 so 0 means none
	actx, cancel := context.WithTimeout(c.reqCtx, c.cfg.Timeout)
	defer cancel()
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) {
		gotConn.CompareAndSwap(0, int64(time.Since(start))+1)
	}}
	var body io.Reader
	if len(t.Body) > 0 {
		body = bytes.NewReader(t.Body)
	}
	var a attempt
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, trace), t.Method, t.URL, body)
	if err == nil {
		for k, vs := range t.Header {
			req.Header[k] = vs
		}
		if h := t.Header.Get("Host"); h != "" {
			req.Host = h
		}
		rec.BytesOut = uint64(len(t.Body))
		var resp *http.Response
		if resp, err = c.rt.RoundTrip(req); err == nil {
			a.body, err = io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBody))
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
			}
			resp.Body.Close()
			a.header = resp.Header
			rec.Code = resp.StatusCode
			rec.BytesIn = uint64(len(a.body))
		}
	}
	end := time.Now()
	if end.Sub(start) > c.cfg.Timeout+OutlivedGrace && c.pastTimeout != nil {
		c.pastTimeout.Add(1)
	}
	rec.Sent = start
	if g := gotConn.Load(); g > 0 {
		rec.Sent = start.Add(time.Duration(g - 1))
	}
	rec.Latency = end.Sub(rec.Sent)
	switch {
	case err != nil:
		rec.Code = 0
		a.body = nil
		switch {
		case c.reqCtx.Err() != nil:
			rec.Outcome, rec.Error = OutcomeTransport, "run stopped"
		case actx.Err() == context.DeadlineExceeded:
			rec.Outcome, rec.Error = OutcomeTimeout, "timeout after "+c.cfg.Timeout.String()
		default:
			rec.Outcome, rec.Error = OutcomeTransport, errorText(err)
		}
	case isPoll && rec.Code == http.StatusOK:
		var v portalapi.TicketView
		switch _ = json.Unmarshal(a.body, &v); v.State {
		case "done":
			rec.Outcome = OutcomeTicketDone
		case "failed":
			rec.Outcome, rec.Error = OutcomeError, "ticket failed: "+v.FailureCode
		default:
			rec.Outcome = OutcomeDeferred
		}
	default:
		rec.Outcome = ClassifyStatus(rec.Code)
		if rec.Code >= 400 {
			rec.Error = strconv.Itoa(rec.Code) + " " + http.StatusText(rec.Code)
		}
	}
	if a.header == nil {
		a.header = http.Header{}
	}
	a.rec = rec
	c.record(&rec)
	return a
}
