package printout

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/boombuler/barcode/qr"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

// fakeHC1 returns "HC1:" followed by n characters drawn from the QR
// alphanumeric charset, like a Base45 payload.
func fakeHC1(seed uint64, n int) string {
	rng := rand.New(rand.NewPCG(seed, 0x48433121))
	var b strings.Builder
	b.WriteString("HC1:")
	for range n {
		b.WriteByte(AlphanumericCharset[rng.IntN(len(AlphanumericCharset))])
	}
	return b.String()
}

func TestQRRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		chars int
		ppm   int
	}{
		{"short 300 default ppm", 300, 0},
		{"typical 500 at 4 ppm", 500, 4},
		{"typical 500 at 2 ppm", 500, 2},
		{"long 600 at 6 ppm", 600, 6},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc1 := fakeHC1(uint64(i), tt.chars)
			pngBytes, err := QRPNG(hc1, tt.ppm)
			if err != nil {
				t.Fatalf("QRPNG: %v", err)
			}
			got, err := DecodeQR(bytes.NewReader(pngBytes))
			if err != nil {
				t.Fatalf("DecodeQR(png): %v", err)
			}
			if got != hc1 {
				t.Fatalf("png round trip: got %d chars %q..., want %q...", len(got), prefix(got), prefix(hc1))
			}

			// A lossy re-encoding, as from a phone photo or a scanner.
			img, err := png.Decode(bytes.NewReader(pngBytes))
			if err != nil {
				t.Fatal(err)
			}
			var jpg bytes.Buffer
			if err := jpeg.Encode(&jpg, img, &jpeg.Options{Quality: 60}); err != nil {
				t.Fatal(err)
			}
			got, err = DecodeQR(&jpg)
			if err != nil {
				t.Fatalf("DecodeQR(jpeg): %v", err)
			}
			if got != hc1 {
				t.Fatalf("jpeg round trip: got %q..., want %q...", prefix(got), prefix(hc1))
			}
		})
	}
}

func prefix(s string) string {
	if len(s) > 24 {
		return s[:24]
	}
	return s
}

func TestQRPNGGeometry(t *testing.T) {
	hc1 := fakeHC1(7, 450)
	bc, err := QRCode(hc1)
	if err != nil {
		t.Fatal(err)
	}
	modules := bc.Bounds().Dx()
	for _, ppm := range []int{-1, 0, 1, 3, 5} {
		pngBytes, err := QRPNG(hc1, ppm)
		if err != nil {
			t.Fatalf("ppm %d: %v", ppm, err)
		}
		img, err := png.Decode(bytes.NewReader(pngBytes))
		if err != nil {
			t.Fatalf("ppm %d: %v", ppm, err)
		}
		eff := ppm
		if eff <= 0 {
			eff = DefaultPixelsPerModule
		}
		wantSide := (modules + 2*QuietZoneModules) * eff
		if b := img.Bounds(); b.Dx() != wantSide || b.Dy() != wantSide {
			t.Fatalf("ppm %d: image %v, want %dx%d", ppm, b, wantSide, wantSide)
		}
		q := QuietZoneModules * eff
		// Quiet zone white on all four sides, every pixel pure black or white,
		// and the image matches the barcode module by module.
		for y := 0; y < wantSide; y++ {
			for x := 0; x < wantSide; x++ {
				g := color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
				if g != 0 && g != 255 {
					t.Fatalf("ppm %d: pixel (%d,%d) grey %d, want pure black or white", ppm, x, y, g)
				}
				inQuiet := x < q || y < q || x >= wantSide-q || y >= wantSide-q
				if inQuiet {
					if g != 255 {
						t.Fatalf("ppm %d: quiet zone pixel (%d,%d) is dark", ppm, x, y)
					}
					continue
				}
				wantDark := isDark(bc.At((x-q)/eff, (y-q)/eff))
				if (g == 0) != wantDark {
					t.Fatalf("ppm %d: pixel (%d,%d) dark=%v, module dark=%v", ppm, x, y, g == 0, wantDark)
				}
			}
		}
		// The top-left finder pattern starts right after the quiet zone.
		if g := color.GrayModel.Convert(img.At(q, q)).(color.Gray).Y; g != 0 {
			t.Fatalf("ppm %d: finder pattern corner is not black", ppm)
		}
	}
}

