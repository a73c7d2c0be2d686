package server

import (
	"context"
	"errors"
	"testing"

	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/register"
)

// A refresh token outlives the portal process that issued it, and its
// rotation and replay rules hold across the restart.
func TestRefreshTokenSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	s := testSettings(t)
	url, stop, err := runServe(t, s)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := register.Load(s.layout().Register())
	if err != nil {
		t.Fatal(err)
	}
	mb, err := register.NewDirMailbox(s.layout().Mailbox())
	if err != nil {
		t.Fatal(err)
	}
	c := portalclient.New(url)
	ph, err := c.Onboard(ctx, mb, reg.Entries()[0])
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Login(ctx, ph.ClientID, ph.ClientSecret)
	if err != nil || tr.RefreshToken == "" {
		t.Fatalf("login: %+v %v", tr, err)
	}
	stop()

	url, stop, err = runServe(t, s)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c = portalclient.New(url)
	next, err := c.Refresh(ctx, tr.RefreshToken)
	if err != nil || next.AccessToken == "" || next.RefreshToken == "" || next.RefreshToken == tr.RefreshToken {
		t.Fatalf("refresh after the restart: %+v %v", next, err)
	}
	// The first token again is a replay: refused, and its successor dies.
	_, err = c.Refresh(ctx, tr.RefreshToken)
	var pe problem.Problem
	if !errors.As(err, &pe) || pe.Code != "refresh_token_replayed" {
		t.Fatalf("replay after the restart: %v, want refresh_token_replayed", err)
	}
	if _, err := c.Refresh(ctx, next.RefreshToken); !errors.As(err, &pe) || pe.Code != "refresh_token_revoked" {
		t.Fatalf("the replayed family's successor: %v, want refresh_token_revoked", err)
	}
}
