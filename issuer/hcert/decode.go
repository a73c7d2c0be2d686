package hcert

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/golive-dev/golive/issuer/dcc"
)

// Decoded is an HC1 string taken apart, before any trust decision.
type Decoded struct {
	Alg            int64  // COSE algorithm: -7 ES256, -37 PS256
	Kid            []byte // from the protected header, else the unprotected one
	KidInProtected bool

	// CWT claims. Zero when the claims do not decode (see PayloadErr).
	Issuer    string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Payload is the DCC, nil when the hcert claim does not map onto
	// dcc.Certificate.
	Payload    *dcc.Certificate
	RawPayload []byte // CBOR of claim -260/1
	// PayloadErr says why the claims are not a CWT carrying a DCC; nil
	// when they are.
	PayloadErr error

	COSE      []byte // the inflated COSE_Sign1, tag included
	Protected []byte // the protected header bytes exactly as signed
	CWT       []byte // the signed COSE payload: the CWT claims
	Signature []byte
}

// Decode takes an HC1 string apart without verifying it. It fails (with an
// *Error carrying the reason) when the container is broken: prefix,
// Base45, zlib, CBOR or COSE_Sign1. Claims that are not a DCC do not fail
// Decode; they leave Payload nil and set PayloadErr.
func Decode(hc1 string) (*Decoded, error) {
	s := strings.TrimSpace(hc1)
	if !strings.HasPrefix(s, Prefix) {
		return nil, fail(ReasonBadPrefix, fmt.Errorf("want prefix %q", Prefix))
	}
	z, err := DecodeBase45(s[len(Prefix):])
	if err != nil {
		return nil, fail(ReasonBadBase45, err)
	}
	msg, err := inflate(z)
	if err != nil {
		return nil, fail(ReasonBadZlib, err)
	}
	d, err := parseSign1(msg)
	if err != nil {
		return nil, err
	}
	d.COSE = msg
	d.parseClaims()
	return d, nil
}

// inflate decompresses a zlib stream of at most maxInflated bytes, checking
// its Adler-32.
func inflate(z []byte) ([]byte, error) {
	src := bytes.NewReader(z)
	var zr io.ReadCloser
	if v := zlibReaders.Get(); v != nil {
		zr = v.(io.ReadCloser)
		if err := zr.(zlib.Resetter).Reset(src, nil); err != nil {
			zlibReaders.Put(zr)
			return nil, err
		}
	} else {
		var err error
		if zr, err = zlib.NewReader(src); err != nil {
			return nil, err
		}
	}
	defer zlibReaders.Put(zr)

	buf := make([]byte, 0, min(maxInflated+1, 4*len(z)+64))
	out := bytes.NewBuffer(buf)
	n, err := out.ReadFrom(io.LimitReader(zr, maxInflated+1))
	if err != nil {
		return nil, err
	}
	if n > maxInflated {
		return nil, fmt.Errorf("inflates beyond %d bytes", maxInflated)
	}
	return out.Bytes(), nil
}

// zlib readers hold a 32 KiB window and Huffman tables: pooled.
var zlibReaders sync.Pool

