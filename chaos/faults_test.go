package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos"
	"github.com/golive-dev/golive/chaos/fault"
	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/register"
)

func TestMain(m *testing.M) { os.Exit(testbedtest.Main(m)) }

// pharmacy issues real certificates through the portal's client link.
type pharmacy struct {
	c   *portalclient.Client
	ph  *portalclient.Pharmacy
	rnd *rand.Rand
	now func() time.Time
}

func onboard(t *testing.T, tb testbed.Testbed, now func() time.Time) *pharmacy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mail, err := register.NewDirMailbox(filepath.Join(tb.DataDir(), "mailbox"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := register.Load(filepath.Join(tb.DataDir(), "register.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	c := portalclient.New(tb.PortalURL())
	c.HTTP.Timeout = 10 * time.Second
	ph, err := c.Onboard(ctx, mail, reg.Entries()[0])
	if err != nil {
		t.Fatal(err)
	}
	return &pharmacy{c: c, ph: ph, rnd: rand.New(rand.NewPCG(1, 2)), now: now}
}

func (p *pharmacy) issue(ctx context.Context) (portalclient.IssueResult, error) {
	raw, err := json.Marshal(dcc.Sample(p.rnd, dcc.TypeVaccination, p.now().Add(-time.Hour)))
	if err != nil {
		return portalclient.IssueResult{}, err
	}
	return p.c.Issue(ctx, p.ph.Token, fmt.Sprintf("k-%d-%d", time.Now().UnixNano(), p.rnd.Int()), portalapi.IssueRequest{Payload: raw})
}

// issued is the steady-state issuance check: one certificate, signed now.
func (p *pharmacy) issued(ctx context.Context) error {
	r, err := p.issue(ctx)
	if err != nil {
		return err
	}
	if r.Status != http.StatusCreated {
		return fmt.Errorf("issue answered %d, want 201", r.Status)
	}
	return nil
}

// morning is 09:00 in Berlin today: inside the opening hours, so the
// fraud rules' off-hours limit does not interfere with the test.
func morning(t *testing.T) time.Time {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := time.Now().In(loc).Date()
	return time.Date(y, m, d, 9, 0, 0, 0, loc)
}

func TestFaultsLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every fault kind on a testbed (40 s on a busy machine)")
	}
	runFaultSuite(t, testbed.KindLocal)
}

func TestFaultsDocker(t *testing.T) {
	testbedtest.RequireDocker(t)
	runFaultSuite(t, testbed.KindDocker)
}

// runFaultSuite starts one topology and, fault kind by fault kind, asserts
// the fault's observable effect and the return to steady state after its
// undo.
func runFaultSuite(t *testing.T, kind testbed.Kind) {
	ctx := context.Background()
	simStart := morning(t)
	wallStart := time.Now()
	tb, err := testbed.Start(ctx, testbed.Options{Kind: kind, Binary: testbedtest.Binary(t), Signers: 2,
		RunID: testbedtest.RunID(string(kind)), SimStart: simStart, Timescale: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tb.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	simNow := func() time.Time { return simStart.Add(time.Since(wallStart)) }
	ph := onboard(t, tb, simNow)
	in := chaos.NewInjector(tb, nil)
	defer in.UndoAll(context.Background())

	steady := func(t *testing.T, phase string) {
		t.Helper()
		for _, p := range chaos.Deviations(chaos.SteadyState(ctx, tb, phase, 20*time.Second, ph.issued)) {
			t.Errorf("steady state %s: %s: %s", phase, p.Check, p.Error)
		}
	}
	inject := func(t *testing.T, f chaos.Fault) int {
		t.Helper()
		id, err := in.Inject(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	revert := func(t *testing.T, id int) {
		t.Helper()
		if err := in.Revert(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	steady(t, "before")

	t.Run("kill", func(t *testing.T) {
		id := inject(t, chaos.Fault{Kind: fault.Kill, Target: testbed.Portal})
		if _, err := get(tb.DirectPortalURL()+"/readyz", 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("killed portal: %v, want connection refused", err)
		}
		revert(t, id) // start
		steady(t, "after kill")
	})

	t.Run("pause", func(t *testing.T) {
		id := inject(t, chaos.Fault{Kind: fault.Pause, Target: testbed.Portal})
		if _, err := get(tb.PortalURL()+"/readyz", 500*time.Millisecond); !isTimeout(err) {
			t.Errorf("paused portal: %v, want a timeout", err)
		}
		revert(t, id)
		steady(t, "after pause")
	})

	t.Run("latency", func(t *testing.T) {
		// The fastest of n requests: the toxic delays every one, while a
		// busy machine delays only some, so the fastest shows the toxic
		// and little of the machine.
		base := fastest(t, tb.PortalURL()+"/healthz", 15)
		id := inject(t, chaos.Fault{Kind: fault.Latency, Target: testbed.LinkClientPortal, Params: fault.Params{Latency: 100 * time.Millisecond}})
		slow := fastest(t, tb.PortalURL()+"/healthz", 15)
		revert(t, id)
		t.Logf("fastest %v -> %v with a 100 ms latency toxic", base, slow)
		// The toxic guarantees the lower bound; the upper one only catches
		// a doubled delay, with room for a busy machine.
		if d := slow - base; d < 80*time.Millisecond || d > 190*time.Millisecond {
			t.Errorf("fastest %v -> %v: raised by %v, want about 100 ms (at least 80, less than double)", base, slow, d)
		}
		if after := fastest(t, tb.PortalURL()+"/healthz", 5); after > base+50*time.Millisecond {
			t.Errorf("fastest after undo %v, baseline %v", after, base)
		}
		steady(t, "after latency")
	})

	t.Run("partition", func(t *testing.T) {
		id := inject(t, chaos.Fault{Kind: fault.Partition, Target: chaos.SignerLinks})
		var tickets []string
		for range 3 {
			r, err := ph.issue(ctx)
			if err != nil || r.Status != http.StatusAccepted || r.Deferred == nil {
				t.Fatalf("issue during a signer partition: %+v %v, want 202 deferred", r, err)
			}
			tickets = append(tickets, r.Deferred.Ticket)
		}
		revert(t, id) // heal
		deadline := time.Now().Add(30 * time.Second)
		for _, tk := range tickets {
			for {
				v, err := ph.c.Ticket(ctx, ph.ph.Token, tk)
				if err == nil && v.State == "done" && v.HC1 != "" {
					break
				}
				if time.Now().After(deadline) || (err == nil && v.State == "failed") {
					t.Fatalf("ticket %s after heal: %+v %v", tk, v, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		steady(t, "after partition")
	})

	t.Run("reset", func(t *testing.T) {
		id := inject(t, chaos.Fault{Kind: fault.Reset, Target: testbed.LinkClientPortal})
		if _, err := get(tb.PortalURL()+"/healthz", 2*time.Second); err == nil || isTimeout(err) {
			t.Errorf("reset: %v, want the connection reset", err)
		}
		revert(t, id)
		steady(t, "after reset")
	})

	t.Run("blackhole", func(t *testing.T) {
		id := inject(t, chaos.Fault{Kind: fault.Blackhole, Target: testbed.LinkClientPortal})
		if _, err := get(tb.PortalURL()+"/healthz", 500*time.Millisecond); !isTimeout(err) {
			t.Errorf("black hole: %v, want a timeout", err)
		}
		revert(t, id)
		steady(t, "after blackhole")
	})

	t.Run("bandwidth", func(t *testing.T) {
		// /metrics is tens of kilobytes: at 1 KB/s it cannot arrive in a second.
		if n, err := get(tb.PortalURL()+"/metrics", 2*time.Second); err != nil || n < 3000 {
			t.Fatalf("/metrics: %d bytes, %v", n, err)
		}
		id := inject(t, chaos.Fault{Kind: fault.Bandwidth, Target: testbed.LinkClientPortal, Params: fault.Params{RateKBps: 1}})
		if _, err := get(tb.PortalURL()+"/metrics", time.Second); !isTimeout(err) {
			t.Errorf("1 KB/s: %v, want a timeout", err)
		}
		revert(t, id)
		steady(t, "after bandwidth")
	})

	t.Run("stop", func(t *testing.T) {
		id := inject(t, chaos.Fault{Kind: fault.Stop, Target: testbed.SignerName(1)})
		if _, err := get(componentURL(t, tb, testbed.SignerName(1))+"/readyz", 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("stopped signer: %v, want connection refused", err)
		}
		revert(t, id)
		steady(t, "after stop")
	})

	t.Run("restart signer", func(t *testing.T) {
		inject(t, chaos.Fault{Kind: fault.Restart, Target: testbed.SignerName(2)})
		steady(t, "after restart")
	})

	t.Run("isolate", func(t *testing.T) {
		f := chaos.Fault{Kind: fault.Isolate, Target: testbed.Portal}
		if kind == testbed.KindLocal {
			if err := chaos.Validate(tb, []chaos.Fault{f}); !errors.Is(err, testbed.ErrUnsupported) || !strings.Contains(err.Error(), "partition") {
				t.Errorf("isolate on local: %v, want unsupported with the partition hint", err)
			}
			return
		}
		id := inject(t, f)
		// The proxy can no longer reach (or even resolve) the portal.
		if code, err := get(tb.PortalURL()+"/healthz", 3*time.Second); err == nil {
			t.Errorf("isolated portal answered through the proxy: %d", code)
		}
		revert(t, id)
		steady(t, "after isolate")
	})

	t.Run("cpu", func(t *testing.T) {
		f := chaos.Fault{Kind: fault.CPU, Target: testbed.SignerName(1), Params: fault.Params{CPUs: 0.2}}
		if kind == testbed.KindLocal {
			if err := chaos.Validate(tb, []chaos.Fault{f}); !errors.Is(err, testbed.ErrUnsupported) {
				t.Errorf("cpu on local: %v, want unsupported", err)
			}
			return
		}
		revert(t, inject(t, f))
		steady(t, "after cpu")
	})

	if in.Active() != 0 {
		t.Errorf("%d faults still active", in.Active())
	}
	for _, e := range in.Events() {
		if e.Start.IsZero() || e.End.Before(e.Start) || e.Error != "" {
			t.Errorf("event %+v", e)
		}
	}
	kinds := make([]fault.Kind, 0)
	for _, e := range in.Events() {
		kinds = append(kinds, e.Kind)
	}
	want := []fault.Kind{fault.Kill, fault.Pause, fault.Latency, fault.Partition, fault.Reset, fault.Blackhole, fault.Bandwidth, fault.Stop, fault.Restart}
	if kind == testbed.KindDocker {
		want = append(want, fault.Isolate, fault.CPU)
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("recorded %v, want %v", kinds, want)
	}
}

func componentURL(t *testing.T, tb testbed.Testbed, name string) string {
	t.Helper()
	for _, c := range tb.Components() {
		if c.Name == name {
			return c.URL
		}
	}
	t.Fatalf("no component %s", name)
	return ""
}

// get fetches url on a fresh connection and returns the body size.
func get(url string, timeout time.Duration) (int, error) {
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// The body too: a slow link shows in the transfer, not the headers.
	n, err := io.Copy(io.Discard, resp.Body)
	return int(n), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fastest is the least latency of n GETs on one kept-alive connection.
func fastest(t *testing.T, url string, n int) time.Duration {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	least := time.Duration(math.MaxInt64)
	for range n {
		t0 := time.Now()
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		least = min(least, time.Since(t0))
	}
	return least
}
