import { clone, create } from "@bufbuild/protobuf";
import {
  DepositSchema,
  NoShowFeeSchema,
  PaymentInformationSchema,
  PaymentInformation_PaymentProcessedBy,
  PrepaymentStatus,
  PriceSchema,
  PriceType,
  type Deposit,
  type NoShowFee,
  type PaymentInformation,
  type Price,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { FieldError } from "../inventory/feed-records.js";

/**
 * The payment policy of one slot, decided from the feeds.
 *
 * This module is the ONE place that reads the payment fields of the raw feed
 * records (`services.feed_json`, `slots.feed_json`, `merchants.feed_json`, as
 * Google's feed JSON with snake_case names). Everything else works on the
 * `PaymentPolicy` it returns. Pure functions, no I/O.
 *
 * Sources: the payments seed (/work/shared/seeds/004_a481d30afb9907b4.txt,
 * cited below as "seed L<n>") and the spec's §2.8, §2.9 and §5.
 *
 * Money is bigint micros throughout: `price_micros` may be a JSON number (only
 * up to 2^53, beyond that the number has already lost precision) or a decimal
 * string (any int64). Never a float.
 */

/** Which feed record a bad field is in. */
export type PaymentFeed = "service" | "availability" | "merchant";

/**
 * A malformed payment field. `field` is the dotted path inside the record
 * (e.g. `no_show_fee.fee.price_micros`, `payment_option[1].price`), `feed`
 * says which record. It is a `FieldError`, so the feed importer reports it with
 * the file and record index like any other bad field.
 */
export class PaymentPolicyError extends FieldError {
  constructor(
    readonly feed: PaymentFeed,
    override readonly field: string,
    readonly problem: string,
  ) {
    super(field, `${feed} feed: ${field} ${problem}`);
    this.name = "PaymentPolicyError";
  }
}

/** Raw `require_credit_card` value (RequireCreditCard, spec §5). */
export type RequireCreditCard = "unspecified" | "conditional" | "always";

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

/** One step of a service's refund terms (Google's `RefundCondition`). */
export interface RefundCondition {
  /** `min_duration_before_start_time` (a Duration, e.g. "86400s") or `min_duration_before_start_time_sec`. */
  minBeforeStartSec: number;
  /** `refund_percent`, 0 to 100: the part of the prepayment refunded. */
  refundPercent: number;
}

export interface PaymentPolicyFeeds {
  /** The service feed record (an object, or its JSON text as stored in `services.feed_json`). */
  serviceFeed: unknown;
  /** The availability feed record of the slot (object or JSON text); may be absent. */
  slotFeed: unknown;
  /** The merchant feed record (object or JSON text); may be absent. */
  merchantFeed: unknown;
}

// ---------------------------------------------------------------------------
// Reading the feed JSON

type JsonObject = Record<string, unknown>;

const INT64_MAX = (1n << 63n) - 1n;
const DECIMAL = /^-?\d+$/;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (isObject(value)) return "an object";
  if (typeof value === "bigint") return `${value}`;
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function join(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

/** Absent (undefined or null, as proto3 JSON reads null) or the value. */
function given(value: unknown): boolean {
  return value !== undefined && value !== null;
}

class Reader {
  constructor(readonly feed: PaymentFeed) {}

  fail(field: string, problem: string): never {
    throw new PaymentPolicyError(this.feed, field, problem);
  }

  /** The record itself: an object, JSON text of one, or absent (→ {}). */
  record(value: unknown, optional: boolean): JsonObject {
    if (!given(value)) {
      if (optional) return {};
      this.fail("(record)", "is missing");
    }
    let parsed = value;
    if (typeof value === "string") {
      try {
        parsed = JSON.parse(value);
      } catch {
        this.fail("(record)", "is not valid JSON");
      }
    }
    if (!isObject(parsed)) this.fail("(record)", `must be a JSON object, got ${show(parsed)}`);
    return parsed;
  }

  object(record: JsonObject, name: string, prefix: string): JsonObject | undefined {
    const value = record[name];
    if (!given(value)) return undefined;
    if (!isObject(value)) this.fail(join(prefix, name), `must be an object, got ${show(value)}`);
    return value;
  }

  string(record: JsonObject, name: string, prefix: string): string | undefined {
    const value = record[name];
    if (!given(value)) return undefined;
    if (typeof value !== "string") this.fail(join(prefix, name), `must be a string, got ${show(value)}`);
    return value;
  }

  /** A non-negative int64 as a bigint (JSON number within 2^53, or a decimal string). */
  int64(record: JsonObject, name: string, prefix: string): bigint | undefined {
    const value = record[name];
    const field = join(prefix, name);
    if (!given(value)) return undefined;
    let parsed: bigint | undefined;
    if (typeof value === "number" && Number.isSafeInteger(value)) parsed = BigInt(value);
    else if (typeof value === "string" && DECIMAL.test(value)) parsed = BigInt(value);
    else if (typeof value === "number" && Number.isInteger(value)) {
      this.fail(field, `is beyond 2^53 as a JSON number and has lost precision; write it as a decimal string, got ${show(value)}`);
    }
    if (parsed === undefined) this.fail(field, `must be an integer (a JSON number or a decimal string), got ${show(value)}`);
    if (parsed < 0n) this.fail(field, `must not be negative, got ${show(value)}`);
    if (parsed > INT64_MAX) this.fail(field, `is beyond int64, got ${show(value)}`);
    return parsed;
  }

  /** A non-negative number of seconds (int64 limited to Number.MAX_SAFE_INTEGER). */
  seconds(record: JsonObject, name: string, prefix: string): number | undefined {
    const value = this.int64(record, name, prefix);
    if (value === undefined) return undefined;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(join(prefix, name), `is too large for a number of seconds, got ${value}`);
    return Number(value);
  }

  /** An enum given by value name (or, where `numbers` allows, by number); undefined when absent. */
  enumName<T extends string>(record: JsonObject, name: string, prefix: string, names: readonly T[], numbers?: readonly T[]): T | undefined {
    const value = record[name];
    if (!given(value)) return undefined;
    if (typeof value === "string" && (names as readonly string[]).includes(value)) return value as T;
    if (numbers && typeof value === "number" && Number.isInteger(value) && value >= 0 && value < numbers.length) return numbers[value];
    this.fail(join(prefix, name), `must be one of ${names.join(", ")}${numbers ? " (or its number)" : ""}, got ${show(value)}`);
  }

  priceType(record: JsonObject, name: string, prefix: string): PriceType {
    const type = this.enumName(record, name, prefix, ["FIXED_RATE_DEFAULT", "PER_PERSON"] as const, ["FIXED_RATE_DEFAULT", "PER_PERSON"] as const);
    return type === "PER_PERSON" ? PriceType.PER_PERSON : PriceType.FIXED_RATE_DEFAULT;
  }

  /** A Price {price_micros, currency_code, pricing_option_tag}; both of the first two are required. */
  price(record: JsonObject, name: string, prefix: string, required: boolean): Price | undefined {
    const field = join(prefix, name);
    const value = this.object(record, name, prefix);
    if (!value) {
      if (required) this.fail(field, "is required");
      return undefined;
    }
    const micros = this.int64(value, "price_micros", field);
    if (micros === undefined) this.fail(join(field, "price_micros"), "is required");
    const currency = this.string(value, "currency_code", field);
    if (currency === undefined || currency === "") this.fail(join(field, "currency_code"), 'is required (ISO 4217 code, e.g. "USD")');
    if (!/^[A-Z]{3}$/.test(currency)) this.fail(join(field, "currency_code"), `must be an ISO 4217 code such as "USD", got ${show(currency)}`);
    return create(PriceSchema, {
      priceMicros: micros,
      currencyCode: currency,
      pricingOptionTag: this.string(value, "pricing_option_tag", field) ?? "",
    });
  }

  /** `no_show_fee` {fee Price (required), fee_type PriceType}. */
  noShowFee(record: JsonObject, prefix: string): NoShowFee | undefined {
    const value = this.object(record, "no_show_fee", prefix);
    if (!value) return undefined;
    const field = join(prefix, "no_show_fee");
    return create(NoShowFeeSchema, {
      fee: this.price(value, "fee", field, true),
      feeType: this.priceType(value, "fee_type", field),
    });
  }

  /**
   * `deposit` {deposit Price (required), min_advance_cancellation_sec, deposit_type}.
   * Google's own examples (seed L134, L164) put `min_advance_cancellation_sec`
   * inside the Price (`deposit.deposit.min_advance_cancellation_sec`); the
   * proto (spec §2.9) has it on Deposit. Both are read; the Deposit's wins.
   */
  deposit(record: JsonObject, prefix: string): Deposit | undefined {
    const value = this.object(record, "deposit", prefix);
    if (!value) return undefined;
    const field = join(prefix, "deposit");
    const amount = this.price(value, "deposit", field, true);
    const inner = this.object(value, "deposit", field)!;
    const window =
      this.int64(value, "min_advance_cancellation_sec", field) ??
      this.int64(inner, "min_advance_cancellation_sec", join(field, "deposit")) ??
      0n;
    return create(DepositSchema, {
      deposit: amount,
      minAdvanceCancellationSec: window,
      depositType: this.priceType(value, "deposit_type", field),
    });
  }

  /**
   * `cancellation_policy.refund_conditions` of the service's scheduling rules
   * (Google's SchedulingRules.CancellationPolicy): each condition's
   * `min_duration_before_start_time` as proto3 JSON gives a Duration ("86400s"),
   * or `min_duration_before_start_time_sec` as Google's other feeds write it,
   * and `refund_percent` from 0 to 100.
   */
  refundConditions(rules: JsonObject, prefix: string): RefundCondition[] | undefined {
    const policy = this.object(rules, "cancellation_policy", prefix);
    if (!policy) return undefined;
    const field = join(prefix, "cancellation_policy.refund_conditions");
    const list = policy.refund_conditions;
    if (!given(list)) return undefined;
    if (!Array.isArray(list)) this.fail(field, `must be a list, got ${show(list)}`);
    return list.map((condition, index) => {
      const at = `${field}[${index}]`;
      if (!isObject(condition)) this.fail(at, `must be an object, got ${show(condition)}`);
      const duration = condition.min_duration_before_start_time;
      let minBeforeStartSec: number | undefined;
      if (given(duration)) {
        const match = typeof duration === "string" ? /^(\d+)s$/.exec(duration) : null;
        if (!match) this.fail(join(at, "min_duration_before_start_time"), `must be a Duration such as "86400s", got ${show(duration)}`);
        minBeforeStartSec = Number(match[1]);
      } else {
        minBeforeStartSec = this.seconds(condition, "min_duration_before_start_time_sec", at);
      }
      const percent = this.int64(condition, "refund_percent", at) ?? 0n;
      if (percent > 100n) this.fail(join(at, "refund_percent"), `must be from 0 to 100, got ${percent}`);
      return { minBeforeStartSec: minBeforeStartSec ?? 0, refundPercent: Number(percent) };
    });
  }

  requireCreditCard(record: JsonObject, prefix: string): RequireCreditCard | undefined {
    const value = this.enumName(record, "require_credit_card", prefix, [
      "REQUIRE_CREDIT_CARD_UNSPECIFIED",
      "REQUIRE_CREDIT_CARD_CONDITIONAL",
      "REQUIRE_CREDIT_CARD_ALWAYS",
    ] as const);
    if (value === undefined) return undefined;
    return value === "REQUIRE_CREDIT_CARD_ALWAYS" ? "always" : value === "REQUIRE_CREDIT_CARD_CONDITIONAL" ? "conditional" : "unspecified";
  }
}

/** The slot's `payment_option_id`: a string or (as in the Availability proto) a list of strings. */
function slotPaymentOptionIds(reader: Reader, slot: JsonObject): { id: string; field: string }[] {
  const value = slot.payment_option_id;
  if (!given(value)) return [];
  if (typeof value === "string") return value === "" ? [] : [{ id: value, field: "payment_option_id" }];
  if (!Array.isArray(value)) reader.fail("payment_option_id", `must be a string or a list of strings, got ${show(value)}`);
  return value.map((id, index) => {
    const field = `payment_option_id[${index}]`;
    if (typeof id !== "string" || id === "") reader.fail(field, `must be a non-empty string, got ${show(id)}`);
    return { id, field };
  });
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
 * The fields that can make CreateBooking take money or keep a card
 * (`prepayment_type`, `deposit`, `no_show_fee`, `require_credit_card`) are
 * also named by the store's `booking_payment_terms` columns (migration 7),
 * which let CreateBooking skip this function for slots without them: a new
 * such field needs a new migration there too (test/payments/payment-terms-flag.test.ts
 * checks the two agree).
 */
export function effectivePaymentPolicy({ serviceFeed, slotFeed, merchantFeed }: PaymentPolicyFeeds): PaymentPolicy {
  const serviceReader: Reader = new Reader("service");
  const slotReader: Reader = new Reader("availability");
  const merchantReader: Reader = new Reader("merchant");
  const service = serviceReader.record(serviceFeed, false);
  const slot = slotReader.record(slotFeed, true);
  const merchant = merchantReader.record(merchantFeed, true);

  // Price: service, then the slot's payment option, then the slot's prepayment price.
  let price = serviceReader.price(service, "price", "", false);
  let priceType = PriceType.FIXED_RATE_DEFAULT;
  let paymentOptionId: string | undefined;

  const optionIds = slotPaymentOptionIds(slotReader, slot);
  if (optionIds.length > 0) {
    const options = merchant.payment_option;
    if (given(options) && !Array.isArray(options)) merchantReader.fail("payment_option", `must be a list, got ${show(options)}`);
    const list = (options ?? []) as unknown[];
    // The first listed option the merchant defines a price for sets the price;
    // every listed id must exist.
    let chosen: Price | undefined;
    for (const { id, field } of optionIds) {
      const index = list.findIndex((option) => isObject(option) && option.payment_option_id === id);
      if (index < 0) slotReader.fail(field, `refers to payment option ${show(id)}, which the merchant feed does not define`);
      const option = list[index];
      const prefix = `payment_option[${index}]`;
      if (!isObject(option)) merchantReader.fail(prefix, `must be an object, got ${show(option)}`);
      const optionPrice = merchantReader.price(option, "price", prefix, false);
      if (optionPrice && !chosen) {
        chosen = optionPrice;
        paymentOptionId = id;
      }
    }
    if (chosen) price = chosen;
  }

  const prepaymentInfo = slotReader.object(slot, "prepayment", "");
  const priceInfo = prepaymentInfo && slotReader.object(prepaymentInfo, "price_info", "prepayment");
  if (priceInfo) {
    const infoPrice = slotReader.price(priceInfo, "price", "prepayment.price_info", false);
    if (infoPrice) {
      price = infoPrice;
      paymentOptionId = undefined;
    }
    priceType = slotReader.priceType(priceInfo, "price_type", "prepayment.price_info");
  }

  // prepayment_type: unspecified is NOT_SUPPORTED (spec §5).
  const prepaymentType = serviceReader.enumName(service, "prepayment_type", "", [
    "PREPAYMENT_TYPE_UNSPECIFIED",
    "REQUIRED",
    "OPTIONAL",
    "NOT_SUPPORTED",
  ] as const);
  const prepayment = prepaymentType === "REQUIRED" ? "required" : prepaymentType === "OPTIONAL" ? "optional" : "none";
  if (prepayment !== "none" && !price) {
    serviceReader.fail("price", `is required when prepayment_type is ${prepaymentType} (nothing to charge otherwise)`);
  }

  const noShowFee = slotReader.noShowFee(slot, "") ?? serviceReader.noShowFee(service, "");
  const deposit = slotReader.deposit(slot, "") ?? serviceReader.deposit(service, "");
  const requireCreditCard =
    slotReader.requireCreditCard(slot, "") ?? serviceReader.requireCreditCard(service, "") ?? "unspecified";
  const cardRequired =
    requireCreditCard === "always" || (prepayment === "required" && price !== undefined) || noShowFee !== undefined || deposit !== undefined;

  // Cancellation windows. Google's examples say `scheduling_rules`; the v1alpha
  // Service resource says `rules` (spec §7.12): either is read.
  const rulesName = given(service.scheduling_rules) ? "scheduling_rules" : "rules";
  const rules = serviceReader.object(service, rulesName, "");
  const minAdvanceOnlineCancelingSec = rules ? serviceReader.seconds(rules, "min_advance_online_canceling", rulesName) : undefined;
  const refundConditions = rules ? serviceReader.refundConditions(rules, rulesName) : undefined;
  const overrides = slotReader.object(slot, "scheduling_rule_overrides", "");
  const lastOnlineCancellableSec = overrides
    ? slotReader.seconds(overrides, "last_online_cancellable_sec", "scheduling_rule_overrides")
    : undefined;

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

// ---------------------------------------------------------------------------
// Cancellation

export interface CancellationOutcome {
  /** Whether the user may cancel online now. */
  allowed: boolean;
  /** Whether the deposit (if any) is refunded on this cancellation. */
  refundDeposit: boolean;
  /** Whether the no-show fee is charged for cancelling inside the window. */
  chargeLateCancelFee: boolean;
  /** How much of a prepayment goes back, 0 to 100 (0 when the cancellation is not allowed). */
  prepaymentRefundPercent: number;
  /** The last second at which cancelling online is free (inclusive). */
  deadlineSec: number;
}

/**
 * What a user's cancellation at `nowSec` of a slot starting at `slotStartSec`
 * leads to (spec §5, seed L64, L75, L113, L135–L145, L170):
 *
 * - The online cancellation deadline is `last_online_cancellable_sec` when the
 *   slot gives it, else the slot start minus `min_advance_online_canceling`,
 *   else ("no window given") the slot start (seed L64). Cancelling at or before
 *   the deadline is free; after it is "inside the window".
 * - Inside the window: with a no-show fee the cancellation goes through and the
 *   fee is charged ("the fee may be charged on no-show or on cancellation
 *   inside the window", seed L113); without one it is refused.
 * - A deposit is refunded only when the cancellation goes through at least
 *   `min_advance_cancellation_sec` before the start (seed L139–L144); the
 *   deposit's window is separate from the online cancellation window.
 * - A prepayment goes back in full on a cancellation that goes through,
 *   unless the service's `cancellation_policy.refund_conditions` say
 *   otherwise: then the highest `refund_percent` among the conditions whose
 *   `min_duration_before_start_time` the cancellation still meets, and
 *   nothing when it meets none.
 */
export function cancellationOutcome(
  policy: PaymentPolicy,
  { nowSec, slotStartSec }: { nowSec: number; slotStartSec: number },
): CancellationOutcome {
  const { lastOnlineCancellableSec, minAdvanceOnlineCancelingSec } = policy.cancellation;
  const deadlineSec = lastOnlineCancellableSec ?? slotStartSec - (minAdvanceOnlineCancelingSec ?? 0);
  const inTime = nowSec <= deadlineSec;
  const chargeLateCancelFee = !inTime && policy.noShowFee !== undefined;
  const allowed = inTime || chargeLateCancelFee;
  const refundDeposit =
    allowed && policy.deposit !== undefined && BigInt(slotStartSec) - BigInt(nowSec) >= policy.deposit.minAdvanceCancellationSec;
  const noticeSec = slotStartSec - nowSec;
  const conditions = policy.cancellation.refundConditions;
  const prepaymentRefundPercent = !allowed
    ? 0
    : conditions === undefined
      ? 100
      : Math.max(0, ...conditions.filter((c) => noticeSec >= c.minBeforeStartSec).map((c) => c.refundPercent));
  return { allowed, refundDeposit, chargeLateCancelFee, prepaymentRefundPercent, deadlineSec };
}
