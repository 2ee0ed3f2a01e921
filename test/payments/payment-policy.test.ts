import { readFileSync } from "node:fs";
import { join } from "node:path";
import { create, toJson, type JsonValue } from "@bufbuild/protobuf";
import {
  PaymentInformationSchema,
  PaymentInformation_PaymentProcessedBy,
  PriceSchema,
  PriceType,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { FieldError } from "../../src/feeds/field-error.js";
import { cancellationOutcome } from "../../src/payments/cancellation-terms.js";
import { PaymentPolicyError } from "../../src/payments/feed-terms.js";
import { amountFor, chargesAtBooking, paymentInformationFor } from "../../src/payments/payment-amounts.js";
import { effectivePaymentPolicy, type PaymentPolicy } from "../../src/payments/payment-policy.js";

/*
 * The seed's examples (/work/shared/seeds/004_a481d30afb9907b4.txt), copied as
 * written except for what makes them invalid JSON or invalid against the proto:
 * missing commas added, `USD` quoted, trailing commas dropped, and (L134, L164)
 * `min_advance_cancellation_sec` moved from inside the deposit's Price, which
 * has no such field, to the Deposit (spec §2.9).
 */
const seedL20 = { merchant_id: "merchant-1", service_id: "service-1-a", name: "Men's haircut", description: "One of our stylists will cut your hair", price: { price_micros: 15000000, currency_code: "USD" } };
const seedL35 = { merchant_id: "merchant-1", service_id: "service-2-b", name: "Spa Treatment", description: "A full spa treatment", price: { price_micros: "200000000", currency_code: "USD" }, prepayment_type: "REQUIRED" };
const seedL62 = { prepayment_status: "PREPAYMENT_PROVIDED", payment_processed_by: "PROCESSED_BY_PARTNER", payment_transaction_id: "[this-transaction-id]", price: { price_micros: "200000000", currency_code: "USD" } };
const seedL69 = { merchant_id: "merchant-1", service_id: "service-2-b", name: "Spa Treatment", description: "A full spa treatment", price: { price_micros: 200000000, currency_code: "USD" }, scheduling_rules: { min_advance_online_canceling: 14400 }, no_show_fee: { fee: { price_micros: 25000000, currency_code: "USD" }, fee_type: "FIXED_RATE_DEFAULT" } };
const seedL100 = { prepayment_status: "PREPAYMENT_PROVIDED", payment_processed_by: "PROCESSED_BY_PARTNER", payment_transaction_id: "[this-transaction-id]", price: { price_micros: "200000000", currency_code: "USD" }, no_show_fee: { fee: { price_micros: 25000000, currency_code: "USD" }, fee_type: "FIXED_RATE_DEFAULT" } };
/** L134 exactly as the seed nests it (inside the Price), to show the reader accepts Google's own example. */
const seedL134AsWritten = { merchant_id: "merchant-1", service_id: "service-2-b", name: "Spa Treatment", description: "A full spa treatment", price: { price_micros: 200000000, currency_code: "USD" }, scheduling_rules: { min_advance_online_canceling: 86400 }, deposit: { deposit: { price_micros: 25000000, currency_code: "USD", min_advance_cancellation_sec: 14400 }, deposit_type: "FIXED_RATE_DEFAULT" } };
const seedL164 = { prepayment_status: "PREPAYMENT_PROVIDED", payment_processed_by: "PROCESSED_BY_PARTNER", payment_transaction_id: "[this-transaction-id]", price: { price_micros: "200000000", currency_code: "USD" }, deposit: { deposit: { price_micros: 25000000, currency_code: "USD" }, min_advance_cancellation_sec: 28800, deposit_type: "FIXED_RATE_DEFAULT" } };
const seedL197 = { merchant_id: "merchant-1", service_id: "service-1-a", name: "Men's haircut", description: "One of our stylists will cut your hair", price: { price_micros: 15000000, currency_code: "USD" }, require_credit_card: "REQUIRE_CREDIT_CARD_ALWAYS" };

const PARTNER = PaymentInformation_PaymentProcessedBy.PROCESSED_BY_PARTNER;
const TX = "[this-transaction-id]";
const usd = (micros: number | string) => ({ price_micros: micros, currency_code: "USD" });

function policyOf(serviceFeed: unknown, slotFeed: unknown = undefined, merchantFeed: unknown = undefined): PaymentPolicy {
  return effectivePaymentPolicy({ serviceFeed, slotFeed, merchantFeed });
}

/** The echo as REST sends it: proto3 JSON with the proto's field names. */
function echoJson(policy: PaymentPolicy, options: Partial<Parameters<typeof paymentInformationFor>[1]> = {}): JsonValue {
  const info = paymentInformationFor(policy, { partySize: 1, processedBy: PARTNER, ...options });
  return toJson(PaymentInformationSchema, info, { useProtoFieldName: true });
}

/**
 * A seed example in proto3 JSON form: int64 values are strings (the seed mixes
 * numbers and strings), and FIXED_RATE_DEFAULT, PriceType's zero value, is
 * omitted as proto3 JSON omits every zero enum.
 */
function proto3(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(proto3);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === "FIXED_RATE_DEFAULT") continue;
    out[key] = (key === "price_micros" || key === "min_advance_cancellation_sec") && typeof item === "number" ? String(item) : proto3(item);
  }
  return out;
}

