/**
 * The payment-processor contract (src/payments/payment-processor.ts), written
 * once against `PaymentProcessor` and run for every implementation: the
 * sandbox on a real SQLite store, and the Stripe adapter against the Stripe
 * stand-in. What the two legitimately do differently (their tokens, the shape
 * of their ids, how a test sees the money they moved) is a fixture parameter.
 * What only one of them does is in sandbox-processor.test.ts and
 * stripe-processor.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  PaymentDeclinedError,
  paymentIdempotencyKey,
  type PaymentOperation,
  type PaymentProcessor,
} from "../../src/payments/payment-processor";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import { StripeProcessor } from "../../src/payments/stripe-processor";
import { openSqliteStore } from "../../src/store/sqlite-store";
import { StripeStandIn } from "./stripe-stand-in";

/** One implementation, started for one test. */
interface Backend {
  readonly processor: PaymentProcessor;
  /** How many charges (card or stored card) went through for the booking, as the backend's own records say. */
  chargesOf(bookingId: string): Promise<number>;
  /** How much of charge `transactionId` (in USD, the currency the contract charges in) is refunded, in micros. */
  refundedOf(bookingId: string, transactionId: string): Promise<bigint>;
  close(): Promise<void>;
}

interface ProcessorFixture {
  readonly name: string;
  start(): Promise<Backend>;
  /** Tokens as Google Pay would hand them over for this processor. */
  readonly tokens: {
    readonly accepted: string;
    /** The issuer declines the card. */
    readonly declined: string;
    /** An American Express card the merchant does not take. */
    readonly cardTypeRejected: string;
    /** No usable token at all. */
    readonly unusable: string;
  };
  readonly ids: { readonly charge: RegExp; readonly refund: RegExp; readonly paymentMethodRef: RegExp };
  /** References this processor never handed out. */
  readonly unknown: { readonly transactionId: string; readonly paymentMethodRef: string };
}

/** What Google Pay hands over for gateway "stripe": the JSON of a Stripe token. */
function googlePayToken(id: string): string {
  return JSON.stringify({ id, object: "token", card: { brand: "Visa", last4: "4242" }, livemode: false, type: "card", used: false });
}

