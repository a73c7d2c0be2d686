package dcc

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// MaxNameLength is the schema's limit for names, is, ci, nm and tc.
const MaxNameLength = 80

// Transliterate turns a name into its ICAO 9303 (Part 3) machine-readable
// form, the form fnt and gnt carry: upper case A-Z with '<' as filler.
//
//   - spaces and hyphens become '<'; a run of them becomes a single '<'
//     because "<<" separates primary and secondary identifiers in ICAO
//     and must not appear inside a name (the eHN test data writes
//     "d'Arsøns - van Halen" as "DARSONS<VAN<HALEN");
//   - apostrophes and other punctuation, digits and unknown characters are
//     dropped;
//   - Ä->AE, Ö->OE, Ü->UE, ß->SS, Å->AA, Æ->AE, Ø->OE and the other
//     multi-letter entries of ICAO's Latin table (Þ->TH, Œ->OE, Ĳ->IJ);
//     other accented letters fall back to their base letter through
//     Unicode decomposition (Č->C, é->E, Ș->S);
//   - Cyrillic and Arabic follow ICAO's recommended transliteration tables
//     (first variant where the table offers several), so that the eHN
//     example "ابو بكر محمد بن زكريا الرازي" gives
//     "ABW<BKR<MXHMD<BN<ZKRYA<ALRAZY";
//   - the result is cut to 80 characters.
func Transliterate(name string) string {
	runes := []rune(norm.NFC.String(name))
	var b strings.Builder
	var last string // transliteration of the previous Arabic letter, for shadda
	emit := func(s string) {
		for i := 0; i < len(s); i++ {
			if s[i] == '<' && b.Len() > 0 && strings.HasSuffix(b.String(), "<") {
				continue
			}
			b.WriteByte(s[i])
		}
	}
	for i, r := range runes {
		u := unicode.ToUpper(r)
		switch {
		case u >= 'A' && u <= 'Z':
			emit(string(u))
		case isNameSeparator(u):
			emit("<")
		case u == arabicShadda:
			// Shadda doubles the consonant it sits on.
			emit(last)
			continue
		case u == arabicTehMarbuta:
			// XAH at the end of a name component, XTA elsewhere.
			if endsArabicWord(runes[i+1:]) {
				emit("XAH")
				last = "XAH"
			} else {
				emit("XTA")
				last = "XTA"
			}
			continue
		default:
			if t, ok := icaoTable[u]; ok {
				emit(t)
				if unicode.Is(unicode.Arabic, u) {
					last = t
				}
				continue
			}
			// Accented Latin letters and ligatures: keep the base letters.
			for _, d := range norm.NFKD.String(string(u)) {
				if d = unicode.ToUpper(d); d >= 'A' && d <= 'Z' {
					emit(string(d))
				}
			}
		}
		last = ""
	}
	out := b.String()
	if len(out) > MaxNameLength {
		out = out[:MaxNameLength]
	}
	return out
}

// endsArabicWord reports whether no Arabic letter follows before the next
// non-mark character (vowel marks and shadda do not end a word).
func endsArabicWord(rest []rune) bool {
	for _, r := range rest {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		return !unicode.Is(unicode.Arabic, r) || !unicode.IsLetter(r)
	}
	return true
}

func isNameSeparator(r rune) bool {
	switch r {
	case '-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212':
		return true
	}
	return unicode.IsSpace(r)
}

const (
	arabicShadda     = '\u0651'
	arabicTehMarbuta = '\u0629'
)

// icaoTable holds the ICAO 9303 Part 3 transliterations that Unicode
// decomposition does not give: German and Nordic letters, Latin letters
// with strokes, Cyrillic and Arabic. Keys are upper case.
var icaoTable = map[rune]string{
	// Latin (ICAO Table A, multi-letter and non-decomposable entries).
	'Ä': "AE", 'Ö': "OE", 'Ü': "UE", 'ß': "SS", 'ẞ': "SS",
	'Å': "AA", 'Æ': "AE", 'Ø': "OE", 'Œ': "OE", 'Ĳ': "IJ",
	'Þ': "TH", 'Ð': "D", 'Đ': "D", 'Ł': "L", 'Ħ': "H", 'Ŧ': "T", 'Ŋ': "N",

	// Cyrillic (ICAO Table B).
	'А': "A", 'Б': "B", 'В': "V", 'Г': "G", 'Ґ': "G", 'Д': "D", 'Ђ': "D",
	'Ѓ': "G", 'Е': "E", 'Ё': "E", 'Є': "IE", 'Ж': "ZH", 'З': "Z", 'Ѕ': "DZ",
	'И': "I", 'І': "I", 'Ї': "I", 'Й': "I", 'Ј': "J", 'К': "K", 'Л': "L",
	'Љ': "LJ", 'М': "M", 'Н': "N", 'Њ': "NJ", 'О': "O", 'П': "P", 'Р': "R",
	'С': "S", 'Т': "T", 'Ћ': "C", 'Ќ': "K", 'У': "U", 'Ў': "U", 'Ф': "F",
	'Х': "KH", 'Ц': "TS", 'Ч': "CH", 'Џ': "DZ", 'Ш': "SH", 'Щ': "SHCH",
	'Ъ': "IE", 'Ы': "Y", 'Ь': "", 'Э': "E", 'Ю': "IU", 'Я': "IA",

	// Arabic (ICAO Table C); vowel marks and tatweel are not encoded.
	'\u0621': "XE", '\u0622': "XAA", '\u0623': "XAE", '\u0624': "U",
	'\u0625': "I", '\u0626': "XI", '\u0627': "A", '\u0628': "B",
	'\u062A': "T", '\u062B': "XTH", '\u062C': "J", '\u062D': "XH",
	'\u062E': "XKH", '\u062F': "D", '\u0630': "XDH", '\u0631': "R",
	'\u0632': "Z", '\u0633': "S", '\u0634': "XSH", '\u0635': "XSS",
	'\u0636': "XDZ", '\u0637': "XTT", '\u0638': "XZZ", '\u0639': "E",
	'\u063A': "G", '\u0641': "F", '\u0642': "Q", '\u0643': "K",
	'\u0644': "L", '\u0645': "M", '\u0646': "N", '\u0647': "H",
	'\u0648': "W", '\u0649': "XAY", '\u064A': "Y", '\u0671': "XXA",
	'\u0679': "XXT", '\u067C': "XRT", '\u067E': "P", '\u0681': "XKE",
	'\u0685': "XXH", '\u0686': "XC", '\u0688': "XXD", '\u0689': "XDR",
	'\u0691': "XXR", '\u0693': "XRR", '\u0696': "XRX", '\u0698': "XJ",
	'\u069A': "XXS", '\u06A9': "XKK", '\u06AB': "XXK", '\u06AD': "XNG",
	'\u06AF': "XGG", '\u06BA': "XNN", '\u06BC': "XXN", '\u06BE': "XDO",
	'\u06C0': "XYH", '\u06C1': "XXG", '\u06C2': "XGE", '\u06C3': "XTG",
	'\u06CC': "XYA", '\u06CD': "XXY", '\u06D0': "Y", '\u06D2': "XYB",
	'\u06D3': "XBE",
}
