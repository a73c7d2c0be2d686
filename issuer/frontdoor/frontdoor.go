// Package frontdoor is the portal's admission front: a small reverse
// proxy, run as a process of its own (`golive front`), that owns the
// listening socket, lets at most MaxInFlight requests into the portal at
// once with a short queue behind them, and answers the rest itself with
// 503 "overloaded" and Retry-After on a connection it keeps open.
//
// Why a process and not the portal's own limiter: on a core full of
// admitted work Go's scheduler looks at the network only when its run
// queue is empty or every 10 ms (sysmon), and then runs the accept loop
// after the goroutines ahead of it, so a saturated portal takes tens of
// milliseconds to seconds to even see a new connection, and clients
// whose connections wait open more (docs/BENCHMARKS.md, "Bounding open
// connections at the listener"). The front's own work is a few
// microseconds per request, its run queue is empty most of the time, and
// with --realtime the kernel runs it ahead of the portal on a shared
// core, so it answers the excess within milliseconds while the portal
// works at capacity.
package frontdoor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/connlimit"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/problem"
)

// Config is one front's limits.
type Config struct {
	// Backend is the portal's base URL (http:// only: the front and the
	// portal share a host; TLS ends at the front's clients' side of a
	// load balancer or at the portal itself without a front).
	Backend *url.URL
	// MaxInFlight requests are in the portal at once; MaxQueue more wait
	// at most MaxWait for one of them to finish; the rest are answered
	// 503 at once. MaxInFlight is best a little above what keeps the
	// portal's cores busy (its group commit needs a few at once).
	MaxInFlight, MaxQueue int
	MaxWait               time.Duration
	// AnswerTimeout bounds writing one answer to the client, from the
	// request's arrival (0: DefaultAnswerTimeout).
	AnswerTimeout time.Duration
	// MaxConnsPerSource and MaxConns bound the clients' connections to
	// the front (0: no bound), as the portal's http settings of the same
	// names do when it listens itself: behind a front the portal sees one
	// source, so the per-source cap has to be here.
	MaxConnsPerSource, MaxConns int
}

// Defaults of `golive front`, from the overload benchmark on one core
// (docs/BENCHMARKS.md, "An admission front in its own process"): 16 in
// the portal keep its core and its group commit busy; a queue adds its
// wait to the 503s that follow it (a 50 ms wait put the 503s' p99 at
// 50 ms), so by default there is none.
const (
	DefaultMaxInFlight = 16
	DefaultMaxQueue    = 0
	DefaultMaxWait     = 5 * time.Millisecond
	// DefaultMaxConnsPerSource is the hardened portal's own default.
	DefaultMaxConnsPerSource = 512
)

// GCPercent is the front's GOGC unless $GOGC is set: its live heap is a
// few megabytes, so at the default 100 it collects many times a second
// under a flood of small requests; 400 cut its share of the shared core
// (the overload runs' goodput rose from 0.85-0.89 to 0.91-0.94).
const GCPercent = 400

// A slow client costs itself a connection in the front, never a slot in
// the portal: the request body is read whole before the request is
// admitted, and the portal's answer is read whole before the slot is
// given back and the answer is written out. Both are held in memory, so
// they are bounded.
const (
	readHeaderTimeout = 10 * time.Second
	bodyReadTimeout   = 30 * time.Second // the whole body, after the head
	// DefaultAnswerTimeout is Config.AnswerTimeout's default.
	DefaultAnswerTimeout = 60 * time.Second
	idleTimeout          = 90 * time.Second
	maxHeaderBytes       = 32 << 10 // the hardened portal's http.max_header_bytes
	backendDialTime      = 2 * time.Second
	// MaxBodyBytes is the largest request body the front admits (the
	// mail-out's batches are the largest, 8 MiB by default); larger is
	// 413 body_too_large.
	MaxBodyBytes = 16 << 20
	// maxAnswerBytes bounds an answer held between the portal and a
	// client (a printout PDF is well under it); a larger answer is passed
	// through with its slot held.
	maxAnswerBytes = 32 << 20
)

// probes pass the limiter: a health check answered 503 would get a busy
// portal restarted, and the metrics scrape is how overload is watched.
var probes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// Validate says what is wrong with c, naming the setting.
func (c Config) Validate() error {
	switch {
	case c.Backend == nil || c.Backend.Host == "":
		return errors.New("backend: want the portal's base URL, e.g. http://127.0.0.1:8080")
	case c.Backend.Scheme != "http":
		return fmt.Errorf("backend %q: want http:// (the front and the portal share a host)", c.Backend.Redacted())
	case c.MaxInFlight < 1:
		return fmt.Errorf("max-in-flight %d: want at least 1", c.MaxInFlight)
	case c.MaxQueue < 0:
		return fmt.Errorf("max-queue %d: want 0 or more", c.MaxQueue)
	case c.MaxConnsPerSource < 0 || c.MaxConns < 0:
		return fmt.Errorf("max-conns %d, max-conns-per-source %d: want 0 (no bound) or more", c.MaxConns, c.MaxConnsPerSource)
	case c.AnswerTimeout < 0:
		return fmt.Errorf("answer timeout %v: want a positive duration, or 0 for %v", c.AnswerTimeout, DefaultAnswerTimeout)
	case c.MaxQueue > 0 && c.MaxWait <= 0:
		return fmt.Errorf("max-wait %v: want a positive wait when max-queue is %d", c.MaxWait, c.MaxQueue)
	}
	return nil
}

