-- Schema 1 of the issuer registry. Times are INTEGER Unix nanoseconds (UTC).
-- No column holds a certificate holder's name or birth date: payloads and
-- HC1s exist only as sealed blobs (AES-256-GCM, the row id as associated data).

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;

-- Pharmacy names, addresses and e-mail are business data, not personal data
-- of certificate holders. Credential columns hold opaque hashes from the
-- auth package, never secrets.
CREATE TABLE pharmacies (
	id                    TEXT PRIMARY KEY,
	telematik_id          TEXT NOT NULL UNIQUE,
	register_id           TEXT NOT NULL DEFAULT '',
	status                TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended')),
	name                  TEXT NOT NULL DEFAULT '',
	street                TEXT NOT NULL DEFAULT '',
	postal_code           TEXT NOT NULL DEFAULT '',
	city                  TEXT NOT NULL DEFAULT '',
	email                 TEXT NOT NULL DEFAULT '',
	register_verified     INTEGER NOT NULL DEFAULT 0,
	documents_sha256      TEXT NOT NULL DEFAULT '',
	client_id             TEXT UNIQUE,
	secret_hash           TEXT NOT NULL DEFAULT '',
	password_hash         TEXT NOT NULL DEFAULT '',
	activation_code_hash  TEXT NOT NULL DEFAULT '',
	activation_expires_at INTEGER,
	activation_attempts   INTEGER NOT NULL DEFAULT 0,
	created_at            INTEGER NOT NULL,
	updated_at            INTEGER NOT NULL
) STRICT;

CREATE TABLE certificates (
	uvci             TEXT PRIMARY KEY,
	pharmacy_id      TEXT NOT NULL REFERENCES pharmacies (id),
	type             TEXT NOT NULL CHECK (type IN ('v', 't', 'r')),
	kid              TEXT NOT NULL,
	signer           TEXT NOT NULL DEFAULT '',
	requested_at     INTEGER NOT NULL,
	issued_at        INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	hash_signature   BLOB NOT NULL CHECK (length(hash_signature) = 16),
	hash_uci         BLOB NOT NULL CHECK (length(hash_uci) = 16),
	hash_country_uci BLOB NOT NULL CHECK (length(hash_country_uci) = 16),
	sealed_hc1       BLOB,
	status           TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
	revoked_at       INTEGER,
	revoke_reason    TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX certificates_pharmacy ON certificates (pharmacy_id, requested_at);
CREATE INDEX certificates_revoked ON certificates (expires_at) WHERE status = 'revoked';
CREATE INDEX certificates_sealed ON certificates (issued_at) WHERE sealed_hc1 IS NOT NULL;

-- Deferred issuance. While state = 'signing', next_attempt_at is the end of
-- the worker's lease: a crashed worker's ticket becomes due again then.
CREATE TABLE tickets (
	id              TEXT PRIMARY KEY,
	pharmacy_id     TEXT NOT NULL REFERENCES pharmacies (id),
	idem_key        TEXT NOT NULL DEFAULT '',
	uvci            TEXT NOT NULL UNIQUE,
	type            TEXT NOT NULL CHECK (type IN ('v', 't', 'r')),
	sealed_request  BLOB,
	state           TEXT NOT NULL CHECK (state IN ('pending', 'signing', 'done', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	completed_at    INTEGER,
	error_code      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX tickets_due ON tickets (next_attempt_at) WHERE state IN ('pending', 'signing');

-- One row per (pharmacy, Idempotency-Key): exactly one UVCI per key.
CREATE TABLE idempotency (
	pharmacy_id  TEXT NOT NULL REFERENCES pharmacies (id),
	key          TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	uvci         TEXT NOT NULL UNIQUE,
	state        TEXT NOT NULL CHECK (state IN ('reserved', 'issued', 'deferred')),
	ticket_id    TEXT REFERENCES tickets (id),
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (pharmacy_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_reserved ON idempotency (created_at) WHERE state = 'reserved';

CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	detail  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
) STRICT;
CREATE INDEX audit_subject ON audit (subject);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TABLE fraud_events (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	pharmacy_id TEXT NOT NULL REFERENCES pharmacies (id),
	at          INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	detail      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
) STRICT;
CREATE INDEX fraud_events_pharmacy ON fraud_events (pharmacy_id, id);
