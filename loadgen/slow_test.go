package loadgen

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/simclock"
)

// slowServer serves 200 on loopback with the given header deadline and
// reads bodies without one (0: none at all).
func slowServer(t *testing.T, readHeader time.Duration, state func(net.Conn, http.ConnState)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: readHeader, ConnState: state,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestSlowAttackersAgainstRealServers: slow-header connections are cut
// off by a server with a header deadline and held by one without; both
// kinds keep the count their demand asks for, from their own source.
func TestSlowAttackersAgainstRealServers(t *testing.T) {
	clock := simclock.Clock{SimStart: time.Now(), WallStart: time.Now(), Scale: 1}
	run := func(kind SlowKind, base string, conns float64) SlowStats {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		a := SlowAttack{Name: string(kind), Kind: kind, URL: base + "/v1/token", Conns: Constant(conns), Every: 50 * time.Millisecond}
		if err := a.check(); err != nil {
			t.Fatal(err)
		}
		return runSlow(ctx, a, clock, 1)
	}
	t.Run("header deadline cuts slowloris off", func(t *testing.T) {
		st := run(SlowHeader, slowServer(t, 200*time.Millisecond, nil), 5)
		if st.CutOff == 0 || st.Opened <= 5 {
			t.Fatalf("%+v: want connections cut off and reopened", st)
		}
	})
	t.Run("no deadline keeps them", func(t *testing.T) {
		sources := make(chan string, 100)
		st := run(SlowHeader, slowServer(t, 0, func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				sources <- host
			}
		}), 5)
		if st.CutOff != 0 || st.Opened != 5 || st.MaxHeld != 5 {
			t.Fatalf("%+v: want 5 connections held throughout", st)
		}
		if src := <-sources; src != DefaultSlowSource {
			t.Fatalf("attackers came from %s, want %s", src, DefaultSlowSource)
		}
	})
	t.Run("slow bodies without a body deadline are kept", func(t *testing.T) {
		st := run(SlowBody, slowServer(t, 200*time.Millisecond, nil), 3)
		if st.CutOff != 0 || st.Opened != 3 {
			t.Fatalf("%+v: a header deadline does not bound a body", st)
		}
	})
}

// TestSlowAttackersOverTLS: against an https portal each slow client
// completes its TLS handshake and then dribbles inside it. Bytes sent in
// the clear would get a TLS server's 400 and a closed connection at once,
// so connections held for the whole window prove the handshake.
func TestSlowAttackersOverTLS(t *testing.T) {
	clock := simclock.Clock{SimStart: time.Now(), WallStart: time.Now(), Scale: 1}
	serve := func(readHeader time.Duration) (string, *tls.Config) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		}))
		srv.Config.ReadHeaderTimeout = readHeader
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL, srv.Client().Transport.(*http.Transport).TLSClientConfig
	}
	run := func(kind SlowKind, base string, tc *tls.Config) SlowStats {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		a := SlowAttack{Name: string(kind), Kind: kind, URL: base + "/v1/token", Conns: Constant(4), Every: 50 * time.Millisecond, TLS: tc}
		if err := a.check(); err != nil {
			t.Fatal(err)
		}
		return runSlow(ctx, a, clock, 1)
	}
	base, tc := serve(0)
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("test server at %s", base)
	}
	for _, kind := range SlowKinds() {
		if st := run(kind, base, tc); st.CutOff != 0 || st.Opened != 4 || st.DialFailed != 0 {
			t.Errorf("%s over TLS without deadlines: %+v, want 4 connections held throughout", kind, st)
		}
	}
	if st := run(SlowHeader, base, &tls.Config{MinVersion: tls.VersionTLS12}); st.Opened != 0 || st.DialFailed == 0 {
		t.Errorf("a client that does not trust the server's CA: %+v, want every handshake failed", st)
	}
	base, tc = serve(200 * time.Millisecond)
	if st := run(SlowHeader, base, tc); st.CutOff == 0 || st.Opened <= 4 {
		t.Errorf("over TLS with a header deadline: %+v, want connections cut off and reopened", st)
	}
}

func TestSlowAttackRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://192.0.2.1/", "http://example.com/", "https://127.0.0.1/"} {
		a := SlowAttack{Name: "x", Kind: SlowHeader, URL: u, Conns: Constant(1)}
		if err := a.check(); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	a := SlowAttack{Name: "x", Kind: "slow-nothing", URL: "http://127.0.0.1/", Conns: Constant(1)}
	if err := a.check(); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("unknown kind: %v", err)
	}
}
