// Package bench measures the reference issuer as a deployment would see
// it: `golive serve --role all` as its own process with durable storage,
// loaded by vegeta from the same machine, against a bare HTTP endpoint
// that does nothing but one ECDSA P-256 signature per request, in the same
// run. Results are ratios, so they travel between machines; see
// docs/BENCHMARKS.md. It holds benchmarks only.
package bench
