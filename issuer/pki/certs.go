package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
)

const (
	cscaValidityYears = 10
	dscValidityYears  = 2
)

// countryRe is ISO 3166-1 alpha-2, the form the CWT issuer claim and the
// certificate subject's C attribute take.
var countryRe = regexp.MustCompile(`^[A-Z]{2}$`)

// AllTypes lists the certificate types in the order key usages are written.
var AllTypes = []dcc.Type{dcc.TypeVaccination, dcc.TypeTest, dcc.TypeRecovery}

// NewCSCA creates a self-signed P-256 country signing CA valid for ten years
// from now.
func NewCSCA(country string, now time.Time) (*KeyPair, error) {
	if !countryRe.MatchString(country) {
		return nil, fmt.Errorf("pki: country %q is not an ISO 3166 alpha-2 code", country)
	}
	if now.IsZero() {
		now = time.Now()
	}
	// X.509 times have second precision; truncating keeps the in-memory
	// certificate equal to its parsed DER.
	now = now.UTC().Truncate(time.Second)
	return newCA("CSCA", pkix.Name{Country: []string{country}, CommonName: "golive CSCA " + country}, now, now.AddDate(cscaValidityYears, 0, 0))
}

// newCA makes a self-signed ECDSA P-256 CA that signs end-entity
// certificates only (path length 0); what names the CA in errors.
func newCA(what string, subject pkix.Name, notBefore, notAfter time.Time) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating %s key: %w", what, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating %s certificate: %w", what, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing new %s certificate: %w", what, err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// DSCOptions describes a document signer certificate.
type DSCOptions struct {
	Alg     Alg    // ES256 (default) or PS256
	Country string // defaults to the CSCA's country
	// Usages restricts the certificate types the DSC may sign; empty means
	// all three. The OIDs are written in either case.
	Usages []dcc.Type
	// UsageOIDs picks the OID form of the usages: current (default),
	// legacy (hcert spec 1.0.5) or both.
	UsageOIDs UsageOIDForm
	// NotBefore defaults to now (never before the CSCA's start); NotAfter
	// defaults to two years later, capped at the CSCA's end.
	NotBefore, NotAfter time.Time
	CommonName          string // defaults to "golive DSC <country>"
}

