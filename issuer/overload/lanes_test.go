package overload

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Background work waits while an interactive request runs and for the
// quiet period after it, then goes; a nil Lanes never waits.
func TestLanesBackgroundWaitsForAGap(t *testing.T) {
	l := NewLanes(20 * time.Millisecond)
	ctx := context.Background()
	if err := l.Spare(ctx); err != nil {
		t.Fatalf("idle lanes: %v", err)
	}
	done := l.Interactive()
	got := make(chan time.Time, 1)
	go func() {
		if err := l.Spare(ctx); err != nil {
			t.Error(err)
		}
		got <- time.Now()
	}()
	select {
	case <-got:
		t.Fatal("background work ran while an interactive request was in flight")
	case <-time.After(60 * time.Millisecond):
	}
	ended := time.Now()
	done()
	done() // a second call must not make the count negative
	if n := l.InteractiveInFlight(); n != 0 {
		t.Fatalf("in flight after done: %d", n)
	}
	at := <-got
	if at.Sub(ended) < 20*time.Millisecond {
		t.Fatalf("background went %v after the interactive request ended, before the quiet period", at.Sub(ended))
	}
	st := l.Stats()
	if st.Interactive != 1 || st.Background != 2 || st.Waits != 1 || st.Waited <= 0 {
		t.Fatalf("stats %+v", st)
	}

	// A context that ends while waiting is returned.
	done = l.Interactive()
	defer done()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := l.Spare(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Spare with an ending context: %v", err)
	}
	var none *Lanes
	none.Interactive()()
	if err := none.Spare(ctx); err != nil {
		t.Fatal(err)
	}
}
