package dcc

import "golang.org/x/text/unicode/norm"

// Normalize brings a payload into the form the issuer signs: every string
// NFC-normalised, and fnt/gnt filled from fn/gn by Transliterate when they
// are missing. It fixes nothing else: whitespace padding, bad codes and the
// like stay for Validate to report, so that a typo is not signed silently.
func (c *Certificate) Normalize() {
	for _, p := range c.stringFields() {
		*p = norm.NFC.String(*p)
	}
	if c.Nam.Fnt == "" && c.Nam.Fn != "" {
		c.Nam.Fnt = Transliterate(c.Nam.Fn)
	}
	if c.Nam.Gnt == "" && c.Nam.Gn != "" {
		c.Nam.Gnt = Transliterate(c.Nam.Gn)
	}
}

// stringFields lists pointers to every string of the payload.
func (c *Certificate) stringFields() []*string {
	ps := []*string{&c.Ver, &c.Nam.Fn, &c.Nam.Fnt, &c.Nam.Gn, &c.Nam.Gnt, &c.Dob}
	for i := range c.V {
		v := &c.V[i]
		ps = append(ps, &v.Tg, &v.Vp, &v.Mp, &v.Ma, &v.Dt, &v.Co, &v.Is, &v.Ci)
	}
	for i := range c.T {
		t := &c.T[i]
		ps = append(ps, &t.Tg, &t.Tt, &t.Nm, &t.Ma, &t.Sc, &t.Tr, &t.Tc, &t.Co, &t.Is, &t.Ci)
	}
	for i := range c.R {
		r := &c.R[i]
		ps = append(ps, &r.Tg, &r.Fr, &r.Co, &r.Is, &r.Df, &r.Du, &r.Ci)
	}
	return ps
}
