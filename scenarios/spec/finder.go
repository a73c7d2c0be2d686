package spec

import "time"

// kindFinder: citizens looking up issuing pharmacies near their postcode
// at the public finder (GET /v1/finder/pharmacies). Its demand is what the
// news sends: steps in the curve are the spikes. The engine judges every
// answer against what the scenario's own pharmacies met when they issued
// (dead listings, docs/run-format.md).
const kindFinder = "finder"

// accountless reports whether a class of the kind uses no pharmacy
// accounts (so `pharmacies` is refused): venues, citizens, apps and slow
// attackers act without one.
func (k ClassKind) accountless() bool {
	return k == KindVerify || k.Slow() || k == KindFinder || k == KindLists || k == KindMailout
}

// publicClient is how a browser or an app behaves towards a public,
// cacheable route: a short timeout and one retry, honouring Retry-After
// (stale-if-error and 503s with Retry-After are the server's to use).
func publicClient() Client {
	return Client{Timeout: 5 * time.Second, Retries: Retries{Max: 1, BackoffBase: 500 * time.Millisecond, BackoffMax: 5 * time.Second},
		HonourRetryAfter: true}
}
