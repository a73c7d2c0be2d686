package staffweb

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// ------------------------------------------------------------ the form

type option struct {
	Value, Label string
	Selected     bool
}

type optGroup struct {
	Label   string // "" renders the options without a group
	Options []option
}

// fieldView is one labelled input of the issuance form.
type fieldView struct {
	ID, Label, Hint, Type, Value string
	Inputmode, Max, Min          string
	Required                     bool
	RequiredText                 string
	Error, ErrorCode, ErrorLabel string
	DescribedBy                  string
	Autofocus                    bool
	Groups                       []optGroup // a select
	List                         string     // id of a datalist
	ListOptions                  []option
}

type fieldset struct {
	Legend string
	Fields []fieldView
}

type tab struct {
	Slug, Label, Href string
	Current           bool
}

type errorItem struct {
	Field, Label, Text, Code string
}

type issueView struct {
	Tabs      []tab
	Action    string
	Key       string
	Fieldsets []fieldset
	Errors    []errorItem
}

// spec is how a field is shown.
type spec struct {
	typ       string // text, date, number, datetime-local, select
	required  bool
	inputmode string
	hint      string // msgs key
}

var specs = map[string]spec{
	"fn":  {typ: "text", required: true, hint: "h.names"},
	"gn":  {typ: "text"},
	"dob": {typ: "text", inputmode: "numeric", hint: "h.dob"},
	"mp":  {typ: "select", required: true},
	"dn":  {typ: "number", required: true, inputmode: "numeric", hint: "h.dn"},
	"sd":  {typ: "number", required: true, inputmode: "numeric"},
	"dt":  {typ: "date", required: true},
	"co":  {typ: "select", required: true},
	"tt":  {typ: "select", required: true},
	"ma":  {typ: "text", inputmode: "numeric", hint: "h.ma"},
	"nm":  {typ: "text", hint: "h.nm"},
	"sc":  {typ: "datetime-local", required: true, hint: "h.sc"},
	"tr":  {typ: "select", required: true},
	"tc":  {typ: "text", hint: "h.tc"},
	"fr":  {typ: "date", required: true},
	"df":  {typ: "date", required: true, hint: "h.df"},
	"du":  {typ: "date", required: true, hint: "h.du"},
}

// errorText is a field error as the page says it: the API's own message
// in English, a German text for its code in German.
func errorText(lang string, fe fieldError) string {
	if lang == "de" {
		if t, ok := errTexts[fe.Code]; ok {
			return t
		}
	}
	if fe.Message == "" {
		return fe.Code
	}
	r, n := utf8.DecodeRuneInString(fe.Message)
	return string(unicode.ToUpper(r)) + fe.Message[n:]
}

// summaryText is the error as the summary lists it, after the field's
// label ("Vaccine: is required").
func summaryText(lang string, fe fieldError) string {
	if t, ok := errTexts[fe.Code]; ok && lang == "de" {
		return t
	}
	if fe.Message == "" {
		return fe.Code
	}
	return fe.Message
}

func (w *Web) label(v *view, k kind, f string) string {
	if f == "co" {
		return v.T("f.co." + string(k.typ))
	}
	return v.T("f." + f)
}

