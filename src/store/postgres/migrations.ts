import type { PoolClient } from "pg";

/**
 * The PostgreSQL schema, as versioned migrations applied in order at open
 * (`applyMigrations`). A migration is never edited once released: add a new
 * one. `schema_migrations` records each version applied.
 *
 * It enforces the same facts as the SQLite schema (src/store/migrations.ts,
 * migration 9), under the same names where a name shows (the constraint
 * names are what src/store/postgres/store-errors.ts maps):
 *
 * - one booking per idempotency token: a unique index of
 *   `idempotency_records` (`idempotency_records_token_unique`, on the token after its hash: migration 2);
 * - one booking holding a spot of a slot per user, by user id and by email
 *   without case (`email_key` is the lower-cased address, `sameUserKeys`):
 *   the unique partial indexes `bookings_one_holding_per_user_id` and
 *   `bookings_one_holding_per_email`;
 * - spots never below zero: CHECK constraints; a spot never taken past the
 *   slot's total, by this server or by the merchant's other channels: the
 *   triggers `spots_within_total` and `spots_sold_elsewhere_within_total`
 *   (both reporting constraint `spots_within_total`). Not a CHECK, because a
 *   feed may lower the total below what is already held (the slot then only
 *   stops taking spots, as on SQLite), and a CHECK cannot tell a take from a
 *   restatement of the slot.
 *
 * The open-spots formula is written once, here: the generated column
 * `slots.spots_open` (PostgreSQL manual, 5.3 "Generated Columns"), which
 * every query reads and `takeSpot`'s conditional UPDATE tests.
 *
 * Times are Unix seconds (bigint), money micros (bigint); text keys that
 * queries order by use the "C" collation, so pages come in the same
 * byte order as on SQLite whatever the database's locale.
 *
 * Written for PostgreSQL 15 and later (identity and stored generated
 * columns exist since 10 and 12).
 */
