// Package dcc holds the EU Digital COVID Certificate payload (schema 1.3.x):
// typed certificates, their validation, ICAO 9303 transliteration, UVCIs and
// the value sets the validation checks codes against.
package dcc

// SchemaVersion is the payload schema version the issuer emits.
const SchemaVersion = "1.3.0"

// Type says which of the three certificate kinds a payload carries.
type Type string

const (
	TypeVaccination Type = "v"
	TypeTest        Type = "t"
	TypeRecovery    Type = "r"
)

// Certificate is one DCC payload. Field names follow the schema so that the
// JSON and CBOR forms are the wire forms (fxamacker/cbor reads json tags).
type Certificate struct {
	Ver string        `json:"ver"`
	Nam Name          `json:"nam"`
	Dob string        `json:"dob"`
	V   []Vaccination `json:"v,omitempty"`
	T   []Test        `json:"t,omitempty"`
	R   []Recovery    `json:"r,omitempty"`
}

// Name is the holder's name, as written and as ICAO 9303 transliteration.
type Name struct {
	Fn  string `json:"fn,omitempty"`
	Fnt string `json:"fnt,omitempty"`
	Gn  string `json:"gn,omitempty"`
	Gnt string `json:"gnt,omitempty"`
}

// Vaccination is one vaccination entry.
type Vaccination struct {
	Tg string `json:"tg"`
	Vp string `json:"vp"`
	Mp string `json:"mp"`
	Ma string `json:"ma"`
	Dn int    `json:"dn"`
	Sd int    `json:"sd"`
	Dt string `json:"dt"`
	Co string `json:"co"`
	Is string `json:"is"`
	Ci string `json:"ci"`
}

// Test is one test entry.
type Test struct {
	Tg string `json:"tg"`
	Tt string `json:"tt"`
	Nm string `json:"nm,omitempty"`
	Ma string `json:"ma,omitempty"`
	Sc string `json:"sc"`
	Tr string `json:"tr"`
	Tc string `json:"tc,omitempty"`
	Co string `json:"co"`
	Is string `json:"is"`
	Ci string `json:"ci"`
}

// Recovery is one recovery entry.
type Recovery struct {
	Tg string `json:"tg"`
	Fr string `json:"fr"`
	Co string `json:"co"`
	Is string `json:"is"`
	Df string `json:"df"`
	Du string `json:"du"`
	Ci string `json:"ci"`
}

// Type reports the certificate kind, or "" when the payload does not carry
// exactly one entry in exactly one of v, t and r.
func (c *Certificate) Type() Type {
	n := 0
	var t Type
	if len(c.V) > 0 {
		n, t = n+1, TypeVaccination
	}
	if len(c.T) > 0 {
		n, t = n+1, TypeTest
	}
	if len(c.R) > 0 {
		n, t = n+1, TypeRecovery
	}
	if n != 1 {
		return ""
	}
	return t
}

// UVCI returns the certificate identifier of the first entry.
func (c *Certificate) UVCI() string {
	switch {
	case len(c.V) > 0:
		return c.V[0].Ci
	case len(c.T) > 0:
		return c.T[0].Ci
	case len(c.R) > 0:
		return c.R[0].Ci
	}
	return ""
}

// SetUVCI sets the certificate identifier of the first entry.
func (c *Certificate) SetUVCI(ci string) {
	switch {
	case len(c.V) > 0:
		c.V[0].Ci = ci
	case len(c.T) > 0:
		c.T[0].Ci = ci
	case len(c.R) > 0:
		c.R[0].Ci = ci
	}
}
