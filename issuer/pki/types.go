// Package pki creates and loads the key material of a DCC issuer: a country
// signing CA (CSCA), document signer certificates (DSCs) carrying the DCC
// extended key usages, their key identifiers and the trust list verifiers use.
package pki

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
)

// Alg names the COSE signature algorithm a DSC key is made for.
type Alg string

const (
	ES256 Alg = "ES256" // ECDSA P-256 with SHA-256, the DCC's primary algorithm
	PS256 Alg = "PS256" // RSASSA-PSS with SHA-256, the secondary algorithm
)

// Extended key usage OIDs that restrict which certificate types a DSC may
// sign (hcert specification 1.0.6 and later).
var (
	OIDUsageTest        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 1}
	OIDUsageVaccination = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 2}
	OIDUsageRecovery    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 3}
)

// The same key usages as hcert specification 1.0.5 wrote them, with an
// extra 0 arc after the enterprise arc. DSCs issued in 2021 carry them and
// deployed verifiers honour them, so a verifier that ignored them would
// treat a restricted DSC as unrestricted.
var (
	OIDUsageTestLegacy        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 0, 1847, 2021, 1, 1}
	OIDUsageVaccinationLegacy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 0, 1847, 2021, 1, 2}
	OIDUsageRecoveryLegacy    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 0, 1847, 2021, 1, 3}
)

// UsageOIDForm says which OIDs NewDSC writes for the key usages.
type UsageOIDForm string

const (
	UsageOIDCurrent UsageOIDForm = ""       // 1.3.6.1.4.1.1847.2021.1.x (default)
	UsageOIDLegacy  UsageOIDForm = "legacy" // 1.3.6.1.4.1.0.1847.2021.1.x (hcert spec 1.0.5)
	UsageOIDBoth    UsageOIDForm = "both"   // each usage in both forms
)

// KeyPair is a certificate with its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Kid is the DCC key identifier: the first 8 bytes of SHA-256 over the
// certificate's DER encoding.
func Kid(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return sum[:8]
}
