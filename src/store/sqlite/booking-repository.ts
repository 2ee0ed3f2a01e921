import { toBinary } from "@bufbuild/protobuf";
import {
  BookingSchema,
  type BookingStatus,
} from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { SqliteDatabase } from "../database.js";
import {
  sameUserKeys,
  type BookingRecord,
  type BookingRepository,
  type MerchantBookingQuery,
  type UserIdentity,
} from "../repositories.js";
import type { Synchronous } from "./async-repositories.js";
import { bookingFromRow, type BookingRow } from "../rows.js";

function bookingColumns(record: BookingRecord, nowSec: number) {
  const { booking } = record;
  return {
    bookingId: booking.bookingId,
    slotId: record.slotId,
    ...sameUserKeys(booking.userInformation),
    status: booking.status,
    holdsSpot: record.holdsSpot ? 1 : 0,
    startSec: Number(booking.slot?.startSec ?? 0n),
    bookingProto: Buffer.from(toBinary(BookingSchema, booking)),
    createdAtSec: record.createdAtSec,
    additionalRequest: record.additionalRequest,
    decideBySec: record.decideBySec,
    nowSec,
  };
}

export class SqliteBookingRepository implements Synchronous<BookingRepository> {
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly getStmt;
  private readonly activeOnSlotStmt;
  private readonly listForUserStmt;
  private readonly listForMerchantStmt;
  private readonly decisionsDueStmt;
  private readonly hasUserStmt;
  private readonly claimCancellationStmt;
  private readonly releaseCancellationStmt;

  constructor(db: SqliteDatabase) {
    const columns = "booking_proto, slot_id, holds_spot, created_at_sec, additional_request, decide_by_sec";
    this.insertStmt = db.prepare(`
      INSERT INTO bookings (booking_id, slot_id, user_id, email_key, status, holds_spot, start_sec,
        booking_proto, created_at_sec, updated_at_sec, additional_request, decide_by_sec)
      VALUES (@bookingId, @slotId, @userId, @emailKey, @status, @holdsSpot, @startSec,
        @bookingProto, @createdAtSec, @nowSec, @additionalRequest, @decideBySec)`);
    this.updateStmt = db.prepare(`
      UPDATE bookings SET slot_id = @slotId, user_id = @userId, email_key = @emailKey, status = @status,
        holds_spot = @holdsSpot, start_sec = @startSec, booking_proto = @bookingProto, updated_at_sec = @nowSec,
        decide_by_sec = @decideBySec
      WHERE booking_id = @bookingId`);
    this.getStmt = db.prepare(`SELECT ${columns} FROM bookings WHERE booking_id = ?`);
    this.claimCancellationStmt = db.prepare(`
      INSERT INTO cancellation_claims (booking_id, claimed_until_ms) VALUES (@bookingId, @untilMs)
      ON CONFLICT (booking_id) DO UPDATE SET claimed_until_ms = excluded.claimed_until_ms
      WHERE cancellation_claims.claimed_until_ms <= @nowMs`);
    this.releaseCancellationStmt = db.prepare("DELETE FROM cancellation_claims WHERE booking_id = ? AND claimed_until_ms = ?");
    this.activeOnSlotStmt = db.prepare(`SELECT ${columns} FROM bookings
      WHERE slot_id = ? AND holds_spot = 1 AND (email_key = ? OR user_id = ?) LIMIT 1`);
    this.listForUserStmt = db.prepare(`SELECT ${columns} FROM bookings
      WHERE user_id = ? AND start_sec >= ? ORDER BY start_sec, booking_id`);
    // The merchant is the booked slot's; paging is keyset on (start_sec, booking_id).
    this.listForMerchantStmt = db.prepare(`
      SELECT b.booking_proto, b.slot_id, b.holds_spot, b.created_at_sec, b.additional_request, b.decide_by_sec
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
      WHERE status = @status AND decide_by_sec <= @nowSec
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

  /** An upsert that overwrites only an expired claim: a live one leaves the statement with no change. */
  claimCancellation(bookingId: string, nowMs: number, untilMs: number): boolean {
    return this.claimCancellationStmt.run({ bookingId, nowMs, untilMs }).changes === 1;
  }

  releaseCancellation(bookingId: string, untilMs: number): void {
    this.releaseCancellationStmt.run(bookingId, untilMs);
  }

  get(bookingId: string): BookingRecord | undefined {
    const row = this.getStmt.get(bookingId) as BookingRow | undefined;
    return row && bookingFromRow(row);
  }

  findActiveOnSlotForUser(slotId: number, user: UserIdentity): BookingRecord | undefined {
    const row = this.activeOnSlotStmt.get(slotId, user.emailKey, user.userId) as BookingRow | undefined;
    return row && bookingFromRow(row);
  }

  listDecisionsDue(status: BookingStatus, nowSec: number, limit: number): BookingRecord[] {
    return (this.decisionsDueStmt.all({ status, nowSec, limit }) as BookingRow[]).map(bookingFromRow);
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
