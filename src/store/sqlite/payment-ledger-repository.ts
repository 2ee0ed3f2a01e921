import type { SqliteDatabase } from "../database.js";
import type { PaymentLedgerEntry, PaymentLedgerRepository } from "../repositories.js";
import type { Synchronous } from "./async-repositories.js";

interface LedgerRow {
  id: bigint;
  idempotency_key: string;
  booking_id: string | null;
  merchant_id: string;
  operation: PaymentLedgerEntry["operation"];
  amount_micros: bigint | null;
  currency: string | null;
  amount_minor: bigint | null;
  transaction_id: string;
  refers_to: string | null;
  description: string;
  created_at_sec: bigint;
}

/** The sandbox processor's ledger, `payment_ledger` (migration 4). */
export class SqlitePaymentLedgerRepository implements Synchronous<PaymentLedgerRepository> {
  private readonly byKeyStmt;
  private readonly byTransactionStmt;
  private readonly byBookingStmt;
  private readonly refundedStmt;
  private readonly insertStmt;

  constructor(db: SqliteDatabase) {
    this.byKeyStmt = db.prepare("SELECT * FROM payment_ledger WHERE idempotency_key = ?").safeIntegers(true);
    this.byTransactionStmt = db.prepare("SELECT * FROM payment_ledger WHERE transaction_id = ?").safeIntegers(true);
    this.byBookingStmt = db.prepare("SELECT * FROM payment_ledger WHERE booking_id = ? ORDER BY id").safeIntegers(true);
    this.refundedStmt = db
      .prepare("SELECT COALESCE(SUM(amount_micros), 0) FROM payment_ledger WHERE operation = 'refund' AND refers_to = ?")
      .pluck()
      .safeIntegers(true);
    this.insertStmt = db.prepare(
      `INSERT INTO payment_ledger (idempotency_key, processor, booking_id, merchant_id, operation,
         amount_micros, currency, amount_minor, transaction_id, refers_to, description, created_at_sec)
       VALUES (@idempotencyKey, 'sandbox', @bookingId, @merchantId, @operation,
         @amountMicros, @currency, @amountMinor, @transactionId, @refersTo, @description, @createdAtSec)`,
    );
  }

  findByIdempotencyKey(idempotencyKey: string): PaymentLedgerEntry | undefined {
    const row = this.byKeyStmt.get(idempotencyKey) as LedgerRow | undefined;
    return row === undefined ? undefined : toEntry(row);
  }

  findByTransactionId(transactionId: string): PaymentLedgerEntry | undefined {
    const row = this.byTransactionStmt.get(transactionId) as LedgerRow | undefined;
    return row === undefined ? undefined : toEntry(row);
  }

  forBooking(bookingId: string): PaymentLedgerEntry[] {
    return (this.byBookingStmt.all(bookingId) as LedgerRow[]).map(toEntry);
  }

  refundedMicros(transactionId: string): bigint {
    return this.refundedStmt.get(transactionId) as bigint;
  }

  insert(entry: Omit<PaymentLedgerEntry, "id">): void {
    this.insertStmt.run(entry);
  }
}

function toEntry(row: LedgerRow): PaymentLedgerEntry {
  return {
    id: Number(row.id),
    idempotencyKey: row.idempotency_key,
    bookingId: row.booking_id,
    merchantId: row.merchant_id,
    operation: row.operation,
    amountMicros: row.amount_micros,
    currency: row.currency,
    amountMinor: row.amount_minor,
    transactionId: row.transaction_id,
    refersTo: row.refers_to,
    description: row.description,
    createdAtSec: Number(row.created_at_sec),
  };
}
