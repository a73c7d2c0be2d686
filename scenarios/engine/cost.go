package engine

import (
	"log/slog"
	"sync"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/internal/proccpu"
	"github.com/golive-dev/golive/reports/rundir"
)

// costSampleInterval is how often the cost meter reads the components'
// CPU counters during the load. Only the first and last reading matter
// for a component that keeps running; the ones between catch a restart
// (a kill or restart fault replaces the process or container, and its
// counter starts again from zero).
const costSampleInterval = 2 * time.Second

// costMeter adds up the CPU each component of a testbed uses between
// start and stop, across restarts.
type costMeter struct {
	tb     testbed.Testbed
	cr     testbed.CPUReader
	source string
	log    *slog.Logger

	mu       sync.Mutex
	last     map[string]time.Duration // last reading per component
	used     map[string]time.Duration // CPU counted so far
	restarts map[string]int
	self0    time.Duration // the generator's CPU at start; < 0 unknown
	self     time.Duration
	started  time.Time
	stopped  time.Time

	stopCh chan struct{}
	done   chan struct{}
}

// startCostMeter takes the first reading and samples until stop; nil when
// the testbed cannot tell CPU time (url).
func startCostMeter(tb testbed.Testbed, log *slog.Logger) *costMeter {
	cr, ok := tb.(testbed.CPUReader)
	if !ok {
		return nil
	}
	source := rundir.CostSourceProc
	if tb.Kind() == testbed.KindDocker {
		source = rundir.CostSourceCgroup
	}
	m := &costMeter{tb: tb, cr: cr, source: source, log: log, last: map[string]time.Duration{},
		used: map[string]time.Duration{}, restarts: map[string]int{}, self0: -1,
		stopCh: make(chan struct{}), done: make(chan struct{})}
	if s, err := proccpu.Self(); err == nil {
		m.self0 = s
	}
	m.started = time.Now()
	m.sample()
	go m.loop()
	return m
}

func (m *costMeter) loop() {
	defer close(m.done)
	t := time.NewTicker(costSampleInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stopCh:
			return
		case <-t.C:
			m.sample()
		}
	}
}

// sample reads every component once. A component that cannot be read
// (stopped, killed) keeps its last reading; one whose counter went back
// was replaced, and everything its new process used counts.
func (m *costMeter) sample() {
	for _, name := range testbed.Metered(m.tb) {
		t, err := m.cr.CPUTime(name)
		if err != nil {
			continue
		}
		m.mu.Lock()
		last, seen := m.last[name]
		switch {
		case !seen:
			m.used[name] = 0 // the first reading is the baseline
		case t >= last:
			m.used[name] += t - last
		default:
			m.used[name] += t
			m.restarts[name]++
		}
		m.last[name] = t
		m.mu.Unlock()
	}
}

// stop takes the last reading and stops sampling.
func (m *costMeter) stop() {
	if m == nil {
		return
	}
	select {
	case <-m.stopCh:
		return
	default:
	}
	close(m.stopCh)
	<-m.done
	m.sample()
	m.mu.Lock()
	m.stopped = time.Now()
	if s, err := proccpu.Self(); err == nil && m.self0 >= 0 {
		m.self = s - m.self0
	} else {
		m.self0 = -1
	}
	m.mu.Unlock()
}

// cost is summary.json's cost over the meter's span, priced over the
// answered attempts and the delivered certificates.
func (m *costMeter) cost(requests, delivered int64) *rundir.Cost {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped.IsZero() || len(m.used) == 0 {
		return nil
	}
	c := &rundir.Cost{Source: m.source, WallSeconds: m.stopped.Sub(m.started).Seconds(), Requests: requests, Delivered: delivered}
	cpu := make(map[string]float64, len(m.used))
	for name, d := range m.used {
		cpu[name] = d.Seconds()
	}
	gen := -1.0
	if m.self0 >= 0 {
		gen = m.self.Seconds()
	}
	c.Fill(cpu, m.restarts, gen)
	return c
}
