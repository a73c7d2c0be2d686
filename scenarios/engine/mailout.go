package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// A mailout class is vaccination centres mailing certificates by post:
// its demand (letters per second) is gathered into jobs of
// ItemsPerJob, each submitted to the mail-out API with an Idempotency-Key
// (a retry is the same job) and item keys unique across the run (a
// retried item never makes a second certificate), then followed by
// polling until done. It runs beside loadgen's pacers, not through them:
// one action is a job of hundreds of items, finished minutes later.

// Named waits of the mail-out runner.
const (
	// mailoutTick is how often the runner turns demand into items.
	mailoutTick = 100 * time.Millisecond
	// mailoutDrain bounds the wait for unfinished jobs after the load.
	mailoutDrain = 3 * time.Minute
	// mailoutMaxInFlight bounds concurrent job submissions.
	mailoutMaxInFlight = 4
)

// centreTokensFile is where the data directory keeps the centres' tokens
// (issuer/server.Layout.CentreTokens; read here by name, as the engine
// links no server).
const centreTokensFile = "mailout-centres"

// loadCentreTokens reads n centre tokens of the data directory dir, in
// centre id order.
func loadCentreTokens(dir string, n int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, centreTokensFile))
	if err != nil {
		return nil, fmt.Errorf("engine: mail-out centre tokens: %w", err)
	}
	type centre struct{ id, token string }
	var cs []centre
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, tok, ok := strings.Cut(line, " ")
		if tok = strings.TrimSpace(tok); ok && strings.HasPrefix(tok, mailoutapi.TokenPrefix) {
			cs = append(cs, centre{id, tok})
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })
	if len(cs) < n {
		return nil, fmt.Errorf("engine: the data directory has %d mail-out centres, the scenario wants %d", len(cs), n)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = cs[i].token
	}
	return out, nil
}

// mailoutJob is one submitted job and what the runner saw of it.
type mailoutJob struct {
	key       string // Idempotency-Key
	centre    int
	keys      []string // item keys
	submitted time.Time
	id        string // set once accepted
	refused   bool
	finished  int // items seen issued or failed
	done      bool
	doneAfter time.Duration
}

// mailoutRun drives one mailout class.
type mailoutRun struct {
	class       spec.Class
	base        string
	tokens      []string
	http        *http.Client
	clock       simclock.Clock
	demandScale float64
	keyPrefix   string
	payloads    *loadgen.Payloads
	log         *slog.Logger

	mu        sync.Mutex
	jobs      []*mailoutJob
	requests  int64
	itemLat   []time.Duration
	submitted sync.WaitGroup
	nextItem  int
}

func newMailoutRun(c spec.Class, base string, tokens []string, clock simclock.Clock, demandScale float64, keyPrefix string, seed uint64, log *slog.Logger) *mailoutRun {
	return &mailoutRun{class: c, base: strings.TrimRight(base, "/"), tokens: tokens, clock: clock, demandScale: demandScale,
		keyPrefix: keyPrefix, payloads: &loadgen.Payloads{Seed: seed, Mix: loadgen.Mix{V: 1}},
		http: &http.Client{Timeout: c.Client.Timeout}, log: log}
}

// run turns demand into jobs from the clock's WallStart for wall time d
// (the load's span, as the pacers have it) and polls the jobs meanwhile;
// it returns when d has passed or ctx ends, after submitting the letters
// owed so far (submissions in flight finish in finish).
func (m *mailoutRun) run(ctx context.Context, d time.Duration) {
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go m.pollLoop(pollCtx)
	sem := make(chan struct{}, mailoutMaxInFlight)
	owed := 0.0
	last := time.Now()
	if last.Before(m.clock.WallStart) {
		last = m.clock.WallStart
	}
	end := m.clock.WallStart.Add(d)
	tick := time.NewTicker(mailoutTick)
	defer tick.Stop()
	submit := func(n int) {
		j := m.newJob(n)
		m.submitted.Add(1)
		go func() {
			defer m.submitted.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			m.submit(context.WithoutCancel(ctx), j)
		}()
	}
	for {
		select {
		case <-ctx.Done():
			// The load stopped (its end, or an interruption): the letters
			// of the last, unfinished batch go out too.
			if n := int(owed); n >= 1 {
				submit(n)
			}
			return
		case now := <-tick.C:
			if now.Before(last) {
				continue // before the day starts
			}
			if now.After(end) {
				now = end
			}
			owed += m.class.Demand.Rate(m.clock.Sim(now)) * m.demandScale * now.Sub(last).Seconds()
			last = now
			for owed >= float64(m.class.Mailout.ItemsPerJob) {
				owed -= float64(m.class.Mailout.ItemsPerJob)
				submit(m.class.Mailout.ItemsPerJob)
			}
			if !now.Before(end) {
				// The letters of the last, unfinished batch go out too.
				if n := int(owed); n >= 1 {
					submit(n)
				}
				return
			}
		}
	}
}

