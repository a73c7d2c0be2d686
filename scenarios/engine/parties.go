package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/register"
)

// Doctors' practices (docs/doctors.md): an issue class with party
// practice onboards from the practice register (DATA/practices.jsonl),
// before the load or, with join_at, when the simulated clock reaches it,
// so the portal's onboarding gate judges the simulated day.

// practicesFile is the practice register in a data directory
// (issuer/server.Layout.Practices).
const practicesFile = "practices.jsonl"

// practiceEntries is the practice register's entries for class number
// idx of the scenario: the classes before it that issue as practices take
// theirs first, from one shuffle of the register.
func (r *run) practiceEntries(idx int) ([]register.Entry, error) {
	dir := r.tb.DataDir()
	if dir == "" {
		dir = r.o.DataDir
	}
	if dir == "" {
		return nil, fmt.Errorf("engine: the target's practice register is unknown: pass the deployment's data directory")
	}
	reg, err := register.LoadKind(filepath.Join(dir, practicesFile), register.KindPractice)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	entries := reg.Entries()
	rand.New(rand.NewPCG(r.seed, 98)).Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	from := 0
	for _, c := range r.sc.Traffic[:idx] {
		if c.IsPractice() {
			from += max(c.Pharmacies, 1)
		}
	}
	n := max(r.sc.Traffic[idx].Pharmacies, 1)
	if from+n > len(entries) {
		return nil, fmt.Errorf("engine: the practice register has %d practices, the scenario needs %d", len(entries), from+n)
	}
	return entries[from : from+n], nil
}

// setUpPractices gives a practice class its accounts: onboarded now, or
// (join_at) an empty pool that joinParties fills during the load.
func (r *run) setUpPractices(ctx context.Context, cs *classSetup, mail portalclient.Mail) error {
	c := cs.spec
	idx := -1
	for i, t := range r.sc.Traffic {
		if t.Name == c.Name {
			idx = i
		}
	}
	entries, err := r.practiceEntries(idx)
	if err != nil {
		return err
	}
	cs.practices, cs.mail = entries, mail
	cs.accounts = newAccounts(r.client, nil)
	if c.Joins() {
		cs.accounts.joined = make(chan struct{})
		return nil
	}
	r.say("onboarding %d practices for %s", len(entries), c.Name)
	phs, err := onboardAll(ctx, r.client, mail, entries, nil)
	if err != nil {
		return fmt.Errorf("engine: onboarding practices for %s: %w", c.Name, err)
	}
	cs.accounts.add(phs)
	return nil
}

// joinParties onboards every joining class's parties when the simulated
// clock reaches its join_at. A class whose onboarding fails keeps an
// empty pool: its requests fail, and the run's results show it.
func (r *run) joinParties(ctx context.Context, setups []*classSetup) {
	for _, cs := range setups {
		if !cs.spec.Joins() || cs.accounts == nil || cs.accounts.joined == nil {
			continue
		}
		go func() {
			defer close(cs.accounts.joined)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(r.clock.Wall(cs.spec.JoinAt))):
			}
			r.say("%s: %d %ss join at %s", cs.spec.Name, len(cs.practices), cs.spec.Party, cs.spec.JoinAt.Format(time.RFC3339))
			phs, err := onboardAll(ctx, r.client, cs.mail, cs.practices, nil)
			if err != nil {
				r.log.Error("joining parties failed", "class", cs.spec.Name, "err", err)
				r.say("%s: onboarding at join_at failed: %v", cs.spec.Name, err)
				return
			}
			cs.accounts.add(phs)
		}()
	}
}

// add puts onboarded accounts into the pool.
func (a *accounts) add(phs []*portalclient.Pharmacy) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range phs {
		a.list = append(a.list, p)
		a.byID[p.ID] = p
	}
}
