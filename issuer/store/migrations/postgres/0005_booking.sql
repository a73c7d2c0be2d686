-- Schema 5 on PostgreSQL (as migrations/sqlite/0005_...): the pharmacies' appointment booking (package booking). Slots
-- are a pharmacy's appointment times with a capacity; a booking holds one
-- place of a slot until it is cancelled. Times are Unix nanoseconds on
-- the business clock. The contact handle is sealed like payloads and
-- never read back by any route; the idempotency key makes a citizen's
-- retried booking the same booking.
CREATE TABLE booking_settings (
	pharmacy_id TEXT PRIMARY KEY,
	channel     TEXT NOT NULL CHECK (channel IN ('none', 'email', 'sms')),
	updated_at  BIGINT NOT NULL
);

CREATE TABLE booking_slots (
	pharmacy_id TEXT NOT NULL,
	starts_at   BIGINT NOT NULL,
	capacity    INTEGER NOT NULL CHECK (capacity >= 0),
	booked      INTEGER NOT NULL DEFAULT 0 CHECK (booked >= 0),
	PRIMARY KEY (pharmacy_id, starts_at)
);

CREATE TABLE bookings (
	ref            TEXT PRIMARY KEY,
	pharmacy_id    TEXT NOT NULL,
	starts_at      BIGINT NOT NULL,
	idem_key       TEXT NOT NULL,
	request_hash   TEXT NOT NULL,
	sealed_contact BYTEA,
	state          TEXT NOT NULL CHECK (state IN ('booked', 'cancelled', 'visited')),
	created_at     BIGINT NOT NULL,
	cancelled_at   BIGINT,
	cancelled_by   TEXT NOT NULL DEFAULT '',
	notice_channel TEXT NOT NULL DEFAULT '',
	notice_sent_at BIGINT,
	reached_at     BIGINT,
	visit_outcome  TEXT NOT NULL DEFAULT '',
	visited_at     BIGINT
);
CREATE UNIQUE INDEX bookings_idem ON bookings (idem_key);
CREATE INDEX bookings_pharmacy_start ON bookings (pharmacy_id, starts_at);
CREATE INDEX bookings_booked_start ON bookings (starts_at) WHERE state = 'booked';
