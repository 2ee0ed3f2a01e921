import { create } from "@bufbuild/protobuf";
import {
  DepositSchema,
  NoShowFeeSchema,
  PriceSchema,
  PriceType,
  type Deposit,
  type NoShowFee,
  type Price,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { describeValue, FieldError } from "../feeds/field-error.js";

/**
 * The payment terms as the feeds state them.
 *
 * This module is the ONE place that reads the payment fields of the raw feed
 * records (`services.feed_json`, `slots.feed_json`, `merchants.feed_json`, as
 * Google's feed JSON with snake_case names): each function reads one term of
 * one record into a typed value, or throws `PaymentPolicyError` naming the
 * field. Which record's term wins is decided in payment-policy.ts. Pure
 * functions, no I/O.
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

/** One step of a service's refund terms (Google's `RefundCondition`). */
export interface RefundCondition {
  /** `min_duration_before_start_time` (a Duration, e.g. "86400s") or `min_duration_before_start_time_sec`. */
  minBeforeStartSec: number;
  /** `refund_percent`, 0 to 100: the part of the prepayment refunded. */
  refundPercent: number;
}

// ---------------------------------------------------------------------------
// Which fields are payment terms

/**
 * The payment-term feed fields: the top-level fields of a service or an
 * availability record whose presence means a booking of it can take money or
 * keep a card (`prepayment_type`, `deposit`, `no_show_fee`,
 * `require_credit_card`; an availability record has no `prepayment_type`).
 * A record with none of them, and whose service has none either, has an empty
 * payment plan whatever its price, payment option or cancellation rules say.
 *
 * The store's `booking_payment_terms` columns (migration 7) name the same
 * fields in SQL; they let CreateBooking skip reading the policy for slots
 * without such terms. A new such field needs a new migration there too
 * (test/payments/feed-terms.test.ts checks that the two agree).
 */
export const bookingPaymentTermFields: { readonly service: readonly string[]; readonly availability: readonly string[] } = {
  service: ["prepayment_type", "deposit", "no_show_fee", "require_credit_card"],
  availability: ["deposit", "no_show_fee", "require_credit_card"],
};

/**
 * Whether a service or availability record (as parsed from its feed JSON) has
 * a payment-term field (`bookingPaymentTermFields`). A field counts when the
 * record has it at all, `null` included, as SQLite's `json_type(...) IS NOT
 * NULL` in migration 7 counts it: saying yes only sends CreateBooking to the
 * payment policy, which reads `null` as "not set".
 */
export function hasBookingPaymentTerms(feed: "service" | "availability", record: object): boolean {
  return bookingPaymentTermFields[feed].some(
    (field) => Object.hasOwn(record, field) && (record as JsonObject)[field] !== undefined,
  );
}

/**
 * Availability fields that override a service's payment terms: every field of
 * an availability record payment-policy.ts reads (checked only where present:
 * most slots have none).
 */
export const paymentOverrideFields: readonly string[] = [
  ...bookingPaymentTermFields.availability,
  "payment_option_id",
  "prepayment",
  "scheduling_rule_overrides",
];

// ---------------------------------------------------------------------------
// Reading the feed JSON

/** A feed record, or an object inside one, as parsed JSON. */
export type FeedRecord = Record<string, unknown>;
type JsonObject = FeedRecord;

const INT64_MAX = (1n << 63n) - 1n;
const DECIMAL = /^-?\d+$/;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function show(value: unknown): string {
  if (typeof value === "bigint") return `${value}`;
  return describeValue(value);
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

const readers: Record<PaymentFeed, Reader> = {
  service: new Reader("service"),
  availability: new Reader("availability"),
  merchant: new Reader("merchant"),
};

// ---------------------------------------------------------------------------
// The terms, one record at a time

/**
 * A feed record: an object, or its JSON text as stored in `feed_json`. Absent
 * (undefined or null) reads as `{}` where `optional`, else throws.
 */
export function feedRecord(feed: PaymentFeed, value: unknown, { optional }: { optional: boolean }): FeedRecord {
  return readers[feed].record(value, optional);
}

/** The service's `price`, if it gives one. */
export function servicePrice(service: FeedRecord): Price | undefined {
  return readers.service.price(service, "price", "", false);
}

/** The service's `prepayment_type` value name, if given. */
export function servicePrepaymentType(
  service: FeedRecord,
): "PREPAYMENT_TYPE_UNSPECIFIED" | "REQUIRED" | "OPTIONAL" | "NOT_SUPPORTED" | undefined {
  return readers.service.enumName(service, "prepayment_type", "", [
    "PREPAYMENT_TYPE_UNSPECIFIED",
    "REQUIRED",
    "OPTIONAL",
    "NOT_SUPPORTED",
  ] as const);
}

/** The slot's `payment_option_id`: a string or (as in the Availability proto) a list of strings. */
export function slotPaymentOptionIds(slot: FeedRecord): { id: string; field: string }[] {
  const reader: Reader = readers.availability;
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
 * The price of the merchant's `payment_option[]` a slot refers to (one of
 * `slotPaymentOptionIds`), if that option gives one. The option must exist:
 * an id the merchant feed does not define fails on the slot's field.
 */
export function merchantPaymentOptionPrice(merchant: FeedRecord, { id, field }: { id: string; field: string }): Price | undefined {
  const merchantReader: Reader = readers.merchant;
  const options = merchant.payment_option;
  if (given(options) && !Array.isArray(options)) merchantReader.fail("payment_option", `must be a list, got ${show(options)}`);
  const list = (options ?? []) as unknown[];
  const index = list.findIndex((option) => isObject(option) && option.payment_option_id === id);
  if (index < 0) readers.availability.fail(field, `refers to payment option ${show(id)}, which the merchant feed does not define`);
  const option = list[index];
  const prefix = `payment_option[${index}]`;
  if (!isObject(option)) merchantReader.fail(prefix, `must be an object, got ${show(option)}`);
  return merchantReader.price(option, "price", prefix, false);
}

/**
 * The slot's `prepayment.price_info` (Payment Redirect add-on, spec §5): its
 * `price` if given and its `price_type` (FIXED_RATE_DEFAULT when not given).
 * Undefined when the slot has no `price_info`.
 */
export function slotPrepaymentPrice(slot: FeedRecord): { price?: Price; priceType: PriceType } | undefined {
  const reader: Reader = readers.availability;
  const prepaymentInfo = reader.object(slot, "prepayment", "");
  const priceInfo = prepaymentInfo && reader.object(prepaymentInfo, "price_info", "prepayment");
  if (!priceInfo) return undefined;
  const price = reader.price(priceInfo, "price", "prepayment.price_info", false);
  const priceType = reader.priceType(priceInfo, "price_type", "prepayment.price_info");
  return price ? { price, priceType } : { priceType };
}

/** The record's `no_show_fee`, if given. */
export function noShowFeeTerm(feed: "service" | "availability", record: FeedRecord): NoShowFee | undefined {
  return readers[feed].noShowFee(record, "");
}

/** The record's `deposit`, if given. */
export function depositTerm(feed: "service" | "availability", record: FeedRecord): Deposit | undefined {
  return readers[feed].deposit(record, "");
}

/** The record's `require_credit_card`, if given. */
export function requireCreditCardTerm(feed: "service" | "availability", record: FeedRecord): RequireCreditCard | undefined {
  return readers[feed].requireCreditCard(record, "");
}

/**
 * The service's cancellation rules: `min_advance_online_canceling` (seconds of
 * notice needed to cancel online) and `cancellation_policy.refund_conditions`.
 * Google's examples say `scheduling_rules`; the v1alpha Service resource says
 * `rules` (spec §7.12): either is read.
 */
export function serviceCancellationRules(service: FeedRecord): {
  minAdvanceOnlineCancelingSec?: number;
  refundConditions?: RefundCondition[];
} {
  const reader: Reader = readers.service;
  const rulesName = given(service.scheduling_rules) ? "scheduling_rules" : "rules";
  const rules = reader.object(service, rulesName, "");
  if (!rules) return {};
  const minAdvanceOnlineCancelingSec = reader.seconds(rules, "min_advance_online_canceling", rulesName);
  const refundConditions = reader.refundConditions(rules, rulesName);
  return { minAdvanceOnlineCancelingSec, refundConditions };
}

/** The slot's `scheduling_rule_overrides.last_online_cancellable_sec` (absolute Unix seconds), if given. */
export function slotLastOnlineCancellableSec(slot: FeedRecord): number | undefined {
  const reader: Reader = readers.availability;
  const overrides = reader.object(slot, "scheduling_rule_overrides", "");
  return overrides ? reader.seconds(overrides, "last_online_cancellable_sec", "scheduling_rule_overrides") : undefined;
}
