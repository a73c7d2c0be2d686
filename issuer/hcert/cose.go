package hcert

import (
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/golive-dev/golive/issuer/pki"
)

// CBOR tags and labels of the container.
const (
	tagCOSESign1 = 18
	tagCWT       = 61 // RFC 8392; some issuers wrap COSE_Sign1 in it

	claimIss   = 1
	claimExp   = 4
	claimIat   = 6
	claimHCert = -260
	hcertDCC   = 1

	headerAlg = 1
	headerKid = 4
)

// Decoder limits. The inflated container is at most maxInflated bytes, so
// these bound the work a hostile certificate can cause; a real DCC nests
// four levels deep and holds maps of a dozen pairs.
const (
	maxInflated      = 64 << 10
	maxNestedLevels  = 16
	maxArrayElements = 1024
	maxMapPairs      = 1024
)

var (
	// encMode is RFC 8949 core deterministic encoding: sorted map keys,
	// shortest forms, no indefinite lengths.
	encMode cbor.EncMode
	// decMode bounds nesting and container sizes, rejects duplicate map
	// keys and indefinite lengths (deterministic CBOR has none).
	decMode cbor.DecMode
	// jsonDecMode is decMode reading maps as JSON objects (string keys
	// only), for the payload's JSON form.
	jsonDecMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(fmt.Sprintf("hcert: CBOR encoder options: %v", err))
	}
	opts := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		MaxNestedLevels:  maxNestedLevels,
		MaxArrayElements: maxArrayElements,
		MaxMapPairs:      maxMapPairs,
		IntDec:           cbor.IntDecConvertSigned,
	}
	if decMode, err = opts.DecMode(); err != nil {
		panic(fmt.Sprintf("hcert: CBOR decoder options: %v", err))
	}
	opts.DefaultMapType = reflect.TypeFor[map[string]any]()
	if jsonDecMode, err = opts.DecMode(); err != nil {
		panic(fmt.Sprintf("hcert: CBOR decoder options: %v", err))
	}
}

// coseAlg maps a DSC algorithm to its COSE identifier.
func coseAlg(a pki.Alg) (cose.Algorithm, error) {
	switch a {
	case pki.ES256:
		return cose.AlgorithmES256, nil
	case pki.PS256:
		return cose.AlgorithmPS256, nil
	}
	return 0, fmt.Errorf("hcert: unsupported algorithm %q", a)
}

// header is the part of a COSE header map a DCC uses.
type header struct {
	Alg *int64 `cbor:"1,keyasint,omitempty"`
	Kid []byte `cbor:"4,keyasint,omitempty"`
}

// sign1 is the untagged COSE_Sign1 array.
type sign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

// sigStructure is RFC 9052's Sig_structure for COSE_Sign1 without
// external data.
type sigStructure struct {
	_         struct{} `cbor:",toarray"`
	Context   string
	Protected []byte
	External  []byte
	Payload   []byte
}

// toBeSigned encodes the Sig_structure over the exact protected bytes.
func toBeSigned(protected, payload []byte) ([]byte, error) {
	if protected == nil {
		protected = []byte{}
	}
	return encMode.Marshal(sigStructure{Context: "Signature1", Protected: protected, External: []byte{}, Payload: payload})
}

// claims are the CWT claims a DCC carries.
type claims struct {
	Iss   string      `cbor:"1,keyasint"`
	Exp   int64       `cbor:"4,keyasint"`
	Iat   int64       `cbor:"6,keyasint"`
	HCert hcertClaims `cbor:"-260,keyasint"`
}

type hcertClaims struct {
	DCC cbor.RawMessage `cbor:"1,keyasint"`
}

// marshalSign1 encodes a tagged COSE_Sign1.
func marshalSign1(protected, unprotected, payload, signature []byte) ([]byte, error) {
	if len(unprotected) == 0 {
		unprotected = emptyMap
	}
	return encMode.Marshal(cbor.Tag{Number: tagCOSESign1, Content: sign1{
		Protected: protected, Unprotected: unprotected, Payload: payload, Signature: signature,
	}})
}

var emptyMap = []byte{0xa0}
