package simclock

import (
	"testing"
	"time"
)

func TestMapsBothWays(t *testing.T) {
	start := time.Date(2021, 6, 14, 7, 0, 0, 0, time.UTC)
	wall := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := Clock{SimStart: start, WallStart: wall, Scale: 60}
	if got := c.Sim(wall.Add(time.Minute)); !got.Equal(start.Add(time.Hour)) {
		t.Fatalf("Sim(+1m) = %v, want 08:00", got)
	}
	if got := c.Wall(start.Add(90 * time.Minute)); !got.Equal(wall.Add(90 * time.Second)) {
		t.Fatalf("Wall(+90m) = %v, want +90s", got)
	}
	if c.SimDuration(time.Second) != time.Minute || c.WallDuration(time.Hour) != time.Minute {
		t.Fatal("duration conversion wrong")
	}
	if _, err := New(start, 0); err == nil {
		t.Fatal("timescale 0 accepted")
	}
	if _, err := New(time.Time{}, 1); err == nil {
		t.Fatal("zero start accepted")
	}
}
