package spec

import (
	"math"
	"testing"
	"time"
)

var berlin, _ = time.LoadLocation("Europe/Berlin")

func hm(h, m int) time.Time { return time.Date(2021, 6, 14, h, m, 0, 0, berlin) }

// riemann integrates numerically, to check Total against an independent
// computation.
func riemann(c Curve, from, to time.Time, step time.Duration) float64 {
	sum := 0.0
	for t := from; t.Before(to); t = t.Add(step) {
		sum += c.Rate(t.Add(step/2)) * step.Seconds()
	}
	return sum
}

func TestCurvePointsInterpolateAndJump(t *testing.T) {
	c := Curve{Points: []Point{
		{At: hm(7, 0), Rate: 0},
		{At: hm(8, 0), Rate: 10},
		{At: hm(8, 0), Rate: 30}, // jump
		{At: hm(9, 0), Rate: 30},
	}}
	cases := []struct {
		at   time.Time
		want float64
	}{
		{hm(6, 59), 0},
		{hm(7, 30), 5},
		{hm(7, 59).Add(59 * time.Second), 10 * 3599.0 / 3600},
		{hm(8, 0), 30}, // right-continuous at a jump
		{hm(8, 30), 30},
		{hm(9, 0), 30},
		{hm(9, 1), 0},
	}
	for _, tc := range cases {
		if got := c.Rate(tc.at); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Rate(%s) = %v, want %v", tc.at.Format("15:04:05"), got, tc.want)
		}
	}
	if got := c.Peak(); got != 30 {
		t.Errorf("Peak = %v, want 30", got)
	}
	// 07-08: triangle 0..10 -> 18,000; 08-09: 30/s -> 108,000.
	if got := c.Total(hm(6, 0), hm(10, 0)); math.Abs(got-126000) > 1e-6 {
		t.Errorf("Total = %v, want 126000", got)
	}
	if got := c.Total(hm(7, 30), hm(8, 30)); math.Abs(got-(0.5*(5+10)*1800+30*1800)) > 1e-6 {
		t.Errorf("Total(07:30, 08:30) = %v", got)
	}
	if got := c.Total(hm(9, 0), hm(7, 0)); got != 0 {
		t.Errorf("Total over a reversed window = %v, want 0", got)
	}
}

func TestCurvePeakSeesLeftLimitOfADrop(t *testing.T) {
	// The highest value is only approached from the left at 08:00.
	c := Curve{Points: []Point{{At: hm(7, 0), Rate: 0}, {At: hm(8, 0), Rate: 50}, {At: hm(8, 0), Rate: 5}, {At: hm(9, 0), Rate: 5}}}
	if got := c.Peak(); math.Abs(got-50) > 1e-9 {
		t.Errorf("Peak = %v, want 50", got)
	}
}

func TestCurveShapesAddUp(t *testing.T) {
	c := Curve{
		Points: []Point{{At: hm(8, 0), Rate: 2}, {At: hm(12, 0), Rate: 2}},
		Shapes: []Shape{
			{Kind: ShapeStep, From: hm(9, 0), Until: hm(10, 0), Rate: 3},
			{Kind: ShapeRamp, From: hm(10, 0), Until: hm(11, 0), Rate: 0, EndRate: 6},
			{Kind: ShapeBursts, From: hm(11, 0), Until: hm(12, 0), Rate: 10, Every: 20 * time.Minute, Length: 5 * time.Minute},
		},
	}
	for _, tc := range []struct {
		at   time.Time
		want float64
	}{
		{hm(8, 30), 2}, {hm(9, 30), 5}, {hm(10, 30), 5}, {hm(11, 2), 12}, {hm(11, 10), 2}, {hm(11, 21), 12}, {hm(11, 45), 2},
	} {
		if got := c.Rate(tc.at); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Rate(%s) = %v, want %v", tc.at.Format("15:04"), got, tc.want)
		}
	}
	want := 2*4*3600.0 + 3*3600 + 3*3600 + 3*10*300
	if got := c.Total(hm(0, 0), hm(23, 0)); math.Abs(got-want) > 1e-6 {
		t.Errorf("Total = %v, want %v", got, want)
	}
	if got, num := c.Total(hm(8, 7), hm(11, 53)), riemann(c, hm(8, 7), hm(11, 53), time.Second); math.Abs(got-num) > 1 {
		t.Errorf("Total = %v, numeric integral %v", got, num)
	}
	if got := c.Peak(); math.Abs(got-12) > 1e-9 {
		t.Errorf("Peak = %v, want 12 (burst on the base line)", got)
	}
	first, last := c.Span()
	if !first.Equal(hm(8, 0)) || !last.Equal(hm(12, 0)) {
		t.Errorf("Span = %v..%v", first, last)
	}
}

func TestEmptyCurve(t *testing.T) {
	var c Curve
	if !c.IsZero() || c.Peak() != 0 || c.Rate(hm(9, 0)) != 0 || c.Total(hm(0, 0), hm(23, 0)) != 0 {
		t.Error("the empty curve is not zero everywhere")
	}
}
