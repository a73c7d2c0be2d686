package fault

import (
	"errors"
	"fmt"
	"time"
)

// The kinds. Process kinds act on a component; network kinds on a link
// through the fault proxy.
const (
	// Kill kills the target (SIGKILL); undone by starting it again.
	Kill Kind = "kill"
	// KillPrimary kills the registry's primary, whichever PostgreSQL node
	// holds that role at the moment (target "registry"), with SIGKILL: no
	// checkpoint. With a standby the testbed's watcher promotes it; undone
	// by starting the killed node again, which rejoins as a standby of
	// the new primary (without a standby it recovers as the primary).
	KillPrimary Kind = "kill-primary"
	// Stop stops the target gracefully (SIGTERM); undone as Kill.
	Stop Kind = "stop"
	// Restart stops (if running) and starts the target; an instant.
	Restart Kind = "restart"
	// Pause freezes the target's processes; undone by resuming them.
	Pause Kind = "pause"
	// CPU limits the target to Params.CPUs cores; undone by lifting it.
	CPU Kind = "cpu"
	// Isolate cuts the target off the network (docker only); undone by
	// reconnecting it.
	Isolate Kind = "isolate"
	// Partition switches the link off: open connections are cut, new ones
	// refused.
	Partition Kind = "partition"
	// Latency delays the answers on the link by Params.Latency ± Jitter.
	Latency Kind = "latency"
	// Bandwidth limits the answers on the link to Params.RateKBps.
	Bandwidth Kind = "bandwidth"
	// Blackhole accepts connections and swallows the requests: callers
	// hang until their own timeout (the 2021 "create PDF" that never
	// answered).
	Blackhole Kind = "blackhole"
	// Reset resets a connection (TCP RST) Params.After after the server's
	// answer starts: the request was handled, the answer is lost.
	Reset Kind = "reset"
)

// process is the family of the kinds that set a process's state: a
// restart inside a windowed kill would be ambiguous.
const process = "process"

// Parameters shared by several kinds are declared once.
var (
	pLatency = Param{Name: "latency", Event: "latency_ms", Unit: Duration, Required: true, Min: float64(Resolution),
		field: func(p *Params) any { return &p.Latency }}
	pJitter = Param{Name: "jitter", Event: "jitter_ms", Unit: Duration,
		field: func(p *Params) any { return &p.Jitter }}
	pRate = Param{Name: "rate_kbps", Event: "rate_kbps", Unit: Integer, Required: true, Min: 1, Max: 1 << 30,
		field: func(p *Params) any { return &p.RateKBps }}
	pAfter = Param{Name: "after", Event: "timeout_ms", Unit: Duration,
		field: func(p *Params) any { return &p.After }}
	pToxicity = Param{Name: "toxicity", Event: "toxicity", Unit: Number, Default: 1, Min: 0, Max: 1,
		field: func(p *Params) any { return &p.Toxicity },
		check: func(v float64) error {
			if v == 0 {
				return errors.New("0 affects no connection; remove the fault instead")
			}
			return nil
		}}
	pCPUs = Param{Name: "cpus", Event: "cpus", Unit: Number, Required: true, Min: 0.01, Max: 64,
		field: func(p *Params) any { return &p.CPUs }}
)

func ms(d time.Duration) int64 { return d.Milliseconds() }

// table is the vocabulary, one entry per kind, in the order docs and
// errors list them.
var table = []Spec{
	{Kind: Kill, Acts: OnComponent, Window: WindowOptional, Family: process},
	{Kind: Stop, Acts: OnComponent, Window: WindowOptional, Family: process},
	{Kind: KillPrimary, Acts: OnComponent, Window: WindowOptional, Family: process},
	{Kind: Restart, Acts: OnComponent, Window: WindowNone, Family: process},
	{Kind: Pause, Acts: OnComponent, Window: WindowRequired, Family: process},
	{Kind: CPU, Acts: OnComponent, Window: WindowRequired, Params: []Param{pCPUs}},
	{Kind: Isolate, Acts: OnComponent, Window: WindowRequired},
	{Kind: Partition, Acts: OnLink, Window: WindowRequired},
	{Kind: Latency, Acts: OnLink, Window: WindowRequired, Params: []Param{pLatency, pJitter, pToxicity},
		Toxic: &Toxic{Type: "latency", Stream: "downstream", Attrs: func(p Params) map[string]int64 {
			return map[string]int64{"latency": ms(p.Latency), "jitter": ms(p.Jitter)}
		}},
		check: func(p Params) *Error {
			if p.Jitter > p.Latency {
				return &Error{Param: "jitter", Msg: fmt.Sprintf("%v exceeds latency %v", p.Jitter, p.Latency)}
			}
			return nil
		}},
	{Kind: Bandwidth, Acts: OnLink, Window: WindowRequired, Params: []Param{pRate, pToxicity},
		Toxic: &Toxic{Type: "bandwidth", Stream: "downstream", Attrs: func(p Params) map[string]int64 {
			return map[string]int64{"rate": p.RateKBps}
		}}},
	// A black hole swallows the requests: on the answers it would still
	// pass the server's closing EOF through. Timeout 0: the connection
	// stays open until the fault is undone or the caller gives up.
	{Kind: Blackhole, Acts: OnLink, Window: WindowRequired, Params: []Param{pToxicity},
		Toxic: &Toxic{Type: "timeout", Stream: "upstream", Attrs: func(Params) map[string]int64 {
			return map[string]int64{"timeout": 0}
		}}},
	{Kind: Reset, Acts: OnLink, Window: WindowRequired, Params: []Param{pAfter, pToxicity},
		Toxic: &Toxic{Type: "reset_peer", Stream: "downstream", Attrs: func(p Params) map[string]int64 {
			return map[string]int64{"timeout": ms(p.After)}
		}}},
}