function paymentError(run: () => unknown): PaymentPolicyError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PaymentPolicyError);
    expect(error).toBeInstanceOf(FieldError);
    return error as PaymentPolicyError;
  }
  throw new Error("expected a PaymentPolicyError");
}

describe("the five configurations of the seed", () => {
  test("pay on arrival (seed L20): price only, nothing prepaid, no card", () => {
    const policy = policyOf(seedL20);
    expect(policy.price?.priceMicros).toBe(15000000n);
    expect(policy.price?.currencyCode).toBe("USD");
    expect(policy.prepayment).toBe("none");
    expect(policy.noShowFee).toBeUndefined();
    expect(policy.deposit).toBeUndefined();
    expect(policy.cardRequired).toBe(false);
    expect(policy.cancellation).toEqual({});
    expect(echoJson(policy)).toEqual({
      prepayment_status: "PREPAYMENT_NOT_PROVIDED",
      payment_processed_by: "PROCESSED_BY_PARTNER",
      price: { price_micros: "15000000", currency_code: "USD" },
    });
    expect(chargesAtBooking(policy, { partySize: 2 })).toEqual({});
  });

  test("full prepayment (seed L35): REQUIRED, card required, echo equals seed L62 exactly", () => {
    const policy = policyOf(seedL35);
    expect(policy.prepayment).toBe("required");
    expect(policy.price?.priceMicros).toBe(200000000n);
    expect(policy.cardRequired).toBe(true);
    expect(echoJson(policy, { transactionId: TX })).toEqual(seedL62);
    expect(chargesAtBooking(policy, { partySize: 2 }).prepayment?.priceMicros).toBe(200000000n);
  });

  test("full prepayment without a transaction id is refused (seed L60: the id must be given)", () => {
    expect(() => paymentInformationFor(policyOf(seedL35), { partySize: 1, processedBy: PARTNER })).toThrow(/transaction id/);
  });

  test("no-show fee (seed L69): 25 USD fixed, 14400 s window, card required, terms echoed", () => {
    const policy = policyOf(seedL69);
    expect(policy.prepayment).toBe("none");
    expect(policy.noShowFee?.fee?.priceMicros).toBe(25000000n);
    expect(policy.noShowFee?.feeType).toBe(PriceType.FIXED_RATE_DEFAULT);
    expect(policy.cancellation.minAdvanceOnlineCancelingSec).toBe(14400);
    expect(policy.cardRequired).toBe(true);
    // Nothing is charged at booking: PREPAYMENT_NOT_PROVIDED, with the stored card's id and the terms.
    expect(echoJson(policy, { transactionId: "card-1" })).toEqual(
      proto3({ ...seedL100, prepayment_status: "PREPAYMENT_NOT_PROVIDED", payment_transaction_id: "card-1" }),
    );
    expect(chargesAtBooking(policy, { partySize: 2 })).toEqual({});
  });

  test("prepayment plus no-show fee echoes seed L100 exactly", () => {
    const policy = policyOf({ ...seedL69, prepayment_type: "REQUIRED" });
    expect(echoJson(policy, { transactionId: TX })).toEqual(proto3(seedL100));
    // With implicit fields written, fee_type FIXED_RATE_DEFAULT appears as in the seed.
    const full = toJson(PaymentInformationSchema, paymentInformationFor(policy, { partySize: 1, processedBy: PARTNER, transactionId: TX }), {
      useProtoFieldName: true,
      alwaysEmitImplicit: true,
    }) as Record<string, unknown>;
    expect(full.no_show_fee).toEqual({ fee: { price_micros: "25000000", currency_code: "USD", pricing_option_tag: "" }, fee_type: "FIXED_RATE_DEFAULT" });
  });

  test("deposit (seed L134 as written, window nested in the Price): read, and echoed like seed L164", () => {
    const policy = policyOf(seedL134AsWritten);
    expect(policy.deposit?.deposit?.priceMicros).toBe(25000000n);
    expect(policy.deposit?.minAdvanceCancellationSec).toBe(14400n);
    expect(policy.deposit?.depositType).toBe(PriceType.FIXED_RATE_DEFAULT);
    expect(policy.cancellation.minAdvanceOnlineCancelingSec).toBe(86400);
    expect(policy.cardRequired).toBe(true);
    expect(policy.prepayment).toBe("none");
    // Seed L164 shows 28800 s where its feed (L134) says 14400: the echo carries the policy's own terms.
    expect(echoJson(policy, { transactionId: TX })).toEqual(proto3({ ...seedL164, deposit: { ...seedL164.deposit, min_advance_cancellation_sec: 14400 } }));
    expect(chargesAtBooking(policy, { partySize: 3 })).toEqual({ deposit: create(PriceSchema, { priceMicros: 25000000n, currencyCode: "USD" }) });
  });

  test("deposit with a 28800 s refund window echoes seed L164 exactly", () => {
    const service = {
      ...seedL20,
      service_id: "service-2-b",
      price: usd(200000000),
      deposit: { deposit: usd(25000000), min_advance_cancellation_sec: 28800, deposit_type: "FIXED_RATE_DEFAULT" },
    };
    expect(echoJson(policyOf(service), { transactionId: TX })).toEqual(proto3(seedL164));
  });

  test("credit card required (seed L197): ALWAYS; the echo is the pay-on-arrival one (seed L210)", () => {
    const policy = policyOf(seedL197);
    expect(policy.requireCreditCard).toBe("always");
    expect(policy.cardRequired).toBe(true);
    expect(echoJson(policy)).toEqual(echoJson(policyOf(seedL20)));
  });
});

