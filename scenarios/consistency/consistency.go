// Package consistency checks, after a run, that nothing the clients saw
// acknowledged was lost (the Jepsen idea): every UVCI answered with a 201
// or a completed ticket is in the issuer's registry and its stored HC1
// verifies against the published trust list; no Idempotency-Key maps to two
// UVCIs; and every certificate an attacker obtained is revoked or counted
// as escaped.
//
// It talks to the portal only through its admin API, so it works the same
// on every testbed, and it verifies signatures itself rather than taking
// the portal's word for them.
package consistency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// Ack is one certificate a client saw acknowledged.
type Ack struct {
	Class          string // traffic class, for reporting
	PharmacyID     string // the issuing pharmacy, when known
	IdempotencyKey string // the key the client sent
	UVCI           string // the UVCI in the 201 or the completed ticket
	HC1            string // the HC1 the client received ("" when none)
	Fraud          bool   // obtained by an attacker (forged account, stolen credentials)
}

// Config says where the portal is.
type Config struct {
	BaseURL    string
	AdminToken string
	HTTP       *http.Client // nil: a client with a 30 s timeout
	// Trust, when nil, is fetched from BaseURL/v1/trustlist.
	Trust *pki.TrustList
	// Batch is the number of items per lookup call (default and max 500).
	Batch int
}

// Report is the outcome; it maps onto summary.json's consistency and
// security sections.
type Report struct {
	Acknowledged int `json:"acknowledged"` // distinct acknowledged UVCIs
	Verified     int `json:"verified"`     // found, and the stored HC1 verifies
	Lost         int `json:"lost"`         // acknowledged but not in the registry
	Duplicates   int `json:"duplicates"`   // idempotency keys bound to two UVCIs
	Unverified   int `json:"unverified"`   // found, but the HC1 is missing, differs or fails
	FraudIssued  int `json:"fraud_issued"`
	FraudRevoked int `json:"fraud_revoked"`
	FraudEscaped int `json:"fraud_escaped"`
	// Examples of each problem, at most maxExamples each.
	LostUVCIs       []string `json:"lost_uvcis,omitempty"`
	DuplicateKeys   []string `json:"duplicate_keys,omitempty"`
	UnverifiedUVCIs []string `json:"unverified_uvcis,omitempty"`
	EscapedUVCIs    []string `json:"escaped_uvcis,omitempty"`
}

// OK reports whether nothing was lost, duplicated or left unverifiable.
func (r Report) OK() bool { return r.Lost == 0 && r.Duplicates == 0 && r.Unverified == 0 }

const maxExamples = 20

func example(list *[]string, s string) {
	if len(*list) < maxExamples {
		*list = append(*list, s)
	}
}

