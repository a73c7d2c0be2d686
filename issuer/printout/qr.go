// Package printout renders what the pharmacy hands to the customer: the HC1
// string as a QR code (PNG) and a one-page A4 PDF certificate, and reads a QR
// code back from a scan or photo.
package printout

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg" // DecodeQR accepts photos and scans.
	"image/png"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

// AlphanumericCharset is the QR alphanumeric character set; Base45 (and so
// every HC1 string) uses exactly these characters.
const AlphanumericCharset = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

const (
	// QuietZoneModules is the white border required around a QR code.
	QuietZoneModules = 4
	// DefaultPixelsPerModule is used by QRPNG when pixelsPerModule <= 0.
	DefaultPixelsPerModule = 4
	// maxDecodePixels bounds the images DecodeQR accepts (about a 60 MP photo).
	maxDecodePixels = 60_000_000
)

// ErrNoQRCode is returned by DecodeQR when the image holds no readable QR code.
var ErrNoQRCode = errors.New("no QR code found in image")

// QRCode encodes an HC1 string as a QR code in alphanumeric mode with error
// correction level Q, as the DCC specification recommends. The returned
// barcode is one image pixel per module, without quiet zone.
func QRCode(hc1 string) (barcode.Barcode, error) {
	if hc1 == "" {
		return nil, errors.New("qr code: empty content")
	}
	if i := strings.IndexFunc(hc1, func(r rune) bool { return !strings.ContainsRune(AlphanumericCharset, r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(hc1[i:])
		return nil, fmt.Errorf("qr code: character %q at byte %d is outside the QR alphanumeric charset %q", r, i, AlphanumericCharset)
	}
	bc, err := qr.Encode(hc1, qr.Q, qr.AlphaNumeric)
	if err != nil {
		return nil, fmt.Errorf("qr code: encode %d characters (alphanumeric, level Q): %w", len(hc1), err)
	}
	return bc, nil
}

// QRPNG renders the HC1 string's QR code as a black-on-white PNG with a quiet
// zone of 4 modules and pixelsPerModule pixels per module (4 when <= 0).
func QRPNG(hc1 string, pixelsPerModule int) ([]byte, error) {
	bc, err := QRCode(hc1)
	if err != nil {
		return nil, err
	}
	img := qrImage(bc, pixelsPerModule)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qr png: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// qrImage scales the barcode by whole pixels per module and adds the quiet
// zone. A two-colour palette makes the PNG 1 bit per pixel.
func qrImage(bc barcode.Barcode, pixelsPerModule int) *image.Paletted {
	if pixelsPerModule <= 0 {
		pixelsPerModule = DefaultPixelsPerModule
	}
	b := bc.Bounds()
	modules := b.Dx()
	side := (modules + 2*QuietZoneModules) * pixelsPerModule
	const black = 1 // palette index; 0 is white
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	// NewPaletted starts at index 0, which is white: only dark modules are drawn.
	for my := 0; my < b.Dy(); my++ {
		for mx := 0; mx < modules; mx++ {
			if !isDark(bc.At(b.Min.X+mx, b.Min.Y+my)) {
				continue
			}
			x0 := (mx + QuietZoneModules) * pixelsPerModule
			y0 := (my + QuietZoneModules) * pixelsPerModule
			for y := y0; y < y0+pixelsPerModule; y++ {
				row := img.Pix[y*img.Stride:]
				for x := x0; x < x0+pixelsPerModule; x++ {
					row[x] = black
				}
			}
		}
	}
	return img
}

func isDark(c color.Color) bool {
	return color.Gray16Model.Convert(c).(color.Gray16).Y < 0x8000
}

// DecodeQR reads a PNG or JPEG image, finds a QR code anywhere in it and
// returns the decoded text. It returns an error wrapping ErrNoQRCode when
// no QR code can be found or read.
//
// The finder-pattern detector needs light around the code. Screenshots and
// cropped scans often have no quiet zone, so when the first pass finds
// nothing DecodeQR pads the image with a white border and looks again,
// then reads the image as a bare, upright code (gozxing's pure-barcode
// mode). Each pass costs about as much as the first, only for images the
// first pass could not read.
func DecodeQR(r io.Reader) (string, error) {
	br := bufio.NewReader(r)
	// Check the size before decoding so a hostile header cannot make us
	// allocate gigabytes.
	head, _ := br.Peek(64 << 10)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(head))
	if err == nil && cfg.Width*cfg.Height > maxDecodePixels {
		return "", fmt.Errorf("decode qr: %s image of %dx%d pixels is too large", format, cfg.Width, cfg.Height)
	}
	img, format, err := image.Decode(br)
	if err != nil {
		return "", fmt.Errorf("decode qr: read image (PNG or JPEG expected): %w", err)
	}
	text, firstErr := decodeQRPass(img, false)
	if firstErr == nil {
		return text, nil
	}
	if text, err := decodeQRPass(withWhiteBorder(img), false); err == nil {
		return text, nil
	}
	if text, err := decodeQRPass(img, true); err == nil {
		return text, nil
	}
	return "", fmt.Errorf("decode qr: %w (%s image %dx%d: %v)", ErrNoQRCode, format, img.Bounds().Dx(), img.Bounds().Dy(), firstErr)
}

// decodeQRPass runs the detector, or with pure the reader for an image
// holding nothing but an upright code.
func decodeQRPass(img image.Image, pure bool) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("binarize: %w", err)
	}
	hints := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
	if pure {
		hints[gozxing.DecodeHintType_PURE_BARCODE] = true
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// whiteBorderFraction of the image's longer side is added on every side by
// withWhiteBorder: at least the 4-module quiet zone of any code that fills
// the image from version 2 (25 modules) up; HC1 codes are version 10 or
// larger.
const whiteBorderFraction = 6

// withWhiteBorder returns img in grey on a white canvas with a border of
// a sixth of its longer side (at least 8 pixels).
func withWhiteBorder(img image.Image) *image.Gray {
	b := img.Bounds()
	pad := max(b.Dx(), b.Dy())/whiteBorderFraction + 8
	out := image.NewGray(image.Rect(0, 0, b.Dx()+2*pad, b.Dy()+2*pad))
	for i := range out.Pix {
		out.Pix[i] = 0xff
	}
	draw.Draw(out, image.Rect(pad, pad, pad+b.Dx(), pad+b.Dy()), img, b.Min, draw.Src)
	return out
}