describe("require_credit_card CONDITIONAL (spec §5)", () => {
  const base = { merchant_id: "m", service_id: "s", price: usd(10000000) };
  test.each([
    ["CONDITIONAL, nothing else", { require_credit_card: "REQUIRE_CREDIT_CARD_CONDITIONAL" }, false],
    ["UNSPECIFIED behaves as CONDITIONAL", { require_credit_card: "REQUIRE_CREDIT_CARD_UNSPECIFIED" }, false],
    ["absent behaves as CONDITIONAL", {}, false],
    ["CONDITIONAL with OPTIONAL prepayment", { require_credit_card: "REQUIRE_CREDIT_CARD_CONDITIONAL", prepayment_type: "OPTIONAL" }, false],
    ["CONDITIONAL with NOT_SUPPORTED prepayment", { require_credit_card: "REQUIRE_CREDIT_CARD_CONDITIONAL", prepayment_type: "NOT_SUPPORTED" }, false],
    ["CONDITIONAL with REQUIRED prepayment", { require_credit_card: "REQUIRE_CREDIT_CARD_CONDITIONAL", prepayment_type: "REQUIRED" }, true],
    ["CONDITIONAL with a no-show fee", { require_credit_card: "REQUIRE_CREDIT_CARD_CONDITIONAL", no_show_fee: { fee: usd(1) } }, true],
    ["CONDITIONAL with a deposit", { require_credit_card: "REQUIRE_CREDIT_CARD_CONDITIONAL", deposit: { deposit: usd(1) } }, true],
    ["ALWAYS", { require_credit_card: "REQUIRE_CREDIT_CARD_ALWAYS" }, true],
  ])("%s", (_name, extra, expected) => {
    expect(policyOf({ ...base, ...extra }).cardRequired).toBe(expected);
  });

  test("the slot overrides the service both ways", () => {
    expect(policyOf({ ...base, require_credit_card: "REQUIRE_CREDIT_CARD_CONDITIONAL" }, { require_credit_card: "REQUIRE_CREDIT_CARD_ALWAYS" }).cardRequired).toBe(true);
    const relaxed = policyOf({ ...base, require_credit_card: "REQUIRE_CREDIT_CARD_ALWAYS" }, { require_credit_card: "REQUIRE_CREDIT_CARD_CONDITIONAL" });
    expect(relaxed.requireCreditCard).toBe("conditional");
    expect(relaxed.cardRequired).toBe(false);
  });

  test("a slot-level no-show fee makes the card required", () => {
    expect(policyOf(base, { no_show_fee: { fee: usd(5000000) } }).cardRequired).toBe(true);
  });
});

