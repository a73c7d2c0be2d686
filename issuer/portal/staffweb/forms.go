package staffweb

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/problem"
)

// kind is one issuance form: its path segment, DCC type and fields.
type kind struct {
	slug   string // portalapi.StaffKind*
	typ    dcc.Type
	fields []string // in page order
}

var kinds = []kind{
	{portalapi.StaffKindVaccination, dcc.TypeVaccination, []string{"fn", "gn", "dob", "mp", "dn", "sd", "dt", "co"}},
	{portalapi.StaffKindTest, dcc.TypeTest, []string{"fn", "gn", "dob", "tt", "ma", "nm", "sc", "tr", "tc", "co"}},
	{portalapi.StaffKindRecovery, dcc.TypeRecovery, []string{"fn", "gn", "dob", "fr", "df", "du", "co"}},
}

func kindBySlug(slug string) (kind, bool) {
	for _, k := range kinds {
		if k.slug == slug {
			return k, true
		}
	}
	return kind{}, false
}

// personFields end the "person" fieldset; the rest are the details.
var personFields = map[string]bool{"fn": true, "gn": true, "dob": true}

// maxFieldLen bounds what a form field keeps (the API's own limits are
// lower; this only stops a huge post from being echoed back).
const maxFieldLen = 1000

// draft is a form as typed: what a page shows again after a field error,
// an overload answer or an expired session.
type draft struct {
	Kind   string            `json:"k"`
	Key    string            `json:"i"` // the Idempotency-Key of this form
	Fields map[string]string `json:"f"`
	At     int64             `json:"t"` // unix seconds, when sealed
}

// draftFrom reads the form's fields of kind k from a post.
func draftFrom(k kind, form url.Values) *draft {
	d := &draft{Kind: k.slug, Key: form.Get("key"), Fields: map[string]string{}}
	for _, f := range k.fields {
		v := form.Get(f)
		if len(v) > maxFieldLen {
			v = v[:maxFieldLen]
		}
		d.Fields[f] = v
	}
	if !validKey(d.Key) {
		d.Key = newKey()
	}
	return d
}

// newKey is a fresh Idempotency-Key, drawn when a form is rendered, so a
// double click or a resubmitted page sends the same key.
func newKey() string { return "web-" + randomToken(16) }