// TestQRModeAndLevel reads the symbol back with the decoder and checks the
// error correction level it reports and the mode indicator of the first data
// segment; it also checks the symbol is smaller than a byte-mode symbol.
func TestQRModeAndLevel(t *testing.T) {
	for _, n := range []int{100, 500, 600} {
		hc1 := fakeHC1(uint64(n), n)
		pngBytes, err := QRPNG(hc1, 3)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(pngBytes))
		if err != nil {
			t.Fatal(err)
		}
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
		if err != nil {
			t.Fatalf("%d chars: decode: %v", n, err)
		}
		if lvl := res.GetResultMetadata()[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL]; lvl != "Q" {
			t.Errorf("%d chars: error correction level %v, want Q", n, lvl)
		}
		raw := res.GetRawBytes()
		if len(raw) == 0 {
			t.Fatalf("%d chars: no raw bytes", n)
		}
		// Mode indicator: 0010 alphanumeric, 0100 byte.
		if mode := raw[0] >> 4; mode != 0b0010 {
			t.Errorf("%d chars: first segment mode indicator %04b, want 0010 (alphanumeric)", n, mode)
		}
		if _, ok := res.GetResultMetadata()[gozxing.ResultMetadataType_BYTE_SEGMENTS]; ok {
			t.Errorf("%d chars: symbol has byte segments", n)
		}

		ours, err := QRCode(hc1)
		if err != nil {
			t.Fatal(err)
		}
		byteMode, err := qr.Encode(hc1, qr.Q, qr.Unicode)
		if err != nil {
			t.Fatal(err)
		}
		levelM, err := qr.Encode(hc1, qr.M, qr.AlphaNumeric)
		if err != nil {
			t.Fatal(err)
		}
		version := func(side int) int { return (side - 17) / 4 }
		v, vByte, vM := version(ours.Bounds().Dx()), version(byteMode.Bounds().Dx()), version(levelM.Bounds().Dx())
		if v >= vByte {
			t.Errorf("%d chars: version %d, byte mode at Q needs %d: not alphanumeric", n, v, vByte)
		}
		if v <= vM {
			t.Errorf("%d chars: version %d, alphanumeric at M needs %d: level below Q", n, v, vM)
		}
	}
}

func TestQRCodeRejectsInvalidInput(t *testing.T) {
	tests := []struct {
		name, in, wantInErr string
	}{
		{"empty", "", "empty"},
		{"valid control row", "HC1:6BFOXN%TS3DH0 $*+-./:", ""},
		{"lower case letters", "hc1:6BFOXN", "'h'"},
		{"umlaut", "HC1:6BFÄXN", "'Ä'"},
		{"newline", "HC1:6BF\nXN", `'\n'`},
		{"hash", "HC1:6BF#XN", "'#'"},
		{"underscore", "HC1:6BF_XN", "'_'"},
		{"equals", "HC1:6BF=", "'='"},
		{"too long for a QR code", fakeHC1(1, 5000), "encode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := QRCode(tt.in)
			_, pngErr := QRPNG(tt.in, 2)
			if tt.wantInErr == "" {
				if err != nil || pngErr != nil {
					t.Fatalf("valid input rejected: %v / %v", err, pngErr)
				}
				return
			}
			if err == nil || pngErr == nil {
				t.Fatalf("QRCode err %v, QRPNG err %v: want both to fail", err, pngErr)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("error %q does not mention %s", err, tt.wantInErr)
			}
		})
	}
}

func TestDecodeQRWithoutCode(t *testing.T) {
	blank := image.NewGray(image.Rect(0, 0, 200, 200))
	for i := range blank.Pix {
		blank.Pix[i] = 255
	}
	var blankPNG, noisyJPEG bytes.Buffer
	if err := png.Encode(&blankPNG, blank); err != nil {
		t.Fatal(err)
	}
	noise := image.NewGray(image.Rect(0, 0, 300, 200))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(rng.IntN(256))
	}
	if err := jpeg.Encode(&noisyJPEG, noise, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		data   []byte
		noCode bool // error must wrap ErrNoQRCode (an image, but no QR code)
	}{
		{"blank png", blankPNG.Bytes(), true},
		{"noise jpeg", noisyJPEG.Bytes(), true},
		{"not an image", []byte("HC1:NCFOXN%TS3DH0"), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeQR(bytes.NewReader(tt.data))
			if err == nil {
				t.Fatalf("decoded %q from an image without a QR code", got)
			}
			if errors.Is(err, ErrNoQRCode) != tt.noCode {
				t.Fatalf("errors.Is(err, ErrNoQRCode) = %v, want %v (err: %v)", !tt.noCode, tt.noCode, err)
			}
		})
	}
}
