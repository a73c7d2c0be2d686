package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHashAndCheckSecret(t *testing.T) {
	for _, p := range []struct {
		name string
		p    Params
	}{{"fast", FastParams}, {"default", DefaultParams}} {
		t.Run(p.name, func(t *testing.T) {
			h, err := HashSecretWith(p.p, "correct horse battery staple")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, "$argon2id$v=19$") {
				t.Fatalf("hash %q", h)
			}
			if !CheckSecret(h, "correct horse battery staple") {
				t.Fatal("right secret rejected")
			}
			for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", "correct horse battery staple "} {
				if CheckSecret(h, wrong) {
					t.Fatalf("wrong secret %q accepted", wrong)
				}
			}
			h2, _ := HashSecretWith(p.p, "correct horse battery staple")
			if h2 == h {
				t.Fatal("same hash twice: salt not random")
			}
		})
	}
}

func TestDefaultHashSecretUsesOWASPMinimum(t *testing.T) {
	h, err := HashSecret("x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not record OWASP minimum parameters", h)
	}
	start := time.Now()
	ok := CheckSecret(h, "x")
	t.Logf("one default argon2id check: %v", time.Since(start))
	if !ok {
		t.Fatal("check failed")
	}
}

func TestCheckSecretRejectsMalformedHashes(t *testing.T) {
	good, _ := HashSecretWith(FastParams, "s")
	parts := strings.Split(good, "$")
	tests := map[string]string{
		"empty":          "",
		"bcrypt":         "$2a$10$abcdefghijklmnopqrstuu",
		"argon2i":        strings.Replace(good, "argon2id", "argon2i", 1),
		"version":        strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":    strings.Join([]string{"", parts[1], parts[2], "m=4294967295,t=1,p=1", parts[4], parts[5]}, "$"),
		"zero time":      strings.Join([]string{"", parts[1], parts[2], "m=64,t=0,p=1", parts[4], parts[5]}, "$"),
		"unknown param":  strings.Join([]string{"", parts[1], parts[2], "m=64,t=1,p=1,x=2", parts[4], parts[5]}, "$"),
		"bad salt":       strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$"),
		"short key":      strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"extra section":  good + "$x",
		"truncated hash": good[:len(good)-2],
	}
	for name, h := range tests {
		if CheckSecret(h, "s") {
			t.Errorf("%s: malformed hash %q accepted", name, h)
		}
	}
	if !CheckSecret(good, "s") {
		t.Fatal("control: good hash rejected")
	}
	if CheckDummy("s") {
		t.Fatal("CheckDummy returned true")
	}
	if _, err := HashSecretWith(Params{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32, SaltLen: 4}, "s"); err == nil {
		t.Fatal("short salt accepted")
	}
}

