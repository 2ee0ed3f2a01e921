import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  BookingSchema,
  type BookingStatus,
  LeaseSchema,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { busyTimeoutMs, openDatabase, schemaVersion, type SqliteDatabase } from "./database.js";
import type {
  BookingRecord,
  BookingRepository,
  IdempotencyRepository,
  InventoryRepository,
  LeaseRecord,
  LeaseRepository,
  MerchantBookingQuery,
  MerchantFeedRecord,
  OutboxDepth,
  OutboxEntry,
  OutboxEntryInput,
  PaymentRecord,
  PaymentRecordRepository,
  OutboxKind,
  OutboxRepository,
  OfferFeedRecord,
  ServiceFeedRecord,
  SlotFeedRecord,
  SlotQuery,
  SlotRecord,
  Store,
  UpsertOutcome,
  UserRepository,
} from "./repositories.js";

/** Opens the SQLite store at `path` (created and migrated as needed). */
export function openSqliteStore(path: string): Store {
  const db = openDatabase(path);
  const store: Store = {
    inventory: new SqliteInventoryRepository(db),
    bookings: new SqliteBookingRepository(db),
    idempotency: new SqliteIdempotencyRepository(db),
    leases: new SqliteLeaseRepository(db),
    users: new SqliteUserRepository(db),
    payments: new SqlitePaymentRecordRepository(db),
    outbox: new SqliteOutboxRepository(db),
    // IMMEDIATE takes the write lock up front, so a second process cannot
    // interleave between our read of a slot and our write to it.
    transaction: (work) => db.transaction(work).immediate(),
    async bulkTransaction(work) {
      db.exec("BEGIN IMMEDIATE");
      try {
        const result = await work();
        db.exec("COMMIT");
        return result;
      } catch (error) {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw error;
      }
    },
    readiness() {
      try {
        const version = db.pragma("user_version", { simple: true }) as number;
        if (version !== schemaVersion) return { ready: false, reason: `schema version ${version}, expected ${schemaVersion}` };
        // Taking the write lock proves the file is writable and not locked out;
        // nothing is written, and a probe never waits (a wait would block every request).
        db.pragma("busy_timeout = 0");
        db.exec("BEGIN IMMEDIATE; ROLLBACK");
        return { ready: true };
      } catch (error) {
        return { ready: false, reason: (error as Error).message };
      } finally {
        db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      }
    },
    backup: async (path) => {
      await db.backup(path);
    },
    close: () => db.close(),
  };
  return store;
}

const slotColumns = `slot_id, merchant_id, service_id, start_sec, duration_sec, staff_id, room_id,
  party_size, availability_tag, spots_total, confirmation_mode, duration_requirement,
  max(spots_total - spots_sold_elsewhere - spots_held, 0) AS spots_open`;

interface SlotRow {
  slot_id: number;
  merchant_id: string;
  service_id: string;
  start_sec: number;
  duration_sec: number;
  staff_id: string;
  room_id: string;
  party_size: number;
  availability_tag: string;
  spots_total: number;
  spots_open: number;
  confirmation_mode: number;
  duration_requirement: number;
}

function slotFromRow(row: SlotRow): SlotRecord {
  return {
    slotId: row.slot_id,
    merchantId: row.merchant_id,
    serviceId: row.service_id,
    startSec: row.start_sec,
    durationSec: row.duration_sec,
    staffId: row.staff_id,
    roomId: row.room_id,
    partySize: row.party_size,
    availabilityTag: row.availability_tag,
    spotsTotal: row.spots_total,
    spotsOpen: row.spots_open,
    confirmationMode: row.confirmation_mode,
    durationRequirement: row.duration_requirement,
  };
}

/** Maps `changes` of an upsert guarded by "only if something differs". */
function upsertOutcome(existedBefore: boolean, changes: number): UpsertOutcome {
  if (!existedBefore) return "inserted";
  return changes > 0 ? "updated" : "unchanged";
}

