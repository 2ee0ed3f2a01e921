import { PriceType, type Deposit, type NoShowFee, type Price } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import {
  depositTerm,
  feedRecord,
  merchantPaymentOptionPrice,
  noShowFeeTerm,
  PaymentPolicyError,
  requireCreditCardTerm,
  serviceCancellationRules,
  servicePrepaymentType,
  servicePrice,
  slotLastOnlineCancellableSec,
  slotPaymentOptionIds,
  slotPrepaymentPrice,
  type RefundCondition,
  type RequireCreditCard,
} from "./feed-terms.js";

/**
 * The payment policy of one slot, decided from the feeds.
 *
 * The terms each feed record states are read in feed-terms.ts; this module
 * decides which of them apply to a slot (the slot's availability record
 * overrides its service, a payment option of the merchant sets the price).
 * Everything else works on the `PaymentPolicy` it returns: the amounts in
 * payment-amounts.ts, cancellations in cancellation-terms.ts. Pure functions,
 * no I/O.
 *
 * Sources: the payments seed (/work/shared/seeds/004_a481d30afb9907b4.txt,
 * cited below as "seed L<n>") and the spec's §2.8, §2.9 and §5.
 */

/** The effective payment policy of a slot (availability overrides service). */
export interface PaymentPolicy {
  /**
   * The price: service `price`, overridden by the slot's payment option
   * (`payment_option_id` → merchant `payment_option[].price`), overridden by the
   * slot's `prepayment.price_info.price`. Absent if no feed gives one.
   */
  price?: Price;
  /** How `price` scales with the party: `prepayment.price_info.price_type`, else FIXED_RATE_DEFAULT. */
  priceType: PriceType;
  /** The slot's payment option whose price was used, if any. */
  paymentOptionId?: string;
  /** Service `prepayment_type`: REQUIRED, OPTIONAL, NOT_SUPPORTED / unspecified. */
  prepayment: "required" | "optional" | "none";
  /** `no_show_fee` (availability overrides service). */
  noShowFee?: NoShowFee;
  /** `deposit` (availability overrides service). */
  deposit?: Deposit;
  /** `require_credit_card` as given (availability overrides service); unspecified behaves as conditional. */
  requireCreditCard: RequireCreditCard;
  /**
   * Whether the user must give a card: ALWAYS, or (CONDITIONAL / unspecified,
   * spec §5) the price is prepaid (REQUIRED with a price), a no-show fee is set
   * or a deposit is set.
   */
  cardRequired: boolean;
  cancellation: {
    /** Service `scheduling_rules.min_advance_online_canceling`: seconds of notice needed to cancel online. */
    minAdvanceOnlineCancelingSec?: number;
    /** Slot `scheduling_rule_overrides.last_online_cancellable_sec`: absolute Unix seconds; wins over the above. */
    lastOnlineCancellableSec?: number;
    /**
     * Service `scheduling_rules.cancellation_policy.refund_conditions`: how much
     * of the prepayment a cancellation made at least `minBeforeStartSec` before
     * the start gets back. Absent: a cancellation the terms allow refunds it in full.
     */
    refundConditions?: RefundCondition[];
  };
}

export interface PaymentPolicyFeeds {
  /** The service feed record (an object, or its JSON text as stored in `services.feed_json`). */
  serviceFeed: unknown;
  /** The availability feed record of the slot (object or JSON text); may be absent. */
  slotFeed: unknown;
  /** The merchant feed record (object or JSON text); may be absent. */
  merchantFeed: unknown;
}

