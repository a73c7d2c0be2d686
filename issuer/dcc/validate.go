package dcc

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FieldError is one problem with one field of a payload.
//
// Field is a path such as "dob", "nam.fnt" or "v[0].dn" ("" for the payload
// as a whole). Code is a stable snake_case identifier for programs:
//
//	syntax, invalid_utf8, type, null, unknown_field, duplicate_key,
//	required, exactly_one_entry, pattern, format, max_length, min,
//	not_integer, out_of_range, unknown_code, product_mismatch,
//	future_date, before_birth, date_order, not_nfc, whitespace,
//	control_character, invalid_character, unsupported_character,
//	check_character.
//
// Message is for people.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

// String returns "field: message (code)".
func (e FieldError) String() string {
	f := e.Field
	if f == "" {
		f = "(payload)"
	}
	return fmt.Sprintf("%s: %s (%s)", f, e.Message, e.Code)
}

// ValidationError lists every problem found in a payload.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	return "dcc: invalid payload: " + strings.Join(e.Lines(), "; ")
}

// Lines returns one "field: message (code)" line per problem.
func (e *ValidationError) Lines() []string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.String()
	}
	return lines
}

// Has reports whether the error lists code for field.
func (e *ValidationError) Has(field, code string) bool {
	for _, fe := range e.Errors {
		if fe.Field == field && fe.Code == code {
			return true
		}
	}
	return false
}

// ValidateOptions tunes Validate.
type ValidateOptions struct {
	// Now is the instant dates must not lie after; zero means time.Now().
	Now time.Time
	// Issuing adds this issuer's rules for new certificates (issuing.go):
	// names and printed text the HC1, QR code and PDF can all carry, and
	// ci, when present, a structured UVCI with its check character. Leave
	// it off when checking someone else's certificate.
	Issuing bool
	// KnownTestDevices, when non-nil, is the list of rapid antigen test
	// device codes (t[].ma) accepted; nil accepts every well-formed code.
	KnownTestDevices map[string]bool
}

// Validate checks the payload against the DCC schema 1.3.x and the eHN
// rules the schema leaves to prose. It returns a *ValidationError listing
// every problem, or nil.
//
// Notes on decisions:
//   - dn and sd have no maximum: schema 1.3.x dropped the old limit of 9.
//     dn > sd is allowed (boosters are written 3/3 or 2/1).
//   - ci may be empty: the issuer assigns it just before signing.
//   - vp: the encoding instructions' codes for the product, or one of the
//     2021 codes (1119349007, 1119305005, J07BX03) that older certificates
//     and the eHN examples carry for any product (see VaccineRule.Allows).
//   - codes marked inactive in a value set are accepted (old certificates
//     stay valid); deciding not to issue them is the portal's job.
//   - dates without time (dob, dt, fr, df, du) are compared with the date
//     at UTC+14, the earliest time zone, so no place sees a false "future".
//   - sc must be RFC 3339 ("2021-06-11T17:30:00Z" or "...+02:00"); the
//     eHN test payloads with "+02" and "+0200" are ISO 8601 but not RFC 3339
//     and are rejected.
func (c *Certificate) Validate(opts ValidateOptions) error {
	k := newChecker(opts)
	k.certificate(c)
	return k.result()
}

type checker struct {
	errs    []FieldError
	opts    ValidateOptions
	now     time.Time
	today   date
	sets    *Sets
	born    date // earliest possible birth date
	hasBorn bool // born is known
}

func newChecker(opts ValidateOptions) *checker {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	y, m, d := now.In(time.FixedZone("UTC+14", 14*3600)).Date()
	return &checker{opts: opts, now: now, today: date{y, int(m), d}, sets: ValueSets()}
}

func (k *checker) result() error {
	if len(k.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: k.errs}
}

