package portal_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// slowBody opens a connection that sends a request's headers and the first
// byte of its body, then nothing more: the slow-body attack. The returned
// connection is closed at the end of the test.
func slowBody(t *testing.T, base, path string, header map[string]string) net.Conn {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n", path, u.Host)
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n{")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// waitInFlight waits until the portal handles at least n requests (the
// slow ones have reached their handlers).
func waitInFlight(t *testing.T, env *portaltest.Env, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/metrics"})
		for _, line := range strings.Split(string(r.Body), "\n") {
			var v float64
			if _, err := fmt.Sscanf(line, "portal_in_flight_requests %g", &v); err == nil && v >= float64(n) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the portal never had %d requests in flight", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSlowBodiesHoldNoSlot: 20 connections that send a body one byte and
// then nothing hold no admission slot. With the login and issue limits cut
// to 4 slots and a queue of 4, normal logins and another pharmacy's
// issuance still succeed while the 20 wait; the same portal admitting
// before the body (the 2021 order) answers them 503. The slow clients are
// then cut off with 408 when their body deadline passes.
func TestSlowBodiesHoldNoSlot(t *testing.T) {
	const slow = 20
	small := portalapi.RouteLimit{MaxConcurrent: 4, MaxQueue: 4, MaxQueueWait: portalapi.Duration(50 * time.Millisecond)}
	for _, admitAfterBody := range []bool{true, false} {
		t.Run(fmt.Sprintf("admit after body %v", admitAfterBody), func(t *testing.T) {
			env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t), Mutate: func(c *portalapi.Config) {
				c.Limits.Login, c.Limits.Issue = small, small
				c.AdmitAfterBody = admitAfterBody
				c.HTTP.BodyReadTimeout = portalapi.Duration(time.Minute) // outlasts the test's requests
			}})
			victim, other := env.NewPharmacy(t), env.NewPharmacy(t)
			for range slow / 2 {
				slowBody(t, env.URL, "/v1/token", nil)
				slowBody(t, env.URL, "/v1/certificates", map[string]string{
					"Authorization": "Bearer " + victim.Token, "Idempotency-Key": portaltest.NewKey()})
			}
			// After the body, all 20 wait in their handlers; admitted
			// first, the limits' 2 x 4 slots are taken (the rest were
			// turned away or timed out in the queue).
			inFlight := slow
			if !admitAfterBody {
				inFlight = 2 * small.MaxConcurrent
			}
			waitInFlight(t, env, inFlight)
			var codes []int
			for range 5 {
				r := env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/token", Body: portalapi.TokenRequest{
					GrantType: "client_credentials", ClientID: other.ClientID, ClientSecret: other.ClientSecret}})
				codes = append(codes, r.Status)
				r = env.Issue(t, other.Token, portaltest.NewKey(), env.Payload(t, "v"))
				codes = append(codes, r.Status)
			}
			want := []int{200, 201}
			if !admitAfterBody {
				want = []int{503, 503}
			}
			for i, c := range codes {
				if c != want[i%2] {
					t.Fatalf("answers while %d bodies trickle in: %v, want %v repeated", slow, codes, want)
				}
			}
		})
	}

	t.Run("cut off at the body deadline", func(t *testing.T) {
		env := portaltest.Start(t, portaltest.Options{Mutate: func(c *portalapi.Config) {
			c.HTTP.BodyReadTimeout = portalapi.Duration(200 * time.Millisecond)
		}})
		conn := slowBody(t, env.URL, "/v1/token", nil)
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to the slow body: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"body_timeout"`) {
			t.Fatalf("got %d %s, want 408 body_timeout", resp.StatusCode, body)
		}
	})

	// A client that keeps dribbling its body is not waited for: after the
	// 408 (a body under the bound, too slow) or the 413 (a body declared
	// over it) the connection closes, rather than the server reading the
	// rest of the body (Go reads up to 256 KiB) without a deadline.
	for _, tc := range []struct {
		declared int
		want     int
	}{{60000, http.StatusRequestTimeout}, {200000, http.StatusRequestEntityTooLarge}} {
		t.Run(fmt.Sprintf("dribbling a declared %d bytes gets %d and loses the connection", tc.declared, tc.want), func(t *testing.T) {
			env := portaltest.Start(t, portaltest.Options{Mutate: func(c *portalapi.Config) {
				c.HTTP.BodyReadTimeout = portalapi.Duration(200 * time.Millisecond)
			}})
			u, _ := url.Parse(env.URL)
			conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := fmt.Fprintf(conn, "POST /v1/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", u.Host, tc.declared); err != nil {
				t.Fatal(err)
			}
			// 50 bytes a second: the rest of the body would take minutes.
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if _, err := conn.Write([]byte("x")); err != nil {
						return
					}
				}
			}()
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to the dribbling body: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.want)
			}
			_, err = io.Copy(io.Discard, br)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("after its answer the dribbling client kept its connection for 30 s")
			}
		})
	}
}

// TestSlowHeadersAreCutOff: a client that never finishes its headers is
// disconnected after HTTP.ReadHeaderTimeout, as golive serve configures
// the server.
func TestSlowHeadersAreCutOff(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Mutate: func(c *portalapi.Config) {
		c.HTTP.ReadHeaderTimeout = portalapi.Duration(200 * time.Millisecond)
	}})
	u, _ := url.Parse(env.URL)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/token HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a connection with unfinished headers for 30 s")
	}
}