// renderIssue shows the issuance form of kind k filled with d.
func (w *Web) renderIssue(rw http.ResponseWriter, v *view, status int, k kind, d *draft, errs []fieldError) {
	v.LangInForm = true
	if v.Title == "" {
		v.Title = v.T("issue.title." + string(k.typ))
	}
	body := issueView{Action: formPath(k.slug), Key: d.Key}
	for _, o := range kinds {
		body.Tabs = append(body.Tabs, tab{Slug: o.slug, Label: v.T("issue.tab." + string(o.typ)), Href: formPath(o.slug), Current: o.slug == k.slug})
	}
	byField := map[string]fieldError{}
	for _, fe := range errs {
		if fe.Field == "" {
			body.Errors = append(body.Errors, errorItem{Text: errorText(v.Lang, fe), Code: fe.Code})
			continue
		}
		byField[fe.Field] = fe
	}
	today := w.now().In(w.opts.Location)
	person := fieldset{Legend: v.T("issue.person")}
	details := fieldset{Legend: v.T("issue.details." + string(k.typ))}
	focused := false
	for _, f := range k.fields {
		sp := specs[f]
		fv := fieldView{ID: f, Label: w.label(v, k, f), Type: sp.typ, Value: d.Fields[f], Inputmode: sp.inputmode,
			Required: sp.required, RequiredText: v.T("issue.required"), ErrorLabel: "!"}
		var described []string
		if sp.hint != "" {
			fv.Hint = v.T(sp.hint)
			described = append(described, f+"-hint")
		}
		if fe, ok := byField[f]; ok {
			fv.Error, fv.ErrorCode = errorText(v.Lang, fe), fe.Code
			described = append(described, f+"-error")
			body.Errors = append(body.Errors, errorItem{Field: f, Label: fv.Label, Text: summaryText(v.Lang, fe), Code: fe.Code})
			if !focused {
				fv.Autofocus, focused = true, true
			}
		}
		fv.DescribedBy = strings.Join(described, " ")
		switch sp.typ {
		case "date":
			fv.Max = today.Format("2006-01-02")
			if f == "du" {
				fv.Max = ""
			}
		case "datetime-local":
			fv.Max = today.Format("2006-01-02T15:04")
		case "number":
			fv.Min = "1"
		}
		w.options(v, &fv)
		if personFields[f] {
			person.Fields = append(person.Fields, fv)
		} else {
			details.Fields = append(details.Fields, fv)
		}
	}
	if !focused && len(errs) == 0 {
		person.Fields[0].Autofocus = true // a fresh form: start typing
	}
	body.Fieldsets = []fieldset{person, details}
	w.render(rw, status, "issue", v, body)
}

// options fills a select's choices (or a text field's suggestions).
func (w *Web) options(v *view, fv *fieldView) {
	sets := dcc.ValueSets()
	choose := option{Value: "", Label: v.T("issue.choose"), Selected: fv.Value == ""}
	mark := func(opts []option) []option {
		for i := range opts {
			opts[i].Selected = opts[i].Value == fv.Value
		}
		return opts
	}
	switch fv.ID {
	case "mp":
		var eu, other []option
		for _, rule := range sets.Vaccines() {
			if !sets.Active(dcc.SetVaccineProduct, rule.Product) {
				continue
			}
			o := option{Value: rule.Product, Label: sets.Display(dcc.SetVaccineProduct, rule.Product)}
			if strings.HasPrefix(rule.Product, "EU/") {
				eu = append(eu, o)
			} else {
				other = append(other, o)
			}
		}
		byLabel := func(a, b option) int { return cmp.Compare(strings.ToLower(a.Label), strings.ToLower(b.Label)) }
		slices.SortFunc(eu, byLabel)
		slices.SortFunc(other, byLabel)
		fv.Groups = []optGroup{{Options: []option{choose}}, {Label: v.T("issue.eu"), Options: mark(eu)},
			{Label: v.T("issue.other"), Options: mark(other)}}
	case "co":
		var cs []option
		for _, c := range sets.Codes(dcc.SetCountry) {
			cs = append(cs, option{Value: c, Label: regionName(v.Lang, c, sets.Display(dcc.SetCountry, c))})
		}
		slices.SortFunc(cs, func(a, b option) int { return cmp.Compare(foldUmlauts(a.Label), foldUmlauts(b.Label)) })
		fv.Groups = []optGroup{{Options: append([]option{choose}, mark(cs)...)}}
	case "tt":
		fv.Groups = []optGroup{{Options: append([]option{choose}, mark([]option{
			{Value: dcc.TestTypeRAT, Label: v.T("tt.rat")}, {Value: dcc.TestTypeNAAT, Label: v.T("tt.naat")}})...)}}
	case "tr":
		// No preselected result: a forgotten choice must not become a
		// negative certificate.
		fv.Groups = []optGroup{{Options: append([]option{choose}, mark([]option{
			{Value: dcc.ResultNegative, Label: v.T("tr.neg")}, {Value: dcc.ResultPositive, Label: v.T("tr.pos")}})...)}}
	case "ma":
		fv.List = "ma-devices"
		for _, c := range sets.Codes(dcc.SetTestManufacturer) {
			fv.ListOptions = append(fv.ListOptions, option{Value: c, Label: sets.Display(dcc.SetTestManufacturer, c)})
		}
	}
}

// foldUmlauts sorts Ä with A, as a German list does.
func foldUmlauts(s string) string {
	return strings.NewReplacer("Ä", "A", "Ö", "O", "Ü", "U", "ä", "a", "ö", "o", "ü", "u").Replace(strings.ToLower(s))
}

