package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// Mix weighs the certificate kinds a pharmacy issues.
type Mix struct {
	V, T, R float64
}

// DefaultMix is June 2021's: mostly vaccinations.
var DefaultMix = Mix{V: 3, T: 1, R: 1}

// Payloads generates valid, varied DCC payloads (dcc.Sample: names with
// umlauts, accents, ß, hyphens and several given names; every vaccine
// product of the value sets), the same for the same seed and sequence
// number whatever the order or concurrency of the calls.
type Payloads struct {
	Seed uint64
	Mix  Mix // zero: DefaultMix
}

// Certificate returns the payload of action seq, its dates before now.
func (p *Payloads) Certificate(seq uint64, now time.Time) *dcc.Certificate {
	rnd := rand.New(rand.NewPCG(p.Seed, seq))
	m := p.Mix
	if m.V+m.T+m.R <= 0 {
		m = DefaultMix
	}
	typ := dcc.TypeVaccination
	switch x := rnd.Float64() * (m.V + m.T + m.R); {
	case x >= m.V+m.T:
		typ = dcc.TypeRecovery
	case x >= m.V:
		typ = dcc.TypeTest
	}
	return dcc.Sample(rnd, typ, now)
}

// JSON returns the payload of action seq as JSON.
func (p *Payloads) JSON(seq uint64, now time.Time) ([]byte, dcc.Type, error) {
	c := p.Certificate(seq, now)
	b, err := json.Marshal(c)
	if err != nil {
		return nil, "", fmt.Errorf("loadgen: encoding payload %d: %w", seq, err)
	}
	return b, c.Type(), nil
}

// Credential is one pharmacy's access to the portal.
type Credential struct {
	PharmacyID string
	Token      string // bearer access token
}

// Credentials hands out the credential for an action; the engine's
// implementation keeps tokens fresh.
type Credentials interface {
	Credential(ctx context.Context, seq uint64) (Credential, error)
}

// StaticCredentials spreads actions over fixed credentials, pseudo-randomly
// by sequence number (so pharmacies are not hit in lock step).
type StaticCredentials []Credential

// Credential implements Credentials.
func (s StaticCredentials) Credential(_ context.Context, seq uint64) (Credential, error) {
	if len(s) == 0 {
		return Credential{}, errors.New("no credentials")
	}
	return s[Pick(seq, len(s))], nil
}

// Pick spreads action seq over n choices (n > 0) pseudo-randomly, the
// same for the same seq, so consecutive actions do not walk the choices in
// lock step.
func Pick(seq uint64, n int) int { return int(splitmix64(seq) % uint64(n)) }

// splitmix64 scrambles a sequence number into a well-spread index.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// IssueTargets builds the issuance requests of a class: POST
// {BaseURL}/v1/certificates with a pharmacy's bearer token, a payload from
// Payloads and an Idempotency-Key unique to the run and action.
type IssueTargets struct {
	BaseURL     string
	Payloads    *Payloads
	Credentials Credentials
	// KeyPrefix makes idempotency keys unique across runs against the
	// same registry (a run id, say).
	KeyPrefix string
	// Now is the simulated time payload dates must precede; nil: time.Now.
	Now func() time.Time
}

// Request implements RequestFunc (pass it as it.Request).
func (it *IssueTargets) Request(ctx context.Context, seq uint64) (Request, error) {
	if it.Payloads == nil || it.Credentials == nil || it.BaseURL == "" {
		return Request{}, errors.New("loadgen: IssueTargets needs BaseURL, Payloads and Credentials")
	}
	now := time.Now()
	if it.Now != nil {
		now = it.Now()
	}
	cred, err := it.Credentials.Credential(ctx, seq)
	if err != nil {
		return Request{}, fmt.Errorf("credential for action %d: %w", seq, err)
	}
	payload, typ, err := it.Payloads.JSON(seq, now)
	if err != nil {
		return Request{}, err
	}
	body, err := json.Marshal(portalapi.IssueRequest{Type: string(typ), Payload: payload})
	if err != nil {
		return Request{}, fmt.Errorf("loadgen: encoding issue request %d: %w", seq, err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Authorization", "Bearer "+cred.Token)
	h.Set("Idempotency-Key", it.KeyPrefix+strconv.FormatUint(seq, 10))
	return Request{
		Target: vegeta.Target{Method: http.MethodPost, URL: strings.TrimSuffix(it.BaseURL, "/") + "/v1/certificates", Body: body, Header: h},
		Tag:    cred.PharmacyID,
	}, nil
}