describe("slot (availability) overrides", () => {
  test("the slot's no-show fee replaces the service's; without one the service's applies", () => {
    const slotFee = policyOf(seedL69, { no_show_fee: { fee: usd(40000000), fee_type: "PER_PERSON" } });
    expect(slotFee.noShowFee?.fee?.priceMicros).toBe(40000000n);
    expect(slotFee.noShowFee?.feeType).toBe(PriceType.PER_PERSON);
    expect(policyOf(seedL69, { merchant_id: "merchant-1" }).noShowFee?.fee?.priceMicros).toBe(25000000n);
    // A no-show fee only on some slots (seed L214: 17:00-19:00).
    expect(policyOf(seedL20, {}).noShowFee).toBeUndefined();
    expect(policyOf(seedL20, { no_show_fee: { fee: usd(30000000) } }).noShowFee?.fee?.priceMicros).toBe(30000000n);
  });

  test("the slot's deposit replaces the service's (deposit for parties over 6)", () => {
    const policy = policyOf(seedL134AsWritten, {
      resources: { party_size: 8 },
      deposit: { deposit: usd(20000000), min_advance_cancellation_sec: "172800", deposit_type: "PER_PERSON" },
    });
    expect(policy.deposit?.deposit?.priceMicros).toBe(20000000n);
    expect(policy.deposit?.minAdvanceCancellationSec).toBe(172800n);
    expect(policy.deposit?.depositType).toBe(PriceType.PER_PERSON);
    expect(chargesAtBooking(policy, { partySize: 8 }).deposit?.priceMicros).toBe(160000000n);
    expect(policyOf(seedL20, { resources: { party_size: 4 } }).deposit).toBeUndefined();
  });

  test("scheduling_rule_overrides.last_online_cancellable_sec is kept as an absolute time", () => {
    const policy = policyOf(seedL69, { start_sec: 1803916800, scheduling_rule_overrides: { last_online_cancellable_sec: "1803830400" } });
    expect(policy.cancellation).toEqual({ minAdvanceOnlineCancelingSec: 14400, lastOnlineCancellableSec: 1803830400 });
  });

  test("last_online_cancellable_sec 0 is proto3's unset, not 1970", () => {
    expect(policyOf(seedL69, { scheduling_rule_overrides: { last_online_cancellable_sec: 0 } }).cancellation).toEqual({ minAdvanceOnlineCancelingSec: 14400 });
  });

  test("slot feed absent (undefined / null) means the service alone", () => {
    expect(policyOf(seedL69, null)).toEqual(policyOf(seedL69, undefined));
  });
});

describe("price through the slot's payment option and prepayment price", () => {
  const merchant = {
    merchant_id: "merchant-1",
    payment_option: [
      { payment_option_id: "no-price", name: "pack" },
      { payment_option_id: "tuesday", price: usd("160000000") },
    ],
  };

  test("payment_option_id (list or string) takes the merchant option's price", () => {
    const listed = policyOf(seedL35, { payment_option_id: ["tuesday"] }, merchant);
    expect(listed.price?.priceMicros).toBe(160000000n);
    expect(listed.paymentOptionId).toBe("tuesday");
    expect(policyOf(seedL35, { payment_option_id: "tuesday" }, JSON.stringify(merchant)).price?.priceMicros).toBe(160000000n);
    expect(echoJson(listed, { transactionId: TX })).toEqual({ ...seedL62, price: { price_micros: "160000000", currency_code: "USD" } });
  });

  test("an option without a price leaves the service price; the first priced option wins", () => {
    expect(policyOf(seedL35, { payment_option_id: ["no-price"] }, merchant).price?.priceMicros).toBe(200000000n);
    expect(policyOf(seedL35, { payment_option_id: ["no-price", "tuesday"] }, merchant).paymentOptionId).toBe("tuesday");
  });

  test("prepayment.price_info.price overrides both, with its price_type", () => {
    const policy = policyOf(seedL35, { payment_option_id: ["tuesday"], prepayment: { price_info: { price: usd(50000000), price_type: "PER_PERSON" } } }, merchant);
    expect(policy.price?.priceMicros).toBe(50000000n);
    expect(policy.priceType).toBe(PriceType.PER_PERSON);
    expect(policy.paymentOptionId).toBeUndefined();
    expect(chargesAtBooking(policy, { partySize: 3 }).prepayment?.priceMicros).toBe(150000000n);
    expect(echoJson(policy, { transactionId: TX, partySize: 3 })).toEqual({ ...seedL62, price: { price_micros: "150000000", currency_code: "USD" } });
  });

  test("an unknown payment option is an error naming the slot's field", () => {
    const error = paymentError(() => policyOf(seedL35, { payment_option_id: ["tuesday", "weekend"] }, merchant));
    expect(error.feed).toBe("availability");
    expect(error.field).toBe("payment_option_id[1]");
    expect(paymentError(() => policyOf(seedL35, { payment_option_id: ["tuesday"] }, undefined)).field).toBe("payment_option_id[0]");
  });

  test("a malformed option price is an error naming the merchant's field", () => {
    const error = paymentError(() =>
      policyOf(seedL35, { payment_option_id: "tuesday" }, { payment_option: [{ payment_option_id: "tuesday", price: { price_micros: 1.5, currency_code: "USD" } }] }),
    );
    expect(error.feed).toBe("merchant");
    expect(error.field).toBe("payment_option[0].price.price_micros");
    expect(error.message).toMatch(/^merchant feed: payment_option\[0\]\.price\.price_micros must be an integer/);
  });
});