const sandbox: ProcessorFixture = {
  name: "the sandbox on a SQLite store",
  async start() {
    const dir = mkdtempSync(join(tmpdir(), "processor-contract-"));
    const store = openSqliteStore(join(dir, "booking.db"));
    const processor = new SandboxProcessor(store);
    return {
      processor,
      chargesOf: async (bookingId) =>
        (await processor.ledgerFor(bookingId)).filter((e) => e.operation === "charge" || e.operation === "charge_stored").length,
      refundedOf: async (bookingId, transactionId) =>
        (await processor.ledgerFor(bookingId))
          .filter((e) => e.operation === "refund" && e.refersTo === transactionId)
          .reduce((sum, e) => sum + e.amount!.micros, 0n),
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  // See the header of src/payments/sandbox-processor.ts.
  tokens: { accepted: "tok_ok", declined: '{"id":"tok_decline"}', cardTypeRejected: "cardtype-amex", unusable: "   " },
  ids: { charge: /^sbx_ch_[0-9a-f]{24}$/, refund: /^sbx_re_[0-9a-f]{24}$/, paymentMethodRef: /^sbx_pm_[0-9a-f]{24}$/ },
  unknown: { transactionId: "sbx_ch_missing", paymentMethodRef: "sbx_pm_nope" },
};

const stripe: ProcessorFixture = {
  name: "the Stripe adapter against the Stripe stand-in",
  async start() {
    const standIn = new StripeStandIn();
    const port = await standIn.start();
    return {
      processor: new StripeProcessor({ secretKey: "sk_test_standin", host: "127.0.0.1", port, protocol: "http", timeoutMs: 10_000 }),
      chargesOf: async (bookingId) => standIn.paymentIntents.filter((intent) => intent.metadata["booking_id"] === bookingId).length,
      // The stand-in counts in cents: 1 cent of USD is 10 000 micros.
      refundedOf: async (_bookingId, transactionId) =>
        standIn.refunds.filter((r) => r.paymentIntent === transactionId).reduce((sum, r) => sum + BigInt(r.amount) * 10_000n, 0n),
      close: () => standIn.stop(),
    };
  },
  // See the header of test/payments/stripe-stand-in.ts.
  tokens: {
    accepted: googlePayToken("tok_visa"),
    declined: googlePayToken("tok_chargeDeclined"),
    cardTypeRejected: googlePayToken("tok_amex_unsupported"),
    unusable: "not-a-stripe-token",
  },
  ids: { charge: /^pi_\w+$/, refund: /^re_\w+$/, paymentMethodRef: /^cus_\w+\/pm_\w+$/ },
  unknown: { transactionId: "pi_missing", paymentMethodRef: "sbx_pm_1" },
};

const usd = (micros: bigint) => ({ micros, currency: "USD" });
const key = paymentIdempotencyKey;

describe.each([sandbox, stripe])("the payment-processor contract: $name", (fixture) => {
  let backend: Backend;
  let processor: PaymentProcessor;
  beforeEach(async () => {
    backend = await fixture.start();
    processor = backend.processor;
  });
  afterEach(() => backend.close());

  function charge(bookingId: string, micros: bigint, token = fixture.tokens.accepted, operation: PaymentOperation = "prepayment") {
    return processor.charge({
      idempotencyKey: key(bookingId, operation),
      bookingId,
      merchantId: "m1",
      amount: usd(micros),
      token,
      description: `booking ${bookingId}`,
    });
  }

  function storeCard(bookingId: string) {
    return processor.storeCard({ idempotencyKey: key(bookingId, "store_card"), bookingId, merchantId: "m1", token: fixture.tokens.accepted });
  }

  function chargeStored(bookingId: string, paymentMethodRef: string, micros: bigint) {
    return processor.chargeStored({
      idempotencyKey: key(bookingId, "no_show_fee"),
      bookingId,
      merchantId: "m1",
      paymentMethodRef,
      amount: usd(micros),
      description: "no-show fee",
    });
  }

  function refund(transactionId: string, bookingId: string, operation: PaymentOperation, micros?: bigint) {
    return processor.refund({
      idempotencyKey: key(bookingId, operation),
      transactionId,
      ...(micros === undefined ? {} : { amount: usd(micros) }),
    });
  }

  async function declined(promise: Promise<unknown>): Promise<PaymentDeclinedError> {
    try {
      await promise;
    } catch (error) {
      expect(error).toBeInstanceOf(PaymentDeclinedError);
      return error as PaymentDeclinedError;
    }
    throw new Error("expected a PaymentDeclinedError");
  }

  test("when a card is charged, then the answer is the processor's transaction id, a new one for each idempotency key", async () => {
    const ids = [];
    for (const bookingId of ["b1", "b2", "b3"]) {
      const { transactionId } = await charge(bookingId, 12_340_000n);
      expect(transactionId).toMatch(fixture.ids.charge);
      expect(await backend.chargesOf(bookingId)).toBe(1);
      ids.push(transactionId);
    }
    expect(new Set(ids).size).toBe(3);
  });

  test("when a charge is repeated with its idempotency key, then it answers the original result and charges once", async () => {
    const first = await charge("b1", 12_340_000n);
    expect(await charge("b1", 12_340_000n)).toEqual(first);
    expect(await charge("b1", 12_340_000n)).toEqual(first);
    expect(await backend.chargesOf("b1")).toBe(1);
  });

  test("when a key is reused for a different charge, then it is refused as processor_error and nothing more is charged", async () => {
    await charge("b1", 1_000_000n);
    const reused = await declined(charge("b1", 2_000_000n));
    expect(reused.reason).toBe("processor_error");
    expect(await backend.chargesOf("b1")).toBe(1);
  });

  test("when the card is declined, its type refused or the token unusable, then the charge is refused for that reason and nothing is charged", async () => {
    const cardDeclined = await declined(charge("b1", 1_000_000n, fixture.tokens.declined));
    expect([cardDeclined.reason, cardDeclined.outcomeUnknown]).toEqual(["card_declined", false]);

    const typeRejected = await declined(charge("b2", 1_000_000n, fixture.tokens.cardTypeRejected));
    expect([typeRejected.reason, typeRejected.rejectedCardType, typeRejected.outcomeUnknown]).toEqual([
      "card_type_rejected",
      "AMERICAN_EXPRESS",
      false,
    ]);

    expect((await declined(charge("b3", 1_000_000n, fixture.tokens.unusable))).reason).toBe("invalid_token");
    expect((await declined(charge("b4", 1_000_000n, ""))).reason).toBe("invalid_token");
    for (const bookingId of ["b1", "b2", "b3", "b4"]) expect(await backend.chargesOf(bookingId)).toBe(0);
  });

  test("when a declined charge is retried with its key, then it is declined again and still nothing is charged", async () => {
    expect((await declined(charge("b1", 1_000_000n, fixture.tokens.declined))).reason).toBe("card_declined");
    expect((await declined(charge("b1", 1_000_000n, fixture.tokens.declined))).reason).toBe("card_declined");
    expect(await backend.chargesOf("b1")).toBe(0);
  });

  test("when the caller passes an amount that is not positive, a currency that is not ISO 4217 or an empty key, then it is a RangeError", async () => {
    await expect(charge("b1", 0n)).rejects.toThrow(RangeError);
    await expect(charge("b1", -5n)).rejects.toThrow(RangeError);
    const request = { idempotencyKey: "k", bookingId: "b1", merchantId: "m1", amount: usd(1_000_000n), token: fixture.tokens.accepted, description: "" };
    await expect(processor.charge({ ...request, amount: { micros: 1_000_000n, currency: "dollars" } })).rejects.toThrow(RangeError);
    await expect(processor.charge({ ...request, idempotencyKey: "" })).rejects.toThrow(RangeError);
    expect(await backend.chargesOf("b1")).toBe(0);
  });

  test("when a charge is refunded in parts, then each key refunds once, the parts sum to the charge, and a refund beyond what is left is refused", async () => {
    const { transactionId } = await charge("b1", 10_000_000n, fixture.tokens.accepted, "deposit");
    const part = await refund(transactionId, "b1", "refund/1", 4_000_000n);
    expect(part.refundId).toMatch(fixture.ids.refund);
    expect(await refund(transactionId, "b1", "refund/1", 4_000_000n)).toEqual(part);
    expect(await backend.refundedOf("b1", transactionId)).toBe(4_000_000n);

    const tooMuch = await declined(refund(transactionId, "b1", "refund/too-much", 7_000_000n));
    expect([tooMuch.reason, tooMuch.outcomeUnknown]).toEqual(["processor_error", false]);
    expect(await backend.refundedOf("b1", transactionId)).toBe(4_000_000n);

    const rest = await refund(transactionId, "b1", "refund/2", 6_000_000n);
    expect(rest.refundId).toMatch(fixture.ids.refund);
    expect(rest.refundId).not.toBe(part.refundId);
    expect(await backend.refundedOf("b1", transactionId)).toBe(10_000_000n);

    expect((await declined(refund(transactionId, "b1", "refund/3", 1_000_000n))).reason).toBe("processor_error");
    expect((await declined(refund(transactionId, "b1", "refund/4"))).reason).toBe("processor_error");
    expect(await backend.refundedOf("b1", transactionId)).toBe(10_000_000n);
  });

  test("when a refund names no amount, then it refunds what is left of the charge, once per key", async () => {
    const { transactionId } = await charge("b1", 10_000_000n);
    await refund(transactionId, "b1", "refund/1", 4_000_000n);
    const rest = await refund(transactionId, "b1", "refund/2");
    expect(await refund(transactionId, "b1", "refund/2")).toEqual(rest);
    expect(await backend.refundedOf("b1", transactionId)).toBe(10_000_000n);
    expect((await declined(refund(transactionId, "b1", "refund/3"))).reason).toBe("processor_error");
  });

  test("when what a refund names is not a charge (a stored card, an unknown transaction), then it is refused as processor_error", async () => {
    const { paymentMethodRef } = await storeCard("b1");
    expect((await declined(refund(paymentMethodRef, "b1", "refund/1"))).reason).toBe("processor_error");
    expect((await declined(refund(fixture.unknown.transactionId, "b1", "refund/2"))).reason).toBe("processor_error");
  });

  test("when a card is stored, then nothing is charged; a fee charged on it goes through once per key and can be refunded", async () => {
    const { paymentMethodRef } = await storeCard("b1");
    expect(paymentMethodRef).toMatch(fixture.ids.paymentMethodRef);
    expect(await storeCard("b1")).toEqual({ paymentMethodRef });
    expect(await backend.chargesOf("b1")).toBe(0);

    const fee = await chargeStored("b1", paymentMethodRef, 25_000_000n);
    expect(fee.transactionId).toMatch(fixture.ids.charge);
    expect(await chargeStored("b1", paymentMethodRef, 25_000_000n)).toEqual(fee);
    expect(await backend.chargesOf("b1")).toBe(1);

    await refund(fee.transactionId, "b1", "refund");
    expect(await backend.refundedOf("b1", fee.transactionId)).toBe(25_000_000n);
  });

  test("when a fee is charged on a payment method the processor never stored, then it is refused as invalid_token", async () => {
    const error = await declined(chargeStored("b1", fixture.unknown.paymentMethodRef, 1_000_000n));
    expect(error.reason).toBe("invalid_token");
    expect(await backend.chargesOf("b1")).toBe(0);
  });

  test("when findCharge is asked for a key, then it finds the charge made under it, and answers undefined for a key with none", async () => {
    const { transactionId } = await charge("b1", 12_340_000n);
    expect(await processor.findCharge(key("b1", "prepayment"))).toEqual({ transactionId });

    const { paymentMethodRef } = await storeCard("b2");
    const fee = await chargeStored("b2", paymentMethodRef, 25_000_000n);
    expect(await processor.findCharge(key("b2", "no_show_fee"))).toEqual(fee);

    await declined(charge("b3", 1_000_000n, fixture.tokens.declined));
    expect(await processor.findCharge(key("b3", "prepayment"))).toBeUndefined();
    expect(await processor.findCharge(key("b2", "store_card"))).toBeUndefined();
    expect(await processor.findCharge(key("unknown", "prepayment"))).toBeUndefined();
  });
});