func (k *checker) add(field, code, format string, args ...any) {
	k.errs = append(k.errs, FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	verPattern     = regexp.MustCompile(`^1\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)
	dobPattern     = regexp.MustCompile(`^((19|20)[0-9]{2}(-[0-9]{2}){0,2})?$`)
	datePattern    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	sctimePattern  = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)
	namePattern    = regexp.MustCompile(`^[A-Z<]*$`)
	countryPattern = regexp.MustCompile(`^[A-Z]{1,10}$`)
	devicePattern  = regexp.MustCompile(`^[0-9]{1,10}$`)
)

func (k *checker) certificate(c *Certificate) {
	if k.required("ver", c.Ver) && k.text("ver", c.Ver, 0) && !verPattern.MatchString(c.Ver) {
		k.add("ver", "pattern", "must be a schema version 1.x.y, got %q", c.Ver)
	}
	k.name(&c.Nam)
	k.dob(c.Dob)

	present := 0
	groups := []struct {
		key string
		n   int
		nil bool
	}{{"v", len(c.V), c.V == nil}, {"t", len(c.T), c.T == nil}, {"r", len(c.R), c.R == nil}}
	var names []string
	for _, g := range groups {
		if g.nil {
			continue
		}
		present++
		names = append(names, g.key)
		if g.n != 1 {
			k.add(g.key, "exactly_one_entry", "must hold exactly one entry, has %d", g.n)
		}
	}
	switch {
	case present == 0:
		k.add("", "required", "one of v (vaccination), t (test) or r (recovery) is required")
	case present > 1:
		k.add("", "exactly_one_entry", "exactly one of v, t and r may be present, found %s", strings.Join(names, ", "))
	}
	for i := range c.V {
		k.vaccination(fmt.Sprintf("v[%d]", i), &c.V[i])
	}
	for i := range c.T {
		k.test(fmt.Sprintf("t[%d]", i), &c.T[i])
	}
	for i := range c.R {
		k.recovery(fmt.Sprintf("r[%d]", i), &c.R[i])
	}
}

func (k *checker) name(n *Name) {
	for _, f := range []struct{ field, v string }{{"nam.fn", n.Fn}, {"nam.gn", n.Gn}} {
		if k.textOptional(f.field, f.v, MaxNameLength) && k.opts.Issuing {
			if fe := firstBadRune(f.field, f.v, nameRune); fe != nil {
				k.errs = append(k.errs, *fe)
			}
		}
	}
	for _, f := range []struct{ field, v string }{{"nam.fnt", n.Fnt}, {"nam.gnt", n.Gnt}} {
		if k.textOptional(f.field, f.v, MaxNameLength) && !namePattern.MatchString(f.v) {
			k.add(f.field, "pattern", "must be the ICAO 9303 transliteration (A-Z and <), got %q", f.v)
		}
	}
	if n.Fnt == "" && n.Gnt == "" {
		k.add("nam", "required", "needs a standardised surname (fnt) or forename (gnt)")
	}
}

func (k *checker) dob(dob string) {
	// Empty is allowed: the schema's "unknown date of birth".
	if !k.text("dob", dob, 0) || dob == "" {
		return
	}
	if !dobPattern.MatchString(dob) {
		k.add("dob", "pattern", "must be YYYY, YYYY-MM or YYYY-MM-DD between 1900 and 2099 (or empty), got %q", dob)
		return
	}
	y, _ := strconv.Atoi(dob[:4])
	first := date{y, 1, 1} // first day the (possibly partial) date covers
	switch len(dob) {
	case 4:
	case 7:
		m, _ := strconv.Atoi(dob[5:7])
		if m < 1 || m > 12 {
			k.add("dob", "format", "month %02d does not exist", m)
			return
		}
		first = date{y, m, 1}
	default: // 10, as the pattern allows no other length
		full, ok := parseDate(dob)
		if !ok {
			k.add("dob", "format", "%q is not a calendar date", dob)
			return
		}
		first = full
	}
	// A partial date is in the future only if all of it is, that is if
	// its first day is.
	if first.after(k.today) {
		k.add("dob", "future_date", "%s lies in the future", dob)
		return
	}
	k.born, k.hasBorn = first, true
}

func (k *checker) vaccination(p string, v *Vaccination) {
	k.code(join(p, "tg"), v.Tg, SetDisease)
	vpOK := k.code(join(p, "vp"), v.Vp, SetVaccineProphylaxis)
	mpOK := k.code(join(p, "mp"), v.Mp, SetVaccineProduct)
	maOK := k.code(join(p, "ma"), v.Ma, SetVaccineManufacturer)
	if rule, ok := k.sets.Vaccine(v.Mp); ok && mpOK {
		if maOK && v.Ma != rule.Manufacturer {
			k.add(join(p, "ma"), "product_mismatch", "%s (%s) is encoded with manufacturer %s, got %s",
				v.Mp, k.sets.Display(SetVaccineProduct, v.Mp), rule.Manufacturer, v.Ma)
		}
		if vpOK && !rule.Allows(v.Vp) && !legacyProphylaxis[v.Vp] {
			k.add(join(p, "vp"), "product_mismatch", "%s (%s) is encoded with prophylaxis %s, got %s",
				v.Mp, k.sets.Display(SetVaccineProduct, v.Mp), strings.Join(rule.Prophylaxis, " or "), v.Vp)
		}
	}
	for _, f := range []struct {
		key  string
		v    int
		what string
	}{{"dn", v.Dn, "dose number"}, {"sd", v.Sd, "total doses in series"}} {
		if f.v < 1 {
			k.add(join(p, f.key), "min", "%s must be at least 1, got %d", f.what, f.v)
		}
	}
	k.pastDate(join(p, "dt"), v.Dt)
	k.country(join(p, "co"), v.Co)
	k.issuer(join(p, "is"), v.Is)
	k.ci(join(p, "ci"), v.Ci)
}

// legacyProphylaxis are the vp codes of the 2021 value sets, used for every
// product before the 2023 encoding instructions tied products to codes.
// Certificates issued then (and the eHN examples: Jcovden with
// 1119349007) carry them, so Validate accepts them for any product;
// VaccineRule.Allows is the strict rule for issuing new certificates.
var legacyProphylaxis = map[string]bool{"1119349007": true, "1119305005": true, "J07BX03": true}

func (k *checker) test(p string, t *Test) {
	k.code(join(p, "tg"), t.Tg, SetDisease)
	k.code(join(p, "tt"), t.Tt, SetTestType)
	k.textOptional(join(p, "nm"), t.Nm, MaxNameLength)
	k.issuingText(join(p, "nm"), t.Nm)
	switch {
	case t.Ma != "":
		if k.text(join(p, "ma"), t.Ma, 0) {
			switch {
			case !devicePattern.MatchString(t.Ma):
				k.add(join(p, "ma"), "pattern", "must be a rapid test device id (1-10 digits), got %q", t.Ma)
			case k.opts.KnownTestDevices != nil && !k.opts.KnownTestDevices[t.Ma]:
				k.add(join(p, "ma"), "unknown_code", "rapid test device %s is not in the list of known devices", t.Ma)
			}
		}
	case t.Tt == TestTypeRAT:
		// eHN guidelines: test name and manufacturer are mandatory for RAT.
		k.add(join(p, "ma"), "required", "is required for a rapid antigen test")
	}
	if k.required(join(p, "sc"), t.Sc) && k.text(join(p, "sc"), t.Sc, 0) {
		k.sampleTime(join(p, "sc"), t.Sc)
	}
	k.code(join(p, "tr"), t.Tr, SetTestResult)
	k.textOptional(join(p, "tc"), t.Tc, MaxNameLength)
	k.issuingText(join(p, "tc"), t.Tc)
	k.country(join(p, "co"), t.Co)
	k.issuer(join(p, "is"), t.Is)
	k.ci(join(p, "ci"), t.Ci)
}

func (k *checker) recovery(p string, r *Recovery) {
	k.code(join(p, "tg"), r.Tg, SetDisease)
	fr, frOK := k.pastDate(join(p, "fr"), r.Fr)
	df, dfOK := k.date(join(p, "df"), r.Df)
	du, duOK := k.date(join(p, "du"), r.Du)
	if frOK && dfOK && df.before(fr) {
		k.add(join(p, "df"), "date_order", "valid from %s lies before the first positive test %s", r.Df, r.Fr)
	}
	if dfOK && duOK && du.before(df) {
		k.add(join(p, "du"), "date_order", "valid until %s lies before valid from %s", r.Du, r.Df)
	}
	k.country(join(p, "co"), r.Co)
	k.issuer(join(p, "is"), r.Is)
	k.ci(join(p, "ci"), r.Ci)
}

func (k *checker) required(field, v string) bool {
	if v == "" {
		k.add(field, "required", "is required")
		return false
	}
	return true
}

// code checks a required code against a value set.
func (k *checker) code(field, v, set string) bool {
	if !k.required(field, v) || !k.text(field, v, 0) {
		return false
	}
	if !k.sets.Has(set, v) {
		k.add(field, "unknown_code", "%q is not in value set %s", v, set)
		return false
	}
	return true
}

func (k *checker) country(field, v string) {
	if !k.required(field, v) || !k.text(field, v, 0) {
		return
	}
	if !countryPattern.MatchString(v) {
		k.add(field, "pattern", "must be an ISO 3166 alpha-2 country code, got %q", v)
		return
	}
	if !k.sets.Has(SetCountry, v) && !k.sets.Has(SetIssuingOrganisation, v) {
		k.add(field, "unknown_code", "%q is not in value set %s", v, SetCountry)
	}
}

func (k *checker) issuer(field, v string) {
	if k.required(field, v) && k.text(field, v, MaxNameLength) {
		k.issuingText(field, v)
	}
}

func (k *checker) ci(field, v string) {
	if v == "" || !k.text(field, v, MaxNameLength) {
		return
	}
	k.issuingUVCI(field, v)
	if !strings.HasPrefix(v, UVCIPrefix) {
		return // other forms (the eHN tests use "01:NL:1312D00") are opaque
	}
	if _, err := ParseUVCI(v); err != nil {
		code := "format"
		if errors.Is(err, ErrUVCICheck) {
			code = "check_character"
		}
		k.add(field, code, "%s", strings.TrimPrefix(err.Error(), "dcc: "))
	}
}

// date checks a required RFC 3339 full-date.
func (k *checker) date(field, v string) (date, bool) {
	if !k.required(field, v) || !k.text(field, v, 0) {
		return date{}, false
	}
	d, ok := parseDate(v)
	if !ok {
		k.add(field, "format", "must be a calendar date YYYY-MM-DD, got %q", v)
	}
	return d, ok
}

// pastDate checks a required date of an event that has happened.
func (k *checker) pastDate(field, v string) (date, bool) {
	d, ok := k.date(field, v)
	if !ok {
		return d, false
	}
	k.eventDate(field, v, d)
	return d, true
}

func (k *checker) eventDate(field, v string, d date) {
	if d.after(k.today) {
		k.add(field, "future_date", "%s lies in the future", v)
	}
	if k.hasBorn && d.before(k.born) {
		k.add(field, "before_birth", "%s lies before the date of birth", v)
	}
}

func (k *checker) sampleTime(field, v string) {
	if !sctimePattern.MatchString(v) {
		k.add(field, "format", "must be an RFC 3339 date-time such as 2021-06-11T17:30:00Z or 2021-06-11T17:30:00+02:00, got %q", v)
		return
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(v))
	if zone := v[len(v)-1]; err == nil && zone != 'Z' && zone != 'z' {
		// time.Parse accepts offsets such as +24:00 that RFC 3339 does not.
		h, _ := strconv.Atoi(v[len(v)-5 : len(v)-3])
		m, _ := strconv.Atoi(v[len(v)-2:])
		if h > 23 || m > 59 {
			err = fmt.Errorf("offset out of range")
		}
	}
	if err != nil {
		k.add(field, "format", "%q is not a valid date-time", v)
		return
	}
	if t.After(k.now) {
		k.add(field, "future_date", "%s lies in the future", v)
	}
	y, m, d := t.Date()
	if local := (date{y, int(m), d}); k.hasBorn && local.before(k.born) {
		k.add(field, "before_birth", "%s lies before the date of birth", v)
	}
}

func (k *checker) textOptional(field, v string, maxLen int) bool {
	if v == "" {
		return false
	}
	return k.text(field, v, maxLen)
}

// text applies the rules every string shares and reports whether v passed.
func (k *checker) text(field, v string, maxLen int) bool {
	switch {
	case !utf8.ValidString(v):
		k.add(field, "invalid_utf8", "is not valid UTF-8")
		return false
	case strings.ContainsFunc(v, isControl):
		k.add(field, "control_character", "contains a control character")
		return false
	case strings.ContainsRune(v, utf8.RuneError):
		k.add(field, "invalid_character", "contains U+FFFD (an undecodable character)")
		return false
	}
	ok := true
	if first, _ := utf8.DecodeRuneInString(v); unicode.IsSpace(first) || isSpaceSuffix(v) {
		k.add(field, "whitespace", "has leading or trailing whitespace")
		ok = false
	}
	if !norm.NFC.IsNormalString(v) {
		k.add(field, "not_nfc", "is not in Unicode normalisation form C")
		ok = false
	}
	if n := utf8.RuneCountInString(v); maxLen > 0 && n > maxLen {
		k.add(field, "max_length", "is %d characters long, at most %d allowed", n, maxLen)
		ok = false
	}
	return ok
}

func isSpaceSuffix(v string) bool {
	last, _ := utf8.DecodeLastRuneInString(v)
	return unicode.IsSpace(last)
}

// isControl flags C0/C1 controls (NUL included), bidi embeddings,
// overrides and isolates (they reorder what a reader sees) and the BOM.
func isControl(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069', r == '\uFEFF':
		return true
	}
	return false
}

// date is a calendar date without time zone.
type date struct{ y, m, d int }

func parseDate(s string) (date, bool) {
	if !datePattern.MatchString(s) {
		return date{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return date{}, false
	}
	y, m, d := t.Date()
	return date{y, int(m), d}, true
}

func (a date) cmp(b date) int {
	switch {
	case a.y != b.y:
		return a.y - b.y
	case a.m != b.m:
		return a.m - b.m
	}
	return a.d - b.d
}

func (a date) after(b date) bool  { return a.cmp(b) > 0 }
func (a date) before(b date) bool { return a.cmp(b) < 0 }
