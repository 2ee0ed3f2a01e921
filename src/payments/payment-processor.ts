/**
 * The payment processor as the booking domain sees it. Two implementations:
 * `SandboxProcessor` (local SQLite ledger; `make run` and tests) and
 * `StripeProcessor` (the official `stripe` SDK).
 *
 * Amounts are `Money` (bigint micros + ISO 4217 code); each implementation
 * converts to the currency's minor units itself (`money.ts`, half-to-even).
 *
 * ## Idempotency keys
 *
 * Every call takes an `idempotencyKey` chosen by the caller, derived from the
 * booking and the operation with `paymentIdempotencyKey(bookingId, operation)`,
 * e.g. `booking/<booking id>/prepayment`. The same key always denotes the same
 * money movement: a repeated call (a retry after a timeout, a replayed
 * CreateBooking, a reconciliation after a crash) returns the original result
 * and never moves money a second time. Consequences for the caller:
 * - derive the key, never generate it randomly, and persist nothing else to
 *   be able to retry: booking id + operation is enough;
 * - a call whose outcome is unknown (`PaymentDeclinedError.outcomeUnknown`)
 *   must be retried with the SAME key (or, to undo it, retried and then
 *   refunded) — never with a new key;
 * - a key must not be reused for different parameters (Stripe rejects that
 *   with an idempotency error; the sandbox too). A second no-show fee or a
 *   second partial refund on the same booking needs its own operation name
 *   (e.g. `refund/1`, `refund/2`).
 * - Stripe remembers keys for at least 24 hours, the sandbox forever.
 */
import type { Money } from "./money.js";

export type { Money } from "./money.js";

export interface ChargeRequest {
  /** See "Idempotency keys" above: `paymentIdempotencyKey(bookingId, "prepayment" | "deposit")`. */
  readonly idempotencyKey: string;
  /** The booking the money belongs to (recorded with the charge). */
  readonly bookingId: string;
  readonly merchantId: string;
  /** Positive amount. */
  readonly amount: Money;
  /** `payment_processing_parameters.unparsed_payment_method_token` as Google sent it. */
  readonly token: string;
  /** Shown on the processor's records / statement descriptor source. */
  readonly description: string;
}

export interface StoreCardRequest {
  /** `paymentIdempotencyKey(bookingId, "store_card")`. */
  readonly idempotencyKey: string;
  readonly bookingId: string;
  readonly merchantId: string;
  /** The short-lived Google Pay token to exchange for a reusable one; nothing is charged. */
  readonly token: string;
}

export interface ChargeStoredRequest {
  /** `paymentIdempotencyKey(bookingId, "no_show_fee" | "late_cancel_fee")`. */
  readonly idempotencyKey: string;
  readonly bookingId: string;
  readonly merchantId: string;
  /** A `paymentMethodRef` returned by `storeCard`. */
  readonly paymentMethodRef: string;
  /** Positive amount. */
  readonly amount: Money;
  readonly description: string;
}

export interface RefundRequest {
  /** `paymentIdempotencyKey(bookingId, "refund")` (or `refund/<n>` for further partial refunds). */
  readonly idempotencyKey: string;
  /** A `transactionId` returned by `charge` or `chargeStored`. */
  readonly transactionId: string;
  /**
   * Positive amount in the charge's currency; omitted: everything not yet
   * refunded. Refunds never exceed the charge.
   */
  readonly amount?: Money;
}

export interface ChargeResult {
  /** The processor's id of the payment (sandbox `sbx_...`, Stripe `pi_...`); echo as `payment_transaction_id`. */
  readonly transactionId: string;
}

export interface StoreCardResult {
  /** Opaque reference to the stored card (sandbox `sbx_pm_...`, Stripe `cus_.../pm_...`). */
  readonly paymentMethodRef: string;
}

export interface RefundResult {
  readonly refundId: string;
}

export interface PaymentProcessor {
  /** Charges and captures at once (full prepayment or deposit). */
  charge(request: ChargeRequest): Promise<ChargeResult>;
  /** Exchanges a short-lived token for a reusable payment method; charges nothing. */
  storeCard(request: StoreCardRequest): Promise<StoreCardResult>;
  /** Charges a stored payment method without the user present (no-show / late-cancel fee). */
  chargeStored(request: ChargeStoredRequest): Promise<ChargeResult>;
  /** Refunds all or part of a charge. */
  refund(request: RefundRequest): Promise<RefundResult>;
  /**
   * The charge made under this idempotency key, if one went through: how a
   * restart learns the outcome of a call whose answer was lost in a crash.
   */
  findCharge(idempotencyKey: string): Promise<ChargeResult | undefined>;
}

/** Why a payment call failed. */
export type PaymentFailureReason =
  /** The issuer declined (→ BookingFailure PAYMENT_ERROR_CARD_DECLINED). */
  | "card_declined"
  /** The card network is not accepted (→ PAYMENT_ERROR_CARD_TYPE_REJECTED + rejected_card_type). */
  | "card_type_rejected"
  /** The token is missing, malformed, unknown or already used (→ PAYMENT_ERROR). */
  | "invalid_token"
  /** Anything else, including an unknown outcome (→ PAYMENT_ERROR). */
  | "processor_error";

/** v3 `CreditCardType` names. */
export type CreditCardTypeName = "VISA" | "MASTERCARD" | "AMERICAN_EXPRESS" | "DISCOVER" | "JCB";

/** The one error a `PaymentProcessor` throws for a failed call (besides RangeError for caller bugs). */
export class PaymentDeclinedError extends Error {
  override readonly name = "PaymentDeclinedError";
  readonly reason: PaymentFailureReason;
  /** With `card_type_rejected`, the network that was refused, when known. */
  readonly rejectedCardType?: CreditCardTypeName;
  /**
   * True when the call may have gone through (timeout, connection lost, 5xx):
   * the caller must retry with the same idempotency key to learn the outcome
   * (and refund if it no longer wants the charge). Always with `processor_error`.
   */
  readonly outcomeUnknown: boolean;

  constructor(
    reason: PaymentFailureReason,
    message: string,
    options: { rejectedCardType?: CreditCardTypeName; outcomeUnknown?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    if (options.rejectedCardType !== undefined) this.rejectedCardType = options.rejectedCardType;
    this.outcomeUnknown = options.outcomeUnknown ?? false;
  }
}

/** The operations the domain performs on a booking, each with its own idempotency key. */
export type PaymentOperation =
  | "prepayment"
  | "deposit"
  /** A further prepayment or deposit (a move to a larger party) taken on the kept card. */
  | `${"prepayment" | "deposit"}#${number}`
  | "store_card"
  | "no_show_fee"
  | "late_cancel_fee"
  | "refund"
  | `refund/${string}`;

/** The idempotency key of one money movement of one booking: `booking/<bookingId>/<operation>`. */
export function paymentIdempotencyKey(bookingId: string, operation: PaymentOperation): string {
  if (bookingId === "") throw new RangeError("bookingId must not be empty");
  return `booking/${bookingId}/${operation}`;
}