describe("amountFor", () => {
  const price = create(PriceSchema, { priceMicros: 25000000n, currencyCode: "USD", pricingOptionTag: "tag" });
  test("PER_PERSON multiplies by the party size; a missing party size counts as 1", () => {
    expect(amountFor(price, PriceType.PER_PERSON, 4).priceMicros).toBe(100000000n);
    expect(amountFor(price, PriceType.PER_PERSON, 0).priceMicros).toBe(25000000n);
    expect(amountFor(price, PriceType.PER_PERSON, undefined as unknown as number).priceMicros).toBe(25000000n);
    expect(amountFor(price, PriceType.PER_PERSON, 4).pricingOptionTag).toBe("tag");
  });
  test("FIXED_RATE_DEFAULT does not", () => {
    expect(amountFor(price, PriceType.FIXED_RATE_DEFAULT, 4).priceMicros).toBe(25000000n);
  });
  test("exact bigint beyond 2^53", () => {
    const big = create(PriceSchema, { priceMicros: 9007199254740993n, currencyCode: "USD" });
    expect(amountFor(big, PriceType.PER_PERSON, 3).priceMicros).toBe(27021597764222979n);
    expect(amountFor(big, PriceType.FIXED_RATE_DEFAULT, 3).priceMicros).toBe(9007199254740993n);
  });
  test("bad party sizes and int64 overflow are RangeErrors", () => {
    expect(() => amountFor(price, PriceType.PER_PERSON, -1)).toThrow(RangeError);
    expect(() => amountFor(price, PriceType.PER_PERSON, 1.5)).toThrow(RangeError);
    const huge = create(PriceSchema, { priceMicros: (1n << 62n), currencyCode: "USD" });
    expect(() => amountFor(huge, PriceType.PER_PERSON, 2)).toThrow(/int64/);
  });
});

describe("bigint exactness from the feeds", () => {
  test("a decimal-string price beyond 2^53 stays exact, also from stored JSON text", () => {
    const service = { ...seedL35, price: usd("9007199254740993") };
    expect(policyOf(service).price?.priceMicros).toBe(9007199254740993n);
    expect(policyOf(JSON.stringify(service)).price?.priceMicros).toBe(9007199254740993n);
    expect(echoJson(policyOf(JSON.stringify(service)), { transactionId: TX })).toEqual({ ...seedL62, price: { price_micros: "9007199254740993", currency_code: "USD" } });
  });
  test("a JSON number beyond 2^53 has already lost precision and is refused", () => {
    const error = paymentError(() => policyOf('{"merchant_id":"m","service_id":"s","price":{"price_micros":9007199254740993,"currency_code":"USD"}}'));
    expect(error.field).toBe("price.price_micros");
    expect(error.message).toMatch(/decimal string/);
  });
  test("the largest int64 is accepted, one more is not", () => {
    expect(policyOf({ ...seedL20, price: usd("9223372036854775807") }).price?.priceMicros).toBe(9223372036854775807n);
    expect(paymentError(() => policyOf({ ...seedL20, price: usd("9223372036854775808") })).field).toBe("price.price_micros");
  });
});

