// Package connlimit bounds what clients may hold of a server's connections:
// a cap on the connections open at once from one source address (further
// ones are closed as they are accepted: an abusive client costs itself its
// excess connections, never others their service), a cap on all open
// connections (the excess gets a canned 503 once its request is in, so a
// connection storm drains the listen queue instead of overflowing it),
// and, to model the 2021
// portal's thread-per-request web server, a pool of workers that a request
// takes from its first byte until its answer is written.
package connlimit

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are a listener's bounds; 0 disables one.
type Limits struct {
	// PerSource is the most connections one source IP may hold open.
	PerSource int
	// Workers is how many requests are read or handled at once. A request
	// takes a worker when its first byte arrives and gives it back when its
	// connection goes idle or closes; a request finding none waits, its
	// bytes unread (Apache's MaxRequestWorkers). A client that dribbles its
	// headers holds a worker for as long as it keeps dribbling.
	Workers int
	// Total is the most connections open at once. Over it an idle
	// keep-alive connection is closed to make room; failing that, the new
	// one gets TurnAway after its request (on the accept loop when the
	// whole request is there, else in a goroutine that reads the head),
	// and probe paths are served anyway. Leaving the excess in the listen
	// queue would overflow it, and the clients' dropped SYNs come back
	// after 1 s and 3 s.
	Total int
	// TurnAway is a whole response (status line, headers, body) for the
	// connections over Total; nil closes them without a byte.
	TurnAway []byte
}

// turnAwayHeadWait bounds how long a turned-away connection waits for
// its request's head: the answer must come after the request, or an
// HTTP client takes it for an unsolicited response on an idle
// connection and fails the request instead of reading the 503.
const turnAwayHeadWait = time.Second

// turnAwayLinger bounds how long a turned-away connection is kept after
// its answer to read what the client still sends (closing with unread
// bytes resets the connection, and the client may lose the answer).
const turnAwayLinger = 100 * time.Millisecond

// turnAwayDrain bounds the bytes read from a turned-away connection.
const turnAwayDrain = 64 << 10

// turnAwayHead bounds the bytes read while looking for the end of the
// request's head.
const turnAwayHead = 8 << 10

// maxTurningAway bounds the connections being turned away at once; past
// it the excess is closed without an answer, so a storm cannot make the
// server hold an unbounded number of them.
const maxTurningAway = 4096

// Listener applies Limits to the connections it accepts. Serve with
// Listener.ConnState as the http.Server's ConnState hook so that workers
// are handed back between requests.
type Listener struct {
	net.Listener
	lim      Limits
	workers  chan struct{}
	mu       sync.Mutex
	bySource map[string]int
	refused  atomic.Uint64
	open     atomic.Int64
	turned   atomic.Uint64
	turning  atomic.Int64
	idle     map[*conn]struct{} // keep-alive connections between requests; under mu
	evicted  atomic.Uint64
	probes   atomic.Uint64
	// handback carries probes found by turnAway goroutines to Accept;
	// interrupted says Accept's listener deadline was set to wake it.
	handback    chan handedBack
	interrupted atomic.Bool
}

// Wrap bounds ln by lim.
func Wrap(ln net.Listener, lim Limits) *Listener {
	l := &Listener{Listener: ln, lim: lim, bySource: map[string]int{}, idle: map[*conn]struct{}{},
		handback: make(chan handedBack, maxTurningAway)}
	if lim.Workers > 0 {
		l.workers = make(chan struct{}, lim.Workers)
	}
	return l
}

// Refused is how many connections were closed on accept because their
// source held PerSource already.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// TurnedAway is how many connections were answered with TurnAway on
// accept because Total were open.
func (l *Listener) TurnedAway() uint64 { return l.turned.Load() }

// ProbesPastTotal is how many probe requests (health, readiness, metrics)
// were served on connections over Total.
func (l *Listener) ProbesPastTotal() uint64 { return l.probes.Load() }

// EvictedIdle is how many idle keep-alive connections were closed to make
// room for new ones under Total.
func (l *Listener) EvictedIdle() uint64 { return l.evicted.Load() }

// IdleConns is how many open connections wait between requests.
func (l *Listener) IdleConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.idle)
}

