package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golive-dev/golive/issuer/simclock"
)

// SlowKind is a kind of slow client: an attacker that holds connections
// by sending as little as it can.
type SlowKind string

// The slow client kinds; each is one file (slowheader.go, slowbody.go).
const (
	SlowHeader SlowKind = "slow-header"
	SlowBody   SlowKind = "slow-body"
)

// slowSender is how one connection of a kind misbehaves.
type slowSender interface {
	// hold writes to c as slowly as the kind does, one byte every every,
	// until ctx ends or a write fails (the server closed c).
	hold(ctx context.Context, c net.Conn, target *url.URL, every time.Duration) error
}

// slowKinds registers every slow client kind.
var slowKinds = map[SlowKind]slowSender{
	SlowHeader: slowHeaderSender{},
	SlowBody:   slowBodySender{},
}

// SlowKinds lists the registered kinds.
func SlowKinds() []SlowKind { return []SlowKind{SlowHeader, SlowBody} }

// Bounds of a slow attack: however the demand reads, no more than
// MaxSlowConns connections are held at once and at most
// slowOpensPerTick are opened each slowTick, so a reconnecting attacker
// cut off at once cannot turn into a connection flood.
const (
	MaxSlowConns     = 2000
	slowTick         = 100 * time.Millisecond
	slowOpensPerTick = 10
	slowDialTimeout  = 5 * time.Second
	// DefaultSlowEvery is the pause between two bytes.
	DefaultSlowEvery = time.Second
	// DefaultSlowSource is the loopback address attackers connect from, so
	// a server that counts connections per source tells them from the
	// legitimate load (127.0.0.1) as it would tell two hosts apart.
	DefaultSlowSource = "127.0.0.2"
)

// SlowAttack is a bounded population of slow clients against one server
// on loopback (or the project's own containers published there).
type SlowAttack struct {
	// Name is the attack's class name in reports.
	Name string
	Kind SlowKind
	// URL is the target, scheme, host and path (e.g.
	// http://127.0.0.1:8080/v1/token); its host must be a loopback address.
	URL string
	// Conns is how many connections the attackers hold at each simulated
	// instant (its Rate read as a count, times the plan's DemandScale).
	Conns Demand
	// Every is the pause between two bytes (default DefaultSlowEvery).
	Every time.Duration
	// Source is the local address to connect from (default
	// DefaultSlowSource; "-" lets the system choose).
	Source string
	// TLS is required for an https:// URL: each connection does its TLS
	// handshake at full speed first (as a real attacker on an HTTPS site
	// must), then sends slowly inside the encrypted stream.
	TLS *tls.Config
}

// SlowStats is what an attack did.
type SlowStats struct {
	Name string
	Kind SlowKind
	// Opened counts connections established, CutOff those the server
	// closed (a deadline, a cap, an answer), DialFailed the dials refused.
	Opened, CutOff, DialFailed int64
	// MaxHeld is the most connections held at once.
	MaxHeld int64
}

func (a *SlowAttack) check() error {
	if _, ok := slowKinds[a.Kind]; !ok {
		return fmt.Errorf("loadgen: slow attack %s: unknown kind %q", a.Name, a.Kind)
	}
	if a.Conns == nil {
		return fmt.Errorf("loadgen: slow attack %s: no connection count", a.Name)
	}
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("loadgen: slow attack %s: target %q must be an http:// or https:// URL", a.Name, a.URL)
	}
	if u.Scheme == "https" && a.TLS == nil {
		return fmt.Errorf("loadgen: slow attack %s: an https:// target needs the client TLS (its CA)", a.Name)
	}
	if !loopbackHost(u.Hostname()) {
		return fmt.Errorf("loadgen: slow attack %s: target %s is not on loopback: slow clients attack only the project's own testbed", a.Name, u.Host)
	}
	if a.Source != "" && a.Source != "-" {
		if ip := net.ParseIP(a.Source); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("loadgen: slow attack %s: source %q must be a loopback address", a.Name, a.Source)
		}
	}
	return nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// runSlow holds a's connections, following its demand on clock, until ctx