/**
 * The effective payment policy of a slot. Reads the service record, the slot's
 * availability record (which overrides the service) and the merchant record
 * (for the payment option a slot refers to). Throws `PaymentPolicyError`
 * naming the field when a payment field is malformed, so the importer can call
 * it to validate records at import time.
 *
 * Overrides, as in the seed's table (seed L211–L241):
 * - price: `Service.price` ← `Availability.payment_option_id` → `Merchant.payment_option[].price` (seed L218–L228)
 *   ← `Availability.prepayment.price_info.price` (spec §5, Payment Redirect add-on);
 * - `no_show_fee`: Service ← Availability (seed L230–L232);
 * - `deposit`: Service ← Availability (seed L234–L236);
 * - `require_credit_card`: Service ← Availability (seed L238–L240);
 * - cancellation: Service `scheduling_rules.min_advance_online_canceling` (seed L69, L76),
 *   Availability `scheduling_rule_overrides.last_online_cancellable_sec` (an absolute time) wins.
 *
 * The fields that can make CreateBooking take money or keep a card are
 * `bookingPaymentTermFields` (feed-terms.ts); each feed record is stored
 * with whether it has one (`hasBookingPaymentTerms`, the store's
 * `booking_payment_terms` columns), which lets CreateBooking skip this
 * function for slots without them.
 */
export function effectivePaymentPolicy({ serviceFeed, slotFeed, merchantFeed }: PaymentPolicyFeeds): PaymentPolicy {
  const service = feedRecord("service", serviceFeed, { optional: false });
  const slot = feedRecord("availability", slotFeed, { optional: true });
  const merchant = feedRecord("merchant", merchantFeed, { optional: true });

  // Price: service, then the slot's payment option, then the slot's prepayment price.
  let price = servicePrice(service);
  let priceType = PriceType.FIXED_RATE_DEFAULT;
  let paymentOptionId: string | undefined;

  // The first listed option the merchant defines a price for sets the price;
  // every listed id must exist.
  for (const option of slotPaymentOptionIds(slot)) {
    const optionPrice = merchantPaymentOptionPrice(merchant, option);
    if (optionPrice && paymentOptionId === undefined) {
      price = optionPrice;
      paymentOptionId = option.id;
    }
  }

  const prepaymentPrice = slotPrepaymentPrice(slot);
  if (prepaymentPrice) {
    if (prepaymentPrice.price) {
      price = prepaymentPrice.price;
      paymentOptionId = undefined;
    }
    priceType = prepaymentPrice.priceType;
  }

  // prepayment_type: unspecified is NOT_SUPPORTED (spec §5).
  const prepaymentType = servicePrepaymentType(service);
  const prepayment = prepaymentType === "REQUIRED" ? "required" : prepaymentType === "OPTIONAL" ? "optional" : "none";
  if (prepayment !== "none" && !price) {
    throw new PaymentPolicyError("service", "price", `is required when prepayment_type is ${prepaymentType} (nothing to charge otherwise)`);
  }

  const noShowFee = noShowFeeTerm("availability", slot) ?? noShowFeeTerm("service", service);
  const deposit = depositTerm("availability", slot) ?? depositTerm("service", service);
  const requireCreditCard =
    requireCreditCardTerm("availability", slot) ?? requireCreditCardTerm("service", service) ?? "unspecified";
  const cardRequired =
    requireCreditCard === "always" || (prepayment === "required" && price !== undefined) || noShowFee !== undefined || deposit !== undefined;

  // Cancellation windows: the service's rules, then the slot's override.
  const { minAdvanceOnlineCancelingSec, refundConditions } = serviceCancellationRules(service);
  const lastOnlineCancellableSec = slotLastOnlineCancellableSec(slot);

  const policy: PaymentPolicy = {
    priceType,
    prepayment,
    requireCreditCard,
    cardRequired,
    cancellation: {},
  };
  if (price) policy.price = price;
  if (paymentOptionId !== undefined) policy.paymentOptionId = paymentOptionId;
  if (noShowFee) policy.noShowFee = noShowFee;
  if (deposit) policy.deposit = deposit;
  if (minAdvanceOnlineCancelingSec !== undefined) policy.cancellation.minAdvanceOnlineCancelingSec = minAdvanceOnlineCancelingSec;
  // 0 is proto3's "not set" for an absolute time.
  if (lastOnlineCancellableSec) policy.cancellation.lastOnlineCancellableSec = lastOnlineCancellableSec;
  if (refundConditions) policy.cancellation.refundConditions = refundConditions;
  return policy;
}