export const migrations: readonly string[] = [
  /* 1: the whole schema of SQLite's migrations 1-13, as they stand */ `
  CREATE TABLE merchants (
    merchant_id TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    feed_json   TEXT NOT NULL
  );

  CREATE TABLE services (
    merchant_id           TEXT COLLATE "C" NOT NULL REFERENCES merchants (merchant_id),
    service_id            TEXT COLLATE "C" NOT NULL,
    name                  TEXT NOT NULL DEFAULT '',
    price_micros          BIGINT,
    currency_code         TEXT,
    feed_json             TEXT NOT NULL,
    booking_payment_terms BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (merchant_id, service_id)
  );

  -- spots_sold_elsewhere comes from the feed (spots_total - spots_open);
  -- spots_held counts what this server holds (active bookings, live leases).
  -- A feed rewrites the first and never touches the second.
  CREATE TABLE slots (
    slot_id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id           TEXT COLLATE "C" NOT NULL,
    service_id            TEXT COLLATE "C" NOT NULL,
    start_sec             BIGINT NOT NULL,
    duration_sec          BIGINT NOT NULL,
    staff_id              TEXT COLLATE "C" NOT NULL DEFAULT '',
    room_id               TEXT COLLATE "C" NOT NULL DEFAULT '',
    party_size            INTEGER NOT NULL DEFAULT 0,
    availability_tag      TEXT NOT NULL DEFAULT '',
    spots_total           INTEGER NOT NULL CONSTRAINT spots_total_not_negative CHECK (spots_total >= 0),
    spots_sold_elsewhere  INTEGER NOT NULL DEFAULT 0 CONSTRAINT spots_sold_elsewhere_not_negative CHECK (spots_sold_elsewhere >= 0),
    spots_held            INTEGER NOT NULL DEFAULT 0 CONSTRAINT spots_held_not_negative CHECK (spots_held >= 0),
    -- The one formula for a slot's open spots: never below zero (a feed may lower the total under what is held).
    spots_open            INTEGER GENERATED ALWAYS AS (GREATEST(spots_total - spots_sold_elsewhere - spots_held, 0)) STORED,
    confirmation_mode     INTEGER NOT NULL DEFAULT 0,
    duration_requirement  INTEGER NOT NULL DEFAULT 0,
    feed_json             TEXT NOT NULL,
    booking_payment_terms BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT slots_key UNIQUE (merchant_id, service_id, start_sec, duration_sec, staff_id, room_id, party_size),
    FOREIGN KEY (merchant_id, service_id) REFERENCES services (merchant_id, service_id)
  );

  CREATE FUNCTION slots_spots_within_total() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.spots_held > OLD.spots_held AND NEW.spots_held + NEW.spots_sold_elsewhere > NEW.spots_total THEN
      RAISE EXCEPTION 'spots_within_total: a spot would be taken past the slot''s total'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'spots_within_total', TABLE = 'slots';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER spots_within_total BEFORE UPDATE OF spots_held ON slots
    FOR EACH ROW EXECUTE FUNCTION slots_spots_within_total();

  -- Spots the merchant's other channels take (the inventory API's walk-ins) are never taken past the total
  -- either; a restatement of the slot (its total or its feed record rewritten, a close) may leave it over.
  CREATE FUNCTION slots_sold_elsewhere_within_total() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.spots_sold_elsewhere > OLD.spots_sold_elsewhere
      AND NEW.spots_total = OLD.spots_total AND NEW.feed_json IS NOT DISTINCT FROM OLD.feed_json
      AND NEW.spots_sold_elsewhere < NEW.spots_total
      AND NEW.spots_sold_elsewhere + NEW.spots_held > NEW.spots_total THEN
      RAISE EXCEPTION 'spots_within_total: spots would be sold elsewhere past the slot''s total'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'spots_within_total', TABLE = 'slots';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER spots_sold_elsewhere_within_total BEFORE UPDATE OF spots_sold_elsewhere ON slots
    FOR EACH ROW EXECUTE FUNCTION slots_sold_elsewhere_within_total();

  CREATE TABLE offers (
    merchant_id TEXT COLLATE "C" NOT NULL REFERENCES merchants (merchant_id),
    offer_id    TEXT COLLATE "C" NOT NULL,
    service_id  TEXT COLLATE "C" NOT NULL DEFAULT '',
    feed_json   TEXT NOT NULL,
    PRIMARY KEY (merchant_id, offer_id)
  );

  -- The booking as last answered (serialized ext.maps.booking.partner.v3.Booking),
  -- with the columns queries need.
  CREATE TABLE bookings (
    booking_id         TEXT COLLATE "C" PRIMARY KEY,
    slot_id            BIGINT NOT NULL REFERENCES slots (slot_id),
    user_id            TEXT COLLATE "C" NOT NULL,
    email_key          TEXT COLLATE "C" NOT NULL,
    status             INTEGER NOT NULL,
    holds_spot         BOOLEAN NOT NULL,
    start_sec          BIGINT NOT NULL,
    booking_proto      BYTEA NOT NULL,
    created_at_sec     BIGINT NOT NULL,
    updated_at_sec     BIGINT NOT NULL,
    additional_request TEXT NOT NULL DEFAULT '',
    decide_by_sec      BIGINT NOT NULL DEFAULT 0
  );
  CREATE INDEX bookings_by_user ON bookings (user_id, start_sec);
  CREATE INDEX bookings_by_slot ON bookings (slot_id, holds_spot);
  CREATE INDEX bookings_by_status ON bookings (status, created_at_sec);
  CREATE UNIQUE INDEX bookings_one_holding_per_user_id ON bookings (slot_id, user_id) WHERE holds_spot;
  CREATE UNIQUE INDEX bookings_one_holding_per_email ON bookings (slot_id, email_key) WHERE holds_spot;

  CREATE TABLE idempotency_records (
    idempotency_token TEXT COLLATE "C" PRIMARY KEY,
    booking_id        TEXT COLLATE "C" NOT NULL REFERENCES bookings (booking_id),
    created_at_sec    BIGINT NOT NULL
  );

  CREATE TABLE leases (
    lease_id       TEXT COLLATE "C" PRIMARY KEY,
    user_reference TEXT COLLATE "C" NOT NULL UNIQUE,
    slot_id        BIGINT NOT NULL REFERENCES slots (slot_id),
    state          TEXT NOT NULL CHECK (state IN ('held', 'consumed', 'expired')),
    expires_at_sec BIGINT NOT NULL,
    lease_proto    BYTEA NOT NULL,
    created_at_sec BIGINT NOT NULL
  );
  CREATE INDEX leases_held_by_expiry ON leases (expires_at_sec) WHERE state = 'held';
  CREATE INDEX leases_by_slot ON leases (slot_id);

  CREATE TABLE users (
    user_id                  TEXT COLLATE "C" PRIMARY KEY,
    receive_marketing        BOOLEAN,
    marketing_updated_at_sec BIGINT
  );

  -- Entries of one queue are sent in order: a booking patch's queue is its
  -- booking id, an availability update's is its service, an inventory
  -- update's its merchant.
  CREATE TABLE notification_outbox (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue_key          TEXT COLLATE "C" NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('booking_patch', 'availability_replace', 'merchant_update', 'service_update')),
    update_mask        TEXT NOT NULL,
    payload_json       TEXT NOT NULL,
    query_json         TEXT NOT NULL,
    state              TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL DEFAULT 0,
    last_status        INTEGER,
    last_error         TEXT,
    created_at_sec     BIGINT NOT NULL,
    delivered_at_sec   BIGINT
  );
  CREATE INDEX notification_outbox_pending_by_queue ON notification_outbox (queue_key, id) WHERE state = 'pending';
  CREATE INDEX notification_outbox_dead ON notification_outbox (id) WHERE state = 'dead';

  CREATE TABLE availability_change_starts (
    outbox_id BIGINT NOT NULL REFERENCES notification_outbox (id),
    start_sec BIGINT NOT NULL,
    PRIMARY KEY (outbox_id, start_sec)
  );

  -- The sandbox processor's ledger: one row per money movement, keyed by the caller's idempotency key.
  CREATE TABLE payment_ledger (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    processor       TEXT NOT NULL DEFAULT 'sandbox',
    booking_id      TEXT COLLATE "C",
    merchant_id     TEXT NOT NULL,
    operation       TEXT NOT NULL CHECK (operation IN
                      ('charge', 'store_card', 'charge_stored', 'refund', 'hold', 'capture', 'void')),
    amount_micros   BIGINT CHECK (amount_micros IS NULL OR amount_micros > 0),
    currency        TEXT,
    amount_minor    BIGINT,
    transaction_id  TEXT NOT NULL UNIQUE,
    refers_to       TEXT REFERENCES payment_ledger (transaction_id),
    description     TEXT NOT NULL DEFAULT '',
    created_at_sec  BIGINT NOT NULL
  );
  CREATE INDEX payment_ledger_by_booking ON payment_ledger (booking_id, id);
  CREATE INDEX payment_ledger_by_refers_to ON payment_ledger (refers_to) WHERE refers_to IS NOT NULL;

  -- What each booking paid, whatever the processor (no foreign key: a paid
  -- booking's id is known before the booking exists).
  CREATE TABLE booking_payments (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id      TEXT COLLATE "C" NOT NULL,
    merchant_id     TEXT NOT NULL,
    operation       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('started', 'done')),
    transaction_id  TEXT,
    amount_micros   BIGINT,
    currency        TEXT,
    created_at_sec  BIGINT NOT NULL,
    updated_at_sec  BIGINT NOT NULL
  );
  CREATE INDEX booking_payments_by_booking ON booking_payments (booking_id, id);

  -- One row the readiness probe rewrites: a committed write is the proof that the database takes writes.
  CREATE TABLE readiness_probe (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at_ms BIGINT NOT NULL
  );

  -- Which database this is, made once: a standby or a restored copy keeps it, another database has its own
  -- (readiness tells when the address now leads to another database).
  CREATE TABLE store_identity (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    store_id TEXT NOT NULL DEFAULT gen_random_uuid()::text
  );
  INSERT INTO store_identity (id) VALUES (1);
  `,

  // 2. The idempotency token's uniqueness and look-up by a hash of the token first. A SERIALIZABLE unit that
  // looks a token up (absent, as for every new booking) holds a predicate lock on the index leaf page where the
  // token would be (manual 13.2.3: "predicate locks ... on index pages"); tokens made in sequence (a counter, a
  // timestamp) all fall into the same rightmost page of an index on the token itself, so every concurrent
  // CreateBooking wrote where every other one had read and most were refused and re-run. Led by the hash, the
  // tokens spread over the leaf pages whatever their shape. Unique on (hash, token) is unique on the token.
  `
  ALTER TABLE idempotency_records ADD COLUMN token_hash INTEGER NOT NULL GENERATED ALWAYS AS (hashtext(idempotency_token)) STORED;
  ALTER TABLE idempotency_records DROP CONSTRAINT idempotency_records_pkey;
  CREATE UNIQUE INDEX idempotency_records_token_unique ON idempotency_records (token_hash, idempotency_token);
  `,

  // 3. The outbox drained by every instance: until when an instance's claim holds an entry it is sending
  // (OutboxRepository.claim), NULL when unclaimed. A claim commits before the request goes out, so an instance
  // lost mid-delivery leaves it to expire, and another instance then claims the entry again.
  `
  ALTER TABLE notification_outbox ADD COLUMN claimed_until_ms BIGINT;
  `,

  // 4. Google's cancellation of a booking under way (BookingRepository.claimCancellation): its money is moved
  // outside any transaction, so a retry of it, on whichever instance, waits for the first attempt.
  `
  CREATE TABLE cancellation_claims (
    booking_id       TEXT COLLATE "C" PRIMARY KEY REFERENCES bookings (booking_id),
    claimed_until_ms BIGINT NOT NULL
  );
  `,
];

