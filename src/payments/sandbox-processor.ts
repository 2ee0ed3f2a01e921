/**
 * A local stand-in processor for `make run` and tests. It moves no money; it
 * keeps a ledger in SQLite (`payment_ledger`, migration 4) with one row per
 * money movement, keyed by the caller's idempotency key.
 *
 * Tokens: any non-empty token is accepted, except one containing `decline`
 * (card declined) or `cardtype` (card type rejected, American Express).
 * A repeated idempotency key answers the original result and writes nothing;
 * the same key with different parameters is refused (like Stripe).
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import type { SqliteDatabase } from "../store/database.js";
import { microsToMinorUnits, normalizeCurrency, type Money } from "./money.js";
import {
  PaymentDeclinedError,
  type ChargeRequest,
  type ChargeResult,
  type ChargeStoredRequest,
  type PaymentProcessor,
  type RefundRequest,
  type RefundResult,
  type StoreCardRequest,
  type StoreCardResult,
} from "./payment-processor.js";

export type LedgerOperation = "charge" | "store_card" | "charge_stored" | "refund";

/** One row of the payments ledger. */
export interface LedgerEntry {
  readonly id: number;
  readonly idempotencyKey: string;
  readonly bookingId: string | null;
  readonly merchantId: string;
  readonly operation: LedgerOperation;
  /** Null for `store_card`. */
  readonly amount: Money | null;
  /** The amount in the currency's minor units, as a processor would be asked for. */
  readonly amountMinor: bigint | null;
  /** Charge / refund / stored payment method id (`sbx_...`). */
  readonly transactionId: string;
  /** A refund's charge; a stored-card charge's payment method ref. */
  readonly refersTo: string | null;
  readonly description: string;
  readonly createdAtSec: number;
}

interface LedgerRow {
  id: bigint;
  idempotency_key: string;
  booking_id: string | null;
  merchant_id: string;
  operation: LedgerOperation;
  amount_micros: bigint | null;
  currency: string | null;
  amount_minor: bigint | null;
  transaction_id: string;
  refers_to: string | null;
  description: string;
  created_at_sec: bigint;
}

interface NewRow {
  idempotencyKey: string;
  bookingId: string | null;
  merchantId: string;
  operation: LedgerOperation;
  amount: Money | null;
  transactionId: string;
  refersTo: string | null;
  description: string;
}

export class SandboxProcessor implements PaymentProcessor {
  private readonly byKey;
  private readonly byTransaction;
  private readonly byBooking;
  private readonly refundedMicros;
  private readonly insertRow;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {
    this.byKey = db.prepare("SELECT * FROM payment_ledger WHERE idempotency_key = ?").safeIntegers(true);
    this.byTransaction = db.prepare("SELECT * FROM payment_ledger WHERE transaction_id = ?").safeIntegers(true);
    this.byBooking = db
      .prepare("SELECT * FROM payment_ledger WHERE booking_id = ? ORDER BY id")
      .safeIntegers(true);
    this.refundedMicros = db
      .prepare(
        "SELECT COALESCE(SUM(amount_micros), 0) AS total FROM payment_ledger WHERE operation = 'refund' AND refers_to = ?",
      )
      .safeIntegers(true);
    this.insertRow = db.prepare(
      `INSERT INTO payment_ledger (idempotency_key, processor, booking_id, merchant_id, operation,
         amount_micros, currency, amount_minor, transaction_id, refers_to, description, created_at_sec)
       VALUES (@idempotencyKey, 'sandbox', @bookingId, @merchantId, @operation,
         @amountMicros, @currency, @amountMinor, @transactionId, @refersTo, @description, @createdAtSec)`,
    );
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    const amount = checkAmount(request.amount);
    return this.once(request.idempotencyKey, { operation: "charge", merchantId: request.merchantId, amount }, () => {
      checkToken(request.token);
      return {
        idempotencyKey: request.idempotencyKey,
        bookingId: request.bookingId,
        merchantId: request.merchantId,
        operation: "charge",
        amount,
        transactionId: newId("sbx_ch_"),
        refersTo: null,
        description: request.description,
      };
    }, (row) => ({ transactionId: row.transaction_id }));
  }

