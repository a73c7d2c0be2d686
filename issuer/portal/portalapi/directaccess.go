package portalapi

// DirectAccess is GET and PUT /v1/admin/direct-access: whether pharmacies
// may issue with their own portal credential (POST /v1/certificates and
// the staff pages). Off, as on 21 July 2021, they issue only through
// their software vendors (vendor access, docs/vendor-access.md) and a
// direct issuance request gets 403 direct_access_stopped.
type DirectAccess struct {
	Enabled bool `json:"enabled"`
}