// ------------------------------------------------------- certificate

type certView struct {
	Name, DOB, Type, Details string
	UVCI, Issued, Expires    string
	Revoked                  bool
	QR, PDF, Again           string
}

// date shows a DCC date (YYYY, YYYY-MM or YYYY-MM-DD) the page's way.
func date(lang, iso string) string {
	if lang != "de" {
		return iso
	}
	switch len(iso) {
	case 10:
		return iso[8:10] + "." + iso[5:7] + "." + iso[0:4]
	case 7:
		return iso[5:7] + "." + iso[0:4]
	}
	return iso
}

func (w *Web) stamp(lang string, t time.Time) string {
	t = t.In(w.opts.Location)
	if lang == "de" {
		return t.Format("02.01.2006, 15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// certView reads the holder's data from the HC1 (the registry does not
// keep it) for the page; ref is the page's own reference.
func (w *Web) certView(v *view, cv portalapi.CertificateView, ref string) (certView, error) {
	out := certView{UVCI: cv.UVCI, Issued: w.stamp(v.Lang, cv.IssuedAt), Expires: w.stamp(v.Lang, cv.ExpiresAt),
		Revoked: cv.Status == "revoked", QR: portalapi.StaffRoot + "certificates/" + ref + "/qr.png",
		PDF: portalapi.StaffRoot + "certificates/" + ref + "/certificate.pdf"}
	d, err := hcert.Decode(cv.HC1)
	if err != nil {
		return out, fmt.Errorf("staffweb: decoding the HC1: %w", err)
	}
	c := d.Payload
	if c == nil {
		return out, fmt.Errorf("staffweb: the HC1 has no payload")
	}
	out.Name = strings.TrimSpace(c.Nam.Gn + " " + c.Nam.Fn)
	out.DOB = date(v.Lang, c.Dob)
	out.Type = v.T("type." + string(c.Type()))
	sets := dcc.ValueSets()
	slug := portalapi.StaffKindVaccination
	switch {
	case len(c.V) == 1:
		e := c.V[0]
		out.Details = sets.Display(dcc.SetVaccineProduct, e.Mp) + ", " + v.F("cert.dose", e.Dn, e.Sd) + ", " + v.F("cert.on", date(v.Lang, e.Dt))
	case len(c.T) == 1:
		e := c.T[0]
		tt, tr := v.T("tt.rat"), v.T("tr.neg")
		if e.Tt == dcc.TestTypeNAAT {
			tt = v.T("tt.naat")
		}
		if e.Tr == dcc.ResultPositive {
			tr = v.T("tr.pos")
		}
		sc := e.Sc
		if t, err := time.Parse(time.RFC3339, e.Sc); err == nil {
			sc = w.stamp(v.Lang, t)
		}
		out.Details = tt + ", " + tr + ", " + v.F("cert.sampled", sc)
		slug = portalapi.StaffKindTest
	case len(c.R) == 1:
		e := c.R[0]
		out.Details = v.F("cert.positive", date(v.Lang, e.Fr), date(v.Lang, e.Df), date(v.Lang, e.Du))
		slug = portalapi.StaffKindRecovery
	}
	out.Again = formPath(slug)
	return out, nil
}

// ------------------------------------------------------------- ticket

type ticketView struct {
	Ticket, UVCI string
	Ready        string
	RefreshText  string
	Href         string
}

// ticketView estimates when the ticket will be signed: its turn in the
// backlog at the drain rate, after the next poll; with the signer cut off
// that is the earliest, and the page says so.
func (w *Web) ticketView(v *view, tv portalapi.TicketView, href string) ticketView {
	wait := time.Duration(v.Refresh) * time.Second
	if backlog := w.opts.Backlog(); backlog > 0 && w.opts.DrainRate > 0 {
		wait += time.Duration(float64(backlog) / w.opts.DrainRate * float64(time.Second))
	}
	eta := w.now().Add(wait).In(w.opts.Location)
	if r := eta.Truncate(time.Minute); r.Before(eta) {
		eta = r.Add(time.Minute) // "about" rounds up: never promise early
	}
	key := "ticket.ready"
	if w.opts.SignersAvailable() == 0 {
		key = "ticket.later"
	}
	return ticketView{Ticket: tv.Ticket, UVCI: tv.UVCI, Ready: v.F(key, eta.Format("15:04")),
		RefreshText: v.F("ticket.refresh", v.Refresh), Href: href}
}