class SqliteInventoryRepository implements InventoryRepository {
  private readonly merchantExists;
  private readonly serviceExists;
  private readonly merchantUpsert;
  private readonly serviceUpsert;
  private readonly slotIdByKey;
  private readonly slotUpsert;
  private readonly offerExists;
  private readonly offerUpsert;
  private readonly offerForService;
  private readonly slotsFind;
  private readonly slotGet;
  private readonly spotTake;
  private readonly feedsStmt;
  private readonly serviceFeedsStmt;
  private readonly spotRelease;

  constructor(db: SqliteDatabase) {
    this.merchantExists = db.prepare("SELECT 1 FROM merchants WHERE merchant_id = ?").pluck();
    this.serviceExists = db.prepare("SELECT 1 FROM services WHERE merchant_id = ? AND service_id = ?").pluck();
    this.merchantUpsert = db.prepare(`
      INSERT INTO merchants (merchant_id, name, feed_json) VALUES (@merchantId, @name, @feedJson)
      ON CONFLICT (merchant_id) DO UPDATE SET name = excluded.name, feed_json = excluded.feed_json
      WHERE name IS NOT excluded.name OR feed_json IS NOT excluded.feed_json`);
    this.serviceUpsert = db.prepare(`
      INSERT INTO services (merchant_id, service_id, name, price_micros, currency_code, feed_json)
      VALUES (@merchantId, @serviceId, @name, @priceMicros, @currencyCode, @feedJson)
      ON CONFLICT (merchant_id, service_id) DO UPDATE SET
        name = excluded.name, price_micros = excluded.price_micros,
        currency_code = excluded.currency_code, feed_json = excluded.feed_json
      WHERE name IS NOT excluded.name OR price_micros IS NOT excluded.price_micros
        OR currency_code IS NOT excluded.currency_code OR feed_json IS NOT excluded.feed_json`);
    this.slotIdByKey = db
      .prepare(`SELECT slot_id FROM slots WHERE merchant_id = @merchantId AND service_id = @serviceId
        AND start_sec = @startSec AND duration_sec = @durationSec AND staff_id = @staffId
        AND room_id = @roomId AND party_size = @partySize`)
      .pluck();
    this.slotUpsert = db.prepare(`
      INSERT INTO slots (merchant_id, service_id, start_sec, duration_sec, staff_id, room_id, party_size,
        availability_tag, spots_total, spots_sold_elsewhere, confirmation_mode, duration_requirement, feed_json)
      VALUES (@merchantId, @serviceId, @startSec, @durationSec, @staffId, @roomId, @partySize,
        @availabilityTag, @spotsTotal, @spotsSoldElsewhere, @confirmationMode, @durationRequirement, @feedJson)
      ON CONFLICT (merchant_id, service_id, start_sec, duration_sec, staff_id, room_id, party_size)
      DO UPDATE SET availability_tag = excluded.availability_tag, spots_total = excluded.spots_total,
        spots_sold_elsewhere = excluded.spots_sold_elsewhere, confirmation_mode = excluded.confirmation_mode,
        duration_requirement = excluded.duration_requirement, feed_json = excluded.feed_json
      WHERE availability_tag IS NOT excluded.availability_tag OR spots_total IS NOT excluded.spots_total
        OR spots_sold_elsewhere IS NOT excluded.spots_sold_elsewhere
        OR confirmation_mode IS NOT excluded.confirmation_mode
        OR duration_requirement IS NOT excluded.duration_requirement OR feed_json IS NOT excluded.feed_json`);
    this.offerExists = db.prepare("SELECT 1 FROM offers WHERE merchant_id = ? AND offer_id = ?").pluck();
    this.offerUpsert = db.prepare(`
      INSERT INTO offers (merchant_id, offer_id, service_id, feed_json)
      VALUES (@merchantId, @offerId, @serviceId, @feedJson)
      ON CONFLICT (merchant_id, offer_id) DO UPDATE SET service_id = excluded.service_id, feed_json = excluded.feed_json
      WHERE service_id IS NOT excluded.service_id OR feed_json IS NOT excluded.feed_json`);
    this.offerForService = db
      .prepare("SELECT 1 FROM offers WHERE merchant_id = ? AND offer_id = ? AND (service_id = '' OR service_id = ?)")
      .pluck();
    this.slotsFind = db.prepare(`
      SELECT ${slotColumns} FROM slots
      WHERE merchant_id = @merchantId AND service_id = @serviceId AND start_sec = @startSec
        AND (@durationSec = 0 OR duration_sec = @durationSec)
        AND (@staffId = '' OR staff_id = @staffId)
        AND (@roomId = '' OR room_id = @roomId)
        AND (@partySize = 0 OR party_size = @partySize)
      ORDER BY spots_open > 0 DESC, slot_id
      LIMIT @limit`);
    this.slotGet = db.prepare(`SELECT ${slotColumns} FROM slots WHERE slot_id = ?`);
    this.feedsStmt = db.prepare(`
      SELECT m.feed_json AS merchantFeed, v.feed_json AS serviceFeed, s.feed_json AS slotFeed
      FROM slots s JOIN services v ON v.merchant_id = s.merchant_id AND v.service_id = s.service_id
      JOIN merchants m ON m.merchant_id = s.merchant_id WHERE s.slot_id = ?`);
    this.serviceFeedsStmt = db.prepare(`
      SELECT m.feed_json AS merchantFeed, v.feed_json AS serviceFeed
      FROM services v JOIN merchants m ON m.merchant_id = v.merchant_id WHERE v.merchant_id = ? AND v.service_id = ?`);
    this.spotTake = db.prepare(`UPDATE slots SET spots_held = spots_held + 1
      WHERE slot_id = ? AND spots_total - spots_sold_elsewhere - spots_held > 0`);
    this.spotRelease = db.prepare("UPDATE slots SET spots_held = spots_held - 1 WHERE slot_id = ? AND spots_held > 0");
  }

