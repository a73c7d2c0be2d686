package portal_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsHoldNoPersonalData runs issuance, a replay, a deferral and its
// drain, verification and the printout with debug logging on, and checks
// that no holder's name or birth date reaches the logs (UVCIs, pharmacy IDs
// and codes may).
func TestLogsHoldNoPersonalData(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t), Logger: logger})
	ph := env.NewPharmacy(t)

	c := dcc.Sample(mrand.New(mrand.NewPCG(3, 4)), dcc.TypeVaccination, env.Clock.Now().Add(-time.Hour))
	c.Nam = dcc.Name{Fn: "Quirrelbaum", Fnt: "QUIRRELBAUM", Gn: "Ottilie", Gnt: "OTTILIE"}
	c.Dob = "1957-11-23"
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	key := portaltest.NewKey()
	r := env.Issue(t, ph.Token, key, payload)
	if r.Status != http.StatusCreated {
		t.Fatalf("issue: %v", r)
	}
	var iss portalapi.Issued
	r.Decode(t, &iss)
	env.Issue(t, ph.Token, key, payload)
	env.Verify(t, iss.HC1)
	env.Do(t, portaltest.Request{Method: http.MethodGet, Path: iss.Links.PDF, Token: ph.Token})

	env.SetSigners(portaltest.SignerDown)
	c.Nam.Fn, c.Nam.Fnt = "Quirrelbaum-Zeh", "QUIRRELBAUM<ZEH"
	payload2, _ := json.Marshal(c)
	r = env.Issue(t, ph.Token, portaltest.NewKey(), payload2)
	if r.Status != http.StatusAccepted {
		t.Fatalf("deferral: %v", r)
	}
	var d portalapi.Deferred
	r.Decode(t, &d)
	env.SetSigners(portaltest.SignerUp)
	for deadline := time.Now().Add(15 * time.Second); ticket(t, env, ph, d.Ticket).State != "done"; {
		if time.Now().After(deadline) {
			t.Fatal("ticket not drained")
		}
		time.Sleep(50 * time.Millisecond)
	}

	logs := buf.String()
	if !strings.Contains(logs, iss.UVCI) {
		t.Fatal("the logs do not even mention the UVCI: is logging on?")
	}
	for _, secret := range []string{"Quirrelbaum", "QUIRRELBAUM", "Ottilie", "OTTILIE", "1957-11-23"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}
