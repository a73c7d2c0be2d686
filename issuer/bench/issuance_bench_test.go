package bench

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/scenarios/capacity"
)

var slo = capacity.SLO{P99: 50 * time.Millisecond, MinSuccess: 0.99, MinGoodput: 0.95}

// BenchmarkIssuanceCeiling is issue #3's speed target: the issuance rate
// of `serve --role all` at p99 <= 50 ms against the rate of a bare ECDSA
// endpoint under the same SLO (target ratio >= 0.6), then overload at 5x
// the found capacity (goodput >= 90% of capacity, 503s within 5 ms p99).
// Run it with -benchtime 1x: one measurement takes about two minutes.
// Servers run on serverCPU, vegeta on generatorCPU (pin_test.go).
func BenchmarkIssuanceCeiling(b *testing.B) {
	ctx := context.Background()
	bin := golive(b)

	if err := pinSelf(generatorCPU); err != nil {
		b.Fatal(err)
	}
	bareURL := startBare(b)
	srv := startServeAll(b, bin)
	pharmacies := onboard(b, ctx, srv, 40)
	payloads := samplePayloads(b, 512)

	for b.Loop() {
		// Progress goes to stderr: benchmark logs are truncated. The
		// generator's CPU share says whether a step measured the server
		// or the generator: near 1.0 its core was full.
		var genCPU float64
		measured := func(run capacity.Probe) capacity.Probe {
			return func(ctx context.Context, rate float64) (capacity.Step, error) {
				c0, t0 := cpuSeconds(), time.Now()
				st, err := run(ctx, rate)
				genCPU = (cpuSeconds() - c0) / time.Since(t0).Seconds()
				return st, err
			}
		}
		// Max keeps the closed loop within the file descriptors.
		opts := capacity.Options{Start: 25, Max: 20000, Growth: 2, Rel: 0.08, MaxSteps: 12,
			Progress: func(s capacity.Step) {
				fmt.Fprintf(os.Stderr, "  %7.0f/s offered  %7.0f/s good  p99 %6.1f ms  success %.3f  pass %-5v  generator CPU %.2f\n",
					s.Offered, s.Goodput, ms(s.P99), s.Success, s.Pass, genCPU)
			}}
		fmt.Fprintln(os.Stderr, "serve --role all:")
		issueRes, err := capacity.Search(ctx, measured(capacity.HTTPProbe{Targeter: issueTargeter(srv.url, pharmacies, payloads), Duration: 3 * time.Second}.Run), slo, opts)
		if err != nil {
			b.Fatalf("issuer: %v", err)
		}
		fmt.Fprintln(os.Stderr, "bare ECDSA endpoint:")
		bareRes, err := capacity.Search(ctx, measured(capacity.HTTPProbe{Targeter: bareTargeter(bareURL, payloads), Duration: 3 * time.Second}.Run), slo, opts)
		if err != nil {
			b.Fatalf("bare endpoint: %v", err)
		}
		ratio := issueRes.Capacity / bareRes.Capacity

		// Overload: 5x the issuer's capacity for 3 s.
		var mu sync.Mutex
		var rejected []time.Duration
		codes := map[uint16]int{}
		over := capacity.HTTPProbe{
			Targeter: issueTargeter(srv.url, pharmacies, payloads), Duration: 3 * time.Second, Timeout: 5 * time.Second,
			OK: func(c uint16) bool { return c == http.StatusCreated },
			Observe: func(r *vegeta.Result) {
				mu.Lock()
				codes[r.Code]++
				if r.Code == http.StatusServiceUnavailable {
					rejected = append(rejected, r.Latency)
				}
				mu.Unlock()
			},
		}
		shedBefore := shedHistogram(b, srv.url)
		st, err := over.Run(ctx, 5*issueRes.Capacity)
		if err != nil {
			b.Fatalf("overload: %v", err)
		}
		p99Reject := percentile(rejected, 0.99)
		serverP99 := shedHistogram(b, srv.url).minus(shedBefore).quantile(0.99)
		fmt.Fprintf(os.Stderr, "server-side time of those 503s (portal_shed_duration_seconds): p99 <= %.2f ms\n", ms(serverP99))
		b.ReportMetric(ms(serverP99), "503-server-p99-ms")
		fmt.Fprintf(os.Stderr, "bare %.0f/s, issuer %.0f/s (ratio %.2f, target >= 0.6); at 5x: goodput %.0f/s = %.2f of capacity (target >= 0.9), %d 503s with p99 %.2f ms (target <= 5 ms)",
			bareRes.Capacity, issueRes.Capacity, ratio, st.Goodput, st.Goodput/issueRes.Capacity, len(rejected), ms(p99Reject))
		answered := 0
		for _, n := range codes {
			answered += n
		}
		// Whether the generator delivered the overload at all: past what
		// one core can send or the server's listen queue can hold, fewer
		// requests go out than were offered.
		fmt.Fprintf(os.Stderr, "; answers at 5x: %v (%d results of %.0f offered)\n", codes, answered, 5*issueRes.Capacity*3)
		b.ReportMetric(bareRes.Capacity, "bare-rps")
		b.ReportMetric(issueRes.Capacity, "issue-rps")
		b.ReportMetric(ratio, "ratio")
		b.ReportMetric(st.Goodput/issueRes.Capacity, "overload-goodput-ratio")
		b.ReportMetric(ms(p99Reject), "503-p99-ms")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}

// golive returns a static golive binary: bin/golive from `make build`
// when present, else one built for this run.
func golive(b *testing.B) string {
	if p, err := filepath.Abs("../../bin/golive"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	out := filepath.Join(b.TempDir(), "golive")
	cmd := exec.Command("go", "build", "-o", out, "../../cmd/golive")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building golive: %v\n%s", err, msg)
	}
	return out
}

type server struct {
	url, dir, admin string
	pid             int // the serve process, for its CPU time
}

// startServeAll runs `golive serve --role all` on a fresh data dir with
// limits meant for a throughput test: long tokens (the run outlasts 60 s)
// and no per-pharmacy quota or anomaly rules (40 pharmacies stand in for
// thousands). Admission control stays as hardened has it.
func startServeAll(b *testing.B, bin string) server {
	return startServeWith(b, bin, nil)
}

// startServeWith is startServeAll with more settings (top-level keys of
// the --config file beside "portal", e.g. "mailout").
func startServeWith(b *testing.B, bin string, more map[string]any) server {
	dir := b.TempDir()
	cfg := map[string]any{"portal": map[string]any{
		"access_token_ttl": "1h",
		"pharmacy_quota":   map[string]any{"enabled": false},
		"anomaly":          map[string]any{"enabled": false},
	}}
	for k, v := range more {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "bench-config.json")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// No HSM model: the bare endpoint signs in software too, and the
	// 2021 HSM's 50 ms per signature alone would break a 50 ms p99.
	cmd := exec.Command(bin, "serve", "--role", "all", "--profile", "hardened", "--data", data,
		"--listen", "127.0.0.1:0", "--config", cfgPath, "--hsm-latency", "0s", "--log-level", "warn")
	url := startChild(b, cmd, filepath.Join(dir, "serve.log"))
	admin, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		b.Fatal(err)
	}
	return server{url: url, dir: data, admin: string(admin), pid: cmd.Process.Pid}
}