// ends; every connection is closed when it returns.
// RunSlowAttacks runs attacks for at most d beside load sent from
// elsewhere (load workers), and says what each did.
func RunSlowAttacks(ctx context.Context, attacks []SlowAttack, clock simclock.Clock, scale float64, d time.Duration) []SlowStats {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stats := make([]SlowStats, len(attacks))
	var wg sync.WaitGroup
	for i, a := range attacks {
		wg.Go(func() { stats[i] = runSlow(ctx, a, clock, scale) })
	}
	wg.Wait()
	return stats
}

func runSlow(ctx context.Context, a SlowAttack, clock simclock.Clock, scale float64) SlowStats {
	st := SlowStats{Name: a.Name, Kind: a.Kind}
	u, _ := url.Parse(a.URL) // checked
	every := a.Every
	if every <= 0 {
		every = DefaultSlowEvery
	}
	d := net.Dialer{Timeout: slowDialTimeout}
	switch a.Source {
	case "":
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(DefaultSlowSource)}
	case "-":
	default:
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(a.Source)}
	}
	sender := slowKinds[a.Kind]
	var (
		mu             sync.Mutex
		live           = map[int]context.CancelFunc{} // connections not yet let go
		nextID         int
		opened, cutOff atomic.Int64
		dialFailed     atomic.Int64
		wg             sync.WaitGroup
	)
	open := func() {
		cctx, cancel := context.WithCancel(ctx)
		id := nextID
		nextID++
		mu.Lock()
		live[id] = cancel
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(live, id)
				mu.Unlock()
				cancel()
			}()
			c, err := d.DialContext(cctx, "tcp", u.Host)
			if err != nil {
				if cctx.Err() == nil {
					dialFailed.Add(1)
				}
				return
			}
			if u.Scheme == "https" {
				if c, err = slowHandshake(cctx, c, u, a.TLS); err != nil {
					if cctx.Err() == nil {
						dialFailed.Add(1)
					}
					return
				}
			}
			opened.Add(1)
			defer c.Close()
			// The server's closing shows on the read side (an answer, EOF).
			gone := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, c)
				close(gone)
			}()
			hctx, stop := context.WithCancel(cctx)
			defer stop()
			go func() {
				select {
				case <-gone:
				case <-hctx.Done():
				}
				stop()
			}()
			err = sender.hold(hctx, c, u, every)
			select {
			case <-gone:
				if cctx.Err() == nil {
					cutOff.Add(1)
				}
			default:
				if err != nil && !errors.Is(err, context.Canceled) && cctx.Err() == nil {
					cutOff.Add(1)
				}
			}
		})
	}
	tick := time.NewTicker(slowTick)
	defer tick.Stop()
	for {
		want := min(int(a.Conns.Rate(clock.Sim(time.Now()))*scale+0.5), MaxSlowConns)
		mu.Lock()
		n := len(live)
		for id, cancel := range live { // over the count: let the extra go
			if n <= want {
				break
			}
			cancel()
			delete(live, id)
			n--
		}
		mu.Unlock()
		for i := 0; n < want && i < slowOpensPerTick; i++ {
			open()
			n++
		}
		st.MaxHeld = max(st.MaxHeld, int64(n))
		select {
		case <-ctx.Done():
			wg.Wait() // every connection's context derives from ctx
			st.Opened, st.CutOff, st.DialFailed = opened.Load(), cutOff.Load(), dialFailed.Load()
			return st
		case <-tick.C:
		}
	}
}

// slowHandshake is a slow client's TLS handshake over c, bounded like its
// dial; on failure c is closed.
func slowHandshake(ctx context.Context, c net.Conn, u *url.URL, tc *tls.Config) (net.Conn, error) {
	cfg := tc.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	tlsConn := tls.Client(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, slowDialTimeout)
	defer cancel()
	if err := tlsConn.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, err
	}
	return tlsConn, nil
}

// dribble writes b one byte every every, until ctx ends or a write fails.
func dribble(ctx context.Context, c net.Conn, b []byte, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for i := range b {
		if _, err := c.Write(b[i : i+1]); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
