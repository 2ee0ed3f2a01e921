import { toBinary } from "@bufbuild/protobuf";
import { BookingSchema, type BookingStatus } from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import {
  sameUserKeys,
  type BookingRecord,
  type BookingRepository,
  type MerchantBookingQuery,
  type UserIdentity,
} from "../repositories.js";
import type { Queryable } from "./queryable.js";
import { bookingFromRow, type BookingRow } from "../rows.js";

const columns = "b.booking_proto, b.slot_id, b.holds_spot, b.created_at_sec, b.additional_request, b.decide_by_sec";

/** The columns a booking's record sets (`update` leaves created_at_sec and additional_request as stored, as on SQLite). */
function bookingColumns(record: BookingRecord) {
  const { booking } = record;
  const { userId, emailKey } = sameUserKeys(booking.userInformation);
  return {
    bookingId: booking.bookingId,
    written: [
      record.slotId,
      userId,
      emailKey,
      booking.status,
      record.holdsSpot,
      Number(booking.slot?.startSec ?? 0n),
      Buffer.from(toBinary(BookingSchema, booking)),
      record.decideBySec,
    ],
  };
}

export class PostgresBookingRepository implements BookingRepository {
  constructor(private readonly db: Queryable) {}

  async insert(record: BookingRecord, nowSec: number): Promise<void> {
    const { bookingId, written } = bookingColumns(record);
    await this.db.query(
      `INSERT INTO bookings (booking_id, slot_id, user_id, email_key, status, holds_spot, start_sec,
         booking_proto, decide_by_sec, updated_at_sec, created_at_sec, additional_request)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [bookingId, ...written, nowSec, record.createdAtSec, record.additionalRequest],
    );
  }

  async update(record: BookingRecord, nowSec: number): Promise<void> {
    const { bookingId, written } = bookingColumns(record);
    await this.db.query(
      `UPDATE bookings SET slot_id = $2, user_id = $3, email_key = $4, status = $5, holds_spot = $6, start_sec = $7,
         booking_proto = $8, decide_by_sec = $9, updated_at_sec = $10
       WHERE booking_id = $1`,
      [bookingId, ...written, nowSec],
    );
  }

  /**
   * An upsert that overwrites only an expired claim (RETURNING gives no row
   * when the live claim's WHERE fails). Two attempts racing: the second's
   * INSERT waits for the first's uncommitted row, then sees the conflict
   * and checks the WHERE on the committed claim (manual, INSERT "ON
   * CONFLICT DO UPDATE"), under either isolation.
   */
  async claimCancellation(bookingId: string, nowMs: number, untilMs: number): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO cancellation_claims (booking_id, claimed_until_ms) VALUES ($1, $3)
      ON CONFLICT (booking_id) DO UPDATE SET claimed_until_ms = excluded.claimed_until_ms
      WHERE cancellation_claims.claimed_until_ms <= $2
       RETURNING booking_id`,
      [bookingId, nowMs, untilMs],
    );
    return rows.length === 1;
  }

  async releaseCancellation(bookingId: string, untilMs: number): Promise<void> {
    await this.db.query("DELETE FROM cancellation_claims WHERE booking_id = $1 AND claimed_until_ms = $2", [bookingId, untilMs]);
  }

  async get(bookingId: string): Promise<BookingRecord | undefined> {
    const [row] = await this.db.query<BookingRow>(`SELECT ${columns} FROM bookings b WHERE b.booking_id = $1`, [bookingId]);
    return row && bookingFromRow(row);
  }

  async findActiveOnSlotForUser(slotId: number, user: UserIdentity): Promise<BookingRecord | undefined> {
    const [row] = await this.db.query<BookingRow>(
      `SELECT ${columns} FROM bookings b WHERE b.slot_id = $1 AND b.holds_spot AND (b.email_key = $2 OR b.user_id = $3) LIMIT 1`,
      [slotId, user.emailKey, user.userId],
    );
    return row && bookingFromRow(row);
  }

  async listDecisionsDue(status: BookingStatus, nowSec: number, limit: number): Promise<BookingRecord[]> {
    const rows = await this.db.query<BookingRow>(
      `SELECT ${columns} FROM bookings b WHERE b.status = $1 AND b.decide_by_sec <= $2 ORDER BY b.created_at_sec LIMIT $3`,
      [status, nowSec, limit],
    );
    return rows.map(bookingFromRow);
  }

  /** The merchant is the booked slot's; paging is keyset on (start_sec, booking_id). */
  async listForMerchant(query: MerchantBookingQuery): Promise<BookingRecord[]> {
    const rows = await this.db.query<BookingRow>(
      `SELECT ${columns} FROM bookings b JOIN slots s ON s.slot_id = b.slot_id
       WHERE s.merchant_id = $1
         AND (cardinality($2::integer[]) = 0 OR b.status = ANY ($2::integer[]))
         AND b.start_sec >= $3
         AND ($4::bigint IS NULL OR b.start_sec < $4::bigint)
         AND ($5::bigint IS NULL OR (b.start_sec, b.booking_id) > ($5::bigint, $6::text))
       ORDER BY b.start_sec, b.booking_id
       LIMIT $7`,
      [
        query.merchantId,
        query.statuses,
        query.startSecFrom,
        query.startSecBefore ?? null,
        query.after?.startSec ?? null,
        query.after?.bookingId ?? "",
        query.limit,
      ],
    );
    return rows.map(bookingFromRow);
  }

  async listForUser(userId: string, fromSec: number): Promise<BookingRecord[]> {
    const rows = await this.db.query<BookingRow>(
      `SELECT ${columns} FROM bookings b WHERE b.user_id = $1 AND b.start_sec >= $2 ORDER BY b.start_sec, b.booking_id`,
      [userId, fromSec],
    );
    return rows.map(bookingFromRow);
  }

  async hasUser(userId: string): Promise<boolean> {
    const rows = await this.db.query(
      "SELECT 1 FROM bookings WHERE user_id = $1 UNION ALL SELECT 1 FROM users WHERE user_id = $1 LIMIT 1",
      [userId],
    );
    return rows.length > 0;
  }
}
