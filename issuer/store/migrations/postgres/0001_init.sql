-- Schema 1 of the issuer registry on PostgreSQL: the same tables, columns
-- and rules as migrations/sqlite/0001_init.sql. Times are BIGINT Unix
-- nanoseconds (UTC). No column holds a certificate holder's name or birth
-- date: payloads and HC1s exist only as sealed blobs (AES-256-GCM, the row
-- id as associated data).

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BYTEA NOT NULL
);

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
	register_verified     BOOLEAN NOT NULL DEFAULT false,
	documents_sha256      TEXT NOT NULL DEFAULT '',
	client_id             TEXT UNIQUE,
	secret_hash           TEXT NOT NULL DEFAULT '',
	password_hash         TEXT NOT NULL DEFAULT '',
	activation_code_hash  TEXT NOT NULL DEFAULT '',
	activation_expires_at BIGINT,
	activation_attempts   INTEGER NOT NULL DEFAULT 0,
	created_at            BIGINT NOT NULL,
	updated_at            BIGINT NOT NULL
);

CREATE TABLE certificates (
	uvci             TEXT PRIMARY KEY,
	pharmacy_id      TEXT NOT NULL REFERENCES pharmacies (id),
	type             TEXT NOT NULL CHECK (type IN ('v', 't', 'r')),
	kid              TEXT NOT NULL,
	signer           TEXT NOT NULL DEFAULT '',
	requested_at     BIGINT NOT NULL,
	issued_at        BIGINT NOT NULL,
	expires_at       BIGINT NOT NULL,
	hash_signature   BYTEA NOT NULL CHECK (octet_length(hash_signature) = 16),
	hash_uci         BYTEA NOT NULL CHECK (octet_length(hash_uci) = 16),
	hash_country_uci BYTEA NOT NULL CHECK (octet_length(hash_country_uci) = 16),
	sealed_hc1       BYTEA,
	status           TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
	revoked_at       BIGINT,
	revoke_reason    TEXT NOT NULL DEFAULT ''
);
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
	sealed_request  BYTEA,
	state           TEXT NOT NULL CHECK (state IN ('pending', 'signing', 'done', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	completed_at    BIGINT,
	error_code      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tickets_due ON tickets (next_attempt_at) WHERE state IN ('pending', 'signing');

-- One row per (pharmacy, Idempotency-Key): exactly one UVCI per key. The
-- store recognises a concurrent binding of the same key by the primary
-- key's name, idempotency_pkey.
CREATE TABLE idempotency (
	pharmacy_id  TEXT NOT NULL REFERENCES pharmacies (id),
	key          TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	uvci         TEXT NOT NULL UNIQUE,
	state        TEXT NOT NULL CHECK (state IN ('reserved', 'issued', 'deferred')),
	ticket_id    TEXT REFERENCES tickets (id),
	created_at   BIGINT NOT NULL,
	CONSTRAINT idempotency_pkey PRIMARY KEY (pharmacy_id, key)
);
CREATE INDEX idempotency_reserved ON idempotency (created_at) WHERE state = 'reserved';

-- detail is json (not jsonb): stored as written, checked to be JSON.
CREATE TABLE audit (
	id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at      BIGINT NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	detail  JSON NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_subject ON audit (subject);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit log is append-only';
END;
$$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

CREATE TABLE fraud_events (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	pharmacy_id TEXT NOT NULL REFERENCES pharmacies (id),
	at          BIGINT NOT NULL,
	kind        TEXT NOT NULL,
	detail      JSON NOT NULL DEFAULT '{}'
);
CREATE INDEX fraud_events_pharmacy ON fraud_events (pharmacy_id, id);
