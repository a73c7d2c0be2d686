package store

import (
	"context"
	"fmt"
	"time"
)

// writeOp runs inside the batch transaction. It gets the writer's context,
// not the caller's: a caller that gives up must not interrupt a statement
// other callers' writes share a transaction with. It must be re-runnable
// (reset its outputs first): commitBatch may run it again in a new
// transaction when another write of the batch had to be undone.
type writeOp func(ctx context.Context, tx querier) error

type writeReq struct {
	ctx      context.Context
	op       writeOp
	done     chan error // buffered: the writer never blocks on a caller that left
	answered bool       // writer goroutine only
}

// answer sends the outcome once; later answers (a batch failing after
// this write was already refused) are dropped.
func (r *writeReq) answer(err error) {
	if !r.answered {
		r.answered = true
		r.done <- err
	}
}

// write hands op to the writer and waits until its batch committed (nil),
// op itself failed (op's error; nothing of it was written), or the commit
// failed (every write of that batch gets the error; none was written).
// When ctx ends first the outcome is unknown: the write may still commit.
// Callers retry with the same idempotency key, which makes that safe.
func (s *Store) write(ctx context.Context, op writeOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{ctx: ctx, op: op, done: make(chan error, 1)}
	select {
	case s.reqs <- req:
	case <-s.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		select { // prefer a result that is already there
		case err := <-req.done:
			return err
		default:
			return fmt.Errorf("store: gave up waiting for commit (outcome unknown): %w", ctx.Err())
		}
	}
}

// writer is the single goroutine that owns the write connection. It takes
// the first waiting write, collects more for up to GroupCommitWindow or
// MaxBatch writes, and commits them in one transaction: one fsync for the
// whole batch instead of one per write.
func (s *Store) writer() {
	defer close(s.writerDone)
	window, maxBatch := s.opts.GroupCommitWindow, s.opts.MaxBatch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]*writeReq, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.closing:
			return
		}
		if window > 0 && maxBatch > 1 {
			timer.Reset(window)
		collect:
			for len(batch) < maxBatch {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
				case <-timer.C:
					break collect
				case <-s.closing:
					break collect
				}
			}
			timer.Stop()
		} else {
			// No waiting: take whoever queued up while we were committing.
		drain:
			for len(batch) < maxBatch {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
		}
		s.commitBatch(batch)
	}
}

// commitBatch runs the writes one after another in one transaction and
// commits them together.
//
// A write that fails is answered with its error at once and the others go
// on: SQLite's total_changes() tells whether the failed write changed any
// row before failing. Mostly it did not (its checks read first, and a
// failed statement undoes itself), so nothing needs undoing. If it did, the
// transaction is rolled back and the remaining writes run again in a new
// one, which is why a writeOp must be re-runnable. (A savepoint per write
// would do the same, but its page copies cost a third of the writer's CPU.)
//
// Only a failure of the transaction itself (BEGIN, COMMIT: I/O errors,
// disk full) fails the whole batch: retrying those writes one by one would
// hit the same disk, so the callers get the error and retry with their
// idempotency keys.
func (s *Store) commitBatch(batch []*writeReq) {
	ctx := context.Background()
	reply := func(reqs []*writeReq, err error) {
		for _, r := range reqs {
			r.answer(err)
		}
	}
	pending := make([]*writeReq, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.answer(err) // caller left before its turn: do not write
			continue
		}
		pending = append(pending, r)
	}
	for len(pending) > 0 {
		applied, rest, err := s.runOnce(ctx, pending)
		if err != nil {
			reply(pending, err)
			return
		}
		if rest != nil {
			if len(rest) > 0 {
				s.reruns.Add(1)
			}
			pending = rest // rolled back; run the others again
			continue
		}
		if len(applied) == 0 {
			return // every write failed on its own; nothing committed
		}
		s.commits.Add(1)
		s.writes.Add(uint64(len(applied)))
		for n := int64(len(applied)); ; {
			old := s.largestBatch.Load()
			if n <= old || s.largestBatch.CompareAndSwap(old, n) {
				break
			}
		}
		reply(applied, nil)
		return
	}
}

// runOnce runs pending in one transaction. It returns the writes it
// committed, or rest != nil when a write failed after changing rows: the
// transaction was rolled back, that write answered, and rest must run
// again. err fails every pending write not answered yet.
func (s *Store) runOnce(ctx context.Context, pending []*writeReq) (applied, rest []*writeReq, err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("store: begin: %w", err)
	}
	// Statements the cache missed are prepared once this transaction has
	// ended and the connection is free again.
	defer s.stmts.prepareWanted(ctx)
	wtx := cachedTx{tx: tx, c: s.stmts}
	count := func() (int64, error) {
		var n int64
		err := wtx.QueryRowContext(ctx, "SELECT total_changes()").Scan(&n)
		return n, err
	}
	before, err := count()
	if err != nil {
		_ = tx.Rollback()
		return nil, nil, fmt.Errorf("store: begin: %w", err)
	}
	applied = make([]*writeReq, 0, len(pending))
	for i, r := range pending {
		opErr := runOp(ctx, r.op, wtx)
		after, err := count()
		if err != nil {
			_ = tx.Rollback()
			if opErr != nil {
				return nil, nil, fmt.Errorf("store: transaction broken after %w", opErr)
			}
			return nil, nil, fmt.Errorf("store: transaction broken: %w", err)
		}
		switch {
		case opErr == nil:
			applied = append(applied, r)
		case after == before:
			r.answer(opErr) // wrote nothing: the others are unaffected
		default:
			_ = tx.Rollback()
			r.answer(opErr)
			rest = append(append(make([]*writeReq, 0, len(pending)-1), applied...), pending[i+1:]...)
			return nil, rest, nil
		}
		before = after
	}
	if len(applied) == 0 {
		_ = tx.Rollback()
		return nil, nil, nil
	}
	if err := tx.Commit(); err != nil {
		s.failedCommits.Add(1)
		s.log.Error("store: group commit failed", "writes", len(applied), "err", err)
		return nil, nil, fmt.Errorf("store: commit: %w", err)
	}
	return applied, nil, nil
}

// runOp turns a panicking write into an error: the writer goroutine must
// survive, or every later write would hang.
func runOp(ctx context.Context, op writeOp, tx querier) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return op(ctx, tx)
}
