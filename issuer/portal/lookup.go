package portal

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/store"
)

// maxLookupItems bounds one registry lookup so a single admin call cannot
// hold the registry for long; the checker pages through its list.
const maxLookupItems = 500

// maxLookupBody bounds a lookup's body: maxLookupItems items with their
// UVCIs, pharmacy IDs and keys.
const maxLookupBody = 1 << 20

// handleRegistryLookup answers, for each acknowledged certificate, whether
// the registry holds it, its stored HC1 and what its idempotency key is
// bound to. It is how a run's consistency check finds lost or duplicated
// certificates without reading the database file.
func (p *Portal) handleRegistryLookup(w http.ResponseWriter, r *http.Request) {
	var req RegistryLookup
	if pr := problem.DecodeJSON(r, &req, maxLookupBody); pr != nil {
		problem.Write(w, *pr)
		return
	}
	if len(req.Items) > maxLookupItems {
		problem.Write(w, problem.BadRequest("too_many_items", "items", fmt.Sprintf("at most %d items per lookup", maxLookupItems)))
		return
	}
	out := RegistryLookupResult{Items: make([]LookupResult, 0, len(req.Items))}
	ctx := r.Context()
	for i, it := range req.Items {
		if it.UVCI == "" && it.IdempotencyKey == "" {
			problem.Write(w, problem.BadRequest("required", fmt.Sprintf("items[%d].uvci", i), "give a uvci or an idempotency_key"))
			return
		}
		res := LookupResult{UVCI: it.UVCI}
		if it.UVCI != "" {
			rec, err := p.reg.Certificate(ctx, it.UVCI)
			switch {
			case err == nil:
				res.Found, res.PharmacyID, res.Status = true, rec.PharmacyID, string(rec.Status)
				res.Revoked = rec.Status == store.CertRevoked
				if rec.HasHC1 {
					hc1, err := p.reg.CertificateHC1(ctx, it.UVCI)
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						p.writeRegistryError(w, "registry-lookup", "", err)
						return
					}
					res.HC1 = string(hc1)
				}
			case errors.Is(err, store.ErrNotFound):
			default:
				p.writeRegistryError(w, "registry-lookup", "", err)
				return
			}
		}
		if it.IdempotencyKey != "" && it.PharmacyID != "" {
			b, err := p.reg.LookupIdempotency(ctx, it.PharmacyID, it.IdempotencyKey)
			switch {
			case err == nil:
				res.KeyFound, res.KeyUVCI = true, b.UVCI
			case errors.Is(err, store.ErrNotFound):
			default:
				p.writeRegistryError(w, "registry-lookup", "", err)
				return
			}
		}
		out.Items = append(out.Items, res)
	}
	writeJSON(w, http.StatusOK, out)
}