func (m *mailoutRun) newJob(n int) *mailoutJob {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := &mailoutJob{key: fmt.Sprintf("%s%d", m.keyPrefix, len(m.jobs)+1), centre: len(m.jobs) % len(m.tokens)}
	for range n {
		m.nextItem++
		j.keys = append(j.keys, fmt.Sprintf("%s%06d", m.keyPrefix, m.nextItem))
	}
	m.jobs = append(m.jobs, j)
	return j
}

// submit posts a job, retrying with the same Idempotency-Key on no answer,
// 429 and 5xx (honouring Retry-After), up to the class's retries.
func (m *mailoutRun) submit(ctx context.Context, j *mailoutJob) {
	req := mailoutapi.JobRequest{Items: make([]mailoutapi.Item, len(j.keys))}
	now := time.Now()
	for i, k := range j.keys {
		seq, _ := strconv.ParseUint(k[len(m.keyPrefix):], 10, 64)
		b, _, err := m.payloads.JSON(seq, now)
		if err != nil {
			m.log.Error("mail-out payload", "err", err)
			m.finishRefused(j)
			return
		}
		req.Items[i] = mailoutapi.Item{Key: k, Payload: clearCI(b)}
	}
	body, err := json.Marshal(req)
	if err != nil {
		m.finishRefused(j)
		return
	}
	cl := m.class.Client
	m.mu.Lock()
	j.submitted = time.Now()
	m.mu.Unlock()
	for attempt := 0; ; attempt++ {
		var job mailoutapi.Job
		code, retryAfter, err := m.do(ctx, http.MethodPost, mailoutapi.PathJobs, m.tokens[j.centre], j.key, body, &job)
		if err == nil && (code == http.StatusAccepted || code == http.StatusOK) {
			m.mu.Lock()
			j.id = job.ID
			m.mu.Unlock()
			return
		}
		retryable := err != nil || code == http.StatusTooManyRequests || code >= 500
		if !retryable || attempt >= cl.Retries.Max || ctx.Err() != nil {
			m.log.Warn("mail-out job refused", "class", m.class.Name, "job", j.key, "status", code, "err", err)
			m.finishRefused(j)
			return
		}
		wait := cl.Retries.Backoff(attempt + 1)
		if cl.HonourRetryAfter && retryAfter > wait {
			wait = retryAfter
		}
		if cl.ScaleWaits {
			wait = time.Duration(float64(wait) / m.clock.Scale)
		}
		wait += time.Duration(rand.Int64N(int64(wait/5) + 1)) // jitter
		select {
		case <-ctx.Done():
			m.finishRefused(j)
			return
		case <-time.After(wait):
		}
	}
}

func (m *mailoutRun) finishRefused(j *mailoutJob) {
	m.mu.Lock()
	j.refused = true
	m.mu.Unlock()
}

// clearCI empties the payload's ci (the issuer assigns the UVCI).
func clearCI(b []byte) json.RawMessage {
	var v map[string]any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	for _, k := range []string{"v", "t", "r"} {
		if es, ok := v[k].([]any); ok {
			for _, e := range es {
				if em, ok := e.(map[string]any); ok {
					em["ci"] = ""
				}
			}
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}

// do sends one request; out receives a 2xx body. It returns the status
// and the Retry-After of the answer.
func (m *mailoutRun) do(ctx context.Context, method, path, token, idemKey string, body []byte, out any) (int, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.base+path, rd)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set(mailoutapi.IdempotencyHeader, idemKey)
	}
	m.mu.Lock()
	m.requests++
	m.mu.Unlock()
	resp, err := m.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var ra time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		ra = time.Duration(s) * time.Second
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, ra, err
	}
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, ra, fmt.Errorf("decoding %s: %w", path, err)
		}
	}
	return resp.StatusCode, ra, nil
}

