package bench

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/golive-dev/golive/internal/proccpu"
	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/register"
)

// BenchmarkFinderVsIssuance is issue 16's acceptance for the finder: the
// finder serves at least 20 times the issuance request rate on the same
// machine, in the same run. One `golive serve --role all --profile
// hardened` process, pinned to serverCPU, serves both (the finder lives in
// the portal's process); the load comes from this process on
// generatorCPU. Each traffic runs closed-loop on 32 keep-alive connections
// (hammer: a generator cheap enough that the server's core, not the
// generator's, is what fills up) for 6 s after 1 s of warm-up, and the
// rate of answers is the rate one core of the server sustains. Each line
// also gives the server's CPU share (about 1.0: saturated) and the answers
// per CPU-second of the server, the same figure independent of how full
// the core was.
//
// Traffic: issuance as in BenchmarkIssuanceCeiling (40 pharmacies, a new
// certificate and Idempotency-Key per request); the finder over 300
// onboarded pharmacies, (a) citizens: 10 000 distinct searches (register
// postcodes and random ones, radius 2/5/10/25 km), repeated, as news sends
// many people to look up the same towns; (b) cold: every search new (each
// answer computed; the answer cache fills after 20 000 and is bypassed).
// Run it with -benchtime 1x: about a minute.
func BenchmarkFinderVsIssuance(b *testing.B) {
	ctx := context.Background()
	bin := golive(b)
	if err := pinSelf(generatorCPU); err != nil {
		b.Fatal(err)
	}
	srv := startServeAll(b, bin)
	pharmacies := onboard(b, ctx, srv, 300)
	payloads := samplePayloads(b, 512)
	host := hostOf(srv.url)
	citizens := citizenQueries(registerPostcodes(b, srv), 10000)

	for b.Loop() {
		const conns, warm, span = 32, time.Second, 6 * time.Second
		cit := saturate(b, ctx, srv, "finder, 10 000 citizens' searches", hammer{addr: host, conns: conns,
			request: func(i uint64) []byte {
				return getRequest(host, finderapi.PathPharmacies+"?"+citizens[i%uint64(len(citizens))])
			}}, warm, span)
		cold := saturate(b, ctx, srv, "finder, every search new", hammer{addr: host, conns: conns,
			request: func(i uint64) []byte { return getRequest(host, finderapi.PathPharmacies+"?"+coldQuery(i)) }}, warm, span)
		iss := saturate(b, ctx, srv, "issuance", hammer{addr: host, conns: conns,
			request: issueRequest(host, pharmacies[:40], payloads)}, warm, span)

		fmt.Fprintf(os.Stderr, "finder / issuance on one core: %.1f (citizens), %.1f (cold), target >= 20; "+
			"per server CPU-second: %.1f, %.1f\n", cit.rate/iss.rate, cold.rate/iss.rate, cit.perCPU/iss.perCPU, cold.perCPU/iss.perCPU)
		b.ReportMetric(iss.rate, "issue-rps")
		b.ReportMetric(cit.rate, "finder-rps")
		b.ReportMetric(cold.rate, "finder-cold-rps")
		b.ReportMetric(cit.rate/iss.rate, "ratio")
		b.ReportMetric(cold.rate/iss.rate, "cold-ratio")
		b.ReportMetric(cit.perCPU/iss.perCPU, "ratio-per-cpu")
	}
}

type saturated struct {
	rate, perCPU float64
}

// saturate runs h for warm (not counted), then for span, and reports.
func saturate(b *testing.B, ctx context.Context, srv server, name string, h hammer, warm, span time.Duration) saturated {
	if _, err := h.run(ctx, warm); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	s0, g0, t0 := procCPUSeconds(b, srv.pid), cpuSeconds(), time.Now()
	res, err := h.run(ctx, span)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	wall := time.Since(t0).Seconds()
	serverCPU, genCPU := procCPUSeconds(b, srv.pid)-s0, (cpuSeconds()-g0)/wall
	out := saturated{rate: res.ok()}
	if serverCPU > 0 {
		out.perCPU = out.rate * res.elapsed.Seconds() / serverCPU
	}
	fmt.Fprintf(os.Stderr, "%s: %.0f answers/s (%v, %d transport errors), p50 %.2f ms, p99 %.2f ms; server CPU %.2f, generator CPU %.2f; %.0f per server CPU-second\n",
		name, out.rate, res.codes, res.errors, ms(percentile(res.latencies, 0.5)), ms(percentile(res.latencies, 0.99)),
		serverCPU/wall, genCPU, out.perCPU)
	if ok := res.codes[200] + res.codes[201]; ok < len(res.latencies)*99/100 {
		b.Fatalf("%s: only %d of %d answers succeeded: %v", name, ok, len(res.latencies), res.codes)
	}
	return out
}

// procCPUSeconds is the CPU time (user + system, every thread) of pid.
func procCPUSeconds(b *testing.B, pid int) float64 {
	d, err := proccpu.Process(pid)
	if err != nil {
		b.Fatal(err)
	}
	return d.Seconds()
}

func registerPostcodes(b *testing.B, srv server) []string {
	reg, err := register.Load(filepath.Join(srv.dir, "register.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	var out []string
	for _, e := range reg.Entries() {
		out = append(out, e.PostalCode)
	}
	return out
}

var radii = []string{"2", "5", "10", "25"}

// citizenQueries is a pool of n distinct searches: half around the
// register's postcodes (where pharmacies are), half anywhere.
func citizenQueries(postcodes []string, n int) []string {
	rnd := mrand.New(mrand.NewPCG(16, 16))
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		pc := postcodes[rnd.IntN(len(postcodes))]
		if rnd.IntN(2) == 0 {
			pc = fmt.Sprintf("%05d", 1000+rnd.IntN(99000))
		}
		q := url.Values{finderapi.ParamPostcode: {pc}, finderapi.ParamRadius: {radii[rnd.IntN(len(radii))]}}.Encode()
		if !seen[q] {
			seen[q] = true
			out = append(out, q)
		}
	}
	return out
}

// coldQuery is the i-th of a run of searches that practically never
// repeat: a postcode, a radius in hundredths and a limit drawn from about
// 5e10 combinations.
func coldQuery(i uint64) string {
	rnd := mrand.New(mrand.NewPCG(i, 0x5eed))
	radius := 10 + rnd.IntN(4991) // hundredths: 0.10 .. 50.00 km
	return fmt.Sprintf("postcode=%05d&radius_km=%d.%02d&limit=%d", 1000+rnd.IntN(99000), radius/100, radius%100, 1+rnd.IntN(100))
}

// issueRequest makes the i-th issuance: pharmacy and payload in turn, a
// new Idempotency-Key each time.
func issueRequest(host string, phs []*portalclient.Pharmacy, payloads [][]byte) func(uint64) []byte {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	return func(i uint64) []byte {
		ph := phs[i%uint64(len(phs))]
		return postRequest(host, "/v1/certificates", []string{
			"Authorization: Bearer " + ph.Token,
			"Idempotency-Key: bench-" + run + "-" + strconv.FormatUint(i, 10),
		}, payloads[i%uint64(len(payloads))])
	}
}