  upsertMerchant(merchant: MerchantFeedRecord): UpsertOutcome {
    const existed = this.merchantExists.get(merchant.merchantId) !== undefined;
    return upsertOutcome(existed, this.merchantUpsert.run(merchant).changes);
  }

  upsertService(service: ServiceFeedRecord): UpsertOutcome {
    const existed = this.serviceExists.get(service.merchantId, service.serviceId) !== undefined;
    return upsertOutcome(existed, this.serviceUpsert.run(service).changes);
  }

  upsertSlot(slot: SlotFeedRecord): UpsertOutcome {
    const key = {
      merchantId: slot.merchantId,
      serviceId: slot.serviceId,
      startSec: slot.startSec,
      durationSec: slot.durationSec,
      staffId: slot.staffId,
      roomId: slot.roomId,
      partySize: slot.partySize,
    };
    const existed = this.slotIdByKey.get(key) !== undefined;
    const changes = this.slotUpsert.run({
      ...key,
      availabilityTag: slot.availabilityTag,
      spotsTotal: slot.spotsTotal,
      spotsSoldElsewhere: slot.spotsTotal - slot.spotsOpen,
      confirmationMode: slot.confirmationMode,
      durationRequirement: slot.durationRequirement,
      feedJson: slot.feedJson,
    }).changes;
    return upsertOutcome(existed, changes);
  }

  upsertOffer(offer: OfferFeedRecord): UpsertOutcome {
    const existed = this.offerExists.get(offer.merchantId, offer.offerId) !== undefined;
    return upsertOutcome(existed, this.offerUpsert.run(offer).changes);
  }

  hasMerchant(merchantId: string): boolean {
    return this.merchantExists.get(merchantId) !== undefined;
  }

  hasService(merchantId: string, serviceId: string): boolean {
    return this.serviceExists.get(merchantId, serviceId) !== undefined;
  }

  hasOffer(merchantId: string, serviceId: string, offerId: string): boolean {
    return this.offerForService.get(merchantId, offerId, serviceId) !== undefined;
  }

  findSlots(query: SlotQuery, limit: number): SlotRecord[] {
    return (this.slotsFind.all({ ...query, limit }) as SlotRow[]).map(slotFromRow);
  }

  getSlot(slotId: number): SlotRecord | undefined {
    const row = this.slotGet.get(slotId) as SlotRow | undefined;
    return row && slotFromRow(row);
  }