// pollLoop polls the accepted, unfinished jobs every PollEvery.
func (m *mailoutRun) pollLoop(ctx context.Context) {
	t := time.NewTicker(m.class.Mailout.PollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.pollOnce(ctx)
		}
	}
}

// pollOnce polls every accepted, unfinished job; it reports whether any
// is still unfinished (or not yet answered).
func (m *mailoutRun) pollOnce(ctx context.Context) bool {
	m.mu.Lock()
	var open []*mailoutJob
	for _, j := range m.jobs {
		if !j.done && !j.refused {
			open = append(open, j)
		}
	}
	m.mu.Unlock()
	unfinished := false
	for _, j := range open {
		m.mu.Lock()
		id := j.id
		m.mu.Unlock()
		if id == "" {
			unfinished = true // its submission is still on its way
			continue
		}
		var job mailoutapi.Job
		code, _, err := m.do(ctx, http.MethodGet, mailoutapi.JobLink(id), m.tokens[j.centre], "", nil, &job)
		if err != nil || code != http.StatusOK {
			unfinished = true
			continue
		}
		now := time.Now()
		m.mu.Lock()
		if f := job.Issued + job.Failed; f > j.finished {
			for range f - j.finished {
				m.itemLat = append(m.itemLat, now.Sub(j.submitted))
			}
			j.finished = f
		}
		if job.State == mailoutapi.JobDone {
			j.done, j.doneAfter = true, now.Sub(j.submitted)
		} else {
			unfinished = true
		}
		m.mu.Unlock()
	}
	return unfinished
}

// finish waits for the submissions in flight, then polls until every
// accepted job is done or wait has passed, and audits every job's items.
func (m *mailoutRun) finish(ctx context.Context, wait time.Duration) rundir.MailoutClass {
	m.submitted.Wait()
	deadline := time.Now().Add(wait)
	for m.pollOnce(ctx) && time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(m.class.Mailout.PollEvery):
		}
	}
	return m.audit(ctx)
}

// audit reads every accepted job's items and counts them: every item key
// submitted must be there with a UVCI, and no UVCI twice.
func (m *mailoutRun) audit(ctx context.Context) rundir.MailoutClass {
	m.mu.Lock()
	jobs := append([]*mailoutJob(nil), m.jobs...)
	m.mu.Unlock()
	out := rundir.MailoutClass{Centres: len(m.tokens)}
	uvcis := map[string]bool{}
	var done []time.Duration
	for _, j := range jobs {
		out.Jobs++
		out.Items += int64(len(j.keys))
		if j.refused || j.id == "" {
			out.JobsRefused++
			continue
		}
		out.JobsAccepted++
		out.ItemsAccepted += int64(len(j.keys))
		if j.done {
			out.JobsDone++
			done = append(done, j.doneAfter)
		}
		seen, err := m.items(ctx, j)
		if err != nil {
			// Unreadable now is not lost: count the job's items pending.
			m.log.Warn("mail-out items unreadable", "job", j.id, "err", err)
			out.ItemsPending += int64(len(j.keys))
			continue
		}
		for _, k := range j.keys {
			it, ok := seen[k]
			if !ok || it.UVCI == "" {
				out.ItemsLost++
				continue
			}
			if uvcis[it.UVCI] {
				out.DuplicateUVCIs++
			}
			uvcis[it.UVCI] = true
			switch it.State {
			case mailoutapi.ItemIssued:
				if it.HC1 == "" {
					out.ItemsLost++ // issued without its certificate
				} else {
					out.ItemsDone++
				}
			case mailoutapi.ItemFailed:
				out.ItemsFailed++
			default:
				out.ItemsPending++
			}
		}
	}
	m.mu.Lock()
	out.ItemLatency = latencyOfDurations(m.itemLat)
	m.mu.Unlock()
	out.JobCompletion = latencyOfDurations(done)
	return out
}

