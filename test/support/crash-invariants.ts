import Database from "better-sqlite3";
import { readFileSync } from "node:fs";

/**
 * The invariants of the crash-storm test (test/crash/crash-storm.test.ts),
 * checked on the SQLite file itself, opened read-only, against the storm
 * client's log of acknowledged answers (test/crash/storm-client.js).
 */

/** One acknowledged answer, as test/crash/storm-client.js logs it. */
export interface Ack {
  seq: number;
  atMs: number;
  kind: "create" | "replay" | "cancel" | "confirm" | "decline" | "fail" | "merchant-cancel";
  /** Set for MerchantService decisions (they must have queued a notification). */
  merchant?: boolean;
  token: string;
  bookingId: string;
  /** The booking's status in the answer (for a merchant call: its new status). */
  status: string;
}

/** The acknowledged answers logged so far; a torn last line (no newline yet) was not acknowledged. */
export function readAcks(path: string): Ack[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const complete = text.slice(0, text.lastIndexOf("\n") + 1);
  return complete
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Ack);
}

/** BookingStatus numbers as stored in bookings.status. */
const statusNames: Record<number, string> = {
  0: "BOOKING_STATUS_UNSPECIFIED",
  1: "CONFIRMED",
  2: "PENDING_MERCHANT_CONFIRMATION",
  3: "CANCELED",
  4: "NO_SHOW",
  5: "NO_SHOW_PENALIZED",
  6: "FAILED",
  7: "DECLINED_BY_MERCHANT",
};

/** The statuses a booking may move to next (the lifecycle, without no-shows). */
const nextStatuses: Record<string, string[]> = {
  PENDING_MERCHANT_CONFIRMATION: ["CONFIRMED", "DECLINED_BY_MERCHANT", "FAILED", "CANCELED"],
  CONFIRMED: ["CANCELED"],
};

/** Whether `to` is `from` or can follow it through legal transitions. */
export function reachable(from: string, to: string): boolean {
  if (from === to) return true;
  return (nextStatuses[from] ?? []).some((next) => reachable(next, to));
}

/** Statuses the merchant sets (through MerchantService or auto-decline), each reported to Google. */
const merchantSetStatuses = new Set(["CONFIRMED", "DECLINED_BY_MERCHANT", "FAILED"]);

export interface InvariantReport {
  violations: string[];
  figures: {
    slots: number;
    bookingsInDb: number;
    bookingsChecked: number;
    tokensChecked: number;
    notificationsChecked: number;
    outboxBookingPatches: number;
    outboxPending: number;
    /** Bookings in the database no acknowledgement mentions (committed, answer lost to a kill). */
    unacknowledgedBookings: number;
    /** Acknowledged bookings whose status has legally moved on since the last acknowledgement. */
    movedOnSinceAck: number;
  };
}

interface SlotRow {
  slot_id: number;
  merchant_id: string;
  confirmation_mode: number;
  spots_total: number;
  spots_sold_elsewhere: number;
  spots_held: number;
  booked: number;
  leased: number;
}

interface OutboxRow {
  id: number;
  queue_key: string;
  state: string;
  payload_json: string;
}

/**
 * Checks, on a read-only connection (one consistent snapshot):
 *  - every acknowledged booking exists with its last acknowledged status or one
 *    that can legally follow it, and the acknowledged statuses of a booking
 *    follow each other legally;
 *  - every slot: spots_held = bookings holding a spot + held leases, open spots
 *    (total - sold elsewhere - held) >= 0; holds_spot agrees with the status;
 *  - no idempotency token has two bookings (in the database or the log), every
 *    booking has its token, every acknowledged token maps to the acknowledged booking;
 *  - every acknowledged merchant transition has its booking_patch in the outbox
 *    (pending or delivered), as does every merchant-set status in the database;
 *    nothing is dead.
 */
export function checkInvariants(dbPath: string, acks: Ack[]): InvariantReport {
  const violations: string[] = [];
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.transaction(() => check(db, acks, violations))();
  } finally {
    db.close();
  }
}

