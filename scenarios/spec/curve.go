package spec

import (
	"math"
	"sort"
	"time"
)

// Curve is a demand curve on the simulated clock, in real-world requests
// per second: the piecewise-linear line through Points (0 outside the
// first and last point; two points at the same instant make a jump) plus
// every Shape.
type Curve struct {
	Points []Point
	Shapes []Shape
}

// Point is one corner of the piecewise-linear part.
type Point struct {
	At   time.Time
	Rate float64
	Pos  Pos
}

// ShapeKind names a shape.
type ShapeKind string

// The shapes.
const (
	// ShapeStep is Rate on [From, Until).
	ShapeStep ShapeKind = "step"
	// ShapeRamp rises (or falls) linearly from Rate at From to EndRate at
	// Until, 0 outside.
	ShapeRamp ShapeKind = "ramp"
	// ShapeBursts is Rate for Length at the start of every Every from
	// From, up to Until, and 0 between bursts.
	ShapeBursts ShapeKind = "bursts"
)

// Shape is a term added to the points' line.
type Shape struct {
	Kind        ShapeKind
	From, Until time.Time
	Rate        float64
	EndRate     float64       // ramp only
	Every       time.Duration // bursts only
	Length      time.Duration // bursts only
	Pos         Pos
}

// maxBursts bounds the bursts one shape may make, so Peak and Total stay
// cheap.
const maxBursts = 100000

// epoch is the reference the curve's arithmetic measures seconds from;
// float64 seconds from it keep sub-microsecond precision for centuries.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func secs(t time.Time) float64 { return t.Sub(epoch).Seconds() }

func at(s float64) time.Time { return epoch.Add(time.Duration(s * 1e9)) }

// IsZero reports whether the curve has no points and no shapes.
func (c Curve) IsZero() bool { return len(c.Points) == 0 && len(c.Shapes) == 0 }

// Rate is the demand at simulated instant t, requests per real second.
func (c Curve) Rate(t time.Time) float64 { return c.rateAt(secs(t)) }

func (c Curve) rateAt(x float64) float64 {
	r := c.pointsAt(x)
	for _, s := range c.Shapes {
		r += s.rateAt(x)
	}
	return r
}

// pointsAt is the piecewise-linear part: right-continuous at a jump (two
// points at one instant), so the later point's rate holds from then on.
func (c Curve) pointsAt(x float64) float64 {
	p := c.Points
	if len(p) < 2 || x < secs(p[0].At) || x > secs(p[len(p)-1].At) {
		return 0
	}
	// First point strictly after x; the segment is [i-1, i].
	i := sort.Search(len(p), func(i int) bool { return secs(p[i].At) > x })
	if i == len(p) {
		return p[len(p)-1].Rate
	}
	a, b := p[i-1], p[i]
	xa, xb := secs(a.At), secs(b.At)
	return a.Rate + (b.Rate-a.Rate)*(x-xa)/(xb-xa)
}

func (s Shape) rateAt(x float64) float64 {
	from, until := secs(s.From), secs(s.Until)
	if x < from || x >= until {
		return 0
	}
	switch s.Kind {
	case ShapeRamp:
		return s.Rate + (s.EndRate-s.Rate)*(x-from)/(until-from)
	case ShapeBursts:
		every := s.Every.Seconds()
		if math.Mod(x-from, every) < s.Length.Seconds() {
			return s.Rate
		}
		return 0
	}
	return s.Rate
}

// breaks lists every instant where some term of the curve may bend or
// jump, sorted and unique. Between two consecutive breaks the curve is
// linear, which is what makes Peak and Total exact.
func (c Curve) breaks() []float64 {
	var xs []float64
	for _, p := range c.Points {
		xs = append(xs, secs(p.At))
	}
	for _, s := range c.Shapes {
		from, until := secs(s.From), secs(s.Until)
		xs = append(xs, from, until)
		if s.Kind == ShapeBursts {
			every, length := s.Every.Seconds(), s.Length.Seconds()
			for k := 0; k < maxBursts; k++ {
				b := from + float64(k)*every
				if b >= until {
					break
				}
				xs = append(xs, b, math.Min(b+length, until))
			}
		}
	}
	sort.Float64s(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// Peak is the highest rate the curve reaches.
func (c Curve) Peak() float64 {
	xs := c.breaks()
	peak := 0.0
	for i := 1; i < len(xs); i++ {
		a, b := xs[i-1], xs[i]
		// The curve is linear on (a, b): extrapolate from two inner
		// samples to both ends, which catches the limit at a jump.
		m1, m2 := a+(b-a)/4, a+3*(b-a)/4
		f1, f2 := c.rateAt(m1), c.rateAt(m2)
		slope := (f2 - f1) / 2
		peak = math.Max(peak, math.Max(f1-slope, f2+slope))
	}
	return peak
}

// Total is the integral of the rate over [from, to): the real-world
// requests the curve asks for in that window.
func (c Curve) Total(from, to time.Time) float64 {
	lo, hi := secs(from), secs(to)
	if !(hi > lo) {
		return 0
	}
	xs := []float64{lo}
	for _, x := range c.breaks() {
		if x > lo && x < hi {
			xs = append(xs, x)
		}
	}
	xs = append(xs, hi)
	total := 0.0
	for i := 1; i < len(xs); i++ {
		a, b := xs[i-1], xs[i]
		total += (b - a) * c.rateAt((a+b)/2) // exact: linear on (a, b)
	}
	return total
}

// Span is the window outside which the curve is 0 (zero times when the
// curve is empty).
func (c Curve) Span() (first, last time.Time) {
	xs := c.breaks()
	if len(xs) == 0 {
		return time.Time{}, time.Time{}
	}
	var loc *time.Location
	if len(c.Points) > 0 {
		loc = c.Points[0].At.Location()
	} else {
		loc = c.Shapes[0].From.Location()
	}
	return at(xs[0]).In(loc), at(xs[len(xs)-1]).In(loc)
}
