package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
)

// writeOp runs inside the batch transaction. It gets the writer's context,
// not the caller's: a caller that gives up must not interrupt a statement
// other callers' writes share a transaction with. It must be re-runnable
// (reset its outputs first): commitBatch may run it again in a new
// transaction when another write of the batch had to be undone.
type writeOp func(ctx context.Context, tx querier) error

// Routing keys for writeKeyed.
func idemRoute(pharmacyID, key string) string {
	if key == "" {
		return ""
	}
	return "idem\x00" + pharmacyID + "\x00" + key
}

func pharmacyRoute(id string) string { return "pharmacy\x00" + id }

type writeReq struct {
	ctx      context.Context
	key      string // writeKeyed's routing key; "" for none
	op       writeOp
	done     chan error // buffered: the writer never blocks on a caller that left
	answered bool       // writer goroutine only
	tries    int        // reruns after losing a race (errRetry)
}

// answer sends the outcome once; later answers (a batch failing after
// this write was already refused) are dropped.
func (r *writeReq) answer(err error) {
	if !r.answered {
		r.answered = true
		r.done <- err
	}
}

// write hands op to a writer and waits until its batch committed (nil),
// op itself failed (op's error; nothing of it was written), or the commit
// failed (every write of that batch gets the error; none was written).
// When ctx ends first the outcome is unknown: the write may still commit.
// Callers retry with the same idempotency key, which makes that safe.
func (s *Store) write(ctx context.Context, op writeOp) error {
	return s.writeKeyed(ctx, "", op)
}

// writeKeyed is write for an op that changes the rows key names (an
// idempotency key, a ticket, a pharmacy): every write of one key goes to
// the same writer, so two batches running at once never wait for each
// other's rows (on PostgreSQL that could deadlock, which costs the
// server's deadlock_timeout to find). Writes without a key go to
// whichever writer is free.
func (s *Store) writeKeyed(ctx context.Context, key string, op writeOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q := s.shared
	if key != "" && len(s.queues) > 1 {
		h := fnv.New32a()
		h.Write([]byte(key))
		q = s.queues[h.Sum32()%uint32(len(s.queues))]
	}
	req := &writeReq{ctx: ctx, key: key, op: op, done: make(chan error, 1)}
	select {
	case q <- req:
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

// writer is a goroutine that commits batches: it takes the first waiting
// write, collects more for up to GroupCommitWindow or MaxBatch writes, and
// commits them in one transaction: one fsync (and with PostgreSQL one
// round trip to a synchronous standby) for the whole batch instead of one
// per write. SQLite has one writer, which owns the one write connection;
// PostgreSQL has Options.Writers, each on a connection of its own, so one
// batch's round trips overlap another's commit.
func (s *Store) writer(own chan *writeReq) {
	window, maxBatch := s.opts.GroupCommitWindow, s.opts.MaxBatch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]*writeReq, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-own:
			batch = append(batch, r)
		case r := <-s.shared:
			batch = append(batch, r)
		case <-s.closing:
			return
		}
		if window > 0 && maxBatch > 1 {
			timer.Reset(window)
		collect:
			for len(batch) < maxBatch {
				select {
				case r := <-own:
					batch = append(batch, r)
				case r := <-s.shared:
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
				case r := <-own:
					batch = append(batch, r)
				case r := <-s.shared:
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
// on: the engine tells whether the failed write changed any row before
// failing (SQLite's total_changes()). Mostly it did not (its checks read
// first, and a failed SQLite statement undoes itself), so nothing needs
// undoing. If it did, or the database aborted the transaction (PostgreSQL
// does after any failed statement), the transaction is rolled back and the
// remaining writes run again in a new one, which is why a writeOp must be
// re-runnable. (A savepoint per write would do the same, but on SQLite its
// page copies cost a third of the writer's CPU, and on PostgreSQL each is a
// subtransaction, which past 64 per transaction slows every reader.)
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
	// Writes run in the order of their keys, in every batch of every
	// portal: two transactions then take the rows they share in the same
	// order and wait for each other instead of deadlocking (PostgreSQL
	// would find the deadlock only after deadlock_timeout, a second). The
	// order of concurrent writes is the caller's to choose in no case.
	slices.SortStableFunc(pending, func(a, b *writeReq) int { return strings.Compare(a.key, b.key) })
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
// committed, or rest != nil when the transaction had to be rolled back (a
// write failed after changing rows, or the database aborted the
// transaction): the failed write was answered, or is in rest again when it
// lost a race with a concurrent transaction (errRetry), and rest must run
// again. err fails every pending write not answered yet.
func (s *Store) runOnce(ctx context.Context, pending []*writeReq) (applied, rest []*writeReq, err error) {
	if t := s.opts.WriteTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	timedOut := func(err error) error {
		if ctx.Err() != nil {
			return unavailable(fmt.Errorf("store: write transaction took over %v: %w", s.opts.WriteTimeout, err))
		}
		return err
	}
	tx, err := s.eng.begin(ctx)
	if err != nil {
		return nil, nil, timedOut(err)
	}
	before, err := tx.changes(ctx)
	if err != nil {
		tx.rollback()
		return nil, nil, timedOut(fmt.Errorf("store: begin: %w", err))
	}
	applied = make([]*writeReq, 0, len(pending))
	for i, r := range pending {
		opErr := runOp(ctx, r.op, tx)
		if ctx.Err() != nil {
			tx.rollback()
			return nil, nil, timedOut(opErr)
		}
		after, err := tx.changes(ctx)
		if err != nil {
			tx.rollback()
			if opErr != nil {
				return nil, nil, fmt.Errorf("store: transaction broken after %w", opErr)
			}
			return nil, nil, fmt.Errorf("store: transaction broken: %w", err)
		}
		switch {
		case opErr == nil && !tx.aborted():
			applied = append(applied, r)
		case opErr != nil && !tx.aborted() && after == before:
			r.answer(opErr) // wrote nothing: the others are unaffected
		default:
			tx.rollback()
			rest = make([]*writeReq, 0, len(pending))
			rest = append(rest, applied...)
			if errors.Is(opErr, errRetry) && r.tries < maxWriteTries {
				r.tries++ // it runs again and sees the winner's rows
				return nil, append(rest, pending[i:]...), nil
			}
			if opErr == nil {
				opErr = errors.New("store: the database aborted the transaction under a write that reported success")
			}
			r.answer(opErr)
			return nil, append(rest, pending[i+1:]...), nil
		}
		before = after
	}
	if len(applied) == 0 {
		tx.rollback()
		return nil, nil, nil
	}
	if err := tx.commit(ctx); err != nil {
		s.failedCommits.Add(1)
		s.log.Error("store: group commit failed", "writes", len(applied), "err", err)
		return nil, nil, timedOut(fmt.Errorf("store: commit: %w", err))
	}
	return applied, nil, nil
}

// runOp turns a panicking write into an error: the writer goroutine must
// survive, or every later write would hang.
func runOp(ctx context.Context, op writeOp, tx writeTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return op(ctx, tx)
}
