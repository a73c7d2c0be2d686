-- Schema 2 on PostgreSQL (as migrations/sqlite/0002_...): activation codes
-- can be renewed, and failed logins are counted instead of being written to
-- the audit log one row each.

-- A renewed code (a resend, a repeated application) keeps the one before it
-- valid until its own expiry, so whoever asks for a new code cannot make the
-- owner's code useless. activation_sent_at is when the current code was made
-- (resends are spaced by the portal).
ALTER TABLE pharmacies ADD COLUMN prev_activation_code_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE pharmacies ADD COLUMN prev_activation_expires_at BIGINT;
ALTER TABLE pharmacies ADD COLUMN activation_sent_at BIGINT;

-- One row per subject (a pharmacy ID, or 'unknown' for client IDs that name
-- no account) and UTC day: how many logins failed and how many were refused
-- by throttling. Attackers choose client IDs freely, so they never become
-- subjects: the table grows with accounts and days, not with attempts.
CREATE TABLE login_failures (
	subject   TEXT NOT NULL,
	day       TEXT NOT NULL,
	failures  BIGINT NOT NULL DEFAULT 0,
	throttled BIGINT NOT NULL DEFAULT 0,
	first_at  BIGINT NOT NULL,
	last_at   BIGINT NOT NULL,
	PRIMARY KEY (subject, day)
);
