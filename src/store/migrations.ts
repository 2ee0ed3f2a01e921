import type Database from "better-sqlite3";
import { hasBookingPaymentTerms } from "../payments/feed-terms.js";

/**
 * Versioned schema migrations, applied in order at start. A migration is never
 * edited once released: add a new one. `PRAGMA user_version` records how many
 * have been applied. Most are SQL; one that must apply a rule of the code to
 * existing rows is a function over the connection (run in the same
 * transaction).
 *
 * Times are Unix seconds (INTEGER); money is micros (INTEGER), never floats.
 */
export type Migration = string | ((db: Database.Database) => void);

export const migrations: readonly Migration[] = [
  /* 1: inventory, bookings, leases, idempotency, users */ `
  CREATE TABLE merchants (
    merchant_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    feed_json   TEXT NOT NULL
  ) STRICT;

  CREATE TABLE services (
    merchant_id   TEXT NOT NULL REFERENCES merchants (merchant_id),
    service_id    TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    price_micros  INTEGER,
    currency_code TEXT,
    feed_json     TEXT NOT NULL,
    PRIMARY KEY (merchant_id, service_id)
  ) STRICT;

  -- A slot is identified by merchant, service, start, duration and resources.
  -- spots_sold_elsewhere comes from the feed (spots_total - spots_open); spots_held
  -- counts what this server holds (active bookings and live leases). Re-importing a
  -- feed rewrites the first and never touches the second.
  CREATE TABLE slots (
    slot_id              INTEGER PRIMARY KEY,
    merchant_id          TEXT NOT NULL,
    service_id           TEXT NOT NULL,
    start_sec            INTEGER NOT NULL,
    duration_sec         INTEGER NOT NULL,
    staff_id             TEXT NOT NULL DEFAULT '',
    room_id              TEXT NOT NULL DEFAULT '',
    party_size           INTEGER NOT NULL DEFAULT 0,
    availability_tag     TEXT NOT NULL DEFAULT '',
    spots_total          INTEGER NOT NULL CHECK (spots_total >= 0),
    spots_sold_elsewhere INTEGER NOT NULL DEFAULT 0 CHECK (spots_sold_elsewhere >= 0),
    spots_held           INTEGER NOT NULL DEFAULT 0 CHECK (spots_held >= 0),
    confirmation_mode    INTEGER NOT NULL DEFAULT 0,
    duration_requirement INTEGER NOT NULL DEFAULT 0,
    feed_json            TEXT NOT NULL,
    UNIQUE (merchant_id, service_id, start_sec, duration_sec, staff_id, room_id, party_size),
    FOREIGN KEY (merchant_id, service_id) REFERENCES services (merchant_id, service_id)
  ) STRICT;

  CREATE TABLE offers (
    merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
    offer_id    TEXT NOT NULL,
    service_id  TEXT NOT NULL DEFAULT '',
    feed_json   TEXT NOT NULL,
    PRIMARY KEY (merchant_id, offer_id)
  ) STRICT;

  -- The booking as last answered (serialized ext.maps.booking.partner.v3.Booking),
  -- with the columns queries need.
  CREATE TABLE bookings (
    booking_id     TEXT PRIMARY KEY,
    slot_id        INTEGER NOT NULL REFERENCES slots (slot_id),
    user_id        TEXT NOT NULL,
    email_key      TEXT NOT NULL,
    status         INTEGER NOT NULL,
    holds_spot     INTEGER NOT NULL CHECK (holds_spot IN (0, 1)),
    start_sec      INTEGER NOT NULL,
    booking_proto  BLOB NOT NULL,
    created_at_sec INTEGER NOT NULL,
    updated_at_sec INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX bookings_by_user ON bookings (user_id, start_sec);
  CREATE INDEX bookings_by_slot ON bookings (slot_id, holds_spot);

  CREATE TABLE idempotency_records (
    idempotency_token TEXT PRIMARY KEY,
    booking_id        TEXT NOT NULL UNIQUE REFERENCES bookings (booking_id),
    created_at_sec    INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE leases (
    lease_id        TEXT PRIMARY KEY,
    user_reference  TEXT NOT NULL UNIQUE,
    slot_id         INTEGER NOT NULL REFERENCES slots (slot_id),
    state           TEXT NOT NULL CHECK (state IN ('held', 'consumed', 'expired')),
    expires_at_sec  INTEGER NOT NULL,
    lease_proto     BLOB NOT NULL,
    created_at_sec  INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX leases_held_by_expiry ON leases (expires_at_sec) WHERE state = 'held';

  CREATE TABLE users (
    user_id                   TEXT PRIMARY KEY,
    receive_marketing         INTEGER,
    marketing_updated_at_sec  INTEGER
  ) STRICT;
  `,
  /* 2: notification outbox (Booking Notification API PATCHes), written in the
        same transaction as the status change it reports; requests awaiting a
        merchant's decision, for auto-decline */ `
  CREATE INDEX bookings_by_status ON bookings (status, created_at_sec);

  CREATE TABLE notification_outbox (
    id                 INTEGER PRIMARY KEY,
    -- Entries of one queue are sent in order: a booking patch's queue is its
    -- booking id, an availability update's is its service.
    queue_key          TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('booking_patch', 'availability_replace')),
    update_mask        TEXT NOT NULL,
    payload_json       TEXT NOT NULL,
    query_json         TEXT NOT NULL,
    state              TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL DEFAULT 0,
    last_status        INTEGER,
    last_error         TEXT,
    created_at_sec     INTEGER NOT NULL,
    delivered_at_sec   INTEGER
  ) STRICT;
  -- The head of each queue: its oldest pending entry.
  CREATE INDEX notification_outbox_pending_by_queue
    ON notification_outbox (queue_key, id) WHERE state = 'pending';
  CREATE INDEX notification_outbox_dead ON notification_outbox (id) WHERE state = 'dead';
  `,
  /* 3: the user's special request, for the merchant's host panel */ `
  ALTER TABLE bookings ADD COLUMN additional_request TEXT NOT NULL DEFAULT '';
  `,
  /* 4: the payments ledger: one row per money movement (charge, stored card,
        fee, refund; hold/capture/void reserved), keyed by the caller's
        idempotency key so a retry finds the original row. Written by the
        sandbox processor; transaction_id is what the processor answered. */ `
  CREATE TABLE payment_ledger (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    processor       TEXT NOT NULL DEFAULT 'sandbox',
    booking_id      TEXT,
    merchant_id     TEXT NOT NULL,
    operation       TEXT NOT NULL CHECK (operation IN
                      ('charge', 'store_card', 'charge_stored', 'refund', 'hold', 'capture', 'void')),
    amount_micros   INTEGER CHECK (amount_micros IS NULL OR amount_micros > 0),
    currency        TEXT,
    amount_minor    INTEGER,
    transaction_id  TEXT NOT NULL UNIQUE,
    refers_to       TEXT REFERENCES payment_ledger (transaction_id),
    description     TEXT NOT NULL DEFAULT '',
    created_at_sec  INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX payment_ledger_by_booking ON payment_ledger (booking_id, id);
  CREATE INDEX payment_ledger_by_refers_to ON payment_ledger (refers_to) WHERE refers_to IS NOT NULL;
  `,
  /* 5: what each booking paid, whatever the processor: written before a
        processor call ('started') and after it ('done'), so a process that
        dies between a charge and its booking leaves a trace to reconcile.
        No foreign key: a paid booking's id is known before the booking exists. */ `
  CREATE TABLE booking_payments (
    id              INTEGER PRIMARY KEY,
    booking_id      TEXT NOT NULL,
    merchant_id     TEXT NOT NULL,
    operation       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('started', 'done')),
    transaction_id  TEXT,
    amount_micros   INTEGER,
    currency        TEXT,
    created_at_sec  INTEGER NOT NULL,
    updated_at_sec  INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX booking_payments_by_booking ON booking_payments (booking_id, id);
  `,
  /* 6: the start times an availability_replace entry covers, one row each
        (they were a JSON list in the payload, rewritten whole by every booking
        of the service while the entry waited) */ `
  CREATE TABLE availability_change_starts (
    outbox_id INTEGER NOT NULL REFERENCES notification_outbox (id),
    start_sec INTEGER NOT NULL,
    PRIMARY KEY (outbox_id, start_sec)
  ) STRICT, WITHOUT ROWID;
  INSERT OR IGNORE INTO availability_change_starts (outbox_id, start_sec)
    SELECT o.id, starts.value FROM notification_outbox o, json_each(o.payload_json, '$.startSecs') starts
    WHERE o.kind = 'availability_replace';
  `,
  /* 7: whether a feed record has a term that can take money or keep a card at
        booking (the fields src/payments/payment-policy.ts reads for that);
        CreateBooking skips reading the payment policy when neither the slot
        nor its service has one. Computed from feed_json when read. */ `
  ALTER TABLE services ADD COLUMN booking_payment_terms INTEGER GENERATED ALWAYS AS (
    json_type(feed_json, '$.prepayment_type') IS NOT NULL OR json_type(feed_json, '$.deposit') IS NOT NULL
    OR json_type(feed_json, '$.no_show_fee') IS NOT NULL OR json_type(feed_json, '$.require_credit_card') IS NOT NULL
  ) VIRTUAL;
  ALTER TABLE slots ADD COLUMN booking_payment_terms INTEGER GENERATED ALWAYS AS (
    json_type(feed_json, '$.deposit') IS NOT NULL OR json_type(feed_json, '$.no_show_fee') IS NOT NULL
    OR json_type(feed_json, '$.require_credit_card') IS NOT NULL
  ) VIRTUAL;
  `,
  /* 8: one row the readiness probe rewrites: a committed write is the only
        proof that the database takes writes (on a full disk or a file system
        remounted read-only, BEGIN IMMEDIATE still succeeds) */ `
  CREATE TABLE readiness_probe (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at_ms INTEGER NOT NULL
  ) STRICT;
  `,
  /* 9: facts the database enforces rather than the code checking before it
        writes (the same on every backend, src/store/repositories.ts): one
        booking per idempotency token (its primary key, since migration 1);
        one booking holding a spot of a slot per user, by user id and by
        email without case; a spot never taken past the slot's total (spots
        the feed sold elsewhere count; a feed that lowers the total later may
        leave a slot over it, which only stops new takes). And the merchant's
        decision deadline, stored when the request is made (one rule, in
        src/booking/context.ts), not computed again in SQL: requests already
        waiting get the default window, one day. (The requests awaiting a decision
        are found by bookings_by_status, migration 2: few rows, and no further
        index for every booking insert to maintain.) */ `
  CREATE UNIQUE INDEX bookings_one_holding_per_user_id ON bookings (slot_id, user_id) WHERE holds_spot = 1;
  CREATE UNIQUE INDEX bookings_one_holding_per_email ON bookings (slot_id, email_key) WHERE holds_spot = 1;
  CREATE TRIGGER slots_spots_within_total BEFORE UPDATE OF spots_held ON slots
    WHEN NEW.spots_held > OLD.spots_held AND NEW.spots_held + NEW.spots_sold_elsewhere > NEW.spots_total
  BEGIN
    SELECT RAISE(ABORT, 'spots_within_total: a spot would be taken past the slot''s total');
  END;
  ALTER TABLE bookings ADD COLUMN decide_by_sec INTEGER NOT NULL DEFAULT 0;
  UPDATE bookings SET decide_by_sec = min(created_at_sec + 86400, start_sec) WHERE status = 2;
  `,
  /* 10: whether a feed record has a term that can take money or keep a card
        at booking is decided by the code's one list of those fields
        (hasBookingPaymentTerms, src/payments/feed-terms.ts) when the record is
        written, instead of migration 7's generated columns, which named the
        fields again in SQL. Existing rows get the same answer from the same
        function. */ (db) => {
    for (const [table, feed] of [["services", "service"], ["slots", "availability"]] as const) {
      db.exec(`ALTER TABLE ${table} DROP COLUMN booking_payment_terms;
        ALTER TABLE ${table} ADD COLUMN booking_payment_terms INTEGER NOT NULL DEFAULT 0 CHECK (booking_payment_terms IN (0, 1))`);
      const mark = db.prepare(`UPDATE ${table} SET booking_payment_terms = 1 WHERE rowid = ?`);
      // A page at a time: a connection cannot write while it iterates a query.
      const page = db.prepare(`SELECT rowid, feed_json FROM ${table} WHERE rowid > ? AND feed_json <> '{}' ORDER BY rowid LIMIT 10000`).raw();
      for (let rows = page.all(0) as [number, string][]; rows.length > 0; rows = page.all(rows[rows.length - 1][0]) as [number, string][]) {
        for (const [rowid, feedJson] of rows) if (hasBookingPaymentTerms(feed, JSON.parse(feedJson) as object)) mark.run(rowid);
      }
    }
  },
  /* 11: the idempotency records are one b-tree keyed by the token (WITHOUT
        ROWID) instead of three (the rows, the token's index and a unique
        index on booking_id), which every booking wrote. Measured after
        migration 9 had added two indexes to every booking insert: in-process
        CreateBooking, 50 at a time, ~4,100 bookings/s with the three b-trees,
        ~4,900 with one. Nothing looks a record up by booking id; one booking
        per token stays the primary key. */ `
  CREATE TABLE idempotency_records_by_token (
    idempotency_token TEXT PRIMARY KEY,
    booking_id        TEXT NOT NULL REFERENCES bookings (booking_id),
    created_at_sec    INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  INSERT INTO idempotency_records_by_token (idempotency_token, booking_id, created_at_sec)
    SELECT idempotency_token, booking_id, created_at_sec FROM idempotency_records;
  DROP TABLE idempotency_records;
  ALTER TABLE idempotency_records_by_token RENAME TO idempotency_records;
  `,
  /* 12: the inventory API (src/inventory/adjust-spots.ts): a walk-in or a
        phone booking taken through AdjustSpots raises the spots sold
        elsewhere, and is never taken past the total, like a spot this
        server holds (migration 9). A restatement of the slot is not an
        adjustment and may leave it over its total, as a feed that lowers
        the total may: a feed record or ReplaceAvailability (both rewrite the
        stored record, whose spots_open changes with the spots sold
        elsewhere, or the total) and a close (every spot sold elsewhere:
        spots_open 0). Removing a slot looks for the leases that refer to it:
        leases_by_slot. */ `
  CREATE TRIGGER slots_sold_elsewhere_within_total BEFORE UPDATE OF spots_sold_elsewhere ON slots
    WHEN NEW.spots_sold_elsewhere > OLD.spots_sold_elsewhere
      AND NEW.spots_total = OLD.spots_total AND NEW.feed_json IS OLD.feed_json
      AND NEW.spots_sold_elsewhere < NEW.spots_total
      AND NEW.spots_sold_elsewhere + NEW.spots_held > NEW.spots_total
  BEGIN
    SELECT RAISE(ABORT, 'spots_within_total: spots would be sold elsewhere past the slot''s total');
  END;
  CREATE INDEX leases_by_slot ON leases (slot_id);
  `,
  /* 13: the outbox also takes real-time updates of Google's inventory for
        what a feed import adds or changes (merchant_update, service_update,
        src/notify/inventory-notification.ts). SQLite cannot widen a CHECK in
        place: the outbox and the table that refers to it are copied into new
        ones (the child first, so the old outbox is dropped with nothing
        referring to it; renaming the new outbox rewrites the child's
        reference). Ids and rows are kept as they are. */ `
  CREATE TABLE notification_outbox_new (
    id                 INTEGER PRIMARY KEY,
    queue_key          TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('booking_patch', 'availability_replace', 'merchant_update', 'service_update')),
    update_mask        TEXT NOT NULL,
    payload_json       TEXT NOT NULL,
    query_json         TEXT NOT NULL,
    state              TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL DEFAULT 0,
    last_status        INTEGER,
    last_error         TEXT,
    created_at_sec     INTEGER NOT NULL,
    delivered_at_sec   INTEGER
  ) STRICT;
  INSERT INTO notification_outbox_new SELECT * FROM notification_outbox;
  CREATE TABLE availability_change_starts_new (
    outbox_id INTEGER NOT NULL REFERENCES notification_outbox_new (id),
    start_sec INTEGER NOT NULL,
    PRIMARY KEY (outbox_id, start_sec)
  ) STRICT, WITHOUT ROWID;
  INSERT INTO availability_change_starts_new SELECT outbox_id, start_sec FROM availability_change_starts;
  DROP TABLE availability_change_starts;
  DROP TABLE notification_outbox;
  ALTER TABLE notification_outbox_new RENAME TO notification_outbox;
  ALTER TABLE availability_change_starts_new RENAME TO availability_change_starts;
  CREATE INDEX notification_outbox_pending_by_queue ON notification_outbox (queue_key, id) WHERE state = 'pending';
  CREATE INDEX notification_outbox_dead ON notification_outbox (id) WHERE state = 'dead';
  `,
  /* 14: one index fewer for every booking to write: the slot's index of its
        bookings (bookings_by_slot, migration 1) and migration 9's "one holding
        booking per user id and slot" become one unique index on (slot_id,
        user_id, holding), where `holding` is 1 while the booking holds a spot
        and NULL after (NULLs are distinct in a unique index, so released
        bookings never conflict). It still serves every lookup by slot (the
        merchant's list, the slots' foreign key, the held count). Each index
        leading with slot_id costs a booking on a random slot one more random
        page to read and write. */ `
  ALTER TABLE bookings ADD COLUMN holding INTEGER GENERATED ALWAYS AS (CASE WHEN holds_spot = 1 THEN 1 END) VIRTUAL;
  CREATE UNIQUE INDEX bookings_by_slot_one_holding_per_user_id ON bookings (slot_id, user_id, holding);
  DROP INDEX bookings_by_slot;
  DROP INDEX bookings_one_holding_per_user_id;
  `,
  /* 15: the notifier's claim of an entry it is sending (OutboxRepository.claim):
        until when it holds the entry; NULL when unclaimed. One process
        serves a SQLite file, so a claim here only outlives its process (a
        restart finds it and waits for it to expire); the column keeps both
        backends one contract (PostgreSQL migration 3). */ `
  ALTER TABLE notification_outbox ADD COLUMN claimed_until_ms INTEGER;
  `,
  /* 16: Google's cancellation of a booking under way (BookingRepository.
        claimCancellation): the money of a cancellation is moved outside any
        transaction, so a retry of it must wait for the first attempt, in
        whichever instance that runs (PostgreSQL migration 4). */ `
  CREATE TABLE cancellation_claims (
    booking_id       TEXT PRIMARY KEY REFERENCES bookings (booking_id),
    claimed_until_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];