// NewDSC creates a document signer certificate signed by csca: a P-256 key
// for ES256, an RSA-2048 key for PS256.
func NewDSC(csca *KeyPair, opts DSCOptions) (*KeyPair, error) {
	if csca == nil || csca.Cert == nil || csca.Key == nil {
		return nil, errors.New("pki: NewDSC needs a CSCA certificate with its key")
	}
	if opts.Alg == "" {
		opts.Alg = ES256
	}
	if opts.Country == "" && len(csca.Cert.Subject.Country) > 0 {
		opts.Country = csca.Cert.Subject.Country[0]
	}
	if !countryRe.MatchString(opts.Country) {
		return nil, fmt.Errorf("pki: country %q is not an ISO 3166 alpha-2 code", opts.Country)
	}
	if opts.CommonName == "" {
		opts.CommonName = "golive DSC " + opts.Country
	}

	nb, na := opts.NotBefore, opts.NotAfter
	if nb.IsZero() {
		nb = time.Now()
		if nb.Before(csca.Cert.NotBefore) {
			nb = csca.Cert.NotBefore
		}
	}
	nb = nb.UTC().Truncate(time.Second)
	if na.IsZero() {
		na = nb.AddDate(dscValidityYears, 0, 0)
		if na.After(csca.Cert.NotAfter) {
			na = csca.Cert.NotAfter
		}
	}
	na = na.UTC().Truncate(time.Second)
	switch {
	case !na.After(nb):
		return nil, fmt.Errorf("pki: DSC validity %s..%s is empty", nb.Format(time.RFC3339), na.Format(time.RFC3339))
	case nb.Before(csca.Cert.NotBefore) || na.After(csca.Cert.NotAfter):
		return nil, fmt.Errorf("pki: DSC validity %s..%s lies outside the CSCA's %s..%s",
			nb.Format(time.RFC3339), na.Format(time.RFC3339),
			csca.Cert.NotBefore.Format(time.RFC3339), csca.Cert.NotAfter.Format(time.RFC3339))
	}

	oids, err := usageOIDs(opts.Usages, opts.UsageOIDs)
	if err != nil {
		return nil, err
	}

	var key crypto.Signer
	switch opts.Alg {
	case ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case PS256:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("pki: unsupported algorithm %q (want ES256 or PS256)", opts.Alg)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: generating %s DSC key: %w", opts.Alg, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Country: []string{opts.Country}, CommonName: opts.CommonName},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage:    oids,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, csca.Cert, key.Public(), csca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating DSC certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing new DSC certificate: %w", err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

func usageOIDs(usages []dcc.Type, form UsageOIDForm) ([]asn1.ObjectIdentifier, error) {
	if len(usages) == 0 {
		usages = AllTypes
	}
	for _, u := range usages {
		if !slices.Contains(AllTypes, u) {
			return nil, fmt.Errorf("pki: unknown certificate type %q in DSC usages", u)
		}
	}
	var forms [][]asn1.ObjectIdentifier
	switch form {
	case UsageOIDCurrent:
		forms = [][]asn1.ObjectIdentifier{currentOIDs}
	case UsageOIDLegacy:
		forms = [][]asn1.ObjectIdentifier{legacyOIDs}
	case UsageOIDBoth:
		forms = [][]asn1.ObjectIdentifier{currentOIDs, legacyOIDs}
	default:
		return nil, fmt.Errorf("pki: unknown key usage OID form %q (want %q, %q or %q)", form, UsageOIDCurrent, UsageOIDLegacy, UsageOIDBoth)
	}
	var out []asn1.ObjectIdentifier
	for _, oids := range forms {
		for i, t := range AllTypes { // fixed order, duplicates collapse
			if slices.Contains(usages, t) {
				out = append(out, oids[i])
			}
		}
	}
	return out, nil
}

// currentOIDs and legacyOIDs are the usage OIDs in the order of AllTypes.
var (
	currentOIDs = []asn1.ObjectIdentifier{OIDUsageVaccination, OIDUsageTest, OIDUsageRecovery}
	legacyOIDs  = []asn1.ObjectIdentifier{OIDUsageVaccinationLegacy, OIDUsageTestLegacy, OIDUsageRecoveryLegacy}
)

// usageOf reports the certificate type a DCC key usage OID names, in
// either form.
func usageOf(oid asn1.ObjectIdentifier) (dcc.Type, bool) {
	for i, t := range AllTypes {
		if oid.Equal(currentOIDs[i]) || oid.Equal(legacyOIDs[i]) {
			return t, true
		}
	}
	return "", false
}

// UsagesOf reports which certificate types a DSC may sign, in the order of
// AllTypes. Usage OIDs of either form count (a DSC may mix them: the types
// either names). A certificate carrying none of the DCC usage OIDs may
// sign all types (hcert spec, section 5.1.1).
func UsagesOf(cert *x509.Certificate) []dcc.Type {
	named := map[dcc.Type]bool{}
	for _, oid := range cert.UnknownExtKeyUsage {
		if t, ok := usageOf(oid); ok {
			named[t] = true
		}
	}
	if len(named) == 0 {
		return slices.Clone(AllTypes)
	}
	var out []dcc.Type
	for _, t := range AllTypes {
		if named[t] {
			out = append(out, t)
		}
	}
	return out
}

// MaySign reports whether cert's key usage allows signing certificates of
// type t. It is the one rule issuer and verifier share.
func MaySign(cert *x509.Certificate, t dcc.Type) bool {
	return slices.Contains(UsagesOf(cert), t)
}

// AlgOf reports the COSE algorithm a key is used with: ES256 for P-256
// ECDSA keys, PS256 for RSA keys of at least 2048 bits. A crypto.Signer is
// judged by its public key.
func AlgOf(key crypto.PublicKey) (Alg, error) {
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("pki: ECDSA curve %s is not P-256", k.Curve.Params().Name)
		}
		return ES256, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("pki: RSA key of %d bits is below 2048", k.N.BitLen())
		}
		return PS256, nil
	default:
		return "", fmt.Errorf("pki: unsupported key type %T", key)
	}
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: generating serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil // positive, never zero
}
