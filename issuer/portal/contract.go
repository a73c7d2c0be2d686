package portal

import (
	"github.com/golive-dev/golive/issuer/fraud"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// The portal's contract lives in package portalapi, which clients import
// without linking the portal. These aliases keep the portal's own code and
// tests on their short names; they are the same types, not copies.
type (
	Config        = portalapi.Config
	RouteLimit    = portalapi.RouteLimit
	RouteLimits   = portalapi.RouteLimits
	QuotaConfig   = portalapi.QuotaConfig
	AnomalyConfig = portalapi.AnomalyConfig
	Duration      = portalapi.Duration

	Application          = portalapi.Application
	ApplicationAccepted  = portalapi.ApplicationAccepted
	Activation           = portalapi.Activation
	Credentials          = portalapi.Credentials
	TokenRequest         = portalapi.TokenRequest
	TokenResponse        = portalapi.TokenResponse
	IssueRequest         = portalapi.IssueRequest
	Links                = portalapi.Links
	Issued               = portalapi.Issued
	Deferred             = portalapi.Deferred
	CertificateView      = portalapi.CertificateView
	TicketView           = portalapi.TicketView
	VerifyRequest        = portalapi.VerifyRequest
	VerifyResult         = portalapi.VerifyResult
	Readiness            = portalapi.Readiness
	Event                = portalapi.Event
	EventPage            = portalapi.EventPage
	PharmacyState        = portalapi.PharmacyState
	AdminRequest         = portalapi.AdminRequest
	RegistryLookup       = portalapi.RegistryLookup
	LookupItem           = portalapi.LookupItem
	LookupResult         = portalapi.LookupResult
	RegistryLookupResult = portalapi.RegistryLookupResult
	BusinessClock        = portalapi.BusinessClock
)

// detectorConfig turns the anomaly settings into the detector's Config.
// It stays here, not in portalapi, because it needs package fraud.
func detectorConfig(a AnomalyConfig) (fraud.Config, error) {
	fc := fraud.DefaultConfig()
	loc, err := a.Location()
	if err != nil {
		return fc, err
	}
	from, until, err := a.Hours()
	if err != nil {
		return fc, err
	}
	fc.Location, fc.OpenFrom, fc.OpenUntil = loc, from, until
	fc.OffHoursLimit, fc.OffHoursWindow = a.OffHoursLimit, a.OffHoursWindow.D()
	fc.VolumeWindow, fc.VolumeFloor = a.VolumeWindow.D(), a.VolumeFloor
	fc.BaselineFactor, fc.BaselineWindow = a.BaselineFactor, a.BaselineWindow.D()
	return fc, fc.Validate()
}
