-- Schema 3: refresh tokens live in the registry, so a portal restart (or
-- another portal of the same registry) honours them. Only the token's hash
-- is kept. family groups every token rotated from one login: a replayed
-- token revokes its family.
CREATE TABLE refresh_tokens (
	token_hash TEXT PRIMARY KEY,
	family     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	used       INTEGER NOT NULL DEFAULT 0,
	revoked    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
