import { clone, create } from "@bufbuild/protobuf";
import {
  DepositSchema,
  NoShowFeeSchema,
  PaymentInformationSchema,
  PaymentInformation_PaymentProcessedBy,
  PrepaymentStatus,
  PriceSchema,
  PriceType,
  type PaymentInformation,
  type Price,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { PaymentPolicy } from "./payment-policy.js";

/**
 * What a slot's payment policy (payment-policy.ts) costs a booking: the
 * amounts charged or held at booking, and the `payment_information` the
 * booking echoes. Pure functions, no I/O.
 *
 * Sources: the payments seed (/work/shared/seeds/004_a481d30afb9907b4.txt,
 * cited below as "seed L<n>") and the spec's §2.8, §2.9 and §5. Money is
 * bigint micros, exact, never a float.
 */

const INT64_MAX = (1n << 63n) - 1n;

// ---------------------------------------------------------------------------
// Amounts

/**
 * The amount for a party (spec §2.9): PER_PERSON multiplies `price_micros` by
 * the party size (a missing party size, i.e. 0 or undefined, counts as 1);
 * FIXED_RATE_DEFAULT does not. Exact bigint arithmetic; throws RangeError on a
 * negative or fractional party size or a result beyond int64.
 */
export function amountFor(price: Price, type: PriceType, partySize: number): Price {
  if (partySize !== undefined && partySize !== null && (!Number.isSafeInteger(partySize) || partySize < 0)) {
    throw new RangeError(`party size must be a non-negative integer, got ${partySize}`);
  }
  const people = type === PriceType.PER_PERSON ? BigInt(partySize || 1) : 1n;
  const micros = price.priceMicros * people;
  if (micros > INT64_MAX) throw new RangeError(`amount ${micros} micros is beyond int64`);
  return create(PriceSchema, { priceMicros: micros, currencyCode: price.currencyCode, pricingOptionTag: price.pricingOptionTag });
}

/**
 * What is charged (or held) when the booking is made: the price (times the
 * party where PER_PERSON) when it is prepaid, and the deposit (times the party
 * where its type is PER_PERSON). The no-show fee and a card requirement charge
 * nothing at booking (the card is stored for later).
 */
export function chargesAtBooking(
  policy: PaymentPolicy,
  { partySize, prepaid }: { partySize: number; prepaid?: boolean },
): { prepayment?: Price; deposit?: Price } {
  const result: { prepayment?: Price; deposit?: Price } = {};
  if (isPrepaid(policy, prepaid) && policy.price) result.prepayment = amountFor(policy.price, policy.priceType, partySize);
  if (policy.deposit?.deposit) result.deposit = amountFor(policy.deposit.deposit, policy.deposit.depositType, partySize);
  return result;
}

function isPrepaid(policy: PaymentPolicy, prepaid: boolean | undefined): boolean {
  const result = prepaid ?? policy.prepayment === "required";
  if (result && policy.prepayment === "none") throw new RangeError("the policy does not support prepayment");
  if (!result && policy.prepayment === "required") throw new RangeError("the policy requires prepayment");
  return result;
}

/**
 * Whether the price is prepaid at booking, given the CreateBooking request's
 * `payment_information`: always for REQUIRED, never without prepayment, and
 * for OPTIONAL when the user chose to pay.
 *
 * Google does not spell out how that choice arrives. OPTIONAL means "the user
 * can choose to pre-pay this service at the booking time or later, but it is
 * not required in order to book" (the comment on PrepaymentType.OPTIONAL in
 * Google's feed proto). The token cannot be the choice: it is sent the same
 * way for a deposit, a no-show fee and a card requirement (seed L85–L87,
 * L152–L154, L203–L205), none of which is a prepayment. The request does carry
 * `payment_information.prepayment_status`, "whether paid in advance"
 * (spec §2.8; Google's sample request sends PREPAYMENT_NOT_PROVIDED, spec
 * §1.2), the field the booking server reads for a prepayment (spec §5, item
 * 1) and the one its response echoes as PREPAYMENT_PROVIDED once paid
 * (seed L62). So PREPAYMENT_PROVIDED there is the choice to pay; anything else
 * (UNSPECIFIED reads as NOT_PROVIDED, spec §2.8) is the choice not to.
 */
export function prepaidAtBooking(policy: PaymentPolicy, requested: PaymentInformation | undefined): boolean {
  if (policy.prepayment !== "optional") return policy.prepayment === "required";
  return requested?.prepaymentStatus === PrepaymentStatus.PREPAYMENT_PROVIDED;
}

// ---------------------------------------------------------------------------
// The booking's payment_information echo

export interface PaymentInformationOptions {
  /** The booking's party size (0 = not given = 1). */
  partySize: number;
  /** The processor's id for this booking's transaction (charge, deposit charge/hold, or stored card). */
  transactionId?: string;
  /** Who processed the payment (the request's `payment_processed_by`). */
  processedBy: PaymentInformation_PaymentProcessedBy;
  /** For an OPTIONAL prepayment: whether the user chose to prepay. Default: prepaid exactly when REQUIRED. */
  prepaid?: boolean;
}

/**
 * The `booking.payment_information` echoed in CreateBookingResponse, with the
 * field choices of the seed's examples:
 *
 * - Pay on arrival (seed L12–L21) and card required (seed L189–L210: "the
 *   booking server's response needs no additional information beyond the pay
 *   on arrival case"): `prepayment_status: PREPAYMENT_NOT_PROVIDED`,
 *   `payment_processed_by` and the `price`. A transaction id is echoed if the
 *   caller has one (e.g. the stored card), as the spec (§2.8) asks the partner
 *   to fill it with PROCESSED_BY_PARTNER.
 * - Full prepayment (seed L62):
 *   `{"prepayment_status": "PREPAYMENT_PROVIDED", "payment_processed_by": "PROCESSED_BY_PARTNER",
 *     "payment_transaction_id": "[this-transaction-id]", "price": {"price_micros": "200000000", "currency_code": "USD"}}`
 *   — the transaction id is required (seed L60).
 * - No-show fee (seed L100): adds `"no_show_fee": {"fee": {...}, "fee_type": "FIXED_RATE_DEFAULT"}`,
 *   the terms as the policy gives them, and the transaction id (seed L101–L105:
 *   "like the prepayment example, transaction_id is required in this message").
 *   Seed L100 shows PREPAYMENT_PROVIDED with the 200 USD price although its
 *   service (seed L69) has no `prepayment_type`: nothing is charged at booking
 *   for a no-show fee alone (the token is only stored, seed L88–L91), so we echo
 *   PREPAYMENT_NOT_PROVIDED for it; a service with both REQUIRED prepayment and
 *   a no-show fee echoes exactly seed L100.
 * - Deposit (seed L164): PREPAYMENT_PROVIDED (the deposit is charged or held at
 *   booking, seed L154–L155, and a refunded deposit is later reported as
 *   PREPAYMENT_REFUNDED, seed L176–L188, which Google accepts only from
 *   PROVIDED, spec §2.8), the transaction id of the deposit charge, the service
 *   `price`, and `"deposit": {"deposit": {...}, "min_advance_cancellation_sec": ..., "deposit_type": ...}`.
 *   The seed nests `min_advance_cancellation_sec` inside the deposit's Price,
 *   which has no such field; it belongs to Deposit (spec §2.9).
 *
 * `price` is the transaction price: the policy's price, times the party size
 * where the price type is PER_PERSON. The no-show fee and deposit are echoed as
 * terms (amount and type), not multiplied.
 *
 * Note for JSON: FIXED_RATE_DEFAULT is PriceType's zero value, so proto3 JSON
 * omits `fee_type` / `deposit_type` unless written with `alwaysEmitImplicit`.
 */
export function paymentInformationFor(policy: PaymentPolicy, options: PaymentInformationOptions): PaymentInformation {
  const prepaid = isPrepaid(policy, options.prepaid);
  const provided = prepaid || policy.deposit !== undefined;
  const transactionId = options.transactionId ?? "";
  if (provided && transactionId === "" && options.processedBy === PaymentInformation_PaymentProcessedBy.PROCESSED_BY_PARTNER) {
    throw new RangeError("a transaction id is required when the partner took a prepayment or deposit (seed L60)");
  }
  const info = create(PaymentInformationSchema, {
    prepaymentStatus: provided ? PrepaymentStatus.PREPAYMENT_PROVIDED : PrepaymentStatus.PREPAYMENT_NOT_PROVIDED,
    paymentProcessedBy: options.processedBy,
    paymentTransactionId: transactionId,
  });
  if (policy.price) info.price = amountFor(policy.price, policy.priceType, options.partySize);
  if (policy.noShowFee) info.noShowFee = clone(NoShowFeeSchema, policy.noShowFee);
  if (policy.deposit) info.deposit = clone(DepositSchema, policy.deposit);
  return info;
}