  async storeCard(request: StoreCardRequest): Promise<StoreCardResult> {
    return this.once(request.idempotencyKey, { operation: "store_card", merchantId: request.merchantId, amount: null }, () => {
      checkToken(request.token);
      return {
        idempotencyKey: request.idempotencyKey,
        bookingId: request.bookingId,
        merchantId: request.merchantId,
        operation: "store_card",
        amount: null,
        transactionId: newId("sbx_pm_"),
        refersTo: null,
        description: "",
      };
    }, (row) => ({ paymentMethodRef: row.transaction_id }));
  }

  async chargeStored(request: ChargeStoredRequest): Promise<ChargeResult> {
    const amount = checkAmount(request.amount);
    return this.once(
      request.idempotencyKey,
      { operation: "charge_stored", merchantId: request.merchantId, amount, refersTo: request.paymentMethodRef },
      () => {
        const stored = this.byTransaction.get(request.paymentMethodRef) as LedgerRow | undefined;
        if (stored === undefined || stored.operation !== "store_card" || stored.merchant_id !== request.merchantId) {
          throw new PaymentDeclinedError("invalid_token", `unknown stored payment method ${request.paymentMethodRef}`);
        }
        return {
          idempotencyKey: request.idempotencyKey,
          bookingId: request.bookingId,
          merchantId: request.merchantId,
          operation: "charge_stored",
          amount,
          transactionId: newId("sbx_ch_"),
          refersTo: request.paymentMethodRef,
          description: request.description,
        };
      },
      (row) => ({ transactionId: row.transaction_id }),
    );
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    const requested = request.amount === undefined ? undefined : checkAmount(request.amount);
    const charge = this.byTransaction.get(request.transactionId) as LedgerRow | undefined;
    return this.once(
      request.idempotencyKey,
      {
        operation: "refund",
        merchantId: charge?.merchant_id,
        amount: requested ?? "any",
        refersTo: request.transactionId,
      },
      () => {
        if (charge === undefined || (charge.operation !== "charge" && charge.operation !== "charge_stored")) {
          throw new PaymentDeclinedError("processor_error", `no charge ${request.transactionId} to refund`);
        }
        const chargeCurrency = charge.currency as string;
        const chargeMicros = charge.amount_micros as bigint;
        const refunded = (this.refundedMicros.get(charge.transaction_id) as { total: bigint }).total;
        const remaining = chargeMicros - refunded;
        if (requested !== undefined && requested.currency !== chargeCurrency) {
          throw new PaymentDeclinedError(
            "processor_error",
            `refund in ${requested.currency} of a charge in ${chargeCurrency}`,
          );
        }
        const micros = requested?.micros ?? remaining;
        if (micros <= 0n || micros > remaining) {
          throw new PaymentDeclinedError(
            "processor_error",
            `refund of ${micros} micros exceeds what is left of charge ${charge.transaction_id} (${remaining} of ${chargeMicros} micros)`,
          );
        }
        return {
          idempotencyKey: request.idempotencyKey,
          bookingId: charge.booking_id,
          merchantId: charge.merchant_id,
          operation: "refund",
          amount: { micros, currency: chargeCurrency },
          transactionId: newId("sbx_re_"),
          refersTo: charge.transaction_id,
          description: "",
        };
      },
      (row) => ({ refundId: row.transaction_id }),
    );
  }

  /** Every ledger row of a booking, oldest first. */
  ledgerFor(bookingId: string): LedgerEntry[] {
    return (this.byBooking.all(bookingId) as LedgerRow[]).map(toEntry);
  }

  /** The ledger row written under an idempotency key, if any. */
  async findCharge(idempotencyKey: string): Promise<ChargeResult | undefined> {
    const entry = this.entryForKey(idempotencyKey);
    return entry && (entry.operation === "charge" || entry.operation === "charge_stored")
      ? { transactionId: entry.transactionId }
      : undefined;
  }