function check(db: Database.Database, acks: Ack[], violations: string[]): InvariantReport {
  const report = (message: string) => {
    if (violations.length < 50) violations.push(message);
  };

  // Slots and spots.
  const slots = db
    .prepare(
      `SELECT s.slot_id, s.merchant_id, s.confirmation_mode, s.spots_total, s.spots_sold_elsewhere, s.spots_held,
         (SELECT count(*) FROM bookings b WHERE b.slot_id = s.slot_id AND b.holds_spot = 1) AS booked,
         (SELECT count(*) FROM leases l WHERE l.slot_id = s.slot_id AND l.state = 'held') AS leased
       FROM slots s ORDER BY s.slot_id`,
    )
    .all() as SlotRow[];
  for (const slot of slots) {
    const open = slot.spots_total - slot.spots_sold_elsewhere - slot.spots_held;
    if (slot.spots_held !== slot.booked + slot.leased) {
      report(
        `slot ${slot.slot_id}: spots_held ${slot.spots_held} but ${slot.booked} booking(s) hold a spot and ${slot.leased} lease(s) are held ` +
          `(total ${slot.spots_total}, sold elsewhere ${slot.spots_sold_elsewhere})`,
      );
    }
    if (open < 0) report(`slot ${slot.slot_id}: ${open} open spots (total ${slot.spots_total}, sold elsewhere ${slot.spots_sold_elsewhere}, held ${slot.spots_held})`);
  }
  const slotById = new Map(slots.map((slot) => [slot.slot_id, slot]));

  // Bookings.
  const rows = db.prepare("SELECT booking_id, slot_id, status, holds_spot FROM bookings").all() as Array<{
    booking_id: string;
    slot_id: number;
    status: number;
    holds_spot: number;
  }>;
  const bookings = new Map(rows.map((row) => [row.booking_id, row]));
  for (const row of rows) {
    const status = statusNames[row.status] ?? String(row.status);
    const shouldHold = status === "CONFIRMED" || status === "PENDING_MERCHANT_CONFIRMATION";
    if (Boolean(row.holds_spot) !== shouldHold) {
      report(`booking ${row.booking_id}: status ${status} with holds_spot ${row.holds_spot}`);
    }
  }

  // Idempotency records.
  const records = db.prepare("SELECT idempotency_token, booking_id FROM idempotency_records").all() as Array<{
    idempotency_token: string;
    booking_id: string;
  }>;
  const bookingByToken = new Map<string, string>();
  const tokensByBooking = new Map<string, string[]>();
  for (const record of records) {
    bookingByToken.set(record.idempotency_token, record.booking_id);
    tokensByBooking.set(record.booking_id, [...(tokensByBooking.get(record.booking_id) ?? []), record.idempotency_token]);
    if (!bookings.has(record.booking_id)) report(`token ${record.idempotency_token} maps to missing booking ${record.booking_id}`);
  }
  for (const [bookingId, tokens] of tokensByBooking) {
    if (tokens.length > 1) report(`booking ${bookingId} has ${tokens.length} tokens: ${tokens.join(", ")}`);
  }
  for (const row of rows) {
    if (!tokensByBooking.has(row.booking_id)) report(`booking ${row.booking_id} has no idempotency record`);
  }

  // The log against the database.
  const ackedStatus = new Map<string, string>();
  const ackedBookingOfToken = new Map<string, string>();
  const merchantAcks: Ack[] = [];
  for (const ack of acks) {
    const earlier = ackedBookingOfToken.get(ack.token);
    if (earlier !== undefined && earlier !== ack.bookingId) {
      report(`token ${ack.token} acknowledged with two bookings: ${earlier} then ${ack.bookingId} (ack #${ack.seq})`);
    }
    if (earlier === undefined) ackedBookingOfToken.set(ack.token, ack.bookingId);
    const before = ackedStatus.get(ack.bookingId);
    if (before !== undefined && !reachable(before, ack.status)) {
      report(`booking ${ack.bookingId}: acknowledged ${before}, then ${ack.status} (ack #${ack.seq}, ${ack.kind})`);
    }
    ackedStatus.set(ack.bookingId, ack.status);
    if (ack.merchant) merchantAcks.push(ack);
  }
  let movedOn = 0;
  for (const [bookingId, expected] of ackedStatus) {
    const row = bookings.get(bookingId);
    if (!row) {
      report(`acknowledged booking ${bookingId} (last acknowledged ${expected}) is missing`);
      continue;
    }
    const actual = statusNames[row.status] ?? String(row.status);
    if (!reachable(expected, actual)) {
      report(`booking ${bookingId}: last acknowledged ${expected}, but the database has ${actual}`);
    } else if (actual !== expected) movedOn++;
  }
  for (const [token, bookingId] of ackedBookingOfToken) {
    const stored = bookingByToken.get(token);
    if (stored !== bookingId) report(`token ${token}: acknowledged booking ${bookingId}, the database maps it to ${stored ?? "nothing"}`);
  }

  // Notifications: none lost.
  const patches = db
    .prepare("SELECT id, queue_key, state, payload_json FROM notification_outbox WHERE kind = 'booking_patch' ORDER BY id")
    .all() as OutboxRow[];
  const patchesByBooking = new Map<string, Array<OutboxRow & { status: string }>>();
  for (const patch of patches) {
    const status = (JSON.parse(patch.payload_json) as { status?: string }).status ?? "";
    patchesByBooking.set(patch.queue_key, [...(patchesByBooking.get(patch.queue_key) ?? []), { ...patch, status }]);
    if (patch.state === "dead") report(`notification ${patch.id} (${patch.queue_key} ${status}) is dead`);
  }
  const hasPatch = (bookingId: string, status: string) =>
    (patchesByBooking.get(bookingId) ?? []).some((p) => p.status === status && (p.state === "pending" || p.state === "delivered"));
  for (const ack of merchantAcks) {
    if (!hasPatch(ack.bookingId, ack.status)) {
      report(`acknowledged ${ack.kind} of ${ack.bookingId} (${ack.status}) has no pending or delivered booking_patch`);
    }
  }
  // The change and its notification commit together: also for changes never acknowledged.
  for (const row of rows) {
    const status = statusNames[row.status] ?? String(row.status);
    const asynchronous = slotById.get(row.slot_id)?.confirmation_mode === 2;
    if (asynchronous && merchantSetStatuses.has(status) && !hasPatch(row.booking_id, status)) {
      report(`booking ${row.booking_id} is ${status} (set by the merchant) without its booking_patch`);
    }
  }

  const pending = db.prepare("SELECT count(*) AS n FROM notification_outbox WHERE state = 'pending'").get() as { n: number };
  return {
    violations,
    figures: {
      slots: slots.length,
      bookingsInDb: rows.length,
      bookingsChecked: ackedStatus.size,
      tokensChecked: ackedBookingOfToken.size,
      notificationsChecked: merchantAcks.length,
      outboxBookingPatches: patches.length,
      outboxPending: pending.n,
      unacknowledgedBookings: rows.filter((row) => !ackedStatus.has(row.booking_id)).length,
      movedOnSinceAck: movedOn,
    },
  };
}

/** The booking_patch rows (booking id, status, state) of the outbox, for comparing with what Google received. */
export function bookingPatches(dbPath: string): Array<{ bookingId: string; status: string; state: string }> {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (
      db.prepare("SELECT queue_key, state, payload_json FROM notification_outbox WHERE kind = 'booking_patch' ORDER BY id").all() as OutboxRow[]
    ).map((row) => ({
      bookingId: row.queue_key,
      status: (JSON.parse(row.payload_json) as { status?: string }).status ?? "",
      state: row.state,
    }));
  } finally {
    db.close();
  }
}
