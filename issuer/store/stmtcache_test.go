package store

import (
	"context"
	"fmt"
	"testing"
)

// The read cache answers like the pool it wraps, prepares each fixed
// statement once, and stops growing at maxReadStmts without failing the
// queries past it.
func TestReadCacheIsBoundedAndCorrect(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	c := s.eng.(*sqliteEngine).cache
	ctx := context.Background()
	for round := range 2 {
		for i := range maxReadStmts + 8 {
			var got int
			q := fmt.Sprintf("SELECT ? + %d", i)
			if err := c.QueryRowContext(ctx, q, 1000).Scan(&got); err != nil {
				t.Fatalf("round %d, query %d: %v", round, i, err)
			}
			if got != 1000+i {
				t.Fatalf("round %d: %q gave %d", round, q, got)
			}
		}
	}
	c.mu.Lock()
	n := len(c.m)
	c.mu.Unlock()
	if n != maxReadStmts {
		t.Fatalf("%d statements cached, want the bound %d", n, maxReadStmts)
	}
	if _, err := c.ExecContext(ctx, "DELETE FROM certificates"); err == nil {
		t.Fatal("a write through the read pool succeeded; it is query_only")
	}
}