describe("cancellation windows", () => {
  const S = 1803916800; // a slot start in 2027
  const at = (policy: PaymentPolicy, nowSec: number) => cancellationOutcome(policy, { nowSec, slotStartSec: S });

  test("no-show fee, 14400 s window: free up to the boundary, charged inside it (seed L75)", () => {
    const policy = policyOf(seedL69);
    expect(at(policy, S - 14401)).toEqual({
      allowed: true,
      refundDeposit: false,
      chargeLateCancelFee: false,
      prepaymentRefundPercent: 100,
      deadlineSec: S - 14400,
    });
    expect(at(policy, S - 14400)).toMatchObject({ allowed: true, chargeLateCancelFee: false });
    expect(at(policy, S - 14399)).toMatchObject({ allowed: true, chargeLateCancelFee: true });
    expect(at(policy, S + 60)).toMatchObject({ allowed: true, chargeLateCancelFee: true });
  });

  test("a window without a no-show fee refuses inside it", () => {
    const policy = policyOf({ ...seedL20, scheduling_rules: { min_advance_online_canceling: 14400 } });
    expect(at(policy, S - 14400)).toMatchObject({ allowed: true, chargeLateCancelFee: false });
    expect(at(policy, S - 14399)).toMatchObject({ allowed: false, chargeLateCancelFee: false, refundDeposit: false });
  });

  test("no window given: the deadline is the slot start (seed L64)", () => {
    const free = policyOf(seedL20);
    expect(at(free, S)).toMatchObject({ allowed: true, deadlineSec: S });
    expect(at(free, S + 1)).toMatchObject({ allowed: false });
    const fee = policyOf({ ...seedL69, scheduling_rules: undefined });
    expect(at(fee, S)).toMatchObject({ allowed: true, chargeLateCancelFee: false });
    expect(at(fee, S + 1)).toMatchObject({ allowed: true, chargeLateCancelFee: true });
  });

  test("refund conditions: the highest refund_percent whose notice the cancellation meets; none met: nothing back; no conditions: all back", () => {
    const day = 86400;
    const policy = policyOf({
      ...seedL35,
      scheduling_rules: {
        cancellation_policy: {
          refund_conditions: [
            { min_duration_before_start_time: `${7 * day}s`, refund_percent: 100 },
            { min_duration_before_start_time_sec: 2 * day, refund_percent: 50 },
          ],
        },
      },
    });
    expect(policy.cancellation.refundConditions).toEqual([
      { minBeforeStartSec: 7 * day, refundPercent: 100 },
      { minBeforeStartSec: 2 * day, refundPercent: 50 },
    ]);
    expect(at(policy, S - 7 * day).prepaymentRefundPercent).toBe(100);
    expect(at(policy, S - 7 * day + 1).prepaymentRefundPercent).toBe(50);
    expect(at(policy, S - 2 * day).prepaymentRefundPercent).toBe(50);
    expect(at(policy, S - 2 * day + 1).prepaymentRefundPercent).toBe(0);
    expect(at(policyOf(seedL35), S - 60).prepaymentRefundPercent).toBe(100);
    // Refused cancellations refund nothing.
    expect(at(policyOf({ ...seedL35, scheduling_rules: { min_advance_online_canceling: 3600 } }), S - 60)).toMatchObject({
      allowed: false,
      prepaymentRefundPercent: 0,
    });
  });

  test("malformed refund conditions are refused naming the field", () => {
    const withConditions = (refund_conditions: unknown) =>
      () => policyOf({ ...seedL35, scheduling_rules: { cancellation_policy: { refund_conditions } } });
    expect(withConditions([{ min_duration_before_start_time: "one day", refund_percent: 100 }])).toThrow(
      /scheduling_rules\.cancellation_policy\.refund_conditions\[0\]\.min_duration_before_start_time must be a Duration/,
    );
    expect(withConditions([{ min_duration_before_start_time_sec: 60, refund_percent: 101 }])).toThrow(/refund_percent must be from 0 to 100/);
    expect(withConditions({})).toThrow(/refund_conditions must be a list/);
  });

  test("the slot's last_online_cancellable_sec wins over the service's window", () => {
    const last = S - 86400;
    const policy = policyOf({ ...seedL20, scheduling_rules: { min_advance_online_canceling: 3600 } }, { scheduling_rule_overrides: { last_online_cancellable_sec: last } });
    expect(at(policy, last)).toMatchObject({ allowed: true, deadlineSec: last });
    expect(at(policy, last + 1)).toMatchObject({ allowed: false });
  });

  test("deposit (seed L134-L145): online cancel until 24 h, refund until 4 h, separate windows", () => {
    const policy = policyOf(seedL134AsWritten);
    expect(at(policy, S - 86400)).toEqual({
      allowed: true,
      refundDeposit: true,
      chargeLateCancelFee: false,
      prepaymentRefundPercent: 100,
      deadlineSec: S - 86400,
    });
    expect(at(policy, S - 86399)).toEqual({
      allowed: false,
      refundDeposit: false,
      chargeLateCancelFee: false,
      prepaymentRefundPercent: 0,
      deadlineSec: S - 86400,
    });
  });

  test("deposit refund boundary when online cancellation stays open", () => {
    const policy = policyOf({ ...seedL134AsWritten, scheduling_rules: undefined });
    expect(at(policy, S - 14400)).toMatchObject({ allowed: true, refundDeposit: true });
    expect(at(policy, S - 14399)).toMatchObject({ allowed: true, refundDeposit: false });
  });

  test("deposit and no-show fee: a late cancel is charged and the deposit follows its own window", () => {
    const policy = policyOf({ ...seedL134AsWritten, scheduling_rules: { min_advance_online_canceling: 3600 }, no_show_fee: { fee: usd(25000000) } });
    expect(at(policy, S - 3599)).toEqual({
      allowed: true,
      refundDeposit: false,
      chargeLateCancelFee: true,
      prepaymentRefundPercent: 100,
      deadlineSec: S - 3600,
    });
    const longDeposit = policyOf({ ...seedL69, deposit: { deposit: usd(1000000), min_advance_cancellation_sec: 7200 } });
    expect(at(longDeposit, S - 14399)).toMatchObject({ allowed: true, refundDeposit: true, chargeLateCancelFee: true });
  });
});