/** The schema version this code expects (the number of migrations). */
export const schemaVersion = migrations.length;

/**
 * Any 64-bit number, the same in every instance: the advisory lock the
 * migrations are applied under (advisory locks are scoped to the database,
 * PostgreSQL manual 13.3.5 "Advisory Locks").
 */
const migrationLockKey = 0x626f6f6b696e67n; // "booking"

/**
 * Applies the pending migrations in one transaction, under a transaction-level
 * advisory lock taken before anything is read: instances starting together
 * queue on the lock, the first applies the migrations, the others then find
 * them applied. DDL is transactional in PostgreSQL, so a migration that fails
 * leaves nothing of itself. Refuses a database migrated by newer code.
 */
export async function applyMigrations(client: PoolClient): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1)", [migrationLockKey.toString()]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`);
    const applied = await appliedVersion(client);
    if (applied > migrations.length) {
      throw new Error(`database schema version ${applied} is newer than this server (${migrations.length}); refusing to start`);
    }
    for (let version = applied; version < migrations.length; version++) {
      await client.query(migrations[version]);
      await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [version + 1]);
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** The highest migration applied (0 for a database without the table's rows). */
export async function appliedVersion(client: Pick<PoolClient, "query">): Promise<number> {
  const { rows } = await client.query<{ version: number | null }>("SELECT max(version) AS version FROM schema_migrations");
  return rows[0].version ?? 0;
}
