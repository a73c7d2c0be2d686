// Package mailoutapi is the contract of the vaccination centres' mail-out
// (package issuer/mailout): the batch API's routes, request and response
// bodies, problem codes, credentials and the settings with the profile
// presets. It imports no implementation, so the centres' traffic class,
// the benchmark and the reports speak to the mail-out without linking
// the registry.
//
// Errors are problem+json (package problem) with a stable code and the
// field at fault ("items[3].key", "items[7].payload.v[0].dn").
package mailoutapi

import (
	"encoding/json"
	"net/url"
	"time"
)

// Routes. Every one needs a centre's credential (Authorization: Bearer
// <centre token>); pharmacy and admin credentials are refused.
const (
	// PathJobs: POST a job (JobRequest) -> 202 Job, or 200 Job when the
	// same Idempotency-Key and body were sent before.
	PathJobs = "/v1/mailout/jobs"
	// PathJob: GET /v1/mailout/jobs/{id} -> Job.
	PathJob = "/v1/mailout/jobs/{id}"
	// PathItems: GET /v1/mailout/jobs/{id}/items?after=<key>&limit=<n>
	// -> ItemPage, in item key order.
	PathItems = "/v1/mailout/jobs/{id}/items"
)

// JobLink and ItemsLink are the paths of one job.
func JobLink(id string) string   { return PathJobs + "/" + url.PathEscape(id) }
func ItemsLink(id string) string { return JobLink(id) + "/items" }

// Query parameters of PathItems.
const (
	ParamAfter = "after" // the last item key of the previous page
	ParamLimit = "limit" // 1 to MaxPageLimit, default DefaultPageLimit
)

// Page bounds.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
	MaxQueryBytes    = 512
)

// IdempotencyHeader makes a job submission repeatable: the same key and
// body give the same job (200), the same key with another body 422.
const IdempotencyHeader = "Idempotency-Key"

// MaxItemKeyLen bounds an item key; keys are [A-Za-z0-9._:-].
const MaxItemKeyLen = 64

// JobRequest is a centre's batch: one certificate per item.
type JobRequest struct {
	Items []Item `json:"items"`
}

// Item is one certificate to issue. Key is the centre's own identifier of
// the item (its letter, its row): unique within the centre, across jobs,
// so a retried item never makes a second certificate. Payload is a DCC
// payload as the portal's POST /v1/certificates takes it (ci left empty:
// the issuer assigns the UVCI).
type Item struct {
	Key     string          `json:"key"`
	Payload json.RawMessage `json:"payload"`
}

// JobState is where a job stands.
type JobState string

const (
	// JobQueued: accepted, items wait for spare signing capacity.
	JobQueued JobState = "queued"
	// JobRunning: some items are done, others wait.
	JobRunning JobState = "running"
	// JobDone: every item is issued or failed.
	JobDone JobState = "done"
)

// Job is a job's status.
type Job struct {
	ID        string    `json:"id"`
	Centre    string    `json:"centre"`
	State     JobState  `json:"state"`
	Total     int       `json:"total"`
	Pending   int       `json:"pending"`
	Issued    int       `json:"issued"`
	Failed    int       `json:"failed"`
	CreatedAt time.Time `json:"created_at"`
	// FinishedAt is set once the job is done.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Links      JobLinks   `json:"links"`
}

// JobLinks are a job's routes.
type JobLinks struct {
	Self  string `json:"self"`
	Items string `json:"items"`
}

// ItemState is where an item stands.
type ItemState string

const (
	ItemPending ItemState = "pending"
	ItemIssued  ItemState = "issued"
	ItemFailed  ItemState = "failed"
)

// ItemResult is one item of a job: its UVCI (assigned when the job was
// accepted, so a retried signature carries the same one), and once
// issued its HC1 for the letter; a failed item says why (Error, e.g.
// "rejected_by_signer:invalid_payload").
type ItemResult struct {
	Key   string    `json:"key"`
	State ItemState `json:"state"`
	UVCI  string    `json:"uvci"`
	HC1   string    `json:"hc1,omitempty"`
	Error string    `json:"error,omitempty"`
}

// ItemPage is a page of a job's items; Next is the after= of the next
// page, empty on the last.
type ItemPage struct {
	Items []ItemResult `json:"items"`
	Next  string       `json:"next,omitempty"`
}

// Problem codes the mail-out answers with (besides the shared ones of
// package problem: invalid_json, unsupported_media_type, body_too_large,
// overloaded, queue_timeout, ...).
const (
	CodeMissingCredential = "missing_credential" // 401: no Authorization: Bearer
	CodeInvalidCredential = "invalid_credential" // 401: not a centre's token (pharmacy and admin tokens included)
	CodeRequired          = "required"           // 400: items empty, a key or payload missing
	CodeTooManyItems      = "too_many_items"     // 413: more items than MaxItems
	CodeInvalidItemKey    = "invalid_item_key"   // 400: key too long or outside [A-Za-z0-9._:-]
	CodeDuplicateItemKey  = "duplicate_item_key" // 400: a key twice in one job
	CodeItemKeyExists     = "item_key_exists"    // 409: a key of an earlier job of this centre
	CodeInvalidItems      = "invalid_items"      // 422: payloads that fail validation (errors lists them)
	CodeIdempotencyReused = "idempotency_key_reused"
	CodeInvalidIdemKey    = "invalid_idempotency_key"
	CodeBacklogFull       = "backlog_full"  // 503: the centre's unfinished items would exceed MaxPendingItems
	CodeJobNotFound       = "job_not_found" // 404: unknown id, or another centre's job
	CodeRegistryFailure   = "registry_unavailable"
)