func parseSign1(msg []byte) (*Decoded, error) {
	if err := decMode.Wellformed(msg); err != nil {
		return nil, fail(ReasonBadCBOR, err)
	}
	var tag cbor.RawTag
	if err := decMode.Unmarshal(msg, &tag); err != nil {
		return nil, fail(ReasonNotCOSESign1, errors.New("not a tagged CBOR item"))
	}
	if tag.Number == tagCWT { // CWT tag around COSE_Sign1 (RFC 8392 section 6)
		var inner cbor.RawTag
		if err := decMode.Unmarshal(tag.Content, &inner); err != nil {
			return nil, fail(ReasonNotCOSESign1, errors.New("CWT tag does not wrap a tagged item"))
		}
		tag = inner
	}
	if tag.Number != tagCOSESign1 {
		return nil, fail(ReasonNotCOSESign1, fmt.Errorf("CBOR tag %d, want %d", tag.Number, tagCOSESign1))
	}
	var s sign1
	if err := decMode.Unmarshal(tag.Content, &s); err != nil {
		return nil, fail(ReasonNotCOSESign1, fmt.Errorf("COSE_Sign1 structure: %w", err))
	}
	if s.Payload == nil {
		return nil, fail(ReasonNotCOSESign1, errors.New("detached payload"))
	}
	if len(s.Signature) == 0 {
		return nil, fail(ReasonNotCOSESign1, errors.New("empty signature"))
	}
	var prot, unprot header
	if len(s.Protected) > 0 {
		if err := decMode.Unmarshal(s.Protected, &prot); err != nil {
			return nil, fail(ReasonNotCOSESign1, fmt.Errorf("protected header: %w", err))
		}
	}
	if err := decMode.Unmarshal(s.Unprotected, &unprot); err != nil {
		return nil, fail(ReasonNotCOSESign1, fmt.Errorf("unprotected header: %w", err))
	}
	d := &Decoded{Protected: s.Protected, CWT: s.Payload, Signature: s.Signature}
	switch {
	case prot.Alg != nil:
		d.Alg = *prot.Alg
	case unprot.Alg != nil:
		d.Alg = *unprot.Alg // verifiers still require it to match the DSC key
	}
	switch {
	case len(prot.Kid) > 0:
		d.Kid, d.KidInProtected = prot.Kid, true
	case len(unprot.Kid) > 0:
		d.Kid = unprot.Kid
	}
	return d, nil
}

// rawClaims reads the claims loosely typed so a foreign issuer's float
// NumericDate or extra claims do not break decoding.
type rawClaims struct {
	Iss   *string         `cbor:"1,keyasint"`
	Exp   cbor.RawMessage `cbor:"4,keyasint"`
	Iat   cbor.RawMessage `cbor:"6,keyasint"`
	HCert *hcertClaims    `cbor:"-260,keyasint"`
}

func (d *Decoded) parseClaims() {
	var c rawClaims
	if err := decMode.Unmarshal(d.CWT, &c); err != nil {
		d.PayloadErr = fmt.Errorf("CWT claims: %w", err)
		return
	}
	var errs []error
	if c.Iss != nil {
		d.Issuer = *c.Iss
	} else {
		errs = append(errs, errors.New("no iss claim"))
	}
	var err error
	if d.ExpiresAt, err = numericDate(c.Exp); err != nil {
		errs = append(errs, fmt.Errorf("exp claim: %w", err))
	}
	if d.IssuedAt, err = numericDate(c.Iat); err != nil {
		errs = append(errs, fmt.Errorf("iat claim: %w", err))
	}
	if c.HCert == nil || len(c.HCert.DCC) == 0 {
		errs = append(errs, errors.New("no hcert claim -260/1"))
	} else {
		d.RawPayload = c.HCert.DCC
		var p dcc.Certificate
		if err := decMode.Unmarshal(d.RawPayload, &p); err != nil {
			errs = append(errs, fmt.Errorf("DCC payload: %w", err))
		} else {
			d.Payload = &p
			if p.Type() == "" {
				errs = append(errs, errors.New("DCC payload must carry exactly one of v, t and r"))
			}
		}
	}
	d.PayloadErr = errors.Join(errs...)
}

// numericDate reads an RFC 8392 NumericDate: an integer or a float of
// seconds since the epoch.
func numericDate(raw cbor.RawMessage) (time.Time, error) {
	if len(raw) == 0 {
		return time.Time{}, errors.New("missing")
	}
	var i int64
	if err := decMode.Unmarshal(raw, &i); err == nil {
		return time.Unix(i, 0).UTC(), nil
	}
	var f float64
	if err := decMode.Unmarshal(raw, &f); err != nil {
		return time.Time{}, errors.New("not a number")
	}
	// Beyond ±2^53 s the value is nonsense; it also keeps the conversion
	// defined.
	if math.IsNaN(f) || math.Abs(f) > 1<<53 {
		return time.Time{}, fmt.Errorf("%v out of range", f)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}