  feedsOf(slotId: number): { merchantFeed: string; serviceFeed: string; slotFeed: string } {
    return this.feedsStmt.get(slotId) as { merchantFeed: string; serviceFeed: string; slotFeed: string };
  }

  serviceFeeds(merchantId: string, serviceId: string): { merchantFeed: string; serviceFeed: string } | undefined {
    return this.serviceFeedsStmt.get(merchantId, serviceId) as { merchantFeed: string; serviceFeed: string } | undefined;
  }

  takeSpot(slotId: number): boolean {
    return this.spotTake.run(slotId).changes === 1;
  }

  releaseSpot(slotId: number): void {
    this.spotRelease.run(slotId);
  }
}

interface BookingRow {
  booking_proto: Buffer;
  slot_id: number;
  holds_spot: number;
  created_at_sec: number;
  additional_request: string;
}

function bookingFromRow(row: BookingRow): BookingRecord {
  return {
    booking: fromBinary(BookingSchema, row.booking_proto),
    slotId: row.slot_id,
    holdsSpot: row.holds_spot === 1,
    createdAtSec: row.created_at_sec,
    additionalRequest: row.additional_request,
  };
}

function bookingColumns(record: BookingRecord, nowSec: number) {
  const { booking } = record;
  return {
    bookingId: booking.bookingId,
    slotId: record.slotId,
    userId: booking.userInformation?.userId ?? "",
    emailKey: (booking.userInformation?.email ?? "").toLowerCase(),
    status: booking.status,
    holdsSpot: record.holdsSpot ? 1 : 0,
    startSec: Number(booking.slot?.startSec ?? 0n),
    bookingProto: Buffer.from(toBinary(BookingSchema, booking)),
    createdAtSec: record.createdAtSec,
    additionalRequest: record.additionalRequest,
    nowSec,
  };
}

class SqliteBookingRepository implements BookingRepository {
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly getStmt;
  private readonly activeOnSlotStmt;
  private readonly listForUserStmt;
  private readonly listForMerchantStmt;
  private readonly decisionsDueStmt;
  private readonly hasUserStmt;

  constructor(db: SqliteDatabase) {
    const columns = "booking_proto, slot_id, holds_spot, created_at_sec, additional_request";
    this.insertStmt = db.prepare(`
      INSERT INTO bookings (booking_id, slot_id, user_id, email_key, status, holds_spot, start_sec,
        booking_proto, created_at_sec, updated_at_sec, additional_request)
      VALUES (@bookingId, @slotId, @userId, @emailKey, @status, @holdsSpot, @startSec,
        @bookingProto, @createdAtSec, @nowSec, @additionalRequest)`);
    this.updateStmt = db.prepare(`
      UPDATE bookings SET slot_id = @slotId, user_id = @userId, email_key = @emailKey, status = @status,
        holds_spot = @holdsSpot, start_sec = @startSec, booking_proto = @bookingProto, updated_at_sec = @nowSec
      WHERE booking_id = @bookingId`);
    this.getStmt = db.prepare(`SELECT ${columns} FROM bookings WHERE booking_id = ?`);
    this.activeOnSlotStmt = db.prepare(`SELECT ${columns} FROM bookings
      WHERE slot_id = ? AND holds_spot = 1 AND (email_key = ? OR user_id = ?) LIMIT 1`);
    this.listForUserStmt = db.prepare(`SELECT ${columns} FROM bookings
      WHERE user_id = ? AND start_sec >= ? ORDER BY start_sec, booking_id`);
    // The merchant is the booked slot's; paging is keyset on (start_sec, booking_id).
    this.listForMerchantStmt = db.prepare(`
      SELECT b.booking_proto, b.slot_id, b.holds_spot, b.created_at_sec, b.additional_request
      FROM bookings b JOIN slots s ON s.slot_id = b.slot_id
      WHERE s.merchant_id = @merchantId
        AND (@statusesJson = '[]' OR b.status IN (SELECT value FROM json_each(@statusesJson)))
        AND b.start_sec >= @startSecFrom
        AND (@startSecBefore IS NULL OR b.start_sec < @startSecBefore)
        AND (@afterStartSec IS NULL OR b.start_sec > @afterStartSec
             OR (b.start_sec = @afterStartSec AND b.booking_id > @afterBookingId))
      ORDER BY b.start_sec, b.booking_id
      LIMIT @limit`);
    this.decisionsDueStmt = db.prepare(`SELECT ${columns} FROM bookings
      WHERE status = @status AND min(created_at_sec + @decideWithinSec, start_sec) <= @nowSec
      ORDER BY created_at_sec LIMIT @limit`);
    this.hasUserStmt = db
      // Two plain `?`: better-sqlite3 rejects one value bound to a repeated `?1`.
      .prepare(`SELECT 1 FROM bookings WHERE user_id = ? UNION ALL SELECT 1 FROM users WHERE user_id = ? LIMIT 1`)
      .pluck();
  }