  entryForKey(idempotencyKey: string): LedgerEntry | undefined {
    const row = this.byKey.get(idempotencyKey) as LedgerRow | undefined;
    return row === undefined ? undefined : toEntry(row);
  }

  /**
   * Runs `decide` and writes its row unless a row with the key exists, in one
   * immediate transaction (so two processes cannot both write); a replay must
   * match the original request.
   */
  private once<T>(
    idempotencyKey: string,
    expected: { operation: LedgerOperation; merchantId: string | undefined; amount: Money | null | "any"; refersTo?: string },
    decide: () => NewRow,
    result: (row: LedgerRow) => T,
  ): T {
    if (idempotencyKey === "") throw new RangeError("idempotencyKey must not be empty");
    const run = this.db.transaction((): T => {
      const existing = this.byKey.get(idempotencyKey) as LedgerRow | undefined;
      if (existing !== undefined) {
        checkReplay(existing, expected);
        return result(existing);
      }
      const row = decide();
      this.insertRow.run({
        idempotencyKey: row.idempotencyKey,
        bookingId: row.bookingId,
        merchantId: row.merchantId,
        operation: row.operation,
        amountMicros: row.amount?.micros ?? null,
        currency: row.amount?.currency ?? null,
        amountMinor: row.amount === null ? null : microsToMinorUnits(row.amount.micros, row.amount.currency),
        transactionId: row.transactionId,
        refersTo: row.refersTo,
        description: row.description,
        createdAtSec: this.clock.nowSec(),
      });
      return result(this.byKey.get(idempotencyKey) as LedgerRow);
    });
    return run.immediate();
  }
}

function checkReplay(
  existing: LedgerRow,
  expected: { operation: LedgerOperation; merchantId: string | undefined; amount: Money | null | "any"; refersTo?: string },
): void {
  const sameAmount =
    expected.amount === "any" ||
    (expected.amount === null
      ? existing.amount_micros === null
      : existing.amount_micros === expected.amount.micros && existing.currency === expected.amount.currency);
  const same =
    existing.operation === expected.operation &&
    (expected.merchantId === undefined || existing.merchant_id === expected.merchantId) &&
    sameAmount &&
    (expected.refersTo === undefined || existing.refers_to === expected.refersTo);
  if (!same) {
    throw new PaymentDeclinedError(
      "processor_error",
      `idempotency key ${existing.idempotency_key} was already used for a different ${existing.operation} request`,
    );
  }
}

function checkToken(token: string): void {
  if (typeof token !== "string" || token.trim() === "") {
    throw new PaymentDeclinedError("invalid_token", "empty payment token");
  }
  if (token.includes("decline")) throw new PaymentDeclinedError("card_declined", "sandbox: card declined");
  if (token.includes("cardtype")) {
    throw new PaymentDeclinedError("card_type_rejected", "sandbox: card type not accepted", {
      rejectedCardType: "AMERICAN_EXPRESS",
    });
  }
}

function checkAmount(amount: Money): Money {
  if (typeof amount?.micros !== "bigint" || amount.micros <= 0n) {
    throw new RangeError(`amount must be a positive bigint of micros, got ${String(amount?.micros)}`);
  }
  const currency = normalizeCurrency(amount.currency);
  microsToMinorUnits(amount.micros, currency); // range check
  return { micros: amount.micros, currency };
}

function newId(prefix: string): string {
  return prefix + randomBytes(12).toString("hex");
}

function toEntry(row: LedgerRow): LedgerEntry {
  return {
    id: Number(row.id),
    idempotencyKey: row.idempotency_key,
    bookingId: row.booking_id,
    merchantId: row.merchant_id,
    operation: row.operation,
    amount: row.amount_micros === null ? null : { micros: row.amount_micros, currency: row.currency as string },
    amountMinor: row.amount_minor,
    transactionId: row.transaction_id,
    refersTo: row.refers_to,
    description: row.description,
    createdAtSec: Number(row.created_at_sec),
  };
}
