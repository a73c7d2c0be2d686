package engine

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
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
}

func newAccounts(c *portalclient.Client, phs []*portalclient.Pharmacy) *accounts {
	a := &accounts{client: c, list: phs, byID: map[string]*portalclient.Pharmacy{}, refreshing: map[string]chan struct{}{}}
	for _, p := range phs {
		a.byID[p.ID] = p
	}
	return a
}

func (a *accounts) len() int { return len(a.list) }

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
	if len(a.list) == 0 {
		return loadgen.Credential{}, fmt.Errorf("no pharmacy accounts")
	}
	ph := a.list[int(mix64(seq)%uint64(len(a.list)))]
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

func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
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

// forgedApplication is the July 2021 fraud: an invented pharmacy with an
// edited licence copy and a random, well-formed Telematik-ID, asking for
// the code at the attacker's own address.
func forgedApplication(rnd *rand.Rand, n int) portal.Application {
	e := register.Entry{
		Name: fmt.Sprintf("Sonnenschein-Apotheke %d", n), Street: "Erfundene Straße 1", PostalCode: "10115", City: "Berlin",
		TelematikID: register.NewTelematikID(rnd),
	}
	a := portalclient.Application(e, attackerMail)
	a.LicenceDocument = base64.StdEncoding.EncodeToString(portalclient.FakePDF("Betriebserlaubnis (bearbeitet) " + e.Name))
	return a
}

const attackerMail = "forger@attacker.example"
