package portalclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/problem"
)

func TestOnboardIssueVerify(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	ctx := context.Background()
	c := portalclient.New(env.URL)
	c.AdminToken = env.AdminToken
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	ph, err := c.Onboard(ctx, env.Mailbox, env.Entries[0])
	if err != nil {
		t.Fatal(err)
	}
	if ph.Token == "" || ph.ID == "" {
		t.Fatalf("pharmacy %+v", ph)
	}
	// Onboarding the same pharmacy again is refused with a problem code.
	_, err = c.Onboard(ctx, env.Mailbox, env.Entries[0])
	var p problem.Problem
	if !errors.As(err, &p) || p.Status < 400 || p.Code == "" {
		t.Errorf("second onboarding: %v", err)
	}

	res, err := c.Issue(ctx, ph.Token, portaltest.NewKey(), portalapi.IssueRequest{Payload: env.Payload(t, dcc.TypeRecovery)})
	if err != nil || res.Status != 201 || res.Issued == nil {
		t.Fatalf("issue: %+v %v", res, err)
	}
	v, err := c.Verify(ctx, res.Issued.HC1)
	if err != nil || !v.Valid || v.UVCI != res.Issued.UVCI {
		t.Errorf("verify: %+v %v", v, err)
	}
	cv, err := c.Certificate(ctx, ph.Token, res.Issued.UVCI)
	if err != nil || cv.HC1 != res.Issued.HC1 {
		t.Errorf("certificate: %+v %v", cv, err)
	}
	look, err := c.RegistryLookup(ctx, portalapi.RegistryLookup{Items: []portalapi.LookupItem{{UVCI: res.Issued.UVCI}}})
	if err != nil || !look.Items[0].Found {
		t.Errorf("lookup: %+v %v", look, err)
	}

	// With every signer hanging the portal defers; the ticket is readable.
	env.SetSigners(portaltest.SignerHang)
	res, err = c.Issue(ctx, ph.Token, portaltest.NewKey(), portalapi.IssueRequest{Payload: env.Payload(t, dcc.TypeTest)})
	if err != nil || res.Status != 202 || res.Deferred == nil || res.Deferred.Ticket == "" {
		t.Fatalf("deferred issue: %+v %v", res, err)
	}
	tv, err := c.Ticket(ctx, ph.Token, res.Deferred.Ticket)
	if err != nil || tv.State != "pending" {
		t.Errorf("ticket: %+v %v", tv, err)
	}

	// A bad token is a 401 problem, not a transport error.
	_, err = c.Issue(ctx, "garbage", portaltest.NewKey(), portalapi.IssueRequest{Payload: env.Payload(t, dcc.TypeTest)})
	if !errors.As(err, &p) || p.Status != 401 {
		t.Errorf("bad token: %v", err)
	}
}
