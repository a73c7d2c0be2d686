package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// TestServeMailout: the mail-out is off unless enabled; with --mailout a
// centre's token from the data directory submits a job, the portal
// process stops while the job runs, and after the restart the job
// finishes with every item issued once.
func TestServeMailout(t *testing.T) {
	dir := t.TempDir()
	url, stop := serveAll(t, dir, portalapi.ProfileHardened)
	if resp, _ := get(t, url+mailoutapi.JobLink("mj_aaaaaaaaaaaaaaaaaaaaaaaaaa")); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("mail-out off: GET a job answers %d", resp.StatusCode)
	}
	stop()
	tokens, err := LoadCentreTokens(Layout{dir})
	if err != nil || len(tokens) != 3 || tokens["ZI01"] == "" {
		t.Fatalf("centre tokens of the data directory: %v %v", tokens, err)
	}

	s, err := Defaults(portalapi.ProfileHardened)
	if err != nil {
		t.Fatal(err)
	}
	s.Data, s.Listen, s.Replicas, s.RegisterSize, s.LogLevel = dir, "127.0.0.1:0", 1, 20, "warn"
	s.Mailout.Enabled = true
	s.Signer.HSMLatency = 0
	url, stop = serveSettings(t, s)
	rnd := mrand.New(mrand.NewPCG(3, 4))
	req := mailoutapi.JobRequest{}
	for i := range 300 {
		raw, _ := json.Marshal(dcc.Sample(rnd, dcc.TypeVaccination, time.Now().Add(-time.Hour)))
		req.Items = append(req.Items, mailoutapi.Item{Key: fmt.Sprintf("brief-%03d", i), Payload: raw})
	}
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, url+mailoutapi.PathJobs, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+tokens["ZI01"])
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	var job mailoutapi.Job
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	stop() // at once: the job is accepted, most of it unsigned

	url, _ = serveSettings(t, s)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, b := getAuth(t, url+job.Links.Self, tokens["ZI01"])
		var j mailoutapi.Job
		if err := json.Unmarshal(b, &j); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("job: %d %s", r.StatusCode, b)
		}
		if j.State == mailoutapi.JobDone {
			if j.Issued != 300 || j.Failed != 0 {
				t.Fatalf("finished job: %+v", j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not done after the restart: %+v", j)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, b := getAuth(t, url+job.Links.Items+"?limit=1000", tokens["ZI01"])
	var page mailoutapi.ItemPage
	if err := json.Unmarshal(b, &page); err != nil || len(page.Items) != 300 {
		t.Fatalf("items: %d %v", len(page.Items), err)
	}
	seen := map[string]bool{}
	for _, it := range page.Items {
		if it.State != mailoutapi.ItemIssued || it.HC1 == "" || seen[it.UVCI] {
			t.Fatalf("item %+v", it)
		}
		seen[it.UVCI] = true
	}
}

func getAuth(t *testing.T, url, token string) (*http.Response, []byte) {
	t.Helper()
	hr, _ := http.NewRequest(http.MethodGet, url, nil)
	hr.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp, buf.Bytes()
}