// OpenConns is how many accepted connections are open now.
func (l *Listener) OpenConns() int { return int(l.open.Load()) }

// Busy is how many workers requests hold now.
func (l *Listener) Busy() int { return len(l.workers) }

// Open is how many connections source holds open now.
func (l *Listener) Open(source string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bySource[source]
}

// Accept returns the next connection within the caps: one over the
// per-source cap is closed without a byte read, one over Total is turned
// away (turnAwayNow, turnAway) unless it asks for a probe path.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		select {
		case h := <-l.handback:
			return l.admit(h.c, h.head), nil
		default:
		}
		c, err := l.Listener.Accept()
		if err != nil {
			if l.interrupted.Swap(false) && isTimeout(err) {
				// turnAway's wake-up for a handed-back probe.
				if d, ok := l.Listener.(deadliner); ok {
					_ = d.SetDeadline(time.Time{})
				}
				continue
			}
			return nil, err
		}
		if l.lim.Total > 0 && l.open.Load() >= int64(l.lim.Total) && !l.evictIdle() {
			if l.turning.Add(1) > maxTurningAway {
				l.turning.Add(-1)
				l.turned.Add(1)
				_ = c.Close()
				continue
			}
			head, st := turnAwayNow(c, l.lim.TurnAway)
			switch st {
			case answered:
				l.turning.Add(-1)
				l.turned.Add(1)
				continue
			case probe:
				l.turning.Add(-1)
				return l.admit(c, head), nil
			}
			go func() {
				defer l.turning.Add(-1)
				l.turnAway(c, head)
			}()
			continue
		}
		src := Source(c.RemoteAddr())
		if l.lim.PerSource > 0 {
			l.mu.Lock()
			over := l.bySource[src] >= l.lim.PerSource
			if !over {
				l.bySource[src]++
			}
			l.mu.Unlock()
			if over {
				l.refused.Add(1)
				_ = c.Close()
				continue
			}
		}
		l.open.Add(1)
		return &conn{Conn: c, l: l, src: src, closed: make(chan struct{})}, nil
	}
}

// admit serves c past Total because it asks for a probe path; head is
// what was read of it already. It counts as open but not against its
// source, since it never took a per-source slot.
func (l *Listener) admit(c net.Conn, head []byte) net.Conn {
	l.open.Add(1)
	l.probes.Add(1)
	return &conn{Conn: c, l: l, closed: make(chan struct{}), pre: head, probe: true}
}

// probePaths are served past Total: health checks and the metrics scrape
// must keep answering while the portal turns clients away, or an
// orchestrator restarts a portal for being busy and the operator loses
// sight of it exactly when it matters.
var probePaths = [][]byte{[]byte("GET /healthz "), []byte("GET /readyz "), []byte("GET /metrics ")}

func isProbe(head []byte) bool {
	for _, p := range probePaths {
		if bytes.HasPrefix(head, p) {
			return true
		}
	}
	return false
}

// turnState is what turnAwayNow did with a connection.
type turnState int

const (
	incomplete turnState = iota // its request has not all arrived: turnAway goes on
	answered                    // answered (or closed) and done
	probe                       // a probe request: to be served
)

type deadliner interface{ SetDeadline(time.Time) error }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handedBack is a probe turnAway found, for Accept to serve.
type handedBack struct {
	c    net.Conn
	head []byte
}

// evictIdle closes a keep-alive connection that waits between requests,
// to make room for a new one: idle connections cost their clients nothing
// to reopen (and Go's client replays a request with an Idempotency-Key
// that met the close), while left open they would hold the cap against
// clients with work to send. Which idle connection goes is the map's
// choice, at random: the accept loop does not scan.
func (l *Listener) evictIdle() bool {
	l.mu.Lock()
	var victim *conn
	for c := range l.idle {
		victim = c
		delete(l.idle, c)
		break
	}
	l.mu.Unlock()
	if victim == nil {
		return false
	}
	l.evicted.Add(1)
	_ = victim.Close()
	return true
}

