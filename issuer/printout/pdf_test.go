package printout

import (
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

func sampleSummary(hc1 string) Summary {
	return Summary{
		HC1:         hc1,
		Type:        TypeVaccination,
		FamilyName:  "Musterfrau-Gößinger",
		GivenName:   "Gabriele Élodie",
		DateOfBirth: "1964-08-12",
		Lines: []Line{
			{Label: "Disease or agent targeted", Value: "COVID-19"},
			{Label: "Vaccine or prophylaxis", Value: "SARS-CoV-2 mRNA vaccine"},
			{Label: "Vaccine medicinal product", Value: "Comirnaty"},
			{Label: "Marketing authorisation holder", Value: "Biontech Manufacturing GmbH"},
			{Label: "Dose", Value: "2/2"},
			{Label: "Date of vaccination", Value: "2021-06-10"},
			{Label: "Country of vaccination", Value: "Germany (DE)"},
		},
		UVCI:      "URN:UVCI:01:DE:A80013335/TCXSI5Q08B0DIJGMIZJDF#T",
		Issuer:    "Robert Koch-Institut",
		IssuedAt:  time.Date(2021, 6, 14, 9, 31, 5, 0, time.UTC),
		ExpiresAt: time.Date(2022, 6, 14, 9, 31, 5, 0, time.UTC),
		Country:   "DE",
	}
}

func renderPDF(t *testing.T, s Summary) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WritePDF(&buf, s); err != nil {
		t.Fatalf("WritePDF: %v", err)
	}
	return buf.Bytes()
}

var objRE = regexp.MustCompile(`\d+ 0 obj\s*<<`)

// pdfStreams walks the objects in file order and returns the dictionary
// text and the inflated body of every stream.
func pdfStreams(t *testing.T, pdf []byte) (dicts []string, bodies [][]byte) {
	t.Helper()
	pos := 0
	for {
		loc := objRE.FindIndex(pdf[pos:])
		if loc == nil {
			return dicts, bodies
		}
		objStart := pos + loc[0]
		objEnd := bytes.Index(pdf[objStart:], []byte("endobj"))
		if objEnd < 0 {
			t.Fatalf("object at %d has no endobj", objStart)
		}
		obj := pdf[objStart : objStart+objEnd]
		pos = objStart + objEnd + len("endobj")
		si := bytes.Index(obj, []byte("stream"))
		if si < 0 {
			continue
		}
		dict := string(obj[:si])
		body := bytes.TrimLeft(obj[si+len("stream"):], "\r\n")
		ei := bytes.LastIndex(body, []byte("endstream"))
		if ei < 0 {
			t.Fatalf("stream %q has no endstream", dict)
		}
		body = bytes.TrimRight(body[:ei], "\r\n")
		if strings.Contains(dict, "/FlateDecode") {
			zr, err := zlib.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("stream %q: %v", dict, err)
			}
			body, err = io.ReadAll(zr)
			if err != nil {
				t.Fatalf("stream %q: inflate: %v", dict, err)
			}
		}
		dicts = append(dicts, dict)
		bodies = append(bodies, body)
	}
}

