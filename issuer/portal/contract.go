package portal

import (
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
	LoginThrottle = portalapi.LoginThrottle
	HTTPConfig    = portalapi.HTTPConfig
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
	LoginFailureCount    = portalapi.LoginFailureCount
	LoginFailurePage     = portalapi.LoginFailurePage
	AdminRequest         = portalapi.AdminRequest
	RegistryLookup       = portalapi.RegistryLookup
	LookupItem           = portalapi.LookupItem
	LookupResult         = portalapi.LookupResult
	RegistryLookupResult = portalapi.RegistryLookupResult
	BusinessClock        = portalapi.BusinessClock
)

// partyKindOf is the kind of party an account ID names.
var partyKindOf = portalapi.PartyKindOf
