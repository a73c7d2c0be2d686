package lists

import "context"

// What the API tests (package lists_test: they run a portal, which
// imports this package) need from inside.

// HoldSlot takes an admission slot, as a busy delta computation would.
func (l *Lists) HoldSlot() (func(), error) { return l.limiter.Acquire(context.Background()) }

// TrustETag is the trust list's ETag.
func (l *Lists) TrustETag() string { return l.trust.etag }

// EmptyList is a revocation list without entries.
var EmptyList = emptyList
