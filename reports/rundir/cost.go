package rundir

import (
	"fmt"
	"sort"
)

// Cost is summary.json's "cost": what each component of the system under
// test spent per request over the load, from the kernel's own accounting
// (docs/run-format.md#cost). Unlike latency it does not depend on how busy
// the neighbours kept the CPU, so it is what a regression gate can trust.
type Cost struct {
	// Source says where the CPU times come from: CostSourceProc or
	// CostSourceCgroup.
	Source string `json:"source"`
	// WallSeconds is the span the CPU was counted over: from the start of
	// the load to the end of the drain.
	WallSeconds float64 `json:"wall_seconds"`
	// Requests are the attempts answered in the span (summary.json
	// requests.total) and Delivered the certificates delivered (goodput's
	// count): the two denominators.
	Requests  int64 `json:"requests"`
	Delivered int64 `json:"delivered"`
	// Components are keyed by the testbed's names: portal, signer-1..N,
	// proxy (and registry when the testbed runs one).
	Components map[string]ComponentCost `json:"components"`
	// Signers sums signer-1..N; System every component (the system under
	// test); Generator is the load generator's own process, kept apart.
	Signers   *ComponentCost `json:"signers,omitempty"`
	System    ComponentCost  `json:"system"`
	Generator *ComponentCost `json:"generator,omitempty"`
	// Notes say what makes a figure a bound (a component that restarted
	// during the run lost the CPU of its old process).
	Notes []string `json:"notes,omitempty"`
}

// Where Cost's CPU times come from.
const (
	// CostSourceProc: utime + stime of /proc/PID/stat, every thread of the
	// component's process (the local testbed), in 10 ms ticks.
	CostSourceProc = "proc"
	// CostSourceCgroup: the container's cgroup CPU usage, as the Docker
	// stats API reports it (the docker testbed), in nanoseconds.
	CostSourceCgroup = "cgroup"
)

// ComponentCost is one component's (or a sum's) CPU over the span, and
// per request.
type ComponentCost struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUMsPerRequest is CPU milliseconds per answered attempt (0 when
	// there were none).
	CPUMsPerRequest float64 `json:"cpu_ms_per_request"`
	// CPUMsPerDelivered is CPU milliseconds per delivered certificate;
	// null when none was delivered.
	CPUMsPerDelivered *float64 `json:"cpu_ms_per_delivered"`
	// Restarts counts the times the component's CPU counter went back
	// (its process or container was replaced); each loses the CPU the old
	// one spent since the previous reading, so CPUSeconds is a lower bound.
	Restarts int `json:"restarts,omitempty"`
}

// NewComponentCost prices cpuSeconds over the cost's denominators.
func (c *Cost) NewComponentCost(cpuSeconds float64, restarts int) ComponentCost {
	cc := ComponentCost{CPUSeconds: cpuSeconds, Restarts: restarts}
	if c.Requests > 0 {
		cc.CPUMsPerRequest = cpuSeconds * 1000 / float64(c.Requests)
	}
	if c.Delivered > 0 {
		v := cpuSeconds * 1000 / float64(c.Delivered)
		cc.CPUMsPerDelivered = &v
	}
	return cc
}

// Fill computes every per-request figure and the sums from the
// components' CPU seconds and restarts (generator: the load generator's
// seconds, < 0 when unknown). The denominators must be set first.
func (c *Cost) Fill(cpu map[string]float64, restarts map[string]int, generator float64) {
	c.Components = map[string]ComponentCost{}
	var sys, signers float64
	var sysRestarts, signerRestarts, nSigners int
	for _, name := range sortedKeys(cpu) {
		s, r := cpu[name], restarts[name]
		c.Components[name] = c.NewComponentCost(s, r)
		sys += s
		sysRestarts += r
		if IsSignerComponent(name) {
			signers += s
			signerRestarts += r
			nSigners++
		}
		if r > 0 {
			c.Notes = append(c.Notes, fmt.Sprintf("%s restarted %d times during the run: its CPU is a lower bound", name, r))
		}
	}
	c.System = c.NewComponentCost(sys, sysRestarts)
	if nSigners > 0 {
		s := c.NewComponentCost(signers, signerRestarts)
		c.Signers = &s
	}
	if generator >= 0 {
		g := c.NewComponentCost(generator, 0)
		c.Generator = &g
	}
}

// IsSignerComponent reports whether a testbed component name is a signer
// replica (signer-1, signer-2, ...).
func IsSignerComponent(name string) bool {
	return len(name) > len("signer-") && name[:len("signer-")] == "signer-"
}

// Component returns the named component's cost; "signers" and "system"
// name the sums. ok is false when the run has no such figure.
func (c *Cost) Component(name string) (ComponentCost, bool) {
	if c == nil {
		return ComponentCost{}, false
	}
	switch name {
	case "system":
		return c.System, true
	case "signers":
		if c.Signers != nil {
			return *c.Signers, true
		}
		return ComponentCost{}, false
	case "generator":
		if c.Generator != nil {
			return *c.Generator, true
		}
		return ComponentCost{}, false
	}
	cc, ok := c.Components[name]
	return cc, ok
}

// Names lists the components in a stable order: the portal, the signers
// in number order, the rest by name.
func (c *Cost) Names() []string {
	if c == nil {
		return nil
	}
	names := sortedKeys(c.Components)
	rank := func(n string) int {
		switch {
		case n == "portal":
			return 0
		case IsSignerComponent(n):
			return 1
		}
		return 2
	}
	sort.SliceStable(names, func(i, j int) bool {
		ri, rj := rank(names[i]), rank(names[j])
		if ri != rj {
			return ri < rj
		}
		if ri == 1 && len(names[i]) != len(names[j]) {
			return len(names[i]) < len(names[j]) // signer-2 before signer-10
		}
		return names[i] < names[j]
	})
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
