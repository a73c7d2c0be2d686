package portal_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/store"
)

// TestAdminStateMachine: each admin action is allowed only from the states
// where it makes sense; from any other it is 409 invalid_state and changes
// nothing. Asking for the state the pharmacy is in already is a harmless
// 200. Reinstating a pending application (which would make an active
// account without credentials, dead for good) is refused, and the owner
// can still activate it afterwards.
func TestAdminStateMachine(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t)})
	next := 0
	// states builds a fresh pharmacy in the named state.
	states := map[string]func(t *testing.T) (id, code string){
		"pending": func(t *testing.T) (string, string) {
			e := env.Entries[next]
			next++
			if r := env.Apply(t, portaltest.ApplicationFor(e, "")); r.Status != http.StatusAccepted {
				t.Fatalf("apply: %v", r)
			}
			return env.ActivationCode(t, e.Email)
		},
		"active": func(t *testing.T) (string, string) {
			e := env.Entries[next]
			next++
			return env.Onboard(t, e).ID, ""
		},
		"suspended": func(t *testing.T) (string, string) {
			e := env.Entries[next]
			next++
			id := env.Onboard(t, e).ID
			if r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+id+"/suspend", nil); r.Status != http.StatusOK {
				t.Fatalf("suspend: %v", r)
			}
			return id, ""
		},
	}
	tests := []struct {
		action, from string
		status       int
		to           store.PharmacyStatus
	}{
		{"suspend", "pending", http.StatusConflict, store.PharmacyPending},
		{"suspend", "active", http.StatusOK, store.PharmacySuspended},
		{"suspend", "suspended", http.StatusOK, store.PharmacySuspended},
		{"reinstate", "pending", http.StatusConflict, store.PharmacyPending},
		{"reinstate", "active", http.StatusOK, store.PharmacyActive},
		{"reinstate", "suspended", http.StatusOK, store.PharmacyActive},
		{"revoke-all", "pending", http.StatusConflict, store.PharmacyPending},
		{"revoke-all", "active", http.StatusOK, store.PharmacyActive},
		{"revoke-all", "suspended", http.StatusOK, store.PharmacySuspended},
	}
	for _, tc := range tests {
		t.Run(tc.action+" from "+tc.from, func(t *testing.T) {
			id, code := states[tc.from](t)
			r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+id+"/"+tc.action, nil)
			if r.Status != tc.status {
				t.Fatalf("got %v, want %d", r, tc.status)
			}
			if tc.status == http.StatusConflict && r.Problem.Code != "invalid_state" {
				t.Errorf("code %q, want invalid_state", r.Problem.Code)
			}
			rec, err := env.Store.Pharmacy(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != tc.to {
				t.Errorf("state %s, want %s", rec.Status, tc.to)
			}
			if tc.from == "pending" {
				// The application is as it was: its owner activates it.
				r := env.Activate(t, id, code)
				var creds portalapi.Credentials
				if r.Status != http.StatusOK {
					t.Fatalf("activation after a refused %s: %v", tc.action, r)
				}
				r.Decode(t, &creds)
				env.Login(t, &portaltest.Pharmacy{ID: id, ClientID: creds.ClientID, ClientSecret: creds.ClientSecret})
			}
		})
	}

	t.Run("reinstate of a suspended application never activated", func(t *testing.T) {
		// Older registries let an admin suspend a pending application.
		id, _ := states["pending"](t)
		if err := env.Store.SetPharmacyStatus(context.Background(), id, store.PharmacySuspended, "admin"); err != nil {
			t.Fatal(err)
		}
		r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+id+"/reinstate", nil)
		if r.Status != http.StatusConflict || r.Problem.Code != "invalid_state" {
			t.Fatalf("got %v, want 409 invalid_state", r)
		}
	})
}