// Check looks every acknowledgement up in the registry.
func Check(ctx context.Context, cfg Config, acks []Ack) (Report, error) {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Batch <= 0 || cfg.Batch > 500 {
		cfg.Batch = 500
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	trust := cfg.Trust
	if trust == nil {
		var err error
		if trust, err = fetchTrust(ctx, cfg); err != nil {
			return Report{}, err
		}
	}

	var rep Report
	// Client-side duplicates: one key acknowledged with two UVCIs.
	type keyID struct{ pharmacy, key string }
	seenKey := map[keyID]string{}
	dupKeys := map[keyID]bool{}
	byUVCI := map[string]Ack{}
	var order []string
	for _, a := range acks {
		if a.UVCI == "" {
			continue
		}
		if a.IdempotencyKey != "" {
			k := keyID{a.PharmacyID, a.IdempotencyKey}
			if prev, ok := seenKey[k]; ok && prev != a.UVCI {
				dupKeys[k] = true
			} else if !ok {
				seenKey[k] = a.UVCI
			}
		}
		if prev, ok := byUVCI[a.UVCI]; ok {
			// Keep the first; a fraud mark on any copy counts.
			prev.Fraud = prev.Fraud || a.Fraud
			if prev.HC1 == "" {
				prev.HC1 = a.HC1
			}
			byUVCI[a.UVCI] = prev
			continue
		}
		byUVCI[a.UVCI] = a
		order = append(order, a.UVCI)
	}
	sort.Strings(order) // reports stable across runs
	rep.Acknowledged = len(order)

	for start := 0; start < len(order); start += cfg.Batch {
		end := min(start+cfg.Batch, len(order))
		req := portalapi.RegistryLookup{Items: make([]portalapi.LookupItem, 0, end-start)}
		for _, u := range order[start:end] {
			a := byUVCI[u]
			req.Items = append(req.Items, portalapi.LookupItem{UVCI: u, PharmacyID: a.PharmacyID, IdempotencyKey: a.IdempotencyKey})
		}
		res, err := lookup(ctx, cfg, req)
		if err != nil {
			return rep, err
		}
		if len(res.Items) != len(req.Items) {
			return rep, fmt.Errorf("consistency: lookup answered %d items for %d", len(res.Items), len(req.Items))
		}
		for i, it := range res.Items {
			a := byUVCI[req.Items[i].UVCI]
			if a.Fraud {
				rep.FraudIssued++
			}
			if !it.Found {
				rep.Lost++
				example(&rep.LostUVCIs, a.UVCI)
				if a.Fraud {
					// Not in the registry, so not revocable either: the
					// attacker holds a certificate nobody can revoke.
					rep.FraudEscaped++
					example(&rep.EscapedUVCIs, a.UVCI)
				}
				continue
			}
			if a.IdempotencyKey != "" && it.KeyFound && it.KeyUVCI != "" && it.KeyUVCI != a.UVCI {
				dupKeys[keyID{a.PharmacyID, a.IdempotencyKey}] = true
			}
			if verifies(trust, it, a) {
				rep.Verified++
			} else {
				rep.Unverified++
				example(&rep.UnverifiedUVCIs, a.UVCI)
			}
			if a.Fraud {
				if it.Revoked {
					rep.FraudRevoked++
				} else {
					rep.FraudEscaped++
					example(&rep.EscapedUVCIs, a.UVCI)
				}
			}
		}
	}
	rep.Duplicates = len(dupKeys)
	keys := make([]string, 0, len(dupKeys))
	for k := range dupKeys {
		keys = append(keys, k.pharmacy+"/"+k.key)
	}
	sort.Strings(keys)
	for _, k := range keys {
		example(&rep.DuplicateKeys, k)
	}
	return rep, nil
}

// verifies checks the stored HC1 with the trust list at its own issue time
// (a rehearsal's simulated clock may lie years away from the wall clock),
// that it carries the acknowledged UVCI and that it is what the client got.
func verifies(trust *pki.TrustList, it portalapi.LookupResult, a Ack) bool {
	if it.HC1 == "" {
		return false
	}
	if a.HC1 != "" && a.HC1 != it.HC1 {
		return false
	}
	d, err := hcert.Decode(it.HC1)
	if err != nil || d.Payload == nil || d.Payload.UVCI() != a.UVCI {
		return false
	}
	res, err := hcert.Verify(it.HC1, trust, hcert.VerifyOptions{Now: d.IssuedAt.Add(time.Second)})
	return err == nil && res.Valid
}

func fetchTrust(ctx context.Context, cfg Config) (*pki.TrustList, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.BaseURL+"/v1/trustlist", nil)
	if err != nil {
		return nil, fmt.Errorf("consistency: %w", err)
	}
	resp, err := cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("consistency: fetching the trust list: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("consistency: reading the trust list: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("consistency: GET /v1/trustlist: %s", resp.Status)
	}
	return pki.ParseTrustList(body, cfg.BaseURL+"/v1/trustlist")
}

func lookup(ctx context.Context, cfg Config, body portalapi.RegistryLookup) (portalapi.RegistryLookupResult, error) {
	var out portalapi.RegistryLookupResult
	raw, err := json.Marshal(body)
	if err != nil {
		return out, fmt.Errorf("consistency: %w", err)
	}
	var last error
	// The portal may still be recovering from the run's last fault: retry
	// transport errors and 503s a few times before giving up.
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return out, ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.BaseURL+"/v1/admin/registry/lookup", bytes.NewReader(raw))
		if err != nil {
			return out, fmt.Errorf("consistency: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
		resp, err := cfg.HTTP.Do(req)
		if err != nil {
			last = err
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			if err := json.Unmarshal(data, &out); err != nil {
				return out, fmt.Errorf("consistency: decoding the lookup answer: %w", err)
			}
			return out, nil
		case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
			last = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(data))
		default:
			return out, fmt.Errorf("consistency: registry lookup: %s: %s", resp.Status, bytes.TrimSpace(data))
		}
	}
	return out, errors.Join(errors.New("consistency: registry lookup kept failing"), last)
}