func onboard(b *testing.B, ctx context.Context, srv server, n int) []*portalclient.Pharmacy {
	reg, err := register.Load(filepath.Join(srv.dir, "register.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	mail, err := register.NewDirMailbox(filepath.Join(srv.dir, "mailbox"))
	if err != nil {
		b.Fatal(err)
	}
	c := portalclient.New(srv.url)
	entries := reg.Entries()
	if len(entries) < n {
		b.Fatalf("register has %d entries", len(entries))
	}
	out := make([]*portalclient.Pharmacy, n)
	for i := range out {
		if out[i], err = c.Onboard(ctx, mail, entries[i]); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

func samplePayloads(b *testing.B, n int) [][]byte {
	rnd := mrand.New(mrand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range out {
		c := dcc.Sample(rnd, "", time.Now())
		raw, err := json.Marshal(c)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := json.Marshal(portalapi.IssueRequest{Payload: raw})
		out[i] = body
	}
	return out
}

func bareTargeter(url string, payloads [][]byte) vegeta.Targeter {
	var n atomic.Uint64
	return func(t *vegeta.Target) error {
		i := n.Add(1)
		*t = vegeta.Target{Method: http.MethodPost, URL: url, Body: payloads[i%uint64(len(payloads))],
			Header: http.Header{"Content-Type": {"application/json"}}}
		return nil
	}
}

func issueTargeter(base string, phs []*portalclient.Pharmacy, payloads [][]byte) vegeta.Targeter {
	var n atomic.Uint64
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	return func(t *vegeta.Target) error {
		i := n.Add(1)
		ph := phs[i%uint64(len(phs))]
		*t = vegeta.Target{Method: http.MethodPost, URL: base + "/v1/certificates", Body: payloads[i%uint64(len(payloads))],
			Header: http.Header{
				"Content-Type":    {"application/json"},
				"Authorization":   {"Bearer " + ph.Token},
				"Idempotency-Key": {"bench-" + run + "-" + strconv.FormatUint(i, 10)},
			}}
		return nil
	}
}

// histogram is a cumulative Prometheus histogram: upper bounds and counts.
type histogram struct {
	bounds []float64
	counts []float64
}

// shedHistogram reads the portal's server-side time of issuance 503s.
func shedHistogram(b *testing.B, base string) histogram {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	var h histogram
	f := fams["portal_shed_duration_seconds"]
	if f == nil {
		return h
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["code"] != "503" || labels["route"] != "POST /v1/certificates" {
			continue
		}
		for _, bk := range m.GetHistogram().GetBucket() {
			h.bounds = append(h.bounds, bk.GetUpperBound())
			h.counts = append(h.counts, float64(bk.GetCumulativeCount()))
		}
	}
	return h
}

func (h histogram) minus(o histogram) histogram {
	out := histogram{bounds: h.bounds, counts: append([]float64(nil), h.counts...)}
	for i := range out.counts {
		if i < len(o.counts) {
			out.counts[i] -= o.counts[i]
		}
	}
	return out
}

// quantile is the upper bound of the bucket holding quantile q.
func (h histogram) quantile(q float64) time.Duration {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return 0
	}
	total := h.counts[len(h.counts)-1]
	for i, c := range h.counts {
		if c >= q*total {
			return time.Duration(h.bounds[i] * float64(time.Second))
		}
	}
	return time.Duration(h.bounds[len(h.bounds)-1] * float64(time.Second))
}
