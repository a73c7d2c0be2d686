package portal

import (
	"container/list"
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/store"
)

// sourceOf is the address a request came from: the throttles' notion of a
// source. (Behind a proxy every request comes from the proxy; the portal
// does not trust forwarding headers a client could write.)
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// failureThrottle is a failure counter per key on overload.Quota's token
// bucket: limit failures in a row, refilled over window. Attempts peek;
// only failures take a token, so successes never count.
func failureThrottle(limit int, window time.Duration, maxKeys int) *overload.Quota {
	if limit < 1 {
		return nil
	}
	return overload.NewQuota(float64(limit)/window.Seconds(), limit, maxKeys)
}

// maxActivationThrottleKeys bounds the (application, source) pairs whose
// wrong activation codes are remembered; past it the least recently used
// are forgotten (which only ever lets a source try again sooner).
const maxActivationThrottleKeys = 100000

// loginThrottle is Config.LoginThrottle at work.
type loginThrottle struct {
	clients, sources *overload.Quota // nil: no limit
	trusted          *trustedPairs   // nil: no source is trusted
}

func newLoginThrottle(c LoginThrottle) *loginThrottle {
	t := &loginThrottle{
		clients: failureThrottle(c.FailuresPerClient, c.Window.D(), c.MaxKeys),
		sources: failureThrottle(c.FailuresPerSource, c.Window.D(), c.MaxKeys),
	}
	if c.TrustedSourceTTL > 0 && c.MaxKeys > 0 {
		t.trusted = &trustedPairs{ttl: c.TrustedSourceTTL.D(), max: c.MaxKeys, items: map[string]*list.Element{}}
	}
	return t
}

func pairKey(clientID, source string) string { return clientID + "\x00" + source }

// check says whether a login for clientID from source may be tried now;
// when not, how long to wait. trusted reports a source the client has
// logged in from: it is never throttled and its failures are not charged.
func (t *loginThrottle) check(clientID, source string, now time.Time) (ok, trusted bool, wait time.Duration) {
	if t.trusted != nil && t.trusted.has(pairKey(clientID, source), now) {
		return true, true, 0
	}
	ok = true
	for _, q := range []struct {
		quota *overload.Quota
		key   string
	}{{t.clients, clientID}, {t.sources, source}} {
		if q.quota == nil {
			continue
		}
		if fine, w := q.quota.Peek(q.key, now); !fine {
			ok, wait = false, max(wait, w)
		}
	}
	return ok, false, wait
}

// failed charges a failed login from an untrusted source.
func (t *loginThrottle) failed(clientID, source string, now time.Time) {
	if t.clients != nil {
		t.clients.Allow(clientID, now)
	}
	if t.sources != nil {
		t.sources.Allow(source, now)
	}
}

// succeeded makes source the client's own.
func (t *loginThrottle) succeeded(clientID, source string, now time.Time) {
	if t.trusted != nil {
		t.trusted.add(pairKey(clientID, source), now)
	}
}

// trustedPairs is a bounded set of (client, source) pairs, each for ttl
// after its last successful login, least recently used dropped first.
type trustedPairs struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	items map[string]*list.Element
	lru   list.List // of *trustedPair, most recent first
}

type trustedPair struct {
	key   string
	until time.Time
}

func (s *trustedPairs) has(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[key]
	return ok && now.Before(el.Value.(*trustedPair).until)
}

func (s *trustedPairs) add(key string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[key]; ok {
		el.Value.(*trustedPair).until = now.Add(s.ttl)
		s.lru.MoveToFront(el)
		return
	}
	for len(s.items) >= s.max {
		delete(s.items, s.lru.Remove(s.lru.Back()).(*trustedPair).key)
	}
	s.items[key] = s.lru.PushFront(&trustedPair{key: key, until: now.Add(s.ttl)})
}

// subjectUnknown counts logins whose client ID names no account, and those
// refused by throttling before the client ID was looked up: attackers
// choose client IDs freely, so they never become subjects of their own.
const subjectUnknown = "unknown"

// failureCounts aggregates failed and throttled logins in memory; Run
// writes them to the registry as one row per subject and day each
// CleanupInterval (and when it stops), so a flood of failures costs
// neither an audit row nor a registry write per attempt.
type failureCounts struct {
	mu      sync.Mutex
	pending map[string]*store.LoginFailures
}

func (f *failureCounts) add(subject string, failed, throttled int64, at time.Time) {
	f.merge(store.LoginFailures{Subject: subject, Failures: failed, Throttled: throttled, FirstAt: at, LastAt: at})
}

func (f *failureCounts) merge(n store.LoginFailures) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		f.pending = map[string]*store.LoginFailures{}
	}
	day := n.LastAt.UTC().Format(time.DateOnly)
	c, ok := f.pending[n.Subject+"\x00"+day]
	if !ok {
		c = &store.LoginFailures{Subject: n.Subject, Day: day, FirstAt: n.FirstAt}
		f.pending[n.Subject+"\x00"+day] = c
	}
	c.Failures += n.Failures
	c.Throttled += n.Throttled
	if n.FirstAt.Before(c.FirstAt) {
		c.FirstAt = n.FirstAt
	}
	if n.LastAt.After(c.LastAt) {
		c.LastAt = n.LastAt
	}
}

// flush writes what has been counted; on failure the counts are kept for
// the next flush.
func (f *failureCounts) flush(ctx context.Context, reg *store.Store) error {
	f.mu.Lock()
	batch := make([]store.LoginFailures, 0, len(f.pending))
	for _, c := range f.pending {
		batch = append(batch, *c)
	}
	f.pending = nil
	f.mu.Unlock()
	if err := reg.CountLoginFailures(ctx, batch); err != nil {
		for _, c := range batch {
			f.merge(c)
		}
		return err
	}
	return nil
}
