package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// A finder class is citizens looking up issuing pharmacies near them. Each
// user action is one search: a postcode of one of the scenario's issuing
// pharmacies (or a numerically close one, which is close on the ground),
// a radius of 5, 10 or 25 km. A share of them revalidate what they were
// shown before for the same search, as a browser or a CDN in front of the
// finder does: If-None-Match with the ETag of the answer they hold, and a
// 304 shows that answer again.
//
// Every answer shown is judged after the run against what the scenario's
// own pharmacies met when they issued (dead listings, docs/run-format.md).

// Finder search shape.
const (
	// finderRevalidateShare is the share of searches that hold an earlier
	// answer to the same search and revalidate it.
	finderRevalidateShare = 0.6
	// finderNearShare is the share of citizens who search a postcode near
	// a pharmacy's rather than its own.
	finderNearShare = 0.3
	// finderNearSpan is how far (in postcode numbers) a near postcode lies.
	finderNearSpan = 20
)

// finderRadii are the radii citizens search (km).
var finderRadii = []string{"5", "10", "25"}

// DeadListingGrace is how long a pharmacy must have been failing before a
// finder answer listing it as issuing counts as a dead listing: the
// finder's snapshot refresh (2 s), the portal's signing timeout before it
// defers or fails (up to 4 s) and slack for a loaded machine. Wall time,
// like both of those.
const DeadListingGrace = 10 * time.Second

// finderClass is one finder class's searches, what its users hold, and
// the answers they were shown.
type finderClass struct {
	name     string
	base     string
	seed     uint64
	queries  []string // path and query of each search
	pharmacy *issuingTrack
	mu       sync.Mutex
	held     map[string]finderHeld // by search
	shown    []finderShown
}

// finderHeld is the last answer to a search users hold.
type finderHeld struct {
	etag    string
	issuing []int32 // the tracked pharmacies it lists as issuing
}

// finderShown is one answer a user was shown.
type finderShown struct {
	at      time.Time
	issuing []int32
}

// newFinderClass builds the class's searches from the postcodes of the
// pharmacies the issue classes onboarded.
func (r *run) newFinderClass(c spec.Class, seed uint64, setups []*classSetup) *finderClass {
	var postcodes []string
	seen := map[string]bool{}
	for _, cs := range setups {
		if cs.spec.Kind != spec.KindIssue || cs.accounts == nil {
			continue
		}
		for _, p := range cs.accounts.list {
			if pc := p.Entry.PostalCode; finderapi.ValidPostcode(pc) && !seen[pc] {
				seen[pc] = true
				postcodes = append(postcodes, pc)
			}
		}
	}
	sort.Strings(postcodes)
	if len(postcodes) == 0 {
		// A load worker knows its accounts without their addresses, and a
		// scenario may have no issue class: search the capital.
		postcodes = []string{"10115", "10117", "10119"}
	}
	rnd := rand.New(rand.NewPCG(seed, 0xf1d))
	var queries []string
	for _, pc := range postcodes {
		for _, radius := range finderRadii {
			queries = append(queries, finderQuery(pc, radius))
			if rnd.Float64() < finderNearShare {
				if near, ok := nearPostcode(pc, rnd); ok {
					queries = append(queries, finderQuery(near, radius))
				}
			}
		}
	}
	return &finderClass{name: c.Name, base: r.client.BaseURL, seed: seed, queries: queries, pharmacy: r.public.issuing,
		held: map[string]finderHeld{}}
}

func finderQuery(postcode, radius string) string {
	q := url.Values{finderapi.ParamPostcode: {postcode}, finderapi.ParamRadius: {radius}}
	return finderapi.PathPharmacies + "?" + q.Encode()
}

// nearPostcode is a valid postcode within finderNearSpan of pc.
func nearPostcode(pc string, rnd *rand.Rand) (string, bool) {
	n, err := strconv.Atoi(pc)
	if err != nil {
		return "", false
	}
	n += rnd.IntN(2*finderNearSpan+1) - finderNearSpan
	s := fmt.Sprintf("%05d", n)
	return s, n > 0 && finderapi.ValidPostcode(s)
}

// request is the class's RequestFunc: search seq, revalidating a held
// answer for a share of users.
func (f *finderClass) request(_ context.Context, seq uint64) (loadgen.Request, error) {
	rnd := rand.New(rand.NewPCG(f.seed, seq))
	q := f.queries[rnd.IntN(len(f.queries))]
	h := http.Header{"Accept": {"application/json"}}
	if rnd.Float64() < finderRevalidateShare {
		f.mu.Lock()
		if held, ok := f.held[q]; ok && held.etag != "" {
			h.Set("If-None-Match", held.etag)
		}
		f.mu.Unlock()
	}
	return loadgen.Request{Target: vegetaTarget(http.MethodGet, f.base+q, nil, h), Tag: q}, nil
}

// observe keeps what a search showed its user.
func (f *finderClass) observe(fin loadgen.Final) {
	switch fin.Code {
	case http.StatusOK:
		var ans finderapi.Pharmacies
		if json.Unmarshal(fin.Body, &ans) != nil {
			return
		}
		var issuing []int32
		for _, p := range ans.Pharmacies {
			if p.Status != finderapi.StatusIssuing {
				continue
			}
			if i, ok := f.pharmacy.index(p.ID); ok {
				issuing = append(issuing, i)
			}
		}
		f.mu.Lock()
		f.held[fin.Tag] = finderHeld{etag: fin.Header.Get("ETag"), issuing: issuing}
		f.shown = append(f.shown, finderShown{at: fin.Done, issuing: issuing})
		f.mu.Unlock()
	case http.StatusNotModified:
		// The user is shown the answer they hold.
		f.mu.Lock()
		if held, ok := f.held[fin.Tag]; ok {
			f.shown = append(f.shown, finderShown{at: fin.Done, issuing: held.issuing})
		}
		f.mu.Unlock()
	}
}

