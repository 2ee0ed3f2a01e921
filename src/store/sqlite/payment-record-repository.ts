import {
  type BookingStatus,
} from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { SqliteDatabase } from "../database.js";
import type {
  PaymentRecord,
  PaymentRecordRepository,
} from "../repositories.js";
import type { Synchronous } from "./async-repositories.js";
import { paymentRecordFromRow, type PaymentRecordRow } from "../rows.js";

export class SqlitePaymentRecordRepository implements Synchronous<PaymentRecordRepository> {
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
        WHERE (b.booking_id IS NULL AND p.created_at_sec < @startedBeforeSec) OR b.status IN (SELECT value FROM json_each(@owedAll))
          OR (p.operation LIKE 'refund/%' AND p.state = 'started')
          OR (p.operation = 'late_cancel_fee' AND p.state = 'started' AND b.status IN (SELECT value FROM json_each(@owedLateFee)))
        ORDER BY p.booking_id`)
      .pluck();
  }

  start(record: Omit<PaymentRecord, "state" | "transactionId">, nowSec: number): void {
    this.startStmt.run({ ...record, nowSec });
  }

  complete(idempotencyKey: string, transactionId: string, nowSec: number): void {
    this.completeStmt.run(transactionId, nowSec, idempotencyKey);
  }

  forBooking(bookingId: string): PaymentRecord[] {
    return (this.forBookingStmt.all(bookingId) as PaymentRecordRow[]).map(paymentRecordFromRow);
  }

  bookingIdsToReconcile(owed: { all: BookingStatus[]; lateFeeCutShort: BookingStatus[] }, startedBeforeSec: number): string[] {
    return this.orphansStmt.all({
      startedBeforeSec,
      owedAll: JSON.stringify(owed.all),
      owedLateFee: JSON.stringify(owed.lateFeeCutShort),
    }) as string[];
  }
}
