package rundir

import (
	"math"
	"slices"
	"time"
)

// BrowsersDir is the run directory's folder of browser screenshots
// (summary.json's browsers.screenshots name files in it).
const BrowsersDir = "browsers"

// Browsers is summary.json's "browsers": what the browser journeys (real
// headless Chromium sessions of simulated pharmacy staff, golive run
// --browsers N) met, over the run and per phase. A journey is one
// customer at the counter: the issuance form filled and sent, then the
// wait for the PDF. Times are wall milliseconds from pressing "issue".
type Browsers struct {
	// Instances is how many browsers ran (--browsers).
	Instances int `json:"instances"`
	// AnswerTimeoutMS is how long a browser waits for a page before it
	// gives up (the staff's patience, the issue class's client timeout).
	AnswerTimeoutMS float64 `json:"answer_timeout_ms"`
	// Error says why browsers did not run or stopped (e.g. Chromium did
	// not start); their journeys until then are counted.
	Error string `json:"error,omitempty"`
	BrowserCounts
	Phases []BrowserPhase `json:"phases"`
	// Screenshots are the pages kept: the first of each phase and outcome
	// (so a cut-off's banner and ticket, or its hang), and failed journeys.
	Screenshots []BrowserShot `json:"screenshots,omitempty"`
}

// BrowserCounts are the journeys of a run or a phase by how they ended,
// and their times.
type BrowserCounts struct {
	Journeys int64 `json:"journeys"`
	// PDF: the certificate's PDF was shown, directly or after the ticket
	// page turned into the certificate by itself.
	PDF int64 `json:"pdf"`
	// Ticket: the request was taken for later (the ticket page) and the
	// PDF did not come while the browser waited.
	Ticket int64 `json:"ticket"`
	// Busy: the form came back with an overload or signer error (the
	// busy page); Failed: any other page or error; Timeout: no page came
	// within the answer timeout.
	Busy    int64 `json:"busy"`
	Failed  int64 `json:"failed"`
	Timeout int64 `json:"timeout"`
	// Banner counts answers that showed the signer-cut-off banner.
	Banner int64 `json:"banner"`
	// SessionsLost: a post met an expired session (the sign-in page);
	// FormsLost: of those, the form was not filled again after signing in.
	SessionsLost int64 `json:"sessions_lost"`
	FormsLost    int64 `json:"forms_lost"`
	// TimeToPDF is from pressing "issue" to the PDF shown, over the
	// journeys that got one; TimeToAnswer to the first page that answered
	// the post (certificate, ticket, busy page...), over every journey
	// that got one.
	TimeToPDF    PercentilesMS `json:"time_to_pdf_ms"`
	TimeToAnswer PercentilesMS `json:"time_to_answer_ms"`
}

// PercentilesMS are percentiles in milliseconds over Count values; they
// are absent when Count is 0.
type PercentilesMS struct {
	Count int64    `json:"count"`
	P50   *float64 `json:"p50,omitempty"`
	P99   *float64 `json:"p99,omitempty"`
	Max   *float64 `json:"max,omitempty"`
}

// BrowserPhase is one scenario phase's journeys (those whose "issue" was
// pressed in it).
type BrowserPhase struct {
	Name string `json:"name"`
	BrowserCounts
}

// BrowserShot is one kept screenshot.
type BrowserShot struct {
	// File is relative to the run directory (browsers/....png).
	File  string `json:"file"`
	Phase string `json:"phase,omitempty"`
	// State says what it shows: the outcome (pdf, ticket, busy, ...) or
	// "hang" (the form still shown while the post has no answer).
	State string `json:"state"`
	// Page is the page's data-page name; Banner whether the cut-off
	// banner was on it.
	Page   string `json:"page,omitempty"`
	Banner bool   `json:"banner,omitempty"`
	// AfterMS is how long after pressing "issue" it was taken.
	AfterMS float64 `json:"after_ms"`
}

// Percentiles summarises durations (nearest rank).
func Percentiles(ds []time.Duration) PercentilesMS {
	p := PercentilesMS{Count: int64(len(ds))}
	if len(ds) == 0 {
		return p
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) *float64 {
		v := float64(NearestRank(s, q).Microseconds()) / 1000
		return &v
	}
	p.P50, p.P99, p.Max = at(0.50), at(0.99), at(1)
	return p
}

// NearestRank is the q-quantile (0 < q <= 1) of sorted, a non-empty
// ascending slice, by the nearest-rank method: a value that occurred, the
// ceil(q*n)-th smallest (time_to_cert_ms and the browsers' times alike).
func NearestRank(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
