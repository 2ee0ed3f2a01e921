/**
 * A local stand-in processor for `make run` and tests. It moves no money; it
 * keeps a ledger in the server's store (`PaymentLedgerRepository`; on SQLite
 * `payment_ledger`, migration 4) with one row per money movement, keyed by
 * the caller's idempotency key.
 *
 * Tokens: any non-empty token is accepted, except one containing `decline`
 * (card declined) or `cardtype` (card type rejected, American Express).
 * A repeated idempotency key answers the original result and writes nothing;
 * the same key with different parameters is refused (like Stripe).
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import type { PaymentLedgerEntry, PaymentLedgerReads, Store } from "../store/repositories.js";
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

export type LedgerOperation = PaymentLedgerEntry["operation"];

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

/** What a replayed idempotency key must match of the entry it first wrote. */
interface Expected {
  operation: LedgerOperation;
  merchantId: string | undefined;
  amount: Money | null | "any";
  refersTo?: string;
}

export class SandboxProcessor implements PaymentProcessor {
  /** `store`: the ledger's store (the server's own, `payment_ledger`). */
  constructor(
    private readonly store: Store,
    private readonly clock: Clock = systemClock,
  ) {}

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    const amount = checkAmount(request.amount);
    return this.once(request.idempotencyKey, async () => ({ operation: "charge", merchantId: request.merchantId, amount }), async () => {
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
    }, (entry) => ({ transactionId: entry.transactionId }));
  }

  async storeCard(request: StoreCardRequest): Promise<StoreCardResult> {
    return this.once(request.idempotencyKey, async () => ({ operation: "store_card", merchantId: request.merchantId, amount: null }), async () => {
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
    }, (entry) => ({ paymentMethodRef: entry.transactionId }));
  }

  async chargeStored(request: ChargeStoredRequest): Promise<ChargeResult> {
    const amount = checkAmount(request.amount);
    return this.once(
      request.idempotencyKey,
      async () => ({ operation: "charge_stored", merchantId: request.merchantId, amount, refersTo: request.paymentMethodRef }),
      async (ledger) => {
        const stored = await ledger.findByTransactionId(request.paymentMethodRef);
        if (stored === undefined || stored.operation !== "store_card" || stored.merchantId !== request.merchantId) {
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
      (entry) => ({ transactionId: entry.transactionId }),
    );
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    const requested = request.amount === undefined ? undefined : checkAmount(request.amount);
    return this.once(
      request.idempotencyKey,
      async (ledger) => ({
        operation: "refund",
        merchantId: (await ledger.findByTransactionId(request.transactionId))?.merchantId,
        amount: requested ?? "any",
        refersTo: request.transactionId,
      }),
      async (ledger) => {
        const charge = await ledger.findByTransactionId(request.transactionId);
        if (charge === undefined || (charge.operation !== "charge" && charge.operation !== "charge_stored")) {
          throw new PaymentDeclinedError("processor_error", `no charge ${request.transactionId} to refund`);
        }
        const chargeCurrency = charge.currency as string;
        const chargeMicros = charge.amountMicros as bigint;
        const refunded = await ledger.refundedMicros(charge.transactionId);
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
            `refund of ${micros} micros exceeds what is left of charge ${charge.transactionId} (${remaining} of ${chargeMicros} micros)`,
          );
        }
        return {
          idempotencyKey: request.idempotencyKey,
          bookingId: charge.bookingId,
          merchantId: charge.merchantId,
          operation: "refund",
          amount: { micros, currency: chargeCurrency },
          transactionId: newId("sbx_re_"),
          refersTo: charge.transactionId,
          description: "",
        };
      },
      (entry) => ({ refundId: entry.transactionId }),
    );
  }

  /** Every ledger row of a booking, oldest first. */
  async ledgerFor(bookingId: string): Promise<LedgerEntry[]> {
    return (await this.store.read.ledger.forBooking(bookingId)).map(toLedgerEntry);
  }

  /** The ledger row written under an idempotency key, if any. */
  async findCharge(idempotencyKey: string): Promise<ChargeResult | undefined> {
    const entry = await this.entryForKey(idempotencyKey);
    return entry && (entry.operation === "charge" || entry.operation === "charge_stored")
      ? { transactionId: entry.transactionId }
      : undefined;
  }

  async entryForKey(idempotencyKey: string): Promise<LedgerEntry | undefined> {
    const entry = await this.store.read.ledger.findByIdempotencyKey(idempotencyKey);
    return entry === undefined ? undefined : toLedgerEntry(entry);
  }

  /**
   * Runs `decide` and writes its row unless a row with the key exists, as one
   * unit of work (serializable: two calls with one key, from this process or
   * another, cannot both write); a replay must match the original request
   * (`expected`). The unit touches nothing outside the store (a fresh id and
   * the clock's time are all it makes), so the store may run it again.
   */
  private async once<T>(
    idempotencyKey: string,
    expected: (ledger: PaymentLedgerReads) => Promise<Expected>,
    decide: (ledger: PaymentLedgerReads) => Promise<NewRow>,
    result: (entry: PaymentLedgerEntry) => T,
  ): Promise<T> {
    if (idempotencyKey === "") throw new RangeError("idempotencyKey must not be empty");
    const entry = await this.store.transaction(async ({ ledger }) => {
      const existing = await ledger.findByIdempotencyKey(idempotencyKey);
      if (existing !== undefined) {
        checkReplay(existing, await expected(ledger));
        return existing;
      }
      const row = await decide(ledger);
      await ledger.insert({
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
      return (await ledger.findByIdempotencyKey(idempotencyKey)) as PaymentLedgerEntry;
    });
    return result(entry);
  }
}

function checkReplay(existing: PaymentLedgerEntry, expected: Expected): void {
  const sameAmount =
    expected.amount === "any" ||
    (expected.amount === null
      ? existing.amountMicros === null
      : existing.amountMicros === expected.amount.micros && existing.currency === expected.amount.currency);
  const same =
    existing.operation === expected.operation &&
    (expected.merchantId === undefined || existing.merchantId === expected.merchantId) &&
    sameAmount &&
    (expected.refersTo === undefined || existing.refersTo === expected.refersTo);
  if (!same) {
    throw new PaymentDeclinedError(
      "processor_error",
      `idempotency key ${existing.idempotencyKey} was already used for a different ${existing.operation} request`,
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

function toLedgerEntry(entry: PaymentLedgerEntry): LedgerEntry {
  return {
    id: entry.id,
    idempotencyKey: entry.idempotencyKey,
    bookingId: entry.bookingId,
    merchantId: entry.merchantId,
    operation: entry.operation,
    amount: entry.amountMicros === null ? null : { micros: entry.amountMicros, currency: entry.currency as string },
    amountMinor: entry.amountMinor,
    transactionId: entry.transactionId,
    refersTo: entry.refersTo,
    description: entry.description,
    createdAtSec: entry.createdAtSec,
  };
}
