-- Schema 4 on PostgreSQL (as migrations/sqlite/0004_...): the vaccination centres' mail-out (package mailout). A job and
-- its items are accepted in one write; each item has its UVCI from the
-- start, so a signature retried after a crash carries the same UVCI, and
-- an item is recorded issued at most once. Item keys are unique per
-- centre across jobs: a centre that sends an item again never gets a
-- second certificate. Requests and HC1s are sealed blobs, as for tickets
-- and certificates; a request is dropped once its item is finished.
CREATE TABLE mailout_jobs (
	id           TEXT PRIMARY KEY,
	centre       TEXT NOT NULL,
	idem_key     TEXT NOT NULL DEFAULT '',
	request_hash TEXT NOT NULL,
	total        INTEGER NOT NULL,
	created_at   BIGINT NOT NULL,
	finished_at  BIGINT
);
CREATE UNIQUE INDEX mailout_jobs_idem ON mailout_jobs (centre, idem_key) WHERE idem_key <> '';

-- While state = 'signing', next_attempt_at is the end of the worker's
-- lease: a crashed worker's items become due again then.
CREATE TABLE mailout_items (
	job_id          TEXT NOT NULL REFERENCES mailout_jobs (id),
	item_key        TEXT NOT NULL,
	centre          TEXT NOT NULL,
	seq             INTEGER NOT NULL,
	uvci            TEXT NOT NULL UNIQUE,
	type            TEXT NOT NULL CHECK (type IN ('v', 't', 'r')),
	state           TEXT NOT NULL CHECK (state IN ('pending', 'signing', 'issued', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL,
	sealed_request  BYTEA,
	sealed_hc1      BYTEA,
	kid             TEXT NOT NULL DEFAULT '',
	issued_at       BIGINT,
	expires_at      BIGINT,
	error_code      TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (job_id, item_key)
);
CREATE UNIQUE INDEX mailout_items_centre_key ON mailout_items (centre, item_key);
CREATE INDEX mailout_items_due ON mailout_items (next_attempt_at, job_id, seq) WHERE state IN ('pending', 'signing');
-- A centre's backlog, and whether a job has items left (checked as each
-- batch of outcomes is recorded), without a pass over finished items.
CREATE INDEX mailout_items_unfinished ON mailout_items (centre) WHERE state IN ('pending', 'signing');
CREATE INDEX mailout_items_job_unfinished ON mailout_items (job_id) WHERE state IN ('pending', 'signing');
