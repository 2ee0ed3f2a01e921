import type { BookingStatus } from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { PaymentRecord, PaymentRecordRepository } from "../repositories.js";
import type { Queryable } from "./queryable.js";
import { paymentRecordFromRow, type PaymentRecordRow } from "../rows.js";

export class PostgresPaymentRecordRepository implements PaymentRecordRepository {
  constructor(private readonly db: Queryable) {}

  /** Once per idempotency key: a second start of the same key changes nothing. */
  async start(record: Omit<PaymentRecord, "state" | "transactionId">, nowSec: number): Promise<void> {
    await this.db.query(
      `INSERT INTO booking_payments (booking_id, merchant_id, operation, idempotency_key, state, amount_micros, currency,
         created_at_sec, updated_at_sec)
       VALUES ($1, $2, $3, $4, 'started', $5, $6, $7, $7)
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [record.bookingId, record.merchantId, record.operation, record.idempotencyKey, record.amountMicros, record.currency, nowSec],
    );
  }

  async complete(idempotencyKey: string, transactionId: string, nowSec: number): Promise<void> {
    await this.db.query("UPDATE booking_payments SET state = 'done', transaction_id = $1, updated_at_sec = $2 WHERE idempotency_key = $3", [
      transactionId,
      nowSec,
      idempotencyKey,
    ]);
  }

  async forBooking(bookingId: string): Promise<PaymentRecord[]> {
    const rows = await this.db.query<PaymentRecordRow>(
      `SELECT booking_id, merchant_id, operation, idempotency_key, state, transaction_id, amount_micros::text AS amount_micros, currency
       FROM booking_payments WHERE booking_id = $1 ORDER BY id`,
      [bookingId],
    );
    return rows.map(paymentRecordFromRow);
  }

  async bookingIdsToReconcile(owed: { all: BookingStatus[]; lateFeeCutShort: BookingStatus[] }, startedBeforeSec: number): Promise<string[]> {
    const rows = await this.db.query<{ booking_id: string }>(
      `SELECT DISTINCT p.booking_id FROM booking_payments p LEFT JOIN bookings b ON b.booking_id = p.booking_id
       WHERE (b.booking_id IS NULL AND p.created_at_sec < $1) OR b.status = ANY ($2::integer[])
         OR (p.operation LIKE 'refund/%' AND p.state = 'started')
         OR (p.operation = 'late_cancel_fee' AND p.state = 'started' AND b.status = ANY ($3::integer[]))
       ORDER BY p.booking_id`,
      [startedBeforeSec, owed.all, owed.lateFeeCutShort],
    );
    return rows.map((row) => row.booking_id);
  }
}
