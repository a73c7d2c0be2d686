// Package bench measures the reference issuer as a deployment would see
// it: `golive serve --role all` as its own process with durable storage,
// loaded by vegeta, against a bare HTTP endpoint (also its own process)
// that does nothing but one ECDSA P-256 signature per request, in the same
// run. On a 2-core machine the server under test runs on one CPU and the
// load generator on the other, so neither measures the other's queueing;
// GOLIVE_BENCH_SHARED_CPUS=1 leaves them sharing both. Results are ratios,
// so they travel between machines; see docs/BENCHMARKS.md. It holds
// benchmarks only.
package bench