  insert(record: BookingRecord, nowSec: number): void {
    this.insertStmt.run(bookingColumns(record, nowSec));
  }

  update(record: BookingRecord, nowSec: number): void {
    this.updateStmt.run(bookingColumns(record, nowSec));
  }

  get(bookingId: string): BookingRecord | undefined {
    const row = this.getStmt.get(bookingId) as BookingRow | undefined;
    return row && bookingFromRow(row);
  }

  findActiveOnSlotForUser(slotId: number, email: string, userId: string): BookingRecord | undefined {
    const row = this.activeOnSlotStmt.get(slotId, email.toLowerCase(), userId) as BookingRow | undefined;
    return row && bookingFromRow(row);
  }

  listDecisionsDue(status: BookingStatus, nowSec: number, decideWithinSec: number, limit: number): BookingRecord[] {
    return (this.decisionsDueStmt.all({ status, nowSec, decideWithinSec, limit }) as BookingRow[]).map(bookingFromRow);
  }

  listForMerchant(query: MerchantBookingQuery): BookingRecord[] {
    const rows = this.listForMerchantStmt.all({
      merchantId: query.merchantId,
      statusesJson: JSON.stringify(query.statuses),
      startSecFrom: query.startSecFrom,
      startSecBefore: query.startSecBefore ?? null,
      afterStartSec: query.after?.startSec ?? null,
      afterBookingId: query.after?.bookingId ?? "",
      limit: query.limit,
    }) as BookingRow[];
    return rows.map(bookingFromRow);
  }

  listForUser(userId: string, fromSec: number): BookingRecord[] {
    return (this.listForUserStmt.all(userId, fromSec) as BookingRow[]).map(bookingFromRow);
  }

  hasUser(userId: string): boolean {
    return this.hasUserStmt.get(userId, userId) !== undefined;
  }
}

class SqliteIdempotencyRepository implements IdempotencyRepository {
  private readonly findStmt;
  private readonly recordStmt;

  constructor(db: SqliteDatabase) {
    this.findStmt = db.prepare("SELECT booking_id FROM idempotency_records WHERE idempotency_token = ?").pluck();
    this.recordStmt = db.prepare(
      "INSERT INTO idempotency_records (idempotency_token, booking_id, created_at_sec) VALUES (?, ?, ?)",
    );
  }

  findBookingId(token: string): string | undefined {
    return this.findStmt.get(token) as string | undefined;
  }

  record(token: string, bookingId: string, nowSec: number): void {
    this.recordStmt.run(token, bookingId, nowSec);
  }
}

interface LeaseRow {
  lease_proto: Buffer;
  slot_id: number;
  state: LeaseRecord["state"];
}

function leaseFromRow(row: LeaseRow): LeaseRecord {
  return { lease: fromBinary(LeaseSchema, row.lease_proto), slotId: row.slot_id, state: row.state };
}

