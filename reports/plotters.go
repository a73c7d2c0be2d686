package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Colours: a palette readable by people with the common colour-vision
// deficiencies (Okabe-Ito), plus translucent fault shading.
var (
	colBlue    = color.NRGBA{0, 114, 178, 255}
	colOrange  = color.NRGBA{230, 159, 0, 255}
	colGreen   = color.NRGBA{0, 158, 115, 255}
	colRed     = color.NRGBA{213, 94, 0, 255}
	colPurple  = color.NRGBA{204, 121, 167, 255}
	colSky     = color.NRGBA{86, 180, 233, 255}
	colYellow  = color.NRGBA{240, 228, 66, 255}
	colBlack   = color.NRGBA{0, 0, 0, 255}
	colGrey    = color.NRGBA{120, 120, 120, 255}
	faultFill  = color.NRGBA{213, 94, 0, 46}
	faultText  = color.NRGBA{150, 50, 0, 255}
	phaseColor = color.NRGBA{90, 90, 90, 200}
)

// window is a span on the x axis with a label: a fault on a time chart.
type window struct {
	start, end float64
	label      string
}

// shading draws translucent rectangles across the whole y range for each
// window, labelled at the top; add it first so data lines stay on top.
type shading struct {
	windows []window
	fill    color.Color
	text    color.Color
}

func (s shading) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	sty := draw.TextStyle{Color: s.text, Font: font.From(plot.DefaultFont, 7), XAlign: draw.XLeft, YAlign: draw.YTop, Handler: p.TextHandler}
	lh := sty.Height("Xg")
	for i, w := range s.windows {
		lo, hi := math.Max(w.start, p.X.Min), math.Min(w.end, p.X.Max)
		if hi < lo {
			continue
		}
		x0, x1 := trX(lo), trX(hi)
		if x1-x0 < 1.5 {
			// A fault shorter than a pixel must still be visible.
			x1 = x0 + 1.5
		}
		c.FillPolygon(s.fill, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
		if w.label != "" {
			// Stagger labels so overlapping faults stay readable.
			y := c.Max.Y - 2 - vg.Length(i%4)*lh
			c.FillText(sty, vg.Point{X: x0 + 2, Y: y}, w.label)
		}
	}
}

// refLine is a labelled reference line: a phase start, the knee, an SLO.
type refLine struct {
	vertical bool
	at       float64
	label    string
	style    draw.LineStyle
	// labelBottom puts a vertical line's label at the bottom, away from
	// fault labels at the top.
	labelBottom bool
}

func (r refLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := draw.TextStyle{Color: r.style.Color, Font: font.From(plot.DefaultFont, 7), Handler: p.TextHandler}
	if r.vertical {
		if r.at < p.X.Min || r.at > p.X.Max {
			return
		}
		x := trX(r.at)
		c.StrokeLine2(r.style, x, c.Min.Y, x, c.Max.Y)
		if r.label != "" {
			sty.XAlign, sty.YAlign = draw.XLeft, draw.YBottom
			y := c.Max.Y - 30
			if r.labelBottom {
				y = c.Min.Y + 2
			}
			c.FillText(sty, vg.Point{X: x + 2, Y: y}, r.label)
		}
		return
	}
	if r.at < p.Y.Min || r.at > p.Y.Max {
		return
	}
	y := trY(r.at)
	c.StrokeLine2(r.style, c.Min.X, y, c.Max.X, y)
	if r.label != "" {
		sty.XAlign, sty.YAlign = draw.XRight, draw.YBottom
		c.FillText(sty, vg.Point{X: c.Max.X - 2, Y: y + 1}, r.label)
	}
}

