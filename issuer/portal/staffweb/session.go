package staffweb

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Sessions, cookies and CSRF.
//
// The browser holds one cookie: a random browser-session ID (sid), set on
// the first page. It is HttpOnly, SameSite=Strict and Secure when the
// request came over TLS (or Options.SecureCookies says TLS ends before
// the portal); over TLS its name has the __Host- prefix, so no sibling
// domain can plant one. A signed-in session is a server-side entry under
// the sid holding the pharmacy's access and refresh tokens; the tokens
// never reach the browser. Signing in replaces the sid (no fixation).
//
// The CSRF token of every form is HMAC(key, sid): a synchronizer token
// bound to the browser session that needs no server state, so it stays
// checkable after the session entry has expired or the portal restarted
// (with a persistent key). That is what lets a form posted into an
// expired session keep its entries: the post is proven to come from this
// browser's page, its fields are sealed (AES-GCM, bound to the sid) into
// the sign-in page, and after signing in they fill the form again.

const (
	sidBytes     = 32
	cookieName   = "golive_staff"
	cookieSecure = "__Host-golive_staff" // over TLS
	// cookieMaxAge outlives every session: an expired session's sid must
	// still arrive so its CSRF token (and the typed form) can be checked.
	cookieMaxAge = 7 * 24 * time.Hour
)

// keyring holds the keys derived from Options.Key, one per purpose.
type keyring struct {
	csrf []byte
	aead cipher.AEAD
}

func newKeyring(master []byte) (*keyring, error) {
	if len(master) < 32 {
		return nil, errors.New("staffweb: Options.Key must have at least 32 bytes")
	}
	block, err := aes.NewCipher(derive(master, "golive staffweb seal v1"))
	if err != nil {
		return nil, fmt.Errorf("staffweb: seal key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("staffweb: seal key: %w", err)
	}
	return &keyring{csrf: derive(master, "golive staffweb csrf v1"), aead: aead}, nil
}

func derive(master []byte, label string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// csrfToken is the form token of the browser session sid.
func (k *keyring) csrfToken(sid string) string {
	m := hmac.New(sha256.New, k.csrf)
	m.Write([]byte(sid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (k *keyring) checkCSRF(sid, token string) bool {
	if sid == "" || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(k.csrfToken(sid)), []byte(token)) == 1
}

// seal encrypts plain for one purpose and binding (a sid, a pharmacy ID):
// it opens only with the same two, so a sealed value is useless anywhere
// else.
func (k *keyring) seal(purpose, binding string, plain []byte) string {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("staffweb: crypto/rand: %v", err)) // rand.Read does not fail on supported systems
	}
	out := k.aead.Seal(nonce, nonce, plain, []byte(purpose+"\x00"+binding))
	return base64.RawURLEncoding.EncodeToString(out)
}

var errSealed = errors.New("staffweb: sealed value does not open")

func (k *keyring) open(purpose, binding, sealed string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, errSealed
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(purpose+"\x00"+binding))
	if err != nil {
		return nil, errSealed
	}
	return plain, nil
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("staffweb: crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// validSID: what randomToken(sidBytes) produces, nothing else.
func validSID(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(sidBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// ------------------------------------------------------------- cookies

func (w *Web) secure(r *http.Request) bool { return w.opts.SecureCookies || r.TLS != nil }

func (w *Web) cookieName(r *http.Request) string {
	if w.secure(r) {
		return cookieSecure
	}
	return cookieName
}

// sid returns the request's browser-session ID ("" when it has none).
func (w *Web) sid(r *http.Request) string {
	c, err := r.Cookie(w.cookieName(r))
	if err != nil || !validSID(c.Value) {
		return ""
	}
	return c.Value
}

// ensureSID returns the request's sid, setting a fresh one when missing:
// every page with a form needs one for its CSRF token.
func (w *Web) ensureSID(rw http.ResponseWriter, r *http.Request) string {
	if s := w.sid(r); s != "" {
		return s
	}
	return w.newSID(rw, r)
}

// newSID sets a fresh sid cookie (at sign-in and sign-out).
func (w *Web) newSID(rw http.ResponseWriter, r *http.Request) string {
	s := randomToken(sidBytes)
	http.SetCookie(rw, &http.Cookie{Name: w.cookieName(r), Value: s, Path: "/", MaxAge: int(cookieMaxAge.Seconds()),
		HttpOnly: true, Secure: w.secure(r), SameSite: http.SameSiteStrictMode})
	return s
}

// ------------------------------------------------------------ sessions

// session is a signed-in pharmacy in one browser.
type session struct {
	pharmacyID string
	created    time.Time

	// mu serialises token refreshes: rotation makes a refresh token
	// single-use, and two tabs refreshing at once would look like theft.
	mu        sync.Mutex
	access    string
	accessExp time.Time
	refresh   string
	// restore is the form typed into an expired session, shown once
	// after signing in again.
	restore *draft

	lastSeen time.Time // guarded by sessions.mu
}

// sessions is the in-memory session table. The portal's refresh tokens
// are in memory too (auth.RefreshTokens), so a restart ends sessions
// either way; typed forms survive it through the sealed draft.
type sessions struct {
	mu      sync.Mutex
	m       map[string]*session
	max     int
	idle    time.Duration
	maxAge  time.Duration
	inserts int
}

func newSessions(max int, idle, maxAge time.Duration) *sessions {
	return &sessions{m: map[string]*session{}, max: max, idle: idle, maxAge: maxAge}
}

func (s *sessions) expired(se *session, now time.Time) bool {
	return now.Sub(se.lastSeen) >= s.idle || now.Sub(se.created) >= s.maxAge
}

// get returns the live session of sid and marks it used; an expired one
// is removed and nil returned.
func (s *sessions) get(sid string, now time.Time) *session {
	if sid == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[sid]
	if se == nil {
		return nil
	}
	if s.expired(se, now) {
		delete(s.m, sid)
		return nil
	}
	se.lastSeen = now
	return se
}

// put stores a new session. Beyond max, expired sessions go first, then
// the longest idle.
func (s *sessions) put(sid string, se *session, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se.lastSeen = now
	s.m[sid] = se
	s.inserts++
	if len(s.m) <= s.max && s.inserts%1024 != 0 {
		return
	}
	for id, o := range s.m {
		if s.expired(o, now) {
			delete(s.m, id)
		}
	}
	for len(s.m) > s.max {
		var oldest string
		var at time.Time
		for id, o := range s.m {
			if oldest == "" || o.lastSeen.Before(at) {
				oldest, at = id, o.lastSeen
			}
		}
		delete(s.m, oldest)
	}
}

func (s *sessions) drop(sid string) {
	s.mu.Lock()
	delete(s.m, sid)
	s.mu.Unlock()
}