class SqliteLeaseRepository implements LeaseRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly byUserReferenceStmt;
  private readonly setStateStmt;
  private readonly expiredStmt;
  private readonly earliestExpiryStmt;

  constructor(db: SqliteDatabase) {
    const columns = "lease_proto, slot_id, state";
    this.insertStmt = db.prepare(`
      INSERT INTO leases (lease_id, user_reference, slot_id, state, expires_at_sec, lease_proto, created_at_sec)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.getStmt = db.prepare(`SELECT ${columns} FROM leases WHERE lease_id = ?`);
    this.byUserReferenceStmt = db.prepare(`SELECT ${columns} FROM leases WHERE user_reference = ?`);
    this.setStateStmt = db.prepare("UPDATE leases SET state = ? WHERE lease_id = ?");
    this.expiredStmt = db.prepare(
      `SELECT ${columns} FROM leases WHERE state = 'held' AND expires_at_sec <= ? ORDER BY expires_at_sec`,
    );
    this.earliestExpiryStmt = db.prepare("SELECT min(expires_at_sec) FROM leases WHERE state = 'held'").pluck();
  }

  insert(record: LeaseRecord, nowSec: number): void {
    const { lease } = record;
    this.insertStmt.run(
      lease.leaseId,
      lease.userReference,
      record.slotId,
      record.state,
      Number(lease.leaseExpirationTimeSec),
      Buffer.from(toBinary(LeaseSchema, lease)),
      nowSec,
    );
  }

  get(leaseId: string): LeaseRecord | undefined {
    const row = this.getStmt.get(leaseId) as LeaseRow | undefined;
    return row && leaseFromRow(row);
  }

  findByUserReference(userReference: string): LeaseRecord | undefined {
    const row = this.byUserReferenceStmt.get(userReference) as LeaseRow | undefined;
    return row && leaseFromRow(row);
  }

  setState(leaseId: string, state: LeaseRecord["state"]): void {
    this.setStateStmt.run(state, leaseId);
  }

  listExpired(nowSec: number): LeaseRecord[] {
    return (this.expiredStmt.all(nowSec) as LeaseRow[]).map(leaseFromRow);
  }

  earliestHeldExpirySec(): number | undefined {
    return (this.earliestExpiryStmt.get() as number | null) ?? undefined;
  }
}

class SqliteUserRepository implements UserRepository {
  private readonly setStmt;
  private readonly getStmt;

  constructor(db: SqliteDatabase) {
    this.setStmt = db.prepare(`
      INSERT INTO users (user_id, receive_marketing, marketing_updated_at_sec) VALUES (?, ?, ?)
      ON CONFLICT (user_id) DO UPDATE SET receive_marketing = excluded.receive_marketing,
        marketing_updated_at_sec = excluded.marketing_updated_at_sec`);
    this.getStmt = db.prepare("SELECT receive_marketing FROM users WHERE user_id = ?").pluck();
  }

  setMarketingPreference(userId: string, receiveMarketing: boolean, nowSec: number): void {
    this.setStmt.run(userId, receiveMarketing ? 1 : 0, nowSec);
  }

  getMarketingPreference(userId: string): boolean | undefined {
    const value = this.getStmt.get(userId) as number | null | undefined;
    return value === undefined || value === null ? undefined : value === 1;
  }
}

interface OutboxRow {
  id: number;
  queue_key: string;
  kind: string;
  update_mask: string;
  payload_json: string;
  query_json: string;
  state: string;
  attempts: number;
  next_attempt_at_ms: number;
  last_status: number | null;
  last_error: string | null;
  created_at_sec: number;
  delivered_at_sec: number | null;
}

function outboxFromRow(row: OutboxRow): OutboxEntry {
  return {
    id: row.id,
    queueKey: row.queue_key,
    kind: row.kind as OutboxEntry["kind"],
    updateMask: row.update_mask,
    payloadJson: row.payload_json,
    queryJson: row.query_json,
    state: row.state as OutboxEntry["state"],
    attempts: row.attempts,
    nextAttemptAtMs: row.next_attempt_at_ms,
    lastStatus: row.last_status,
    lastError: row.last_error,
    createdAtSec: row.created_at_sec,
    deliveredAtSec: row.delivered_at_sec,
  };
}

/** The head of each queue: its oldest pending entry. */
const outboxHeads = `
  SELECT o.* FROM notification_outbox o
  JOIN (SELECT queue_key, min(id) AS id FROM notification_outbox WHERE state = 'pending' GROUP BY queue_key) h
    ON o.id = h.id`;

class SqliteOutboxRepository implements OutboxRepository {
  private readonly insertStmt;
  private readonly dueStmt;
  private readonly getStmt;
  private readonly unsentStmt;
  private readonly replacePayloadStmt;
  private readonly claimStmt;
  private readonly deliveredStmt;
  private readonly retryStmt;
  private readonly deadStmt;
  private readonly listDeadStmt;
  private readonly requeueStmt;
  private readonly depthStmt;
  private readonly earliestStmt;

  constructor(db: SqliteDatabase) {
    this.insertStmt = db.prepare(`
      INSERT INTO notification_outbox
        (queue_key, kind, update_mask, payload_json, query_json, state, attempts, next_attempt_at_ms, created_at_sec)
      VALUES (?, ?, ?, ?, ?, 'pending', 0, 0, ?)`);
    this.dueStmt = db.prepare(`${outboxHeads} WHERE o.next_attempt_at_ms <= ? ORDER BY o.next_attempt_at_ms, o.id LIMIT ?`);
    this.getStmt = db.prepare("SELECT * FROM notification_outbox WHERE id = ?");
    this.unsentStmt = db.prepare(`SELECT * FROM notification_outbox
      WHERE queue_key = ? AND kind = ? AND state = 'pending' AND attempts = 0 ORDER BY id DESC LIMIT 1`);
    this.replacePayloadStmt = db.prepare(
      "UPDATE notification_outbox SET payload_json = ? WHERE id = ? AND state = 'pending' AND attempts = 0",
    );
    this.claimStmt = db.prepare("UPDATE notification_outbox SET attempts = attempts + 1 WHERE id = ? AND state = 'pending'");
    this.deliveredStmt = db.prepare(`
      UPDATE notification_outbox SET state = 'delivered', last_status = ?,
        last_error = NULL, delivered_at_sec = ? WHERE id = ? AND state = 'pending'`);
    this.retryStmt = db.prepare(`
      UPDATE notification_outbox SET next_attempt_at_ms = ?, last_status = ?,
        last_error = ? WHERE id = ? AND state = 'pending'`);
    this.deadStmt = db.prepare(`
      UPDATE notification_outbox SET state = 'dead', last_status = ?,
        last_error = ? WHERE id = ? AND state = 'pending'`);
    this.listDeadStmt = db.prepare(
      "SELECT * FROM notification_outbox WHERE state = 'dead' AND id > ? ORDER BY id LIMIT ?",
    );
    this.requeueStmt = db.prepare(`
      UPDATE notification_outbox SET state = 'pending', next_attempt_at_ms = ? WHERE id = ? AND state = 'dead'`);
    this.depthStmt = db.prepare(
      `SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
         min(created_at_sec) FILTER (WHERE state = 'pending') AS oldest,
         count(*) FILTER (WHERE state = 'dead') AS dead
       FROM notification_outbox WHERE state IN ('pending', 'dead')`,
    );
    this.earliestStmt = db.prepare(`SELECT min(next_attempt_at_ms) FROM (${outboxHeads})`).pluck();
  }

  enqueue(entry: OutboxEntryInput, nowSec: number): number {
    const result = this.insertStmt.run(
      entry.queueKey,
      entry.kind,
      entry.updateMask,
      entry.payloadJson,
      entry.queryJson,
      nowSec,
    );
    return Number(result.lastInsertRowid);
  }

  nextDue(nowMs: number, limit: number): OutboxEntry[] {
    return (this.dueStmt.all(nowMs, limit) as OutboxRow[]).map(outboxFromRow);
  }

  get(id: number): OutboxEntry | undefined {
    const row = this.getStmt.get(id) as OutboxRow | undefined;
    return row && outboxFromRow(row);
  }

  findUnsent(queueKey: string, kind: OutboxKind): OutboxEntry | undefined {
    const row = this.unsentStmt.get(queueKey, kind) as OutboxRow | undefined;
    return row && outboxFromRow(row);
  }

  replacePayload(id: number, payloadJson: string): void {
    this.replacePayloadStmt.run(payloadJson, id);
  }

  claim(id: number): void {
    this.claimStmt.run(id);
  }

  markDelivered(id: number, nowSec: number, status: number): void {
    this.deliveredStmt.run(status, nowSec, id);
  }

  scheduleRetry(id: number, nextAttemptAtMs: number, status: number | null, error: string): void {
    this.retryStmt.run(nextAttemptAtMs, status, error, id);
  }

  markDead(id: number, status: number | null, responseBody: string): void {
    this.deadStmt.run(status, responseBody, id);
  }

  listDead(limit: number, afterId = 0): OutboxEntry[] {
    return (this.listDeadStmt.all(afterId, limit) as OutboxRow[]).map(outboxFromRow);
  }

  requeue(id: number, nowMs: number): boolean {
    return this.requeueStmt.run(nowMs, id).changes === 1;
  }

  depth(nowSec: number): OutboxDepth {
    const row = this.depthStmt.get() as { pending: number; oldest: number | null; dead: number };
    return {
      pending: row.pending,
      oldestPendingAgeSec: row.oldest === null ? 0 : Math.max(0, nowSec - row.oldest),
      dead: row.dead,
    };
  }

  earliestPendingAtMs(): number | undefined {
    return (this.earliestStmt.get() as number | null) ?? undefined;
  }
}

interface PaymentRecordRow {
  booking_id: string;
  merchant_id: string;
  operation: string;
  idempotency_key: string;
  state: PaymentRecord["state"];
  transaction_id: string | null;
  amount_micros: number | bigint | null;
  currency: string | null;
}

class SqlitePaymentRecordRepository implements PaymentRecordRepository {
  private readonly startStmt;
  private readonly completeStmt;
  private readonly forBookingStmt;
  private readonly orphansStmt;

  constructor(db: SqliteDatabase) {
    this.startStmt = db.prepare(`
      INSERT INTO booking_payments (booking_id, merchant_id, operation, idempotency_key, state, amount_micros, currency,
        created_at_sec, updated_at_sec)
      VALUES (@bookingId, @merchantId, @operation, @idempotencyKey, 'started', @amountMicros, @currency, @nowSec, @nowSec)
      ON CONFLICT (idempotency_key) DO NOTHING`);
    this.completeStmt = db.prepare(`
      UPDATE booking_payments SET state = 'done', transaction_id = ?, updated_at_sec = ? WHERE idempotency_key = ?`);
    this.forBookingStmt = db.prepare("SELECT * FROM booking_payments WHERE booking_id = ? ORDER BY id").safeIntegers(true);
    this.orphansStmt = db
      .prepare(`SELECT DISTINCT p.booking_id FROM booking_payments p LEFT JOIN bookings b ON b.booking_id = p.booking_id
        WHERE b.booking_id IS NULL OR b.status IN (SELECT value FROM json_each(?)) ORDER BY p.booking_id`)
      .pluck();
  }

  start(record: Omit<PaymentRecord, "state" | "transactionId">, nowSec: number): void {
    this.startStmt.run({ ...record, nowSec });
  }

  complete(idempotencyKey: string, transactionId: string, nowSec: number): void {
    this.completeStmt.run(transactionId, nowSec, idempotencyKey);
  }

  forBooking(bookingId: string): PaymentRecord[] {
    return (this.forBookingStmt.all(bookingId) as PaymentRecordRow[]).map((row) => ({
      bookingId: row.booking_id,
      merchantId: row.merchant_id,
      operation: row.operation,
      idempotencyKey: row.idempotency_key,
      state: row.state,
      transactionId: row.transaction_id,
      amountMicros: row.amount_micros === null ? null : BigInt(row.amount_micros),
      currency: row.currency,
    }));
  }

  bookingIdsToReconcile(statuses: BookingStatus[]): string[] {
    return this.orphansStmt.all(JSON.stringify(statuses)) as string[];
  }
}