// pdfString is how fpdf writes s with an embedded UTF-8 font: UTF-16BE
// code units inside an escaped literal string.
func pdfString(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(u >> 8))
		b.WriteByte(byte(u))
	}
	r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`, "\r", `\r`)
	return r.Replace(b.String())
}

func TestWritePDFStructure(t *testing.T) {
	s := sampleSummary(fakeHC1(42, 520))
	pdf := renderPDF(t, s)

	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("does not start with %%PDF-: %q", pdf[:min(16, len(pdf))])
	}
	if !bytes.HasSuffix(bytes.TrimSpace(pdf), []byte("%%EOF")) {
		t.Fatal("does not end with the EOF marker")
	}
	pages := regexp.MustCompile(`/Type\s*/Page\b`).FindAll(pdf, -1)
	if len(pages) != 1 {
		t.Fatalf("%d /Type /Page objects, want 1", len(pages))
	}
	if m := regexp.MustCompile(`/Count (\d+)`).FindSubmatch(pdf); m == nil || string(m[1]) != "1" {
		t.Fatalf("page tree count %q, want 1", m)
	}
	if !bytes.Contains(pdf, []byte("/MediaBox [0 0 595.28 841.89]")) {
		t.Error("page is not A4 portrait")
	}

	dicts, bodies := pdfStreams(t, pdf)
	var images int
	var content []byte
	for i, d := range dicts {
		if strings.Contains(d, "/Subtype /Image") {
			images++
			if !strings.Contains(d, "/BitsPerComponent 1") {
				t.Errorf("QR image is not 1 bit per pixel: %s", d)
			}
			if w := regexp.MustCompile(`/Width (\d+)`).FindStringSubmatch(d); w == nil || atoi(t, w[1]) < qrTargetPx {
				t.Errorf("QR image width %v, want >= %d px", w, qrTargetPx)
			}
		}
		if bytes.Contains(bodies[i], []byte(")Tj")) {
			content = append(content, bodies[i]...)
		}
	}
	if images != 1 {
		t.Fatalf("%d images embedded, want 1 (the QR code)", images)
	}
	if len(content) == 0 {
		t.Fatal("no page content stream with text found")
	}
	for _, want := range []string{
		"EU Digital COVID Certificate",
		"Vaccination certificate",
		s.FamilyName, s.GivenName, s.DateOfBirth,
		s.UVCI, s.Issuer,
		"Comirnaty", "2/2", "Date of vaccination",
		"2021-06-14 09:31 UTC", "Valid until", "2022-06-14 09:31 UTC",
	} {
		if !bytes.Contains(content, []byte(pdfString(want))) {
			t.Errorf("page content lacks %q", want)
		}
	}

	// The QR image is drawn at least 80 mm wide: "q w 0 0 h x y cm /I.. Do Q".
	m := regexp.MustCompile(`q ([\d.]+) 0 0 ([\d.]+) [\d.]+ [\d.]+ cm /I\w+ Do Q`).FindSubmatch(content)
	if m == nil {
		t.Fatal("no image placement in the content stream")
	}
	wMM := atof(t, string(m[1])) * 25.4 / 72
	hMM := atof(t, string(m[2])) * 25.4 / 72
	bc, err := QRCode(s.HC1)
	if err != nil {
		t.Fatal(err)
	}
	// The code without its quiet zone must be at least 80 mm.
	codeMM := wMM * float64(bc.Bounds().Dx()) / float64(bc.Bounds().Dx()+2*QuietZoneModules)
	if codeMM < 80 || wMM != hMM {
		t.Errorf("QR drawn %.1fx%.1f mm (code %.1f mm), want square and code >= 80 mm", wMM, hMM, codeMM)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestWritePDFDeterministic(t *testing.T) {
	s := sampleSummary(fakeHC1(3, 480))
	a, b := renderPDF(t, s), renderPDF(t, s)
	if !bytes.Equal(a, b) {
		t.Fatal("same summary gave different PDF bytes")
	}
	if !bytes.Contains(a, []byte("/CreationDate (D:20210614093105)")) {
		t.Error("creation date is not the issue time")
	}
	// Same instant in another zone: same bytes (dates are written in UTC).
	s2 := s
	s2.IssuedAt = s.IssuedAt.In(time.FixedZone("CEST", 2*3600))
	if c := renderPDF(t, s2); !bytes.Equal(a, c) {
		t.Error("issue time's zone changed the output")
	}
	s3 := s
	s3.IssuedAt = s.IssuedAt.Add(time.Minute)
	if c := renderPDF(t, s3); bytes.Equal(a, c) {
		t.Error("a different issue time gave identical bytes")
	}
}

func TestWritePDFRejectsIncompleteSummary(t *testing.T) {
	base := sampleSummary(fakeHC1(5, 300))
	tooMany := make([]Line, 40)
	for i := range tooMany {
		tooMany[i] = Line{Label: fmt.Sprintf("Line %d", i), Value: "x"}
	}
	tests := []struct {
		name      string
		edit      func(*Summary)
		wantInErr string
	}{
		{"unknown type", func(s *Summary) { s.Type = "vaccination" }, "certificate type"},
		{"no HC1", func(s *Summary) { s.HC1 = "" }, "HC1"},
		{"HC1 with lower case", func(s *Summary) { s.HC1 = "hc1:ABC" }, "alphanumeric"},
		{"no name", func(s *Summary) { s.FamilyName, s.GivenName = "", "" }, "holder name"},
		{"no UVCI", func(s *Summary) { s.UVCI = "" }, "UVCI"},
		{"no issue time", func(s *Summary) { s.IssuedAt = time.Time{} }, "issue time"},
		{"expiry before issue", func(s *Summary) { s.ExpiresAt = s.IssuedAt.Add(-time.Hour) }, "validity"},
		{"too many lines for one page", func(s *Summary) { s.Lines = tooMany }, "one page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.edit(&s)
			var buf bytes.Buffer
			err := WritePDF(&buf, s)
			if err == nil || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("err %v, want one mentioning %q", err, tt.wantInErr)
			}
		})
	}
	// Optional fields may be empty.
	s := base
	s.GivenName, s.DateOfBirth, s.Lines, s.Issuer, s.Country, s.ExpiresAt = "", "", nil, "", "", time.Time{}
	if err := WritePDF(io.Discard, s); err != nil {
		t.Fatalf("minimal summary: %v", err)
	}
}

// TestWritePDFRendered uses poppler (Debian poppler-utils; CI installs it):
// pdftotext must find the names with their diacritics, and the QR code on
// the page rendered by pdftoppm must decode to the HC1 string.
func TestWritePDFRendered(t *testing.T) {
	hc1 := fakeHC1(99, 560)
	types := []struct {
		typ, title string
		family     string
		given      string
	}{
		{TypeVaccination, "Vaccination certificate", "Musterfrau-Gößinger", "Gabriele Élodie"},
		{TypeTest, "Test certificate", "Łukasiewicz-Dvořák", "Zoë Șerban"},
		{TypeRecovery, "Certificate of recovery", "Παπαδόπουλος", "Ægir Øystein"},
	}
	for _, tt := range types {
		t.Run(tt.typ, func(t *testing.T) {
			s := sampleSummary(hc1)
			s.Type, s.FamilyName, s.GivenName = tt.typ, tt.family, tt.given
			dir := t.TempDir()
			pdfPath := filepath.Join(dir, "cert.pdf")
			if err := os.WriteFile(pdfPath, renderPDF(t, s), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			t.Run("text", func(t *testing.T) {
				if _, err := exec.LookPath("pdftotext"); err != nil {
					t.Skip("pdftotext not installed (apt-get install poppler-utils)")
				}
				out, err := exec.CommandContext(ctx, "pdftotext", "-enc", "UTF-8", pdfPath, "-").Output()
				if err != nil {
					t.Fatalf("pdftotext: %v", err)
				}
				text := string(out)
				for _, want := range []string{tt.title, tt.family, tt.given, s.UVCI, "2022-06-14 09:31 UTC"} {
					if !strings.Contains(text, want) {
						t.Errorf("extracted text lacks %q:\n%s", want, text)
					}
				}
			})
			t.Run("qr", func(t *testing.T) {
				if _, err := exec.LookPath("pdftoppm"); err != nil {
					t.Skip("pdftoppm not installed (apt-get install poppler-utils)")
				}
				pagePrefix := filepath.Join(dir, "page")
				if out, err := exec.CommandContext(ctx, "pdftoppm", "-png", "-r", "150", pdfPath, pagePrefix).CombinedOutput(); err != nil {
					t.Fatalf("pdftoppm: %v: %s", err, out)
				}
				pages, err := filepath.Glob(pagePrefix + "*.png")
				if err != nil || len(pages) != 1 {
					t.Fatalf("rendered pages %v (%v), want exactly 1", pages, err)
				}
				f, err := os.Open(pages[0])
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				got, err := DecodeQR(f)
				if err != nil {
					t.Fatalf("decode QR from rendered page: %v", err)
				}
				if got != hc1 {
					t.Fatalf("rendered page QR %q..., want %q...", prefix(got), prefix(hc1))
				}
			})
		})
	}
}

// TestWritePDFPrintsEveryIssuableSummary: the longest texts a certificate
// can carry (80 characters of the widest letter in every free-text field
// and both names) and characters the fonts cannot set (beyond the Basic
// Multilingual Plane, invisible ones) still give a one-page PDF: a stored
// certificate must always print.
func TestWritePDFPrintsEveryIssuableSummary(t *testing.T) {
	wide := strings.Repeat("W", 80)
	words := strings.Repeat("Wm ", 26) + "Wm"
	s := sampleSummary(fakeHC1(7, 560))
	s.Type = TypeTest
	s.FamilyName, s.GivenName = wide, words
	s.Lines = []Line{
		{Label: "Disease or agent targeted", Value: "COVID-19"},
		{Label: "Type of test", Value: "Rapid immunoassay"},
		{Label: "Test name", Value: words},
		{Label: "Test device", Value: "1234567890"},
		{Label: "Sample collected", Value: "2021-06-14T08:15:00Z"},
		{Label: "Result", Value: "Not detected"},
		{Label: "Testing centre", Value: wide},
		{Label: "Country", Value: "Germany (DE)"},
	}
	s.Issuer = wide
	if err := WritePDF(io.Discard, s); err != nil {
		t.Fatalf("longest texts: %v", err)
	}
	for _, name := range []string{"Muster\U0001F600frau", "\U00020BB7野", "Mus\u200bter\u202e", strings.Repeat("\U0001F600", 80)} {
		s := sampleSummary(fakeHC1(8, 300))
		s.FamilyName = name
		if err := WritePDF(io.Discard, s); err != nil {
			t.Errorf("name of %d code points: %v", len([]rune(name)), err)
		}
	}
}
