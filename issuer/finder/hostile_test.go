package finder

import (
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/problem"
)

// TestHostileQueries: every malformed or hostile search gets a problem
// with a stable code naming the parameter at fault, and the finder keeps
// answering.
func TestHostileQueries(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	e.NewPharmacy(t)
	e.refresh(t)
	const (
		pc  = "postcode=10115"
		bad = http.StatusBadRequest
	)
	for _, tc := range []struct {
		name, query string
		status      int
		code, field string
	}{
		{"no postcode", "", bad, "required", "postcode"},
		{"empty postcode", "postcode=", bad, "required", "postcode"},
		{"four digits", "postcode=1011", bad, "invalid_postcode", "postcode"},
		{"six digits", "postcode=101155", bad, "invalid_postcode", "postcode"},
		{"letters", "postcode=abcde", bad, "invalid_postcode", "postcode"},
		{"unassigned zone 00", "postcode=00123", bad, "invalid_postcode", "postcode"},
		{"fullwidth digits", "postcode=%EF%BC%91%EF%BC%90%EF%BC%91%EF%BC%91%EF%BC%95", bad, "invalid_postcode", "postcode"},
		{"arabic-indic digits", "postcode=%D9%A1%D9%A0%D9%A1%D9%A1%D9%A5", bad, "invalid_postcode", "postcode"},
		{"NUL", "postcode=10115%00", bad, "invalid_postcode", "postcode"},
		{"SQL", "postcode=10115'%20OR%20'1'='1", bad, "invalid_postcode", "postcode"},
		{"SQL comment", "postcode=10115;--", bad, "invalid_query", "query"},
		{"space from plus", "postcode=+10115", bad, "invalid_postcode", "postcode"},
		{"RTL override", "postcode=%E2%80%AE51101", bad, "invalid_postcode", "postcode"},
		{"negative radius", pc + "&radius_km=-1", bad, "invalid_value", "radius_km"},
		{"zero radius", pc + "&radius_km=0", bad, "invalid_value", "radius_km"},
		{"radius below 0.1", pc + "&radius_km=0.05", bad, "invalid_value", "radius_km"},
		{"radius above 50", pc + "&radius_km=50.01", bad, "invalid_value", "radius_km"},
		{"huge radius", pc + "&radius_km=20000", bad, "invalid_value", "radius_km"},
		{"exponent", pc + "&radius_km=1e1", bad, "invalid_value", "radius_km"},
		{"huge exponent", pc + "&radius_km=1e308", bad, "invalid_value", "radius_km"},
		{"NaN", pc + "&radius_km=NaN", bad, "invalid_value", "radius_km"},
		{"Inf", pc + "&radius_km=Inf", bad, "invalid_value", "radius_km"},
		{"infinity sign", pc + "&radius_km=%E2%88%9E", bad, "invalid_value", "radius_km"},
		{"hex float", pc + "&radius_km=0x10", bad, "invalid_value", "radius_km"},
		{"unit", pc + "&radius_km=5km", bad, "invalid_value", "radius_km"},
		{"trailing dot", pc + "&radius_km=5.", bad, "invalid_value", "radius_km"},
		{"leading dot", pc + "&radius_km=.5", bad, "invalid_value", "radius_km"},
		{"three decimals", pc + "&radius_km=5.125", bad, "invalid_value", "radius_km"},
		{"decimal comma", pc + "&radius_km=2,5", bad, "invalid_value", "radius_km"},
		{"empty radius", pc + "&radius_km=", bad, "invalid_value", "radius_km"},
		{"negative limit", pc + "&limit=-5", bad, "invalid_value", "limit"},
		{"zero limit", pc + "&limit=0", bad, "invalid_value", "limit"},
		{"limit above 100", pc + "&limit=101", bad, "invalid_value", "limit"},
		{"fractional limit", pc + "&limit=1.5", bad, "invalid_value", "limit"},
		{"overflowing limit", pc + "&limit=99999999999999999999", bad, "invalid_value", "limit"},
		{"signed limit", pc + "&limit=%2B5", bad, "invalid_value", "limit"},
		{"unknown status", pc + "&status=open", bad, "invalid_value", "status"},
		{"status case", pc + "&status=ISSUING", bad, "invalid_value", "status"},
		{"postcode twice", pc + "&postcode=20095", bad, "duplicate_parameter", "postcode"},
		{"radius twice", pc + "&radius_km=5&radius_km=50", bad, "duplicate_parameter", "radius_km"},
		{"unknown parameter", pc + "&q=1", bad, "unknown_parameter", "q"},
		{"camel-cased parameter", pc + "&radiusKm=5", bad, "unknown_parameter", "query"},
		{"script as a name", pc + "&%3Cscript%3E=1", bad, "unknown_parameter", "query"},
		{"unicode name", pc + "&p%C3%B6stcode=1", bad, "unknown_parameter", "query"},
		{"bad escape", "postcode=%zz", bad, "invalid_query", "query"},
		{"semicolon separator", "postcode=10115;radius_km=5", bad, "invalid_query", "query"},
		{"long query", pc + "&" + strings.Repeat("x", finderapi.MaxQueryBytes), http.StatusRequestURITooLong, "query_too_long", "query"},
		// The edges that are valid.
		{"widest valid", pc + "&radius_km=50&limit=100&status=issuing", http.StatusOK, "", ""},
		{"narrowest valid", pc + "&radius_km=0.1&limit=1", http.StatusOK, "", ""},
		{"two decimals", pc + "&radius_km=2.25", http.StatusOK, "", ""},
		{"leading zeros", pc + "&radius_km=005&limit=007", http.StatusOK, "", ""},
	} {
		r := e.search(t, tc.query, nil)
		if r.Status != tc.status {
			t.Errorf("%s (%q): %v, want %d", tc.name, tc.query, r, tc.status)
			continue
		}
		if tc.status == http.StatusOK {
			continue
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != problem.ContentType || r.Problem.Code != tc.code || r.Problem.Field != tc.field || r.Problem.Status != tc.status {
			t.Errorf("%s (%q): %s %q code %q field %q, want %s / %s", tc.name, tc.query, r.Header.Get("Content-Type"), r.Body,
				r.Problem.Code, r.Problem.Field, tc.code, tc.field)
		}
		if r.Header.Get("ETag") != "" || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: a refusal must not be cached: %v", tc.name, r.Header)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		r := e.Do(t, portaltest.Request{Method: m, Path: finderapi.PathPharmacies + "?" + pc})
		if r.Status != http.StatusMethodNotAllowed || r.Problem.Code != "method_not_allowed" || !strings.Contains(r.Header.Get("Allow"), "GET") {
			t.Errorf("%s: %v %v", m, r, r.Header)
		}
	}
	if r := e.search(t, pc, nil); r.Status != http.StatusOK {
		t.Errorf("after the hostile queries: %v", r)
	}
}
