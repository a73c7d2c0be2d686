package portalapi

// The staff web portal's stable surface: its paths and the ids of the
// elements a browser journey (a person, a test or a load generator driving
// Chromium) finds and fills. The pages may change their look; these stay.
// See docs/staff-portal.md.

// Staff web paths. Certificate and ticket pages carry a sealed reference
// (never a UVCI, ticket ID or anything personal), so a journey reaches
// them by following the pages, not by building URLs.
const (
	StaffRoot        = "/staff/"
	StaffSignIn      = "/staff/signin"
	StaffIssuePrefix = "/staff/issue/" // + StaffKindVaccination, ...
)

// Kinds of the issuance form (the last path segment of StaffIssuePrefix).
const (
	StaffKindVaccination = "vaccination"
	StaffKindTest        = "test"
	StaffKindRecovery    = "recovery"
)

// Element ids. Every page has exactly one <h1>, with id StaffIDHeading,
// and <body data-page="..."> naming the page (StaffPage* below).
const (
	StaffIDHeading = "page-heading"
	// Sign-in form.
	StaffIDClientID     = "client_id"
	StaffIDClientSecret = "client_secret"
	StaffIDSignIn       = "signin"
	// Issuance form: the inputs carry the DCC keys as ids (fn, gn, dob,
	// mp, dn, sd, dt, co, tt, ma, nm, sc, tr, tc, fr, df, du); StaffIDIssue
	// is the submit button. A field's error is "<id>-error" with the API's
	// error code in data-code.
	StaffIDIssue      = "issue"
	StaffIDErrorList  = "error-summary"
	StaffIDNotice     = "notice"
	StaffIDSignOut    = "signout"
	StaffIDSignerDown = "signer-banner" // present while the signer is cut off
	// Certificate page.
	StaffIDQR          = "qr"
	StaffIDPDF         = "pdf"          // opens the PDF
	StaffIDPDFDownload = "pdf-download" // downloads it
	StaffIDUVCI        = "uvci"
	StaffIDIssueAgain  = "issue-again"
	// Ticket page.
	StaffIDTicket = "ticket"
	StaffIDReady  = "ready-at"
)

// Page names (the data-page attribute of <body>).
const (
	StaffPageSignIn      = "signin"
	StaffPageIssue       = "issue"
	StaffPageBusy        = "busy" // the issuance form again, after an overload answer
	StaffPageCertificate = "certificate"
	StaffPageTicket      = "ticket"
	StaffPageFailed      = "failed" // a deferred request that could not be issued
	StaffPageError       = "error"  // CSRF refusals, unknown pages, other errors
)
