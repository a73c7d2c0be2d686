package mailout

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// env is a running issuer (portaltest: portal, registry, signer replicas
// over real HTTP) with the mail-out mounted among the portal's routes, as
// `golive serve` mounts it. The workers do not run: tests call RunOnce,
// so what a request sees is decided by the test, not by a timer.
type env struct {
	*portaltest.Env
	M      *Mailout
	lanes  *overload.Lanes
	tokens map[string]string // centre id -> token
}

func startEnv(t testing.TB, mutate func(*mailoutapi.Config)) *env {
	t.Helper()
	e := &env{lanes: overload.NewLanes(time.Millisecond),
		tokens: map[string]string{"ZI01": NewCentreToken(), "ZI02": NewCentreToken()}}
	centres := map[string]string{}
	for id, tok := range e.tokens {
		centres[auth.HashToken(tok)] = id
	}
	e.Env = portaltest.Start(t, portaltest.Options{Profile: portalapi.ProfileHardened,
		Deps: func(pe *portaltest.Env, d *portal.Deps) {
			cfg := mailoutapi.HardenedConfig()
			cfg.Enabled = true
			cfg.Lease = mailoutapi.Duration(time.Second)
			cfg.RetryAfter = mailoutapi.Duration(time.Second)
			if mutate != nil {
				mutate(&cfg)
			}
			var err error
			e.M, err = New(cfg, Deps{Registry: pe.Store, Signer: pe.SignerClient, Lanes: e.lanes, Centres: centres,
				Country: "DE", UVCIIssuer: "GL", Clock: pe.Clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			d.Components = append(d.Components, e.M)
			d.Lanes = e.lanes
		}})
	return e
}

// startSmallEnv is startEnv with small bounds (50 items a job, maxPending
// items waiting, 64 KiB bodies) for hostile and fuzzed input, with a
// pharmacy's access token (not a centre's) and centre ZI01's token.
func startSmallEnv(tb testing.TB, maxPending int) (e *env, pharmacyToken, zi1 string) {
	tb.Helper()
	e = startEnv(tb, func(c *mailoutapi.Config) {
		c.MaxItems = 50
		c.MaxPendingItems = maxPending
		c.MaxBodyBytes = 64 << 10
	})
	return e, e.Login(tb, e.NewPharmacy(tb)).AccessToken, e.tokens["ZI01"]
}

// items makes n valid items with keys prefix-0000...
func (e *env) items(t *testing.T, prefix string, n int) []mailoutapi.Item {
	t.Helper()
	out := make([]mailoutapi.Item, n)
	for i := range out {
		out[i] = mailoutapi.Item{Key: fmt.Sprintf("%s-%04d", prefix, i), Payload: e.Payload(t, dcc.TypeVaccination)}
	}
	return out
}

func (e *env) submit(t *testing.T, centre, key string, body any) *portaltest.Response {
	t.Helper()
	req := portaltest.Request{Method: http.MethodPost, Path: mailoutapi.PathJobs, Token: e.tokens[centre], Body: body}
	if key != "" {
		req.Header = http.Header{mailoutapi.IdempotencyHeader: {key}}
	}
	return e.Do(t, req)
}

func (e *env) get(t *testing.T, centre, path string) *portaltest.Response {
	t.Helper()
	return e.Do(t, portaltest.Request{Method: http.MethodGet, Path: path, Token: e.tokens[centre]})
}

func (e *env) jobOf(t *testing.T, centre, id string) mailoutapi.Job {
	t.Helper()
	r := e.get(t, centre, mailoutapi.JobLink(id))
	if r.Status != http.StatusOK {
		t.Fatalf("GET job: %v", r)
	}
	var j mailoutapi.Job
	r.Decode(t, &j)
	return j
}

// drain steps the worker until nothing is due.
func (e *env) drain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		n, err := e.M.RunOnce(ctx)
		if err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// allItems reads every item of a job page by page.
func (e *env) allItems(t *testing.T, centre, id string, limit int) []mailoutapi.ItemResult {
	t.Helper()
	var out []mailoutapi.ItemResult
	after := ""
	for pages := 0; ; pages++ {
		path := fmt.Sprintf("%s?limit=%d", mailoutapi.ItemsLink(id), limit)
		if after != "" {
			path += "&after=" + after
		}
		r := e.get(t, centre, path)
		if r.Status != http.StatusOK {
			t.Fatalf("GET items: %v", r)
		}
		var p mailoutapi.ItemPage
		r.Decode(t, &p)
		out = append(out, p.Items...)
		if p.Next == "" {
			return out
		}
		if pages > 10000 {
			t.Fatal("pages do not end")
		}
		after = p.Next
	}
}

func decodeJob(t *testing.T, r *portaltest.Response) mailoutapi.Job {
	t.Helper()
	var j mailoutapi.Job
	if err := json.Unmarshal(r.Body, &j); err != nil {
		t.Fatalf("job body %q: %v", r.Body, err)
	}
	return j
}
