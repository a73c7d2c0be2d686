package printout

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode"

	"codeberg.org/go-fonts/liberation/liberationmonoregular"
	"codeberg.org/go-fonts/liberation/liberationsansbold"
	"codeberg.org/go-fonts/liberation/liberationsansregular"
	"codeberg.org/go-pdf/fpdf"
)

// Certificate types accepted in Summary.Type.
const (
	TypeVaccination = "Vaccination"
	TypeTest        = "Test"
	TypeRecovery    = "Recovery"
)

// Line is one row of the certificate details table, e.g. {"Dose", "2/2"}.
// It is an alias so callers may also write struct{ Label, Value string }.
type Line = struct{ Label, Value string }

// Summary is what the printout shows. Strings are UTF-8; names are printed as
// given (the native spelling, fn/gn), with accents and umlauts.
type Summary struct {
	HC1         string // the full "HC1:..." string encoded in the QR code
	Type        string // TypeVaccination, TypeTest or TypeRecovery
	FamilyName  string
	GivenName   string
	DateOfBirth string // as in the payload: YYYY, YYYY-MM or YYYY-MM-DD
	Lines       []Line // certificate details in display order
	UVCI        string
	Issuer      string // certificate issuer (ci's "is"), e.g. "Robert Koch-Institut"
	IssuedAt    time.Time
	ExpiresAt   time.Time // zero: no validity row
	Country     string    // issuing member state, e.g. "DE"
}

// Page geometry in millimetres (A4 portrait).
const (
	pageW        = 210.0
	pageH        = 297.0
	margin       = 18.0
	contentW     = pageW - 2*margin
	bandH        = 30.0
	qrSize       = 92.0 // image side incl. the 4-module quiet zone; the code itself is > 80 mm
	qrTop        = bandH + 10
	footerTop    = 266.0
	rowH         = 7.0
	labelColW    = 58.0
	qrTargetPx   = 1100 // embedded image at least this many pixels wide (about 300 dpi)
	fontSans     = "LiberationSans"
	fontMono     = "LiberationMono"
	fontSizeBody = 10.0
)

var (
	euBlue    = [3]int{0, 51, 153}
	textDark  = [3]int{33, 37, 41}
	textMuted = [3]int{100, 108, 118}
	ruleGrey  = [3]int{206, 212, 218}
	rowTint   = [3]int{242, 245, 250}
)

const disclaimer = "This certificate is not a travel document. The scientific evidence on COVID-19 " +
	"vaccination, testing and recovery continues to evolve, also in view of new variants of concern " +
	"of the virus. Before travelling, please check the applicable public health measures and related " +
	"restrictions applied at the point of destination."

// WritePDF writes the customer's printout: one A4 page with the QR code, the
// holder, the certificate details, the UVCI and the validity. Text is set in
// embedded Liberation fonts (UTF-8, subsetted), so Latin, Greek and Cyrillic
// names print correctly; characters outside those fonts (CJK, Arabic, ...)
// print as empty boxes (.notdef), and characters beyond the Basic
// Multilingual Plane, controls and invisible format characters as U+FFFD.
// Long texts are set smaller so that any certificate fits on its page; only
// a summary with more lines than any certificate type has can overflow.
// The output is deterministic: the PDF dates are s.IssuedAt.
func WritePDF(w io.Writer, s Summary) error {
	pdf, err := buildPDF(s)
	if err != nil {
		return err
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("printout pdf: write: %w", err)
	}
	return nil
}

// scales are the text sizes tried, largest first: a certificate whose
// texts are all long (test name, testing centre and issuer at their 80
// characters, long names) is set smaller rather than refused, so every
// certificate the issuer signed prints.
var scales = []float64{1, 0.85, 0.7, 0.6}

func buildPDF(s Summary) (*fpdf.Fpdf, error) {
	title, err := validate(s)
	if err != nil {
		return nil, err
	}
	s = printableSummary(s)
	for i, k := range scales {
		pdf, err := layoutPDF(s, title, k)
		if errors.Is(err, errOverflow) && i < len(scales)-1 {
			continue
		}
		return pdf, err
	}
	return nil, errOverflow // not reached: the loop returns on its last scale
}