// turnAway answers c with TurnAway and closes it, after turnAwayNow found
// the request incomplete (head holds what it read): it reads the rest of
// the request's head (up to turnAwayHead bytes, for up to
// turnAwayHeadWait); a probe goes back to Accept to be served; otherwise
// it writes the answer, half-closes so the client reads it to the end,
// then reads and drops what the client still sends for up to
// turnAwayLinger so the close does not reset the connection under the
// answer.
func (l *Listener) turnAway(c net.Conn, head []byte) {
	_ = c.SetReadDeadline(time.Now().Add(turnAwayHeadWait))
	buf := make([]byte, 1024)
	for len(head) < turnAwayHead && headEnd(head) < 0 {
		n, err := c.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil {
			_ = c.Close()
			return
		}
	}
	if isProbe(head) {
		_ = c.SetReadDeadline(time.Time{})
		l.handback <- handedBack{c: c, head: head}
		// Wake Accept if it waits for a new connection.
		if d, ok := l.Listener.(deadliner); ok {
			l.interrupted.Store(true)
			_ = d.SetDeadline(time.Now())
		}
		return
	}
	l.turned.Add(1)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(turnAwayLinger))
	if _, err := c.Write(l.lim.TurnAway); err != nil {
		return
	}
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, turnAwayDrain))
}

// headEnd is the offset just past the request head in b, or -1.
func headEnd(b []byte) int {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return -1
	}
	return i + 4
}

// complete says whether b holds a whole request without a chunked body:
// its head and Content-Length bytes of body.
func complete(b []byte) bool {
	end := headEnd(b)
	if end < 0 {
		return false
	}
	want := 0
	for _, line := range bytes.Split(b[:end], []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch {
		case bytes.EqualFold(bytes.TrimSpace(k), []byte("Content-Length")):
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil || n < 0 {
				return false
			}
			want = n
		case bytes.EqualFold(bytes.TrimSpace(k), []byte("Transfer-Encoding")):
			return false
		}
	}
	return len(b)-end >= want
}

// ConnState hands a request's worker back when its connection goes idle
// or closes, and keeps the set of idle connections for Total. Chain it
// into http.Server.ConnState.
func (l *Listener) ConnState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateIdle, http.StateClosed, http.StateHijacked, http.StateActive:
	default:
		return
	}
	// Under TLS the server sees the tls.Conn around ours.
	for {
		if cc, ok := c.(*conn); ok {
			if l.lim.Total > 0 {
				l.mu.Lock()
				if s == http.StateIdle {
					l.idle[cc] = struct{}{}
				} else {
					delete(l.idle, cc)
				}
				l.mu.Unlock()
			}
			if s != http.StateActive {
				cc.release()
			}
			return
		}
		nc, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		c = nc.NetConn()
	}
}

// Source is the IP of addr (the whole address when it has no port).
func Source(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

type conn struct {
	net.Conn
	l         *Listener
	src       string
	mu        sync.Mutex
	held      bool
	closeOnce sync.Once
	closed    chan struct{}
	pre       []byte // read before the server had the connection (a probe past Total)
	probe     bool   // served past Total; holds no per-source slot
}

// Read takes a worker once a request's bytes arrive (not before: an idle
// keep-alive connection holds none) and waits for one if all are busy.
func (c *conn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.l.workers != nil {
		c.acquire()
	}
	return n, err
}

func (c *conn) acquire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		return
	}
	select {
	case c.l.workers <- struct{}{}:
		c.held = true
	case <-c.closed:
	}
}

func (c *conn) release() {
	if c.l.workers == nil {
		return
	}
	// The server reports idle or closed only when no Read is pending, so
	// this never waits behind an acquire (Close unblocks one first).
	c.mu.Lock()
	held := c.held
	c.held = false
	c.mu.Unlock()
	if held {
		<-c.l.workers
	}
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		close(c.closed)
		c.l.open.Add(-1)
		c.l.mu.Lock()
		delete(c.l.idle, c)
		if c.l.lim.PerSource > 0 && !c.probe {
			if c.l.bySource[c.src]--; c.l.bySource[c.src] <= 0 {
				delete(c.l.bySource, c.src)
			}
		}
		c.l.mu.Unlock()
		c.release()
	})
	return err
}