// items reads a job's items, page by page.
func (m *mailoutRun) items(ctx context.Context, j *mailoutJob) (map[string]mailoutapi.ItemResult, error) {
	out := map[string]mailoutapi.ItemResult{}
	after := ""
	for range 10000 {
		q := url.Values{mailoutapi.ParamLimit: {strconv.Itoa(mailoutapi.MaxPageLimit)}}
		if after != "" {
			q.Set(mailoutapi.ParamAfter, after)
		}
		var page mailoutapi.ItemPage
		code, _, err := m.do(ctx, http.MethodGet, mailoutapi.ItemsLink(j.id)+"?"+q.Encode(), m.tokens[j.centre], "", nil, &page)
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("items of %s: status %d", j.id, code)
		}
		for _, it := range page.Items {
			out[it.Key] = it
		}
		if page.Next == "" {
			return out, nil
		}
		after = page.Next
	}
	return nil, errors.New("items: too many pages")
}

// requestCount is the HTTP requests the class sent.
func (m *mailoutRun) requestCount() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests
}

// latencyOfDurations summarises durations as the run's latency fields.
func latencyOfDurations(ds []time.Duration) rundir.LatencyMS {
	if len(ds) == 0 {
		return rundir.LatencyMS{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return rundir.LatencyMS{P50: ms(at(0.5)), P90: ms(at(0.9)), P99: ms(at(0.99)), Max: ms(s[len(s)-1])}
}

// startedMailout is a mailout class running beside the load.
type startedMailout struct {
	name string
	run  *mailoutRun
	done chan struct{}
}

// startMailouts starts every mailout class for the load's wall duration.
func (r *run) startMailouts(ctx context.Context, wallDur time.Duration) ([]*startedMailout, error) {
	var out []*startedMailout
	for i, c := range r.sc.Traffic {
		if c.Kind != spec.KindMailout {
			continue
		}
		dir := r.tb.DataDir()
		if dir == "" {
			dir = r.o.DataDir
		}
		tokens, err := loadCentreTokens(dir, c.Mailout.Centres)
		if err != nil {
			return nil, err
		}
		base := testbed.PortalURLs(r.tb)[0]
		m := newMailoutRun(c, base, tokens, r.clock, r.demandScale, r.runKey+"-"+c.Name+"-", r.seed+uint64(i)+1000, r.log)
		s := &startedMailout{name: c.Name, run: m, done: make(chan struct{})}
		go func() { defer close(s.done); m.run(ctx, wallDur) }()
		out = append(out, s)
	}
	return out, nil
}

// finishMailouts waits for the load's end of every mailout class, then
// for its jobs (up to mailoutDrain, none after an interruption), and
// audits their items.
func (r *run) finishMailouts(ctx context.Context, ms []*startedMailout, interrupted bool) map[string]mailoutResult {
	out := map[string]mailoutResult{}
	for _, s := range ms {
		<-s.done
		wait := mailoutDrain
		if interrupted {
			wait = 0
		}
		r.say("waiting for %s's mail-out jobs", s.name)
		mc := s.run.finish(ctx, wait)
		r.say("%s: %d jobs (%d accepted, %d done), %d items: %d issued, %d failed, %d pending, %d lost",
			s.name, mc.Jobs, mc.JobsAccepted, mc.JobsDone, mc.Items, mc.ItemsDone, mc.ItemsFailed, mc.ItemsPending, mc.ItemsLost)
		out[s.name] = mailoutResult{class: mc, requests: s.run.requestCount()}
	}
	return out
}

// mailoutResult is a finished mailout class.
type mailoutResult struct {
	class    rundir.MailoutClass
	requests int64
}

// addMailouts puts the mailout classes into the summary: classes.<name>
// with its jobs and items, and items lost or certificates duplicated into
// the consistency totals (an accepted item is acknowledged).
func addMailouts(sum *Summary, ms map[string]mailoutResult) {
	for name, res := range ms {
		c := sum.Classes[name]
		mc := res.class
		c.Mailout = &mc
		c.Requests = res.requests
		c.Actions, c.OK, c.Delivered = mc.Items, mc.ItemsDone, mc.ItemsDone
		c.Failed = mc.ItemsFailed + mc.ItemsLost + (mc.Items - mc.ItemsAccepted)
		c.Latency = mc.ItemLatency
		if sum.Classes == nil {
			sum.Classes = map[string]rundir.ClassSummary{}
		}
		sum.Classes[name] = c
		sum.Consistency.Lost += mc.ItemsLost
		sum.Consistency.Duplicates += mc.DuplicateUVCIs
	}
}