func dashed(col color.Color) draw.LineStyle {
	return draw.LineStyle{Color: col, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
}

// simTimeTicks labels a unix-seconds axis with wall-clock times of the
// simulated day at round steps (every 15 min, 1 h, ...).
type simTimeTicks struct{ loc *time.Location }

func (t simTimeTicks) Ticks(lo, hi float64) []plot.Tick {
	span := hi - lo
	steps := []float64{60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 10 {
			step = s
			break
		}
	}
	format := "15:04"
	if span > 2*86400 {
		format = "Jan 2 15:04"
	}
	// Align to the local clock: offset is the zone's seconds east of UTC.
	_, off := time.Unix(int64(lo), 0).In(t.loc).Zone()
	first := math.Ceil((lo+float64(off))/step)*step - float64(off)
	var ticks []plot.Tick
	minor := step / 2
	for v := math.Ceil((lo+float64(off))/minor)*minor - float64(off); v <= hi; v += minor {
		ticks = append(ticks, plot.Tick{Value: v})
	}
	for v := first; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: time.Unix(int64(v), 0).In(t.loc).Format(format)})
	}
	return ticks
}

// logMSTicks labels a log latency axis in ms and s at 1-2-5 steps.
type logMSTicks struct{}

func (logMSTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 {
		lo = 0.001
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		dec := math.Pow(10, e)
		for _, m := range []float64{1, 2, 5} {
			v := m * dec
			if v < lo/1.0001 || v > hi*1.0001 {
				continue
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: msLabel(v)})
		}
	}
	if len(ticks) < 2 {
		ticks = append(ticks, plot.Tick{Value: lo, Label: msLabel(lo)}, plot.Tick{Value: hi, Label: msLabel(hi)})
	}
	return ticks
}

func msLabel(v float64) string {
	if v >= 1000 {
		return trimFloat(v/1000) + " s"
	}
	return trimFloat(v) + " ms"
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3g", v)
	return s
}

// percentileTicks label a 1/(1-p) axis with the percentiles people quote.
type percentileTicks struct{}

func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for _, t := range []struct {
		x     float64
		label string
	}{{1, "0%"}, {2, "50%"}, {10, "90%"}, {100, "99%"}, {1e3, "99.9%"}, {1e4, "99.99%"}, {1e5, "99.999%"}, {1e6, "99.9999%"}} {
		if t.x >= lo/1.0001 && t.x <= hi*1.0001 {
			ticks = append(ticks, plot.Tick{Value: t.x, Label: t.label})
		}
	}
	return ticks
}

// newPlot is a plot with the report's common look.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 11
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Label.TextStyle.Font.Size = 9
	p.Y.Label.TextStyle.Font.Size = 9
	p.X.Tick.Label.Font.Size = 8
	p.Y.Tick.Label.Font.Size = 8
	p.Legend.TextStyle.Font.Size = 8
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(4)
	p.Legend.YOffs = vg.Points(-14)
	p.Legend.Padding = vg.Points(1.5)
	return p
}

// figure is one chart image: one plot, or several stacked sharing the x axis.
type figure struct {
	panels []*plot.Plot
	w, h   vg.Length
}

// render draws the figure as PNG and as SVG.
func (f figure) render() (pngData, svgData []byte, err error) {
	defer func() {
		// gonum/plot panics on degenerate axes; a report must still be written.
		if p := recover(); p != nil {
			err = fmt.Errorf("draw chart: %v", p)
		}
	}()
	img := vgimg.NewWith(vgimg.UseWH(f.w, f.h), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
	f.draw(draw.New(img))
	var pb bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&pb); err != nil {
		return nil, nil, fmt.Errorf("encode PNG: %w", err)
	}
	sv := vgsvg.New(f.w, f.h)
	f.draw(draw.New(sv))
	var sb bytes.Buffer
	if _, err := sv.WriteTo(&sb); err != nil {
		return nil, nil, fmt.Errorf("encode SVG: %w", err)
	}
	return pb.Bytes(), sb.Bytes(), nil
}

func (f figure) draw(dc draw.Canvas) {
	if len(f.panels) == 1 {
		f.panels[0].Draw(dc)
		return
	}
	rows := make([][]*plot.Plot, len(f.panels))
	for i, p := range f.panels {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(f.panels), Cols: 1, PadY: vg.Points(8), PadTop: vg.Points(2), PadBottom: vg.Points(2)}
	cs := plot.Align(rows, tiles, dc)
	for i, p := range f.panels {
		p.Draw(cs[i][0])
	}
}
