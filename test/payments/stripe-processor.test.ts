import { PaymentDeclinedError, paymentIdempotencyKey } from "../../src/payments/payment-processor";
import { StripeProcessor, parseGooglePayToken, stripeAmount } from "../../src/payments/stripe-processor";
import { StripeStandIn } from "./stripe-stand-in";

/** What Google Pay hands over for gateway "stripe": the JSON of a Stripe token. */
function googlePayToken(id: string): string {
  return JSON.stringify({
    id,
    object: "token",
    card: { brand: "Visa", last4: "4242", exp_month: 12, exp_year: 2030 },
    created: 1_800_000_000,
    livemode: false,
    type: "card",
    used: false,
  });
}

/**
 * What only the Stripe adapter does: the requests it sends (minor units, keys
 * per step, token parsing) and how it reads Stripe's errors. What every
 * processor must do alike is in processor-contract.test.ts.
 */
describe("StripeProcessor against a Stripe stand-in", () => {
  let standIn: StripeStandIn;
  let port: number;
  let stripe: StripeProcessor;

  beforeEach(async () => {
    standIn = new StripeStandIn();
    port = await standIn.start();
    stripe = processor(10_000);
  });
  afterEach(async () => {
    await standIn.stop();
  });

  function processor(timeoutMs: number): StripeProcessor {
    return new StripeProcessor({ secretKey: "sk_test_standin", host: "127.0.0.1", port, protocol: "http", timeoutMs });
  }

  function charge(bookingId: string, micros: bigint, currency: string, token = googlePayToken("tok_visa")) {
    return stripe.charge({
      idempotencyKey: paymentIdempotencyKey(bookingId, "prepayment"),
      bookingId,
      merchantId: "m1",
      amount: { micros, currency },
      token,
      description: `booking ${bookingId}`,
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

  it.each([
    ["USD 12.34", 12_340_000n, "USD", "1234", "usd"],
    ["JPY 5000", 5_000_000_000n, "JPY", "5000", "jpy"],
    ["KWD 1.234", 1_234_000n, "KWD", "1234", "kwd"],
    ["USD 12.345 (half-to-even down)", 12_345_000n, "USD", "1234", "usd"],
    ["USD 12.355 (half-to-even up)", 12_355_000n, "usd", "1236", "usd"],
    ["JPY 2.5 (half-to-even down)", 2_500_000n, "JPY", "2", "jpy"],
    ["ISK 990 (Stripe's two-decimal form)", 990_000_000n, "ISK", "99000", "isk"],
  ])("charges %s in minor units", async (_name, micros, currency, amount, stripeCurrency) => {
    const { transactionId } = await charge("b1", micros, currency);

    const [pmRequest] = standIn.requestsTo("/v1/payment_methods");
    expect(pmRequest!.body).toEqual({ type: "card", "card[token]": "tok_visa" });
    expect(pmRequest!.idempotencyKey).toBe("booking/b1/prepayment:payment_method");
    expect(pmRequest!.authorization).toBe("Bearer sk_test_standin");

    const [piRequest] = standIn.requestsTo("/v1/payment_intents");
    expect(piRequest!.idempotencyKey).toBe("booking/b1/prepayment");
    expect(piRequest!.body).toMatchObject({
      amount,
      currency: stripeCurrency,
      confirm: "true",
      payment_method: standIn.paymentIntents[0]!.paymentMethod,
      description: "booking b1",
      "metadata[booking_id]": "b1",
      "metadata[merchant_id]": "m1",
      "metadata[idempotency_key]": "booking/b1/prepayment",
    });
    expect(standIn.paymentIntents).toHaveLength(1);
    expect(transactionId).toBe(standIn.paymentIntents[0]!.id);
    expect(standIn.paymentIntents[0]!.amount).toBe(Number(amount));
  });

  it("takes the token from Google Pay's JSON, or the whole string when it is not JSON", async () => {
    await charge("b1", 1_000_000n, "USD", "  tok_visa_plain ");
    expect(standIn.requestsTo("/v1/payment_methods")[0]!.body["card[token]"]).toBe("tok_visa_plain");
    expect(parseGooglePayToken(googlePayToken("tok_abc"))).toBe("tok_abc");

    for (const bad of ["", "   ", "{not json", '{"object":"token"}', '{"id":""}', "null"]) {
      expect((await declined(charge("b2", 1_000_000n, "USD", bad))).reason).toBe("invalid_token");
    }
    // "null" is not JSON-object-shaped: taken as a token id, which Stripe does not know.
    expect(standIn.requestsTo("/v1/payment_methods").map((r) => r.body["card[token]"])).toEqual(["tok_visa_plain", "null"]);
  });

  it("answers a repeated charge with the original PaymentIntent, charging once", async () => {
    const first = await charge("b1", 12_340_000n, "USD");
    const second = await charge("b1", 12_340_000n, "USD");
    expect(second).toEqual(first);
    expect(standIn.paymentIntents).toHaveLength(1);
    expect(standIn.requestsTo("/v1/payment_intents").map((r) => [r.idempotencyKey, r.replayed])).toEqual([
      ["booking/b1/prepayment", false],
      ["booking/b1/prepayment", true],
    ]);
  });

  it("survives a timeout after the charge went through: the retry gets the stored result, one charge", async () => {
    stripe = processor(300);
    standIn.delayNextAnswer("/v1/payment_intents", 1_500);

    const error = await declined(charge("b1", 12_340_000n, "USD"));
    expect(error.reason).toBe("processor_error");
    expect(error.outcomeUnknown).toBe(true);
    // Stripe did charge: the answer just never arrived.
    expect(standIn.paymentIntents).toHaveLength(1);

    const retry = await charge("b1", 12_340_000n, "USD");
    expect(retry.transactionId).toBe(standIn.paymentIntents[0]!.id);
    expect(standIn.paymentIntents).toHaveLength(1);
    expect(standIn.paymentMethods.size).toBe(1);
    expect(standIn.requestsTo("/v1/payment_intents").map((r) => [r.idempotencyKey, r.replayed])).toEqual([
      ["booking/b1/prepayment", false],
      ["booking/b1/prepayment", true],
    ]);
    // The SDK itself did not retry (maxNetworkRetries: 0): 2 calls, 2 requests per step.
    expect(standIn.requests).toHaveLength(4);
  });

  it("stores a card (customer + payment method + attach), charges a fee on it, refunds, each with its key", async () => {
    const { paymentMethodRef } = await stripe.storeCard({
      idempotencyKey: paymentIdempotencyKey("b1", "store_card"),
      bookingId: "b1",
      merchantId: "m1",
      token: googlePayToken("tok_visa"),
    });
    const [customer] = standIn.customers;
    const [pm] = [...standIn.paymentMethods.keys()];
    expect(paymentMethodRef).toBe(`${customer}/${pm}`);
    expect(standIn.paymentIntents).toHaveLength(0); // nothing charged
    expect(standIn.requests.map((r) => [r.path, r.idempotencyKey])).toEqual([
      ["/v1/customers", "booking/b1/store_card:customer"],
      ["/v1/payment_methods", "booking/b1/store_card:payment_method"],
      [`/v1/payment_methods/${pm}/attach`, "booking/b1/store_card:attach"],
    ]);
    expect(standIn.requests[0]!.body).toMatchObject({ "metadata[booking_id]": "b1", "metadata[merchant_id]": "m1" });
    expect(standIn.requests[2]!.body).toEqual({ customer });

    const fee = {
      idempotencyKey: paymentIdempotencyKey("b1", "no_show_fee"),
      bookingId: "b1",
      merchantId: "m1",
      paymentMethodRef,
      amount: { micros: 25_000_000n, currency: "EUR" },
      description: "no-show fee",
    };
    const { transactionId } = await stripe.chargeStored(fee);
    expect(await stripe.chargeStored(fee)).toEqual({ transactionId });
    expect(standIn.paymentIntents).toHaveLength(1);
    const feeRequest = standIn.requestsTo("/v1/payment_intents")[0]!;
    expect(feeRequest.idempotencyKey).toBe("booking/b1/no_show_fee");
    expect(feeRequest.body).toMatchObject({
      amount: "2500",
      currency: "eur",
      customer,
      payment_method: pm,
      off_session: "true",
      confirm: "true",
    });

    const part = await stripe.refund({
      idempotencyKey: paymentIdempotencyKey("b1", "refund/1"),
      transactionId,
      amount: { micros: 10_005_000n, currency: "EUR" }, // 1000.5 cents → 1000
    });
    const rest = await stripe.refund({ idempotencyKey: paymentIdempotencyKey("b1", "refund/2"), transactionId });
    expect(await stripe.refund({ idempotencyKey: paymentIdempotencyKey("b1", "refund/2"), transactionId })).toEqual(rest);
    expect(standIn.refunds).toEqual([
      { id: part.refundId, paymentIntent: transactionId, amount: 1000 },
      { id: rest.refundId, paymentIntent: transactionId, amount: 1500 },
    ]);
    expect(standIn.requestsTo("/v1/refunds").map((r) => [r.idempotencyKey, r.body["amount"], r.body["payment_intent"]])).toEqual([
      ["booking/b1/refund/1", "1000", transactionId],
      ["booking/b1/refund/2", undefined, transactionId],
      ["booking/b1/refund/2", undefined, transactionId],
    ]);

    // Nothing left to refund: Stripe's error becomes processor_error.
    const tooMuch = await declined(stripe.refund({ idempotencyKey: paymentIdempotencyKey("b1", "refund/3"), transactionId }));
    expect(tooMuch.reason).toBe("processor_error");
    expect(tooMuch.outcomeUnknown).toBe(false);

    // Every request carried an idempotency key.
    expect(standIn.requests.every((r) => r.method === "POST" && typeof r.idempotencyKey === "string" && r.idempotencyKey !== "")).toBe(true);
  });

  it("maps declines and errors", async () => {
    const cardDeclined = await declined(charge("b1", 1_000_000n, "USD", googlePayToken("tok_chargeDeclined")));
    expect(cardDeclined.reason).toBe("card_declined");
    expect(cardDeclined.outcomeUnknown).toBe(false);

    const typeRejected = await declined(charge("b2", 1_000_000n, "USD", googlePayToken("tok_amex_unsupported")));
    expect(typeRejected.reason).toBe("card_type_rejected");
    expect(typeRejected.rejectedCardType).toBe("AMERICAN_EXPRESS");

    expect((await declined(charge("b3", 1_000_000n, "USD", "not-a-stripe-token"))).reason).toBe("invalid_token");
    expect((await declined(charge("b4", 1_000_000n, "USD", googlePayToken("tok_incorrect_number")))).reason).toBe("invalid_token");

    const processing = await declined(charge("b5", 1_000_000n, "USD", googlePayToken("tok_processing_error")));
    expect([processing.reason, processing.outcomeUnknown]).toEqual(["processor_error", false]);

    const serverError = await declined(charge("b6", 1_000_000n, "USD", googlePayToken("tok_api_error")));
    expect([serverError.reason, serverError.outcomeUnknown]).toEqual(["processor_error", true]);

    expect(standIn.paymentIntents).toHaveLength(0);

    // A declined charge retried with its key is answered the stored decline, still no charge.
    expect((await declined(charge("b1", 1_000_000n, "USD", googlePayToken("tok_chargeDeclined")))).reason).toBe("card_declined");
    expect(standIn.requestsTo("/v1/payment_intents").filter((r) => r.idempotencyKey === "booking/b1/prepayment").map((r) => r.replayed)).toEqual([false, true]);
    expect(standIn.paymentIntents).toHaveLength(0);
  });

  it("reports a connection refused as an unknown outcome", async () => {
    await standIn.stop();
    const error = await declined(charge("b1", 1_000_000n, "USD"));
    expect([error.reason, error.outcomeUnknown]).toEqual(["processor_error", true]);
    standIn = new StripeStandIn();
    port = await standIn.start();
  });
});

describe("stripeAmount", () => {
  it("converts exactly and refuses amounts below one minor unit", () => {
    expect(stripeAmount({ micros: 12_340_000n, currency: "USD" })).toEqual({ amount: 1234, currency: "usd" });
    expect(stripeAmount({ micros: 5_000_000_000n, currency: "jpy" })).toEqual({ amount: 5000, currency: "jpy" });
    expect(stripeAmount({ micros: 1_234_000n, currency: "KWD" })).toEqual({ amount: 1234, currency: "kwd" });
    expect(() => stripeAmount({ micros: 4_000n, currency: "USD" })).toThrow(PaymentDeclinedError);
    expect(() => stripeAmount({ micros: 0n, currency: "USD" })).toThrow(RangeError);
  });
});
