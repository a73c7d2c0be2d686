package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/loadgen"
)

// accounts is a pool of logged-in pharmacies whose access tokens it keeps
// fresh (hardened tokens live 60 s; a run lasts minutes).
type accounts struct {
	client *portalclient.Client
	mu     sync.Mutex
	list   []*portalclient.Pharmacy
	byID   map[string]*portalclient.Pharmacy
	// refreshing guards one login per pharmacy at a time.
	refreshing map[string]chan struct{}
	// joined, when set, closes once a class that joins during the run
	// (parties.go) has its accounts; Credential waits for it.
	joined chan struct{}
}

func newAccounts(c *portalclient.Client, phs []*portalclient.Pharmacy) *accounts {
	a := &accounts{client: c, list: phs, byID: map[string]*portalclient.Pharmacy{}, refreshing: map[string]chan struct{}{}}
	for _, p := range phs {
		a.byID[p.ID] = p
	}
	return a
}

func (a *accounts) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.list)
}

// token returns a pharmacy's access token, logging in again when it is
// about to expire.
func (a *accounts) token(ctx context.Context, ph *portalclient.Pharmacy) (string, error) {
	for {
		a.mu.Lock()
		if time.Until(ph.TokenExpires) > 10*time.Second {
			tok := ph.Token
			a.mu.Unlock()
			return tok, nil
		}
		if wait, busy := a.refreshing[ph.ID]; busy {
			a.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		done := make(chan struct{})
		a.refreshing[ph.ID] = done
		cp := *ph
		a.mu.Unlock()

		err := a.client.LoginPharmacy(ctx, &cp)
		var pr problem.Problem
		if err != nil && ctx.Err() == nil && !errors.As(err, &pr) {
			// No answer (a portal died under the login): a login is safe
			// to send again, and with several portals the client's
			// balancing sends it to another one.
			err = a.client.LoginPharmacy(ctx, &cp)
		}
		a.mu.Lock()
		if err == nil {
			ph.Token, ph.Refresh, ph.TokenExpires = cp.Token, cp.Refresh, cp.TokenExpires
		}
		delete(a.refreshing, ph.ID)
		close(done)
		a.mu.Unlock()
		if err != nil {
			return "", err
		}
	}
}

// Credential implements loadgen.Credentials.
func (a *accounts) Credential(ctx context.Context, seq uint64) (loadgen.Credential, error) {
	if a.joined != nil {
		select {
		case <-a.joined:
		case <-ctx.Done():
			return loadgen.Credential{}, ctx.Err()
		}
	}
	a.mu.Lock()
	empty := len(a.list) == 0
	a.mu.Unlock()
	if empty {
		return loadgen.Credential{}, fmt.Errorf("no pharmacy accounts")
	}
	a.mu.Lock()
	ph := a.list[loadgen.Pick(seq, len(a.list))]
	a.mu.Unlock()
	tok, err := a.token(ctx, ph)
	if err != nil {
		return loadgen.Credential{}, err
	}
	return loadgen.Credential{PharmacyID: ph.ID, Token: tok}, nil
}

// refresh implements loadgen.Refresher: retries carry a fresh token.
func (a *accounts) refresh(ctx context.Context, tag string, h http.Header) error {
	a.mu.Lock()
	ph := a.byID[tag]
	a.mu.Unlock()
	if ph == nil {
		return nil
	}
	tok, err := a.token(ctx, ph)
	if err != nil {
		return err
	}
	h.Set("Authorization", "Bearer "+tok)
	return nil
}

// onboardAll onboards entries with limited concurrency.
func onboardAll(ctx context.Context, c *portalclient.Client, mail portalclient.Mail, entries []register.Entry, progress func(done int)) ([]*portalclient.Pharmacy, error) {
	out := make([]*portalclient.Pharmacy, len(entries))
	errs := make(chan error, len(entries))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, e := range entries {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var err error
			for attempt := 0; attempt < 5; attempt++ {
				out[i], err = c.Onboard(ctx, mail, e)
				if err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(time.Duration(200*(attempt+1)) * time.Millisecond)
			}
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			done++
			if progress != nil {
				progress(done)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return out, nil
}
