package printout

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"testing"
)

// cropQuiet renders hc1 as QRPNG does and cuts all but keep modules of the
// quiet zone away, then scales by scale (area sampling; 1: none) and
// encodes as PNG or, with jpegQuality > 0, as JPEG.
func cropQuiet(t *testing.T, hc1 string, ppm, keep int, scale float64, jpegQuality int) []byte {
	t.Helper()
	bc, err := QRCode(hc1)
	if err != nil {
		t.Fatal(err)
	}
	full := qrImage(bc, ppm)
	cut := (QuietZoneModules - keep) * ppm
	r := full.Bounds().Inset(cut)
	side := int(float64(r.Dx()) * scale)
	img := image.NewGray(image.Rect(0, 0, side, side))
	// Each output pixel averages 4x4 samples, as a camera's pixel
	// integrates light: module edges blur to grey instead of jumping.
	const sub = 4
	for y := range side {
		for x := range side {
			sum := 0
			for j := range sub {
				for i := range sub {
					sx := r.Min.X + int((float64(x)+(float64(i)+0.5)/sub)/scale)
					sy := r.Min.Y + int((float64(y)+(float64(j)+0.5)/sub)/scale)
					if full.Pix[min(sy, r.Max.Y-1)*full.Stride+min(sx, r.Max.X-1)] == 0 { // palette index 0 is white
						sum += 0xff
					}
				}
			}
			img.Pix[y*img.Stride+x] = uint8(sum / (sub * sub))
		}
	}
	var buf bytes.Buffer
	if jpegQuality > 0 {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecodeQRWithoutQuietZone reads codes cropped to their edge, as
// screenshots and cropped scans often are: the finder patterns touch the
// image border and the detector alone does not find them.
func TestDecodeQRWithoutQuietZone(t *testing.T) {
	tests := []struct {
		chars, ppm  int
		keep        int // modules of quiet zone left
		scale       float64
		jpegQuality int
	}{
		{500, 4, 0, 1, 0},
		{300, 1, 0, 1, 0},
		{500, 4, 1, 1, 0},
		// Each of these was not found before the second and third passes.
		{600, 6, 0, 1, 0},
		{600, 6, 0, 1, 60},
		{600, 6, 0, 2.5, 0},
		{600, 6, 0, 2.5, 60},
		{800, 2, 0, 1.37, 0},
		{800, 2, 0, 1.37, 60},
		{450, 1, 0, 2.5, 0},
		{450, 1, 0, 2.5, 60},
		{600, 1, 0, 1.37, 0},
		{600, 1, 0, 1.37, 60},
		{600, 1, 0, 2.5, 0},
		{800, 1, 0, 2.5, 0},
		{800, 1, 0, 2.5, 60},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%d chars, %d ppm, %d quiet modules, scale %v, jpeg %d", tt.chars, tt.ppm, tt.keep, tt.scale, tt.jpegQuality)
		t.Run(name, func(t *testing.T) {
			hc1 := fakeHC1(uint64(tt.chars*100+tt.ppm), tt.chars)
			got, err := DecodeQR(bytes.NewReader(cropQuiet(t, hc1, tt.ppm, tt.keep, tt.scale, tt.jpegQuality)))
			if err != nil {
				t.Fatalf("DecodeQR: %v", err)
			}
			if got != hc1 {
				t.Fatalf("got %q..., want %q...", prefix(got), prefix(hc1))
			}
		})
	}
}

// TestDecodeQRWithoutQuietZoneOnAPage puts a tightly cropped code into a
// larger image with other marks beside it: the code still has no white
// border of its own on one side.
func TestDecodeQRWithoutQuietZoneOnAPage(t *testing.T) {
	hc1 := fakeHC1(200, 500)
	codePNG := cropQuiet(t, hc1, 4, 0, 1, 0)
	code, err := png.Decode(bytes.NewReader(codePNG))
	if err != nil {
		t.Fatal(err)
	}
	cb := code.Bounds()
	page := image.NewGray(image.Rect(0, 0, cb.Dx()+40, cb.Dy()))
	draw.Draw(page, page.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	// The code flush with the left, top and bottom edges, text-like bars on the right.
	draw.Draw(page, cb, code, cb.Min, draw.Src)
	for y := 10; y < cb.Dy()-10; y += 12 {
		draw.Draw(page, image.Rect(cb.Dx()+12, y, cb.Dx()+36, y+5), image.NewUniform(color.Black), image.Point{}, draw.Src)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, page); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeQR(&buf)
	if err != nil {
		t.Fatalf("DecodeQR: %v", err)
	}
	if got != hc1 {
		t.Fatalf("got %q..., want %q...", prefix(got), prefix(hc1))
	}
}
