package hcert

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
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

	COSE      []byte // the inflated COSE_Sign1 as sent, tags (if any) included
	Protected []byte // the protected header bytes exactly as signed
	CWT       []byte // the signed COSE payload: the CWT claims
	Signature []byte
}

// Decode takes an HC1 string apart without verifying it. It fails (with an
// *Error carrying the reason) when the container is broken: prefix,
// Base45, zlib, CBOR or COSE_Sign1 (tagged 18 or not, optionally inside the
// CWT tag 61). Claims that are not a DCC do not fail
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
	body, err := sign1Body(msg)
	if err != nil {
		return nil, err
	}
	var s sign1
	if err := decMode.Unmarshal(body, &s); err != nil {
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

// PayloadJSON is the DCC payload exactly as it travels (claim -260/1),
// turned into JSON: every field, known to dcc.Certificate or not, so a
// schema check sees what the issuer signed. It fails when the CBOR has
// no JSON form (non-string map keys, NaN).
func (d *Decoded) PayloadJSON() ([]byte, error) {
	if len(d.RawPayload) == 0 {
		return nil, errors.New("no DCC payload")
	}
	var v any
	if err := jsonDecMode.Unmarshal(d.RawPayload, &v); err != nil {
		return nil, fmt.Errorf("DCC payload has no JSON form: %w", err)
	}
	if err := jsonOnly(v, ""); err != nil {
		return nil, fmt.Errorf("DCC payload has no JSON form: %w", err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("DCC payload has no JSON form: %w", err)
	}
	return js, nil
}

// jsonOnly fails on CBOR items JSON has no form for. encoding/json would
// turn a byte string into a base64 string and a tag into an object, so a
// payload could pass a schema check that its signed form does not.
func jsonOnly(v any, at string) error {
	switch x := v.(type) {
	case nil, bool, string, int64, uint64:
		return nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s: %v is not a JSON number", jsonAt(at), x)
		}
		return nil
	case map[string]any:
		for k, e := range x {
			if err := jsonOnly(e, at+"/"+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for i, e := range x {
			if err := jsonOnly(e, at+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s: CBOR %T has no JSON form", jsonAt(at), v)
}

func jsonAt(at string) string {
	if at == "" {
		return "/"
	}
	return at
}

// sign1Body strips the tags around a COSE_Sign1 array: tag 18 and the CWT
// tag 61 (RFC 8392 section 6) outside it, each optional. The tags are not
// signed, and deployed verifiers accept a bare array, so refusing it would
// reject certificates other countries' apps accept. Any other tag is not
// a COSE_Sign1 (98, for one, is COSE_Sign with several signers).
func sign1Body(msg []byte) ([]byte, error) {
	body, cwtSeen := msg, false
	for {
		if len(body) == 0 || body[0]>>5 != 6 { // major type 6: a tag
			return body, nil
		}
		var tag cbor.RawTag
		if err := decMode.Unmarshal(body, &tag); err != nil {
			return nil, fail(ReasonNotCOSESign1, fmt.Errorf("CBOR tag: %w", err))
		}
		switch {
		case tag.Number == tagCWT && !cwtSeen:
			cwtSeen = true
			body = tag.Content
		case tag.Number == tagCOSESign1:
			if len(tag.Content) > 0 && tag.Content[0]>>5 == 6 {
				return nil, fail(ReasonNotCOSESign1, errors.New("tag 18 wraps another tag"))
			}
			return tag.Content, nil
		default:
			return nil, fail(ReasonNotCOSESign1, fmt.Errorf("CBOR tag %d, want %d (COSE_Sign1), or none", tag.Number, tagCOSESign1))
		}
	}
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