// Front is the handler of one front door.
type Front struct {
	cfg     Config
	limiter *overload.Limiter
	proxy   *httputil.ReverseProxy
}

// New builds the front's handler.
func New(c Config, log *slog.Logger) (*Front, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("frontdoor: %w", err)
	}
	if c.AnswerTimeout == 0 {
		c.AnswerTimeout = DefaultAnswerTimeout
	}
	tr := &http.Transport{
		DialContext: (&net.Dialer{Timeout: backendDialTime}).DialContext,
		// Keep a connection for every admitted or queued request, so the
		// portal sees a steady few connections however many clients the
		// front has.
		MaxIdleConns:        c.MaxInFlight + c.MaxQueue,
		MaxIdleConnsPerHost: c.MaxInFlight + c.MaxQueue,
		IdleConnTimeout:     idleTimeout,
		DisableCompression:  true,
	}
	backend := c.Backend
	p := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(backend)
			r.Out.Host = r.In.Host // the portal's links and checks see the client's host
		},
		Transport:  tr,
		BufferPool: copyBuffers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the client went away; nobody reads an answer
			}
			log.Warn("frontdoor: portal unreachable", "path", r.URL.Path, "err", err)
			pb := problem.New(http.StatusBadGateway, "backend_unavailable", "the portal behind this front did not answer; retry after the indicated time")
			pb.RetryAfter = time.Second
			problem.Write(w, pb)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	p.ModifyResponse = holdAnswer
	l := overload.NewLimiter("front", c.MaxInFlight, c.MaxQueue, c.MaxWait)
	return &Front{cfg: c, limiter: l, proxy: p}, nil
}

// copyBuffers keeps the proxy's copy buffers (32 KiB each, allocated per
// answer without a pool).
var copyBuffers = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

// releaseKey carries the request's slot release to holdAnswer.
type releaseKey struct{}

func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer gets a write deadline, the front's own 503s and the
	// probes' too (a client that never reads a /metrics answer holds its
	// goroutine for AnswerTimeout at most); net/http clears it after
	// each request.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(f.cfg.AnswerTimeout))
	if r.Method == http.MethodGet && probes[r.URL.Path] {
		f.proxy.ServeHTTP(w, r)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				problem.Write(w, problem.New(http.StatusRequestEntityTooLarge, "body_too_large",
					fmt.Sprintf("request body over %d bytes", MaxBodyBytes)))
				return
			}
			// A malformed chunk, a timeout or a client gone: answer
			// (the write fails harmlessly when nobody reads it), never
			// the 200 an empty handler would send.
			problem.Write(w, problem.BadRequest("body_unreadable", "", "could not read request body"))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	release, err := f.limiter.Acquire(r.Context())
	if err != nil {
		overload.WriteReject(w, r, err)
		return
	}
	defer release() // a no-op once holdAnswer gave the slot back
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), releaseKey{}, release)))
}

// holdAnswer reads the portal's answer into memory and gives the slot
// back before the answer is written to the client, so a client that
// reads slowly does not keep the portal's slot.
func holdAnswer(resp *http.Response) error {
	release, _ := resp.Request.Context().Value(releaseKey{}).(func())
	if release == nil || resp.ContentLength > maxAnswerBytes {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return fmt.Errorf("frontdoor: reading the portal's answer: %w", err)
	}
	resp.Body.Close()
	if len(body) > maxAnswerBytes {
		return fmt.Errorf("frontdoor: the portal's answer is over %d bytes", maxAnswerBytes)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	release()
	return nil
}

// shutdownTimeout bounds a graceful stop: requests in the portal finish.
const shutdownTimeout = 10 * time.Second

// Serve answers on ln until ctx ends, then stops within shutdownTimeout.
func (f *Front) Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	srv := &http.Server{Handler: f, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if f.cfg.MaxConnsPerSource > 0 || f.cfg.MaxConns > 0 {
		cl := connlimit.Wrap(ln, connlimit.Limits{PerSource: f.cfg.MaxConnsPerSource, Total: f.cfg.MaxConns, TurnAway: overload.TurnAwayResponse()})
		ln, srv.ConnState = cl, cl.ConnState
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("frontdoor: serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("frontdoor: stopping: %w", err)
	}
	return nil
}
