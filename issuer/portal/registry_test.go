package portal_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/internal/pgtest"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// TestMain stops the PostgreSQL servers the tests started.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// registryDownBudget bounds one answer while the database is down: far
// above a refused connection's milliseconds, far below the HTTP client's
// 30 s, so a request that hangs on the database fails the test.
const registryDownBudget = 20 * time.Second

// TestRegistryDown stops the PostgreSQL server behind a portal. Every
// route that needs the registry answers 503 registry_unavailable with
// Retry-After in a problem body that tells nothing about the driver (never
// a 500, never a hang); a retry of the refused issuance with its
// Idempotency-Key after the server is back gets the 201, and the same
// portal keeps working without a restart.
func TestRegistryDown(t *testing.T) {
	srv := pgtest.NewServer(t, nil)
	env := portaltest.Start(t, portaltest.Options{Registry: srv.DSN("postgres")})
	ph := env.NewPharmacy(t)
	issued := env.MustIssue(t, ph, dcc.TypeVaccination)

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	key, payload := portaltest.NewKey(), env.Payload(t, dcc.TypeVaccination)
	requests := []struct {
		name string
		do   func() *portaltest.Response
	}{
		{"issue", func() *portaltest.Response { return env.Issue(t, ph.Token, key, payload) }},
		{"certificate", func() *portaltest.Response {
			return env.Do(t, portaltest.Request{Method: http.MethodGet, Path: portaltest.CertPath(issued.UVCI, ""), Token: ph.Token})
		}},
		{"login", func() *portaltest.Response {
			return env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/token", Body: portalapi.TokenRequest{
				GrantType: "client_credentials", ClientID: ph.ClientID, ClientSecret: ph.ClientSecret}})
		}},
		{"apply", func() *portaltest.Response {
			return env.Apply(t, portaltest.ApplicationFor(env.Entries[len(env.Entries)-1], ""))
		}},
		{"audit", func() *portaltest.Response { return env.Admin(t, http.MethodGet, "/v1/admin/audit", nil) }},
		{"readyz", func() *portaltest.Response {
			return env.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/readyz"})
		}},
	}
	for _, rq := range requests {
		r := rq.do()
		if r.Status != http.StatusServiceUnavailable || r.Problem.Code != "registry_unavailable" {
			t.Errorf("%s with the registry down: %v; want 503 registry_unavailable", rq.name, r)
			continue
		}
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", rq.name)
		}
		if r.Elapsed > registryDownBudget {
			t.Errorf("%s took %v with the registry down", rq.name, r.Elapsed)
		}
		for _, leak := range []string{"SQLSTATE", "dial", "connect", "refused", "pgx", "postgres", "127.0.0.1"} {
			if strings.Contains(strings.ToLower(string(r.Body)), strings.ToLower(leak)) {
				t.Errorf("%s: the answer shows %q: %s", rq.name, leak, r.Body)
			}
		}
	}

	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The pool finds the server again by itself; the client retries.
	deadline := time.Now().Add(time.Minute)
	for {
		r := env.Issue(t, ph.Token, key, payload)
		if r.Status == http.StatusCreated {
			break
		}
		if r.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("retry after the registry is back: %v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	again := env.Issue(t, ph.Token, key, payload)
	if again.Status != http.StatusCreated {
		t.Fatalf("replay: %v", again)
	}
	var a, b portalapi.Issued
	again.Decode(t, &b)
	env.Issue(t, ph.Token, key, payload).Decode(t, &a)
	if a.UVCI != b.UVCI || a.UVCI == "" {
		t.Errorf("one key, two UVCIs: %s, %s", a.UVCI, b.UVCI)
	}
}