func TestRandomIdentifiers(t *testing.T) {
	secretRE := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	clientRE := regexp.MustCompile(`^cl_[A-Za-z0-9_-]{22}$`)
	seen := map[string]bool{}
	for range 1000 {
		s, c, r, n := NewSecret(), NewClientID(), NewRefreshToken(), NewChallenge()
		if !secretRE.MatchString(s) || !clientRE.MatchString(c) || !strings.HasPrefix(r, "rt_") || !secretRE.MatchString(n) {
			t.Fatalf("format: %q %q %q %q", s, c, r, n)
		}
		for _, v := range []string{s, c, r, n} {
			if seen[v] {
				t.Fatalf("repeated value %q", v)
			}
			seen[v] = true
		}
	}
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashToken(abc) = %s", got)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2021, 6, 14, 7, 45, 0, 0, time.UTC)}
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestAccessTokenLifecycle(t *testing.T) {
	clk := newClock()
	iss, err := NewIssuer(testKey, 60*time.Second, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	tok, exp := iss.Issue("3000000000000000000", "issue verify")
	if !exp.Equal(clk.Now().Add(60 * time.Second)) {
		t.Fatalf("exp %v", exp)
	}
	c, err := iss.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "3000000000000000000" || !c.HasScope("issue") || !c.HasScope("verify") || c.HasScope("admin") || c.HasScope("iss") || c.ID == "" {
		t.Fatalf("claims %+v", c)
	}
	clk.Advance(59 * time.Second)
	if _, err := iss.Verify(tok); err != nil {
		t.Fatalf("at 59s: %v", err)
	}
	clk.Advance(time.Second)
	c, err = iss.Verify(tok)
	if !errors.Is(err, ErrExpired) || errors.Is(err, ErrInvalid) {
		t.Fatalf("at 60s: %v", err)
	}
	if c.Subject != "3000000000000000000" {
		t.Fatal("expired token should still report its subject")
	}
	tok2, _ := iss.Issue("3000000000000000000", "issue")
	c2, err := iss.Verify(tok2)
	if err != nil || c2.ID == c.ID {
		t.Fatalf("second token: %v, same jti %v", err, c2.ID == c.ID)
	}
}

func TestAccessTokenTamperingAndWrongKey(t *testing.T) {
	clk := newClock()
	iss, _ := NewIssuer(testKey, time.Minute, clk.Now)
	other, _ := NewIssuer([]byte("another key of at least 32 bytes!!"), time.Minute, clk.Now)
	tok, _ := iss.Issue("pharmacy-a", "issue")
	p64, m64, _ := strings.Cut(tok, ".")

	forge := func(mut func(w map[string]any)) string {
		raw, _ := base64.RawURLEncoding.DecodeString(p64)
		var w map[string]any
		_ = json.Unmarshal(raw, &w)
		mut(w)
		b, _ := json.Marshal(w)
		return base64.RawURLEncoding.EncodeToString(b) + "." + m64
	}
	otherTok, _ := other.Issue("pharmacy-a", "issue")
	flipped := []byte(tok)
	flipped[len(flipped)-3] ^= 1
	tests := map[string]string{
		"empty":              "",
		"no dot":             p64 + m64,
		"three parts":        tok + ".x",
		"other subject":      forge(func(w map[string]any) { w["sub"] = "pharmacy-b" }),
		"scope escalation":   forge(func(w map[string]any) { w["scope"] = "issue admin" }),
		"extended exp":       forge(func(w map[string]any) { w["exp"] = w["exp"].(float64) + 3600 }),
		"flipped mac bit":    string(flipped),
		"signed by other":    otherTok,
		"mac of other token": p64 + "." + strings.SplitN(otherTok, ".", 2)[1],
		"padded base64":      tok + "=",
		"huge":               strings.Repeat("A", 5000) + "." + m64,
		"alg none style":     p64 + ".",
	}
	for name, bad := range tests {
		c, err := iss.Verify(bad)
		if !errors.Is(err, ErrInvalid) || c.Subject != "" {
			t.Errorf("%s: Verify = %+v, %v; want ErrInvalid", name, c, err)
		}
	}
	if _, err := iss.Verify(tok); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func TestAccessTokenStructuralChecksBehindValidMAC(t *testing.T) {
	// A token with a valid MAC but bad claims can only come from a key
	// leak or a bug; Verify must still refuse it.
	clk := newClock()
	iss, _ := NewIssuer(testKey, time.Minute, clk.Now)
	sign := func(payload string) string {
		p64 := base64.RawURLEncoding.EncodeToString([]byte(payload))
		return p64 + "." + base64.RawURLEncoding.EncodeToString(iss.mac(p64))
	}
	now := clk.Now().Unix()
	tests := map[string]string{
		"no subject":     `{"sub":"","iat":` + itoa(now) + `,"exp":` + itoa(now+60) + `,"jti":"j"}`,
		"exp before iat": `{"sub":"a","iat":` + itoa(now) + `,"exp":` + itoa(now-1) + `,"jti":"j"}`,
		"future iat":     `{"sub":"a","iat":` + itoa(now+3600) + `,"exp":` + itoa(now+3660) + `,"jti":"j"}`,
		"unknown claim":  `{"sub":"a","iat":` + itoa(now) + `,"exp":` + itoa(now+60) + `,"jti":"j","adm":true}`,
		"not json":       `sub=a`,
	}
	for name, payload := range tests {
		if _, err := iss.Verify(sign(payload)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := iss.Verify(sign(`{"sub":"a","iat":` + itoa(now) + `,"exp":` + itoa(now+60) + `,"jti":"j"}`)); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func itoa(n int64) string { return big.NewInt(n).String() }

func TestNewIssuerValidates(t *testing.T) {
	if _, err := NewIssuer([]byte("short"), time.Minute, nil); err == nil {
		t.Error("short key accepted")
	}
	if _, err := NewIssuer(testKey, 500*time.Millisecond, nil); err == nil {
		t.Error("sub-second ttl accepted")
	}
}

func TestRefreshRotationAndReplay(t *testing.T) {
	clk := newClock()
	rt := NewRefreshTokens(8*time.Hour, 100, clk.Now)
	t0, _, err := rt.Issue("pharmacy-a")
	if err != nil {
		t.Fatal(err)
	}
	sub, t1, _, err := rt.Rotate(t0)
	if err != nil || sub != "pharmacy-a" || t1 == "" || t1 == t0 {
		t.Fatalf("first rotation: %q %q %v", sub, t1, err)
	}
	_, t2, _, err := rt.Rotate(t1)
	if err != nil {
		t.Fatal(err)
	}
	// A thief replays t1 (already used): the whole family dies, t2 included.
	if _, _, _, err := rt.Rotate(t1); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
	if _, _, _, err := rt.Rotate(t2); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after replay, newest token: %v", err)
	}
	// Another login (family) of the same pharmacy is unaffected.
	u0, _, _ := rt.Issue("pharmacy-a")
	if _, _, _, err := rt.Rotate(u0); err != nil {
		t.Fatalf("independent family: %v", err)
	}
	if _, _, _, err := rt.Rotate("rt_unknown"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestRefreshExpiryRevokeAndBound(t *testing.T) {
	clk := newClock()
	rt := NewRefreshTokens(time.Hour, 10, clk.Now)
	a, _, _ := rt.Issue("a")
	b, _, _ := rt.Issue("b")
	if n := rt.RevokeSubject("a"); n != 1 {
		t.Fatalf("revoked %d", n)
	}
	if _, _, _, err := rt.Rotate(a); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked subject: %v", err)
	}
	clk.Advance(time.Hour)
	if _, _, _, err := rt.Rotate(b); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	// a and b are expired now: the sweep frees their slots, so ten live
	// tokens fit.
	for i := range 10 {
		if _, _, err := rt.Issue("c"); err != nil {
			t.Fatalf("issue %d: %v", i, err)
		}
	}
	// Full of live tokens: refuse rather than evict (eviction would forget
	// used tokens and let a replay through).
	if _, _, err := rt.Issue("d"); !errors.Is(err, ErrCapacity) || rt.Len() != 10 {
		t.Fatalf("over capacity: %v (len %d)", err, rt.Len())
	}
	clk.Advance(2 * time.Hour)
	if _, _, err := rt.Issue("d"); err != nil || rt.Len() != 1 {
		t.Fatalf("after expiry sweep: %v len %d", err, rt.Len())
	}
}

func TestCheckRefreshOrder(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		st   RefreshState
		want error
	}{
		{RefreshState{ExpiresAt: now.Add(time.Second)}, nil},
		{RefreshState{ExpiresAt: now}, ErrExpired},
		{RefreshState{ExpiresAt: now.Add(-time.Hour), Used: true}, ErrReplayed},
		{RefreshState{ExpiresAt: now.Add(time.Hour), Used: true, Revoked: true}, ErrRevoked},
	}
	for i, tc := range tests {
		if err := CheckRefresh(tc.st, now); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%d: %v, want %v", i, err, tc.want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		err     error
	}{
		{"ok", []string{"Bearer abc.DEF-_~+/=="}, "abc.DEF-_~+/==", nil},
		{"scheme case-insensitive", []string{"bearer abc"}, "abc", nil},
		{"missing", nil, "", ErrNoCredential},
		{"empty", []string{""}, "", ErrNoCredential},
		{"duplicate header", []string{"Bearer abc", "Bearer abc"}, "", ErrBadHeader},
		{"basic scheme", []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, "", ErrBadHeader},
		{"no token", []string{"Bearer"}, "", ErrBadHeader},
		{"empty token", []string{"Bearer "}, "", ErrBadHeader},
		{"two spaces", []string{"Bearer  abc"}, "", ErrBadHeader},
		{"tab", []string{"Bearer\tabc"}, "", ErrBadHeader},
		{"leading space", []string{" Bearer abc"}, "", ErrBadHeader},
		{"trailing space", []string{"Bearer abc "}, "", ErrBadHeader},
		{"two tokens", []string{"Bearer abc def"}, "", ErrBadHeader},
		{"comma list", []string{"Bearer abc, Bearer def"}, "", ErrBadHeader},
		{"padding in middle", []string{"Bearer ab=c"}, "", ErrBadHeader},
		{"only padding", []string{"Bearer ==="}, "", ErrBadHeader},
		{"nul", []string{"Bearer abc\x00"}, "", ErrBadHeader},
		{"non-ascii", []string{"Bearer abcé"}, "", ErrBadHeader},
		{"bearerx scheme", []string{"Bearerx abc"}, "", ErrBadHeader},
		{"too long", []string{"Bearer " + strings.Repeat("a", 3000)}, "", ErrBadHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := BearerToken(r)
			if tc.err == nil && (err != nil || got != tc.want) || tc.err != nil && (!errors.Is(err, tc.err) || got != "") {
				t.Fatalf("BearerToken = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestBearerTokenLowercaseHeaderNameIsADuplicate(t *testing.T) {
	// A raw request with "authorization" and "Authorization" lines: Go
	// canonicalises both into one key with two values.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := BearerToken(r); errors.Is(err, ErrBadHeader) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header["authorization"] = []string{"Bearer a"}
	req.Header["Authorization"] = []string{"Bearer b"}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestCheckAdmin(t *testing.T) {
	admin := NewSecret()
	hash := HashToken(admin)
	req := func(h string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/admin", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		return r
	}
	tests := []struct {
		name string
		r    *http.Request
		hash string
		want bool
	}{
		{"right token", req("Bearer " + admin), hash, true},
		{"upper-case configured hash", req("Bearer " + admin), strings.ToUpper(hash), true},
		{"wrong token", req("Bearer " + NewSecret()), hash, false},
		{"hash presented as token", req("Bearer " + hash), hash, false},
		{"no header", req(""), hash, false},
		{"empty configured hash", req("Bearer " + admin), "", false},
		{"malformed configured hash", req("Bearer " + admin), hash[:63] + "g", false},
		{"basic auth", req("Basic " + admin), hash, false},
	}
	for _, tc := range tests {
		if got := CheckAdmin(tc.r, tc.hash); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestChallengeResponse(t *testing.T) {
	card, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherCard, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pemKey, err := MarshalPublicKey(&card.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	ch := NewChallenges(30*time.Second, 3, clk.Now)

	nonce, _, err := ch.Issue("pharmacy-a")
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := SignChallenge(card, nonce)
	if err := ch.Redeem("pharmacy-a", nonce, pub, sig); err != nil {
		t.Fatalf("valid login: %v", err)
	}
	if err := ch.Redeem("pharmacy-a", nonce, pub, sig); !errors.Is(err, ErrInvalid) {
		t.Fatalf("replayed signature: %v", err)
	}

	// Raw r||s form verifies too.
	n2, _, _ := ch.Issue("pharmacy-a")
	der, _ := SignChallenge(card, n2)
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 64)
	rs.R.FillBytes(raw[:32])
	rs.S.FillBytes(raw[32:])
	if err := ch.Redeem("pharmacy-a", n2, pub, raw); err != nil {
		t.Fatalf("raw signature: %v", err)
	}

	failures := []struct {
		name    string
		subject string
		signer  *ecdsa.PrivateKey
		advance time.Duration
		mangle  bool
		want    error
	}{
		{"other card", "pharmacy-a", otherCard, 0, false, ErrInvalid},
		{"nonce of another pharmacy", "pharmacy-b", card, 0, false, ErrInvalid},
		{"expired", "pharmacy-a", card, 30 * time.Second, false, ErrExpired},
		{"flipped bit", "pharmacy-a", card, 0, true, ErrInvalid},
	}
	for _, f := range failures {
		n, _, err := ch.Issue("pharmacy-a")
		if err != nil {
			t.Fatal(err)
		}
		s, _ := SignChallenge(f.signer, n)
		if f.mangle {
			s[len(s)-1] ^= 1
		}
		clk.Advance(f.advance)
		if err := ch.Redeem(f.subject, n, pub, s); !errors.Is(err, f.want) {
			t.Errorf("%s: %v, want %v", f.name, err, f.want)
		}
	}
	// Signature over a different nonce.
	n3, _, _ := ch.Issue("pharmacy-a")
	s3, _ := SignChallenge(card, NewChallenge())
	if err := ch.Redeem("pharmacy-a", n3, pub, s3); !errors.Is(err, ErrInvalid) {
		t.Fatalf("signature over other nonce: %v", err)
	}
}

func TestChallengesBoundedAndKeyParsing(t *testing.T) {
	clk := newClock()
	ch := NewChallenges(time.Minute, 2, clk.Now)
	for range 2 {
		if _, _, err := ch.Issue("a"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ch.Issue("a"); !errors.Is(err, ErrCapacity) {
		t.Fatalf("over capacity: %v", err)
	}
	clk.Advance(time.Minute)
	if _, _, err := ch.Issue("a"); err != nil {
		t.Fatalf("after expiry: %v", err)
	}

	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pem384, _ := MarshalPublicKey(&p384.PublicKey)
	if _, err := ParsePublicKey(pem384); err == nil {
		t.Error("P-384 key accepted")
	}
	if _, err := ParsePublicKey([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); err == nil {
		t.Error("certificate PEM accepted as key")
	}
	if err := VerifyChallenge(&p384.PublicKey, "n", []byte{1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("P-384 verify: %v", err)
	}
}
