-- Schema 2: activation codes can be renewed, and failed logins are counted
-- instead of being written to the audit log one row each.

-- A renewed code (a resend, a repeated application) keeps the one before it
-- valid until its own expiry, so whoever asks for a new code cannot make the
-- owner's code useless. activation_sent_at is when the current code was made
-- (resends are spaced by the portal).
ALTER TABLE pharmacies ADD COLUMN prev_activation_code_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE pharmacies ADD COLUMN prev_activation_expires_at INTEGER;
ALTER TABLE pharmacies ADD COLUMN activation_sent_at INTEGER;

-- One row per subject (a pharmacy ID, or 'unknown' for client IDs that name
-- no account) and UTC day: how many logins failed and how many were refused
-- by throttling. Attackers choose client IDs freely, so they never become
-- subjects: the table grows with accounts and days, not with attempts.
CREATE TABLE login_failures (
	subject   TEXT NOT NULL,
	day       TEXT NOT NULL,
	failures  INTEGER NOT NULL DEFAULT 0,
	throttled INTEGER NOT NULL DEFAULT 0,
	first_at  INTEGER NOT NULL,
	last_at   INTEGER NOT NULL,
	PRIMARY KEY (subject, day)
) STRICT, WITHOUT ROWID;
