import type { PaymentLedgerEntry, PaymentLedgerRepository } from "../repositories.js";
import type { Queryable } from "./queryable.js";
import { moneyOf } from "../rows.js";

interface LedgerRow {
  id: number;
  idempotency_key: string;
  booking_id: string | null;
  merchant_id: string;
  operation: PaymentLedgerEntry["operation"];
  amount_micros: string | null;
  currency: string | null;
  amount_minor: string | null;
  transaction_id: string;
  refers_to: string | null;
  description: string;
  created_at_sec: number;
}

/** Money columns as text (read exactly with BigInt, see `typeParsers`). */
const columns = `id, idempotency_key, booking_id, merchant_id, operation, amount_micros::text AS amount_micros, currency,
  amount_minor::text AS amount_minor, transaction_id, refers_to, description, created_at_sec`;

/** The sandbox processor's ledger, `payment_ledger`. */
export class PostgresPaymentLedgerRepository implements PaymentLedgerRepository {
  constructor(private readonly db: Queryable) {}

  async findByIdempotencyKey(idempotencyKey: string): Promise<PaymentLedgerEntry | undefined> {
    const [row] = await this.db.query<LedgerRow>(`SELECT ${columns} FROM payment_ledger WHERE idempotency_key = $1`, [idempotencyKey]);
    return row && toEntry(row);
  }

  async findByTransactionId(transactionId: string): Promise<PaymentLedgerEntry | undefined> {
    const [row] = await this.db.query<LedgerRow>(`SELECT ${columns} FROM payment_ledger WHERE transaction_id = $1`, [transactionId]);
    return row && toEntry(row);
  }

  async forBooking(bookingId: string): Promise<PaymentLedgerEntry[]> {
    const rows = await this.db.query<LedgerRow>(`SELECT ${columns} FROM payment_ledger WHERE booking_id = $1 ORDER BY id`, [bookingId]);
    return rows.map(toEntry);
  }

  async refundedMicros(transactionId: string): Promise<bigint> {
    const [row] = await this.db.query<{ refunded: string }>(
      "SELECT COALESCE(sum(amount_micros), 0)::text AS refunded FROM payment_ledger WHERE operation = 'refund' AND refers_to = $1",
      [transactionId],
    );
    return BigInt(row.refunded);
  }

  async insert(entry: Omit<PaymentLedgerEntry, "id">): Promise<void> {
    await this.db.query(
      `INSERT INTO payment_ledger (idempotency_key, processor, booking_id, merchant_id, operation,
         amount_micros, currency, amount_minor, transaction_id, refers_to, description, created_at_sec)
       VALUES ($1, 'sandbox', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        entry.idempotencyKey,
        entry.bookingId,
        entry.merchantId,
        entry.operation,
        entry.amountMicros,
        entry.currency,
        entry.amountMinor,
        entry.transactionId,
        entry.refersTo,
        entry.description,
        entry.createdAtSec,
      ],
    );
  }
}

function toEntry(row: LedgerRow): PaymentLedgerEntry {
  return {
    id: row.id,
    idempotencyKey: row.idempotency_key,
    bookingId: row.booking_id,
    merchantId: row.merchant_id,
    operation: row.operation,
    amountMicros: moneyOf(row.amount_micros),
    currency: row.currency,
    amountMinor: moneyOf(row.amount_minor),
    transactionId: row.transaction_id,
    refersTo: row.refers_to,
    description: row.description,
    createdAtSec: row.created_at_sec,
  };
}
