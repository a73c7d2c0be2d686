package loadgen

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Demand is how many requests per real second the real-world population
// would send at simulated instant sim. The pacer multiplies it by the
// demand scale and follows it on the compressed clock, so a time-compressed
// day still sends national rates unless the scale says otherwise.
type Demand interface {
	Rate(sim time.Time) float64
}

// Constant is a demand that never changes, in requests per second.
type Constant float64

// Rate implements Demand.
func (c Constant) Rate(time.Time) float64 { return float64(c) }

// DemandFunc adapts a function to Demand.
type DemandFunc func(sim time.Time) float64

// Rate implements Demand.
func (f DemandFunc) Rate(sim time.Time) float64 { return f(sim) }

// Point is one corner of a Curve: the rate at simulated instant At.
type Point struct {
	At   time.Time
	Rate float64
}

// Curve is a piecewise-linear demand through its points. Before the first
// point it holds the first rate, after the last the last rate. Two points
// at the same instant make a step (a lunch break dropping to 0).
type Curve struct {
	pts []Point
}

// NewCurve checks the points (at least one, times non-decreasing, rates
// finite and >= 0) and returns the curve through them.
func NewCurve(points ...Point) (Curve, error) {
	if len(points) == 0 {
		return Curve{}, fmt.Errorf("loadgen: a demand curve needs at least one point")
	}
	for i, p := range points {
		if math.IsNaN(p.Rate) || math.IsInf(p.Rate, 0) || p.Rate < 0 {
			return Curve{}, fmt.Errorf("loadgen: demand point %d (%s): rate %v must be finite and >= 0", i, p.At.Format(time.RFC3339), p.Rate)
		}
		if i > 0 && p.At.Before(points[i-1].At) {
			return Curve{}, fmt.Errorf("loadgen: demand point %d (%s) lies before point %d (%s)", i, p.At.Format(time.RFC3339), i-1, points[i-1].At.Format(time.RFC3339))
		}
	}
	return Curve{pts: append([]Point(nil), points...)}, nil
}

// Rate implements Demand.
func (c Curve) Rate(sim time.Time) float64 {
	if len(c.pts) == 0 {
		return 0
	}
	// i: the first point strictly after sim.
	i := sort.Search(len(c.pts), func(i int) bool { return c.pts[i].At.After(sim) })
	switch i {
	case 0:
		return c.pts[0].Rate
	case len(c.pts):
		return c.pts[len(c.pts)-1].Rate
	}
	a, b := c.pts[i-1], c.pts[i]
	f := float64(sim.Sub(a.At)) / float64(b.At.Sub(a.At))
	return a.Rate + f*(b.Rate-a.Rate)
}

// Points returns a copy of the curve's points.
func (c Curve) Points() []Point { return append([]Point(nil), c.pts...) }