// summary judges every answer shown against the pharmacies' issuance;
// sim maps a wall instant to the simulated clock (nil: none).
func (f *finderClass) summary(sim func(time.Time) time.Time) *rundir.FinderClass {
	f.mu.Lock()
	shown := append([]finderShown(nil), f.shown...)
	f.mu.Unlock()
	unable := f.pharmacy.unable(DeadListingGrace)
	out := &rundir.FinderClass{Answers: int64(len(shown)), GraceS: DeadListingGrace.Seconds()}
	for _, s := range shown {
		if len(s.issuing) > 0 {
			out.Judged++
		}
		dead := 0
		for _, i := range s.issuing {
			if unable.at(i, s.at) {
				dead++
			}
		}
		if dead > 0 {
			out.DeadListings++
			out.DeadEntries += int64(dead)
			at := s.at
			if sim != nil {
				at = sim(at)
			}
			if out.FirstDead == nil || at.Before(*out.FirstDead) {
				out.FirstDead = &at
			}
			if out.LastDead == nil || at.After(*out.LastDead) {
				last := at
				out.LastDead = &last
			}
		}
	}
	return out
}

// issuingTrack is what the scenario's legitimate pharmacies met when they
// issued: the harness's ground truth of whether a pharmacy could issue at
// a moment, independent of what the finder says.
type issuingTrack struct {
	idx     map[string]int32
	mu      sync.Mutex
	samples [][]issuingSample // by pharmacy index
}

type issuingSample struct {
	at time.Time
	ok bool
}

func newIssuingTrack(setups []*classSetup) *issuingTrack {
	t := &issuingTrack{idx: map[string]int32{}}
	for _, cs := range setups {
		if cs.spec.Kind != spec.KindIssue || cs.accounts == nil {
			continue
		}
		for _, p := range cs.accounts.list {
			if _, ok := t.idx[p.ID]; !ok {
				t.idx[p.ID] = int32(len(t.idx))
			}
		}
	}
	t.samples = make([][]issuingSample, len(t.idx))
	return t
}

func (t *issuingTrack) index(id string) (int32, bool) {
	i, ok := t.idx[id]
	return i, ok
}

// note records what an issue class's customer action met. A certificate
// handed over (201) says the pharmacy could issue when it came. A ticket
// (202, whatever became of it later), a server error, a timeout or no
// answer, and a refusal because the account is suspended say it could not
// when the action began (a ticket) or ended. Overload (429, 503) says the
// portal shed load for a moment, not that the pharmacy is out; other
// refusals say nothing about it either.
func (t *issuingTrack) note(f loadgen.Final) {
	i, ok := t.idx[f.Tag]
	if !ok {
		return
	}
	var s issuingSample
	switch f.Outcome {
	case loadgen.OutcomeOK:
		if f.Code != http.StatusCreated && f.Code != http.StatusOK {
			return
		}
		s = issuingSample{at: f.Done, ok: true}
	case loadgen.OutcomeDeferred, loadgen.OutcomeTicketDone:
		s = issuingSample{at: f.Intended}
	case loadgen.OutcomeError, loadgen.OutcomeTimeout, loadgen.OutcomeTransport:
		s = issuingSample{at: f.Done}
	case loadgen.OutcomeRejected:
		if f.Code != http.StatusForbidden {
			return
		}
		s = issuingSample{at: f.Done}
	default:
		return
	}
	t.mu.Lock()
	t.samples[i] = append(t.samples[i], s)
	t.mu.Unlock()
}

// unableSpans are, per pharmacy, the spans in which it could not issue.
type unableSpans [][][2]time.Time

// unable turns the samples into spans: a run of failures with no success
// between them, from its first failure + grace to its last failure. Only
// a pharmacy seen failing both grace before and at or after a moment
// counts as unable then: one whose failures stopped is given the benefit
// of the doubt until its next action, however sparse its customers are.
func (t *issuingTrack) unable(grace time.Duration) unableSpans {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(unableSpans, len(t.samples))
	for i, ss := range t.samples {
		ss = append([]issuingSample(nil), ss...)
		sort.SliceStable(ss, func(a, b int) bool { return ss[a].at.Before(ss[b].at) })
		var first, last time.Time
		flush := func() {
			if !first.IsZero() && !last.Before(first.Add(grace)) {
				out[i] = append(out[i], [2]time.Time{first.Add(grace), last})
			}
			first, last = time.Time{}, time.Time{}
		}
		for _, s := range ss {
			if s.ok {
				flush()
				continue
			}
			if first.IsZero() {
				first = s.at
			}
			last = s.at
		}
		flush()
	}
	return out
}

// at reports whether pharmacy i could not issue at t.
func (u unableSpans) at(i int32, t time.Time) bool {
	spans := u[i]
	k := sort.Search(len(spans), func(k int) bool { return !spans[k][1].Before(t) }) // first span ending at or after t
	return k < len(spans) && !t.Before(spans[k][0])
}
