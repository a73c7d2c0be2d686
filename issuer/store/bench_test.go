package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkIssueRecordParallel measures durable IssueRecord throughput
// (idempotency binding + certificate + sealed HC1 + audit, fsync per
// commit) from many concurrent callers, on both backends, with group
// commit configured several ways. Run with:
// go test -run=^$ -bench=IssueRecord ./issuer/store
func BenchmarkIssueRecordParallel(b *testing.B) {
	cases := []struct {
		backend, name string
		opts          Options
	}{
		{BackendSQLite, "window=2ms", Options{GroupCommitWindow: 2 * time.Millisecond}},
		{BackendSQLite, "window=0", Options{}},                   // batch = what queued during the last commit
		{BackendSQLite, "no-group-commit", Options{MaxBatch: 1}}, // one transaction and fsync per write
		{BackendPostgres, "writers=4", Options{}},                // the default
		{BackendPostgres, "writers=1", Options{Writers: 1}},
		{BackendPostgres, "writers=2", Options{Writers: 2}},
		{BackendPostgres, "writers=8", Options{Writers: 8}},
		{BackendPostgres, "writers=16", Options{Writers: 16}},
		{BackendPostgres, "writers=4,window=2ms", Options{GroupCommitWindow: 2 * time.Millisecond}},
		{BackendPostgres, "no-group-commit,writers=16", Options{MaxBatch: 1, Writers: 16}}, // a transaction per write, like a plain connection pool
	}
	for _, tc := range cases {
		b.Run(tc.backend+"/"+tc.name, func(b *testing.B) { benchIssue(b, newTestDB(b, tc.backend), tc.opts) })
	}
}

func benchIssue(b *testing.B, db testDB, opts Options) {
	ctx := context.Background()
	s := db.open(b, opts)
	p := mustPharmacy(b, s, "3-01.2.100001.7777")
	hc1 := make([]byte, 600) // a typical HC1 is ~500-700 characters
	for i := range hc1 {
		hc1[i] = 'A' + byte(i%26)
	}
	var seq atomic.Int64
	before := s.Stats()
	b.SetParallelism(16) // 16 x GOMAXPROCS callers: pharmacies issuing at once
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			uvci := fmt.Sprintf("URN:UVCI:01:DE:BENCH%010d", n)
			if _, err := s.IssueRecord(ctx, certFor(p.ID, uvci, time.Now()),
				IdemBinding{Key: uvci, RequestHash: "h"}, hc1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := s.Stats()
	commits, writes := st.Commits-before.Commits, st.Writes-before.Writes
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if commits > 0 {
		b.ReportMetric(float64(writes)/float64(commits), "records/commit")
	}
}