// validKey: a key the API accepts (1-128 visible ASCII) that we made.
func validKey(k string) bool {
	if !strings.HasPrefix(k, "web-") || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// ------------------------------------------------------------- payload

var (
	dmyDate  = regexp.MustCompile(`^(\d{1,2})\.(\d{1,2})\.(\d{4})$`)
	myDate   = regexp.MustCompile(`^(\d{1,2})\.(\d{4})$`)
	dmyTime  = regexp.MustCompile(`^(\d{1,2})\.(\d{1,2})\.(\d{4}),?\s+(\d{1,2}):(\d{2})$`)
	htmlTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$`)
)

// isoDate turns the German forms a counter types (31.05.1980, 05.1980)
// into the DCC's; anything else goes to the API unchanged, which judges it.
func isoDate(s string) string {
	if m := dmyDate.FindStringSubmatch(s); m != nil {
		d, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		return fmt.Sprintf("%s-%02d-%02d", m[3], mo, d)
	}
	if m := myDate.FindStringSubmatch(s); m != nil {
		mo, _ := strconv.Atoi(m[1])
		return fmt.Sprintf("%s-%02d", m[2], mo)
	}
	return s
}

// sampleTime turns a datetime-local value (or 14.06.2021 07:45) in the
// portal's time zone into RFC 3339.
func sampleTime(s string, loc *time.Location) string {
	if m := dmyTime.FindStringSubmatch(s); m != nil {
		d, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		h, _ := strconv.Atoi(m[4])
		s = fmt.Sprintf("%s-%02d-%02dT%02d:%s", m[3], mo, d, h, m[5])
	}
	if !htmlTime.MatchString(s) {
		return s
	}
	layout := "2006-01-02T15:04"
	if len(s) > len(layout) {
		layout += ":05"
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		return s
	}
	return t.Format(time.RFC3339)
}

// number is an integer field: a JSON number when it is one, the text
// otherwise (the API then reports its type), absent when empty.
func number(m map[string]any, key, v string) {
	if v == "" {
		return
	}
	if n, err := strconv.Atoi(v); err == nil {
		m[key] = n
		return
	}
	m[key] = v
}

func setText(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

// payload builds the API's IssueRequest from a draft. It fills what a
// counter cannot choose (disease, issuer; manufacturer and prophylaxis
// follow the vaccine by the eHN encoding rules) and leaves every check to
// the API: a missing or malformed field arrives as such and comes back as
// the API's field error.
func (w *Web) payload(k kind, d *draft) portalapi.IssueRequest {
	f := func(name string) string { return strings.TrimSpace(d.Fields[name]) }
	nam := map[string]any{}
	setText(nam, "fn", f("fn"))
	setText(nam, "gn", f("gn"))
	p := map[string]any{"ver": "1.3.0", "nam": nam, "dob": isoDate(f("dob"))}
	e := map[string]any{"tg": dcc.DiseaseCOVID19, "co": f("co"), "is": w.opts.CertIssuer}
	switch k.typ {
	case dcc.TypeVaccination:
		e["mp"], e["vp"], e["ma"] = f("mp"), "", ""
		if rule, ok := dcc.ValueSets().Vaccine(f("mp")); ok {
			e["ma"], e["vp"] = rule.Manufacturer, rule.Prophylaxis[0]
		}
		number(e, "dn", f("dn"))
		number(e, "sd", f("sd"))
		e["dt"] = isoDate(f("dt"))
		p["v"] = []any{e}
	case dcc.TypeTest:
		e["tt"], e["tr"] = f("tt"), f("tr")
		e["sc"] = sampleTime(f("sc"), w.opts.Location)
		setText(e, "ma", f("ma"))
		setText(e, "nm", f("nm"))
		setText(e, "tc", f("tc"))
		p["t"] = []any{e}
	case dcc.TypeRecovery:
		e["fr"], e["df"], e["du"] = isoDate(f("fr")), isoDate(f("df")), isoDate(f("du"))
		p["r"] = []any{e}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("staffweb: marshal payload: %v", err)) // maps of strings and ints always marshal
	}
	return portalapi.IssueRequest{Type: string(k.typ), Payload: raw}
}

// --------------------------------------------------------- field errors

// fieldError is one API field error placed on a form field ("" for the
// form as a whole).
type fieldError struct {
	Field   string
	Code    string
	Message string
}

var entryPath = regexp.MustCompile(`^[vtr]\[0\]\.([a-z]+)$`)

// formField maps an API field path (payload.v[0].dn) to the form field
// that carries it, "" when none does.
func formField(k kind, apiField string) string {
	f := strings.TrimPrefix(apiField, "payload")
	f = strings.TrimPrefix(f, ".")
	switch f {
	case "nam", "nam.fn", "nam.fnt":
		return "fn"
	case "nam.gn", "nam.gnt":
		return "gn"
	case "dob":
		return "dob"
	}
	m := entryPath.FindStringSubmatch(f)
	if m == nil {
		return ""
	}
	key := m[1]
	if k.typ == dcc.TypeVaccination && (key == "vp" || key == "ma") {
		return "mp" // both follow the chosen vaccine
	}
	if slices.Contains(k.fields, key) {
		return key
	}
	return ""
}

// fieldErrors places a problem's findings on the form: each FieldError of
// a validation problem, or the problem's own field.
func fieldErrors(k kind, pr *problem.Problem) []fieldError {
	var out []fieldError
	seen := map[string]bool{}
	add := func(apiField, code, msg string) {
		f := formField(k, apiField)
		if f != "" && seen[f] {
			return // the first finding per field is enough to act on
		}
		seen[f] = true
		out = append(out, fieldError{Field: f, Code: code, Message: msg})
	}
	// A field's own finding first (v[0].mp before v[0].vp, which the
	// form also shows on the vaccine).
	for _, exact := range []bool{true, false} {
		for _, fe := range pr.Errors {
			f := formField(k, fe.Field)
			if (f != "" && strings.HasSuffix(fe.Field, "."+f)) == exact {
				add(fe.Field, fe.Code, fe.Message)
			}
		}
	}
	if len(pr.Errors) == 0 {
		add(pr.Field, pr.Code, pr.Detail)
	}
	return out
}