describe("malformed payment fields are PaymentPolicyErrors naming the path", () => {
  const cases: [string, unknown, unknown, "service" | "availability", string][] = [
    ["price micros not a number", { ...seedL20, price: usd("12.5") }, undefined, "service", "price.price_micros"],
    ["price micros negative", { ...seedL20, price: usd(-1) }, undefined, "service", "price.price_micros"],
    ["price without micros", { ...seedL20, price: { currency_code: "USD" } }, undefined, "service", "price.price_micros"],
    ["currency lower case", { ...seedL20, price: { price_micros: 1, currency_code: "usd" } }, undefined, "service", "price.currency_code"],
    ["currency missing", { ...seedL20, price: { price_micros: 1 } }, undefined, "service", "price.currency_code"],
    ["price not an object", { ...seedL20, price: 15 }, undefined, "service", "price"],
    ["prepayment_type unknown", { ...seedL35, prepayment_type: "ALWAYS" }, undefined, "service", "prepayment_type"],
    ["REQUIRED without a price", { ...seedL35, price: undefined }, undefined, "service", "price"],
    ["no_show_fee without fee", { ...seedL69, no_show_fee: { fee_type: "FIXED_RATE_DEFAULT" } }, undefined, "service", "no_show_fee.fee"],
    ["no_show_fee fee_type unknown", { ...seedL69, no_show_fee: { fee: usd(1), fee_type: "PER_GROUP" } }, undefined, "service", "no_show_fee.fee_type"],
    ["fee currency bad", seedL20, { no_show_fee: { fee: { price_micros: 1, currency_code: "DOLLARS" } } }, "availability", "no_show_fee.fee.currency_code"],
    ["deposit without amount", { ...seedL20, deposit: { min_advance_cancellation_sec: 1 } }, undefined, "service", "deposit.deposit"],
    ["deposit window negative", { ...seedL20, deposit: { deposit: usd(1), min_advance_cancellation_sec: -5 } }, undefined, "service", "deposit.min_advance_cancellation_sec"],
    ["slot deposit type bad", seedL20, { deposit: { deposit: usd(1), deposit_type: 7 } }, "availability", "deposit.deposit_type"],
    ["require_credit_card unknown", seedL20, { require_credit_card: "YES" }, "availability", "require_credit_card"],
    ["cancel window not an integer", { ...seedL20, scheduling_rules: { min_advance_online_canceling: "4h" } }, undefined, "service", "scheduling_rules.min_advance_online_canceling"],
    ["last cancellable not an integer", seedL20, { scheduling_rule_overrides: { last_online_cancellable_sec: 1.25 } }, "availability", "scheduling_rule_overrides.last_online_cancellable_sec"],
    ["payment_option_id not a list", seedL35, { payment_option_id: 3 }, "availability", "payment_option_id"],
    ["prepayment price bad", seedL35, { prepayment: { price_info: { price: { price_micros: "x", currency_code: "USD" } } } }, "availability", "prepayment.price_info.price.price_micros"],
    ["slot record not JSON", seedL20, "{not json", "availability", "(record)"],
  ];
  test.each(cases)("%s", (_name, service, slot, feed, field) => {
    const error = paymentError(() => policyOf(service, slot));
    expect(error.feed).toBe(feed);
    expect(error.field).toBe(field);
    expect(error.message.startsWith(`${feed} feed: ${field} `)).toBe(true);
  });

  test("a missing service record is an error", () => {
    expect(paymentError(() => policyOf(undefined)).field).toBe("(record)");
  });

  test("enum numbers: PriceType by number (verified), prepayment_type by name only (numbers unverified)", () => {
    expect(policyOf({ ...seedL69, no_show_fee: { fee: usd(1), fee_type: 1 } }).noShowFee?.feeType).toBe(PriceType.PER_PERSON);
    expect(paymentError(() => policyOf({ ...seedL35, prepayment_type: 1 })).field).toBe("prepayment_type");
  });

  test("null means not set (proto3 JSON)", () => {
    const policy = policyOf({ ...seedL20, no_show_fee: null, deposit: null, require_credit_card: null, prepayment_type: null });
    expect(policy).toEqual(policyOf(seedL20));
  });
});