// errOverflow: the content does not fit on the page at this scale.
var errOverflow = errors.New("printout pdf: the detail lines do not fit on one page")

// printableSummary replaces every character the embedded fonts cannot set
// with U+FFFD: characters beyond the Basic Multilingual Plane (the PDF's
// UTF-8 fonts map 16-bit glyph ids only), controls and invisible format
// characters. A stored certificate then always prints; the issuer refuses
// such names for new certificates (dcc's issuing rules).
func printableSummary(s Summary) Summary {
	for _, p := range []*string{&s.FamilyName, &s.GivenName, &s.DateOfBirth, &s.UVCI, &s.Issuer, &s.Country} {
		*p = printable(*p)
	}
	lines := make([]Line, len(s.Lines))
	for i, l := range s.Lines {
		lines[i] = Line{Label: printable(l.Label), Value: printable(l.Value)}
	}
	s.Lines = lines
	return s
}

func printable(v string) string {
	return strings.Map(func(r rune) rune {
		if r > 0xFFFF || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return '\uFFFD'
		}
		return r
	}, v)
}

// layoutPDF sets the page with text sizes scaled by k; errOverflow when
// the content does not fit.
func layoutPDF(s Summary, title string, k float64) (*fpdf.Fpdf, error) {
	bc, err := QRCode(s.HC1)
	if err != nil {
		return nil, fmt.Errorf("printout pdf: %w", err)
	}
	modules := bc.Bounds().Dx() + 2*QuietZoneModules
	ppm := int(math.Ceil(float64(qrTargetPx) / float64(modules)))
	qrPNG, err := QRPNG(s.HC1, ppm)
	if err != nil {
		return nil, fmt.Errorf("printout pdf: %w", err)
	}

	pdf := fpdf.New("P", "mm", "A4", "")
	// Same input, same bytes: fixed dates and sorted resource catalogues.
	issued := s.IssuedAt.UTC()
	pdf.SetCreationDate(issued)
	pdf.SetModificationDate(issued)
	pdf.SetCatalogSort(true)
	pdf.SetTitle("EU Digital COVID Certificate", true)
	pdf.SetSubject(title+" "+s.UVCI, true)
	pdf.SetCreator("golive issuer", true)
	pdf.SetLang("en")
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(false, 0)
	pdf.AddUTF8FontFromBytes(fontSans, "", liberationsansregular.TTF)
	pdf.AddUTF8FontFromBytes(fontSans, "B", liberationsansbold.TTF)
	pdf.AddUTF8FontFromBytes(fontMono, "", liberationmonoregular.TTF)
	pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(qrPNG))
	if err := pdf.Error(); err != nil {
		return nil, fmt.Errorf("printout pdf: set up fonts and image: %w", err)
	}
	pdf.AddPage()

	drawBand(pdf, title, s.Country)
	drawQR(pdf)
	y := max(qrTop+qrSize, drawHolder(pdf, s, k)) + 8
	y = drawSection(pdf, y, "Certificate details", s.Lines, false, k)
	issuance := []Line{
		{Label: "Unique certificate identifier", Value: s.UVCI},
		{Label: "Certificate issuer", Value: s.Issuer},
		{Label: "Member state", Value: s.Country},
		{Label: "Issued on", Value: issued.Format("2006-01-02 15:04 UTC")},
	}
	if !s.ExpiresAt.IsZero() {
		issuance = append(issuance, Line{Label: "Valid until", Value: s.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")})
	}
	y = drawSection(pdf, y+5, "Issuance", issuance, true, k)
	if y > footerTop-3 {
		return nil, errOverflow
	}
	drawFooter(pdf, s.UVCI)

	if err := pdf.Error(); err != nil {
		return nil, fmt.Errorf("printout pdf: render: %w", err)
	}
	return pdf, nil
}

func validate(s Summary) (title string, err error) {
	switch s.Type {
	case TypeVaccination:
		title = "Vaccination certificate"
	case TypeTest:
		title = "Test certificate"
	case TypeRecovery:
		title = "Certificate of recovery"
	default:
		return "", fmt.Errorf("printout pdf: certificate type %q is not %q, %q or %q", s.Type, TypeVaccination, TypeTest, TypeRecovery)
	}
	var missing []string
	if s.HC1 == "" {
		missing = append(missing, "HC1")
	}
	if s.FamilyName == "" && s.GivenName == "" {
		missing = append(missing, "holder name")
	}
	if s.UVCI == "" {
		missing = append(missing, "UVCI")
	}
	if s.IssuedAt.IsZero() {
		missing = append(missing, "issue time")
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("printout pdf: summary lacks %s", strings.Join(missing, ", "))
	}
	if !s.ExpiresAt.IsZero() && !s.ExpiresAt.After(s.IssuedAt) {
		return "", errors.New("printout pdf: validity ends before the issue time")
	}
	return title, nil
}

func setColor(set func(r, g, b int), c [3]int) { set(c[0], c[1], c[2]) }

func drawBand(pdf *fpdf.Fpdf, title, country string) {
	setColor(pdf.SetFillColor, euBlue)
	pdf.Rect(0, 0, pageW, bandH, "F")
	pdf.SetTextColor(255, 255, 255)
	pdf.SetFont(fontSans, "B", 20)
	pdf.SetXY(margin, 7)
	pdf.CellFormat(contentW, 9, "EU Digital COVID Certificate", "", 2, "L", false, 0, "")
	pdf.SetFont(fontSans, "", 12)
	pdf.CellFormat(contentW, 7, title, "", 0, "L", false, 0, "")
	if country != "" {
		// Country code as a large mark on the right, as on the EU template.
		pdf.SetFont(fontSans, "B", 28)
		pdf.SetXY(margin, 8)
		pdf.CellFormat(contentW, 14, country, "", 0, "R", false, 0, "")
	}
}

func drawQR(pdf *fpdf.Fpdf) {
	pdf.ImageOptions("qr", margin, qrTop, qrSize, qrSize, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	setColor(pdf.SetDrawColor, ruleGrey)
	pdf.SetLineWidth(0.3)
	pdf.Rect(margin, qrTop, qrSize, qrSize, "D")
}

// drawHolder fills the column right of the QR code and returns the y below
// its text.
func drawHolder(pdf *fpdf.Fpdf, s Summary, k float64) float64 {
	x := margin + qrSize + 10
	w := pageW - margin - x
	y := qrTop + 4
	field := func(label, value string, size float64) {
		pdf.SetXY(x, y)
		setColor(pdf.SetTextColor, textMuted)
		pdf.SetFont(fontSans, "", 8.5)
		pdf.CellFormat(w, 5, strings.ToUpper(label), "", 2, "L", false, 0, "")
		setColor(pdf.SetTextColor, textDark)
		size = fitWords(pdf, fontSans, "B", value, w-2*pdf.GetCellMargin(), size*k, 10*k)
		pdf.SetFont(fontSans, "B", size)
		pdf.MultiCell(w, size*0.45, value, "", "L", false)
		y = pdf.GetY() + 5
	}
	field("Surname(s)", orDash(s.FamilyName), 16)
	field("Forename(s)", orDash(s.GivenName), 16)
	field("Date of birth", orDash(s.DateOfBirth), 13)

	// Hint for the customer at the foot of the column, unless long names
	// already fill it.
	const hint = "Show the QR code together with an identity document. Verifier apps check the signature offline."
	hintTop := qrTop + qrSize - 14
	if y > hintTop {
		return y
	}
	pdf.SetXY(x, hintTop)
	setColor(pdf.SetTextColor, textMuted)
	pdf.SetFont(fontSans, "", 8.5)
	pdf.MultiCell(w, 4.2, hint, "", "L", false)
	return pdf.GetY()
}

// drawSection draws a heading and a two-column table starting at y and
// returns the y below it. mono sets the first row's value in a monospace
// font (the UVCI). Labels and values wrap within their columns. Body text
// and row heights are scaled by k.
func drawSection(pdf *fpdf.Fpdf, y float64, heading string, lines []Line, mono bool, k float64) float64 {
	lineStep := 4.6 * k // baseline distance of wrapped lines
	rowH, fontSizeBody := rowH*k, fontSizeBody*k
	pdf.SetXY(margin, y)
	setColor(pdf.SetTextColor, euBlue)
	pdf.SetFont(fontSans, "B", 12)
	pdf.CellFormat(contentW, 7, heading, "", 2, "L", false, 0, "")
	y += 8
	setColor(pdf.SetDrawColor, euBlue)
	pdf.SetLineWidth(0.5)
	pdf.Line(margin, y, margin+contentW, y)
	const gap = 3.0
	valueW := contentW - labelColW
	for i, l := range lines {
		valueFont := fontSans
		if mono && i == 0 {
			valueFont = fontMono
		}
		pdf.SetFont(fontSans, "", fontSizeBody)
		labels := nonEmpty(pdf.SplitText(l.Label, labelColW-gap))
		pdf.SetFont(valueFont, "", fontSizeBody)
		values := nonEmpty(pdf.SplitText(orDash(l.Value), valueW))
		h := rowH + float64(max(len(labels), len(values))-1)*lineStep
		if i%2 == 1 {
			setColor(pdf.SetFillColor, rowTint)
			pdf.Rect(margin, y, contentW, h, "F")
		}
		setColor(pdf.SetTextColor, textMuted)
		pdf.SetFont(fontSans, "", fontSizeBody)
		for j, part := range labels {
			pdf.SetXY(margin, y+float64(j)*lineStep)
			pdf.CellFormat(labelColW-gap, rowH, part, "", 0, "L", false, 0, "")
		}
		setColor(pdf.SetTextColor, textDark)
		pdf.SetFont(valueFont, "", fontSizeBody)
		for j, part := range values {
			pdf.SetXY(margin+labelColW, y+float64(j)*lineStep)
			pdf.CellFormat(valueW, rowH, part, "", 0, "L", false, 0, "")
		}
		y += h
		setColor(pdf.SetDrawColor, ruleGrey)
		pdf.SetLineWidth(0.2)
		pdf.Line(margin, y, margin+contentW, y)
	}
	return y
}

// fitWords returns the largest font size from maxSize down to minSize (in
// steps of 1 pt) at which every word of text fits in width w, so long
// double-barrelled names shrink instead of breaking mid-word.
func fitWords(pdf *fpdf.Fpdf, family, style, text string, w, maxSize, minSize float64) float64 {
	size := maxSize
	for ; size > minSize; size-- {
		pdf.SetFont(family, style, size)
		fits := true
		for _, word := range strings.Fields(text) {
			if pdf.GetStringWidth(word) > w {
				fits = false
				break
			}
		}
		if fits {
			break
		}
	}
	return size
}

func nonEmpty(lines []string) []string {
	if len(lines) == 0 {
		return []string{""}
	}
	return lines
}

func drawFooter(pdf *fpdf.Fpdf, uvci string) {
	setColor(pdf.SetDrawColor, ruleGrey)
	pdf.SetLineWidth(0.3)
	pdf.Line(margin, footerTop, margin+contentW, footerTop)
	pdf.SetXY(margin, footerTop+2)
	setColor(pdf.SetTextColor, textMuted)
	pdf.SetFont(fontSans, "", 7.5)
	pdf.MultiCell(contentW, 3.6, disclaimer, "", "L", false)
	pdf.SetXY(margin, pageH-12)
	pdf.CellFormat(contentW/2, 4, "EU Digital COVID Certificate", "", 0, "L", false, 0, "")
	pdf.SetFont(fontMono, "", 7.5)
	pdf.CellFormat(contentW/2, 4, uvci, "", 0, "R", false, 0, "")
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "–"
	}
	return s
}
