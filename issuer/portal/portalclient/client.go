// Package portalclient is a Go client of the portal's HTTP API: what a
// pharmacy's software, an operator script, the load generator's set-up and
// the after-run checks do. Errors from the portal come back as
// problem.Problem values (errors.As) carrying the stable code.
package portalclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/register"
)

// Client talks to one portal.
type Client struct {
	BaseURL string
	HTTP    *http.Client // nil: a client with a 30 s timeout
	// AdminToken authorises the admin calls.
	AdminToken string
}

// New returns a client for baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Response is a raw answer, for callers that need the status and headers.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one JSON request (body nil: none) with an optional bearer token
// and extra headers. Any status is returned without error; transport
// failures are errors.
func (c *Client) Do(ctx context.Context, method, path, token string, header http.Header, body any) (*Response, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("portalclient: encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("portalclient: %w", err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("portalclient: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("portalclient: reading %s %s: %w", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// call does a request and decodes a success answer (status want) into out;
// any other status becomes a problem.Problem error.
func (c *Client) call(ctx context.Context, method, path, token string, header http.Header, body, out any, want ...int) (*Response, error) {
	r, err := c.Do(ctx, method, path, token, header, body)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if r.Status == w {
			if out != nil {
				if err := json.Unmarshal(r.Body, out); err != nil {
					return r, fmt.Errorf("portalclient: decoding %s %s: %w", method, path, err)
				}
			}
			return r, nil
		}
	}
	return r, AsProblem(r)
}

// AsProblem turns a non-success response into a problem.Problem error.
func AsProblem(r *Response) error {
	p := problem.Problem{Status: r.Status}
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Code == "" {
		p.Code = "http_" + fmt.Sprint(r.Status)
		p.Detail = strings.TrimSpace(string(r.Body[:min(len(r.Body), 200)]))
	}
	p.Status = r.Status
	if ra := r.Header.Get("Retry-After"); ra != "" {
		var s int
		if _, err := fmt.Sscan(ra, &s); err == nil {
			p.RetryAfter = time.Duration(s) * time.Second
		}
	}
	return p
}

// Apply sends an onboarding application.
func (c *Client) Apply(ctx context.Context, a portalapi.Application) (portalapi.ApplicationAccepted, error) {
	var out portalapi.ApplicationAccepted
	_, err := c.call(ctx, http.MethodPost, "/v1/pharmacies", "", nil, a, &out, http.StatusAccepted)
	return out, err
}

// Activate exchanges an activation code for client credentials.
func (c *Client) Activate(ctx context.Context, pharmacyID, code string) (portalapi.Credentials, error) {
	var out portalapi.Credentials
	_, err := c.call(ctx, http.MethodPost, "/v1/pharmacies/"+url.PathEscape(pharmacyID)+"/activate", "", nil,
		portalapi.Activation{Code: code}, &out, http.StatusOK)
	return out, err
}

// Login gets an access token with client credentials.
func (c *Client) Login(ctx context.Context, clientID, secret string) (portalapi.TokenResponse, error) {
	var out portalapi.TokenResponse
	_, err := c.call(ctx, http.MethodPost, "/v1/token", "", nil,
		portalapi.TokenRequest{GrantType: "client_credentials", ClientID: clientID, ClientSecret: secret}, &out, http.StatusOK)
	return out, err
}

// Refresh exchanges a refresh token for new tokens.
func (c *Client) Refresh(ctx context.Context, refresh string) (portalapi.TokenResponse, error) {
	var out portalapi.TokenResponse
	_, err := c.call(ctx, http.MethodPost, "/v1/token", "", nil,
		portalapi.TokenRequest{GrantType: "refresh_token", RefreshToken: refresh}, &out, http.StatusOK)
	return out, err
}

// IssueResult is a 201 (Issued set) or a 202 (Deferred set).
type IssueResult struct {
	Status   int
	Issued   *portalapi.Issued
	Deferred *portalapi.Deferred
}

// Issue posts a certificate request under an idempotency key.
func (c *Client) Issue(ctx context.Context, token, key string, req portalapi.IssueRequest) (IssueResult, error) {
	h := http.Header{}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	r, err := c.call(ctx, http.MethodPost, "/v1/certificates", token, h, req, nil, http.StatusCreated, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return IssueResult{}, err
	}
	res := IssueResult{Status: r.Status}
	if r.Status == http.StatusAccepted {
		res.Deferred = &portalapi.Deferred{}
		err = json.Unmarshal(r.Body, res.Deferred)
	} else {
		res.Issued = &portalapi.Issued{}
		err = json.Unmarshal(r.Body, res.Issued)
	}
	if err != nil {
		return res, fmt.Errorf("portalclient: decoding the issue answer: %w", err)
	}
	return res, nil
}

// Ticket reads a deferred request's state.
func (c *Client) Ticket(ctx context.Context, token, id string) (portalapi.TicketView, error) {
	var out portalapi.TicketView
	_, err := c.call(ctx, http.MethodGet, "/v1/tickets/"+url.PathEscape(id), token, nil, nil, &out, http.StatusOK)
	return out, err
}

// Certificate reads a certificate's record (the HC1 for its pharmacy).
func (c *Client) Certificate(ctx context.Context, token, uvci string) (portalapi.CertificateView, error) {
	var out portalapi.CertificateView
	_, err := c.call(ctx, http.MethodGet, "/v1/certificates/"+url.PathEscape(uvci), token, nil, nil, &out, http.StatusOK)
	return out, err
}

// Verify asks the portal's verifier about an HC1.
func (c *Client) Verify(ctx context.Context, hc1 string) (portalapi.VerifyResult, error) {
	var out portalapi.VerifyResult
	_, err := c.call(ctx, http.MethodPost, "/v1/verify", "", nil, portalapi.VerifyRequest{HC1: hc1}, &out, http.StatusOK)
	return out, err
}

// Ready reports whether GET /readyz answers 200.
func (c *Client) Ready(ctx context.Context) error {
	r, err := c.Do(ctx, http.MethodGet, "/readyz", "", nil, nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("portalclient: /readyz answered %d", r.Status)
	}
	return nil
}

// RegistryLookup asks the admin API about acknowledged certificates.
func (c *Client) RegistryLookup(ctx context.Context, req portalapi.RegistryLookup) (portalapi.RegistryLookupResult, error) {
	var out portalapi.RegistryLookupResult
	_, err := c.call(ctx, http.MethodPost, "/v1/admin/registry/lookup", c.AdminToken, nil, req, &out, http.StatusOK)
	return out, err
}

// Admin posts to an admin route such as /v1/admin/pharmacies/{id}/suspend.
func (c *Client) Admin(ctx context.Context, method, path string, body, out any) error {
	_, err := c.call(ctx, method, path, c.AdminToken, nil, body, out, http.StatusOK)
	return err
}

// Mail reads delivered messages; *register.DirMailbox implements it, and a
// testbed can offer one for a mailbox inside a container.
type Mail interface {
	Messages(to string) ([]register.Message, error)
}

// Pharmacy is an onboarded, logged-in pharmacy.
type Pharmacy struct {
	ID, ClientID, ClientSecret string
	Entry                      register.Entry
	Token, Refresh             string
	TokenExpires               time.Time
}

var (
	codeLine = regexp.MustCompile(`(?m)^activation_code: (\S+)$`)
	idLine   = regexp.MustCompile(`(?m)^pharmacy_id: (\S+)$`)
)

// ErrNoCode means no activation message arrived in time.
var ErrNoCode = errors.New("portalclient: no activation code arrived")

// ActivationCode waits (up to wait) for the newest activation message to
// address and returns the pharmacy ID and code in it.
func ActivationCode(ctx context.Context, mail Mail, address, pharmacyID string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		msgs, err := mail.Messages(address)
		if err != nil {
			return "", fmt.Errorf("portalclient: mailbox %s: %w", address, err)
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			id, code := idLine.FindStringSubmatch(msgs[i].Body), codeLine.FindStringSubmatch(msgs[i].Body)
			if id != nil && code != nil && (pharmacyID == "" || id[1] == pharmacyID) {
				return code[1], nil
			}
		}
		if time.Now().After(deadline) {
			return "", ErrNoCode
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Application builds an honest application from a register entry; email
// "" uses the register's address.
func Application(e register.Entry, email string) portalapi.Application {
	if email == "" {
		email = e.Email
	}
	if e.PartyKind() == register.KindPractice {
		// A practice: its KBV numbers, its KV admission, no night-duty notice.
		return portalapi.Application{
			PartyKind: portalapi.PartyPractice, BSNR: e.BSNR, LANR: e.LANR,
			Name: e.Name, Street: e.Street, PostalCode: e.PostalCode, City: e.City,
			TelematikID: e.TelematikID, Email: email,
			LicenceDocument: base64.StdEncoding.EncodeToString(FakePDF("Zulassung zur vertragsärztlichen Versorgung " + e.Name)),
		}
	}
	return portalapi.Application{
		Name: e.Name, Street: e.Street, PostalCode: e.PostalCode, City: e.City,
		TelematikID: e.TelematikID, Email: email,
		LicenceDocument: base64.StdEncoding.EncodeToString(FakePDF("Betriebserlaubnis " + e.Name)),
		NightDutyNotice: base64.StdEncoding.EncodeToString(FakePDF("Bescheid Nacht- und Notdienstfonds")),
	}
}

// FakePDF is a small but well-formed PDF, standing in for a scanned
// licence or notice (a forger's edited copy looks the same to a portal).
func FakePDF(title string) []byte {
	return []byte("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
		"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% " + title +
		"\ntrailer << /Root 1 0 R >>\n%%EOF\n")
}

// ForgedApplication is the July 2021 fraud: an invented pharmacy with an
// edited copy of a real licence and a random (but well-formed and
// check-digit-valid) Telematik-ID, asking for the code at its own address.
func ForgedApplication(rnd *mrand.Rand) portalapi.Application {
	return Application(register.Entry{
		Name: "Sonnenschein-Apotheke", Street: "Erfundene Straße 1", PostalCode: "10115", City: "Berlin",
		TelematikID: register.NewTelematikID(rnd),
	}, ForgerMail)
}

// ForgerMail is where a forged application asks for its activation code.
const ForgerMail = "forger@attacker.example"

// Onboard applies with the register entry, reads the code from the
// register address's mailbox, activates and logs in.
func (c *Client) Onboard(ctx context.Context, mail Mail, e register.Entry) (*Pharmacy, error) {
	acc, err := c.Apply(ctx, Application(e, ""))
	if err != nil {
		return nil, fmt.Errorf("portalclient: applying as %s: %w", e.TelematikID, err)
	}
	code, err := ActivationCode(ctx, mail, e.Email, acc.PharmacyID, 10*time.Second)
	if err != nil {
		return nil, err
	}
	creds, err := c.Activate(ctx, acc.PharmacyID, code)
	if err != nil {
		return nil, fmt.Errorf("portalclient: activating %s: %w", acc.PharmacyID, err)
	}
	ph := &Pharmacy{ID: acc.PharmacyID, ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, Entry: e}
	return ph, c.LoginPharmacy(ctx, ph)
}

// LoginPharmacy logs ph in (again) and stores its tokens.
func (c *Client) LoginPharmacy(ctx context.Context, ph *Pharmacy) error {
	tr, err := c.Login(ctx, ph.ClientID, ph.ClientSecret)
	if err != nil {
		return fmt.Errorf("portalclient: logging in %s: %w", ph.ID, err)
	}
	ph.Token, ph.Refresh = tr.AccessToken, tr.RefreshToken
	ph.TokenExpires = time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	return nil
}