describe("paymentInformationFor details", () => {
  test("OPTIONAL prepayment: the caller says whether the user prepaid", () => {
    const policy = policyOf({ ...seedL35, prepayment_type: "OPTIONAL" });
    expect(policy.prepayment).toBe("optional");
    expect(echoJson(policy)).toMatchObject({ prepayment_status: "PREPAYMENT_NOT_PROVIDED" });
    expect(echoJson(policy, { prepaid: true, transactionId: TX })).toEqual(seedL62);
  });
  test("prepaid against the policy is a programming error", () => {
    expect(() => paymentInformationFor(policyOf(seedL20), { partySize: 1, processedBy: PARTNER, prepaid: true })).toThrow(RangeError);
    expect(() => paymentInformationFor(policyOf(seedL35), { partySize: 1, processedBy: PARTNER, prepaid: false })).toThrow(RangeError);
  });
  test("the echoed price is the transaction price; fee terms are not multiplied", () => {
    const policy = policyOf({ ...seedL69, no_show_fee: { fee: usd(25000000), fee_type: "PER_PERSON" } }, { prepayment: { price_info: { price_type: "PER_PERSON" } } });
    expect(echoJson(policy, { partySize: 2, transactionId: "card-1" })).toEqual({
      prepayment_status: "PREPAYMENT_NOT_PROVIDED",
      payment_processed_by: "PROCESSED_BY_PARTNER",
      payment_transaction_id: "card-1",
      price: { price_micros: "400000000", currency_code: "USD" },
      no_show_fee: { fee: { price_micros: "25000000", currency_code: "USD" }, fee_type: "PER_PERSON" },
    });
  });
  test("the echo does not share objects with the policy", () => {
    const policy = policyOf(seedL69);
    const info = paymentInformationFor(policy, { partySize: 1, processedBy: PARTNER });
    info.noShowFee!.feeType = PriceType.PER_PERSON;
    expect(policy.noShowFee?.feeType).toBe(PriceType.FIXED_RATE_DEFAULT);
  });
});

describe("examples/feeds/spa", () => {
  const dir = join(__dirname, "..", "..", "examples", "feeds", "spa");
  const read = (name: string) => JSON.parse(readFileSync(join(dir, name), "utf8"));
  const merchant = read("merchants.json").merchant[0];
  const services = new Map<string, unknown>(read("services.json").service.map((s: { service_id: string }) => [s.service_id, s]));
  const slots: Record<string, unknown>[] = read("availability.json").availability;
  const policies = slots.map((slot) => ({ slot, policy: policyOf(services.get(slot.service_id as string), slot, merchant) }));
  const of = (serviceId: string) => policies.filter(({ slot }) => slot.service_id === serviceId);

  test("every slot has a valid policy, in 2027, synchronous", () => {
    expect(policies.length).toBeGreaterThan(20);
    for (const { slot } of policies) {
      expect(slot.confirmation_mode).toBe("CONFIRMATION_MODE_SYNCHRONOUS");
      expect(new Date((slot.start_sec as number) * 1000).getUTCFullYear()).toBe(2027);
    }
  });

  test("one service per configuration, with the slot overrides", () => {
    const hour = (slot: Record<string, unknown>) => new Date((slot.start_sec as number) * 1000).getUTCHours();
    for (const { slot, policy } of of("massage-pay-on-arrival")) {
      expect(policy.noShowFee?.fee?.priceMicros).toBe(hour(slot) >= 17 ? 30000000n : undefined);
      expect(policy.cardRequired).toBe(hour(slot) >= 17);
    }
    for (const { slot, policy } of of("spa-treatment-prepaid")) {
      const tuesday = new Date((slot.start_sec as number) * 1000).getUTCDay() === 2;
      expect(policy.prepayment).toBe("required");
      expect(policy.price?.priceMicros).toBe(tuesday ? 160000000n : 200000000n);
    }
    for (const { policy } of of("spa-treatment-no-show-fee")) {
      expect(policy.noShowFee?.fee?.priceMicros).toBe(25000000n);
      expect(policy.cancellation.minAdvanceOnlineCancelingSec).toBe(14400);
    }
    expect(of("spa-treatment-no-show-fee").filter(({ policy }) => policy.cancellation.lastOnlineCancellableSec !== undefined)).toHaveLength(1);
    for (const { policy } of of("spa-treatment-deposit")) expect(policy.deposit?.minAdvanceCancellationSec).toBe(14400n);
    for (const { policy } of of("facial-card-required")) expect(policy.requireCreditCard).toBe("always");
    for (const { slot, policy } of of("group-spa-day")) {
      const party = (slot.resources as { party_size: number }).party_size;
      expect(policy.deposit !== undefined).toBe(party > 6);
    }
  });
});
