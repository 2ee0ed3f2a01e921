/**
 * `PaymentProcessor` on Stripe, through the official `stripe` SDK.
 *
 * - Token: Google Pay (gateway "stripe") hands us, in
 *   `payment_processing_parameters.unparsed_payment_method_token`, the JSON of a
 *   Stripe token whose `id` is `tok_...`. A string that is not JSON is taken as
 *   the token id itself.
 * - charge: PaymentMethod from the token (`card: { token }`, Stripe's documented
 *   way to turn a token into a PaymentMethod), then a PaymentIntent confirmed
 *   and captured at once.
 * - storeCard: Customer + PaymentMethod from the token, attached to the
 *   customer; the ref is `cus_.../pm_...`.
 * - chargeStored: off-session PaymentIntent on that customer and method.
 * - refund: Refund of the PaymentIntent (all, or part in minor units).
 *
 * Idempotency: every Stripe request carries an `Idempotency-Key` derived from
 * the caller's key: the key itself for the money-moving request, `<key>:<step>`
 * for preparatory steps (`:payment_method`, `:customer`, `:attach`). A retry
 * with the same caller key replays every step, so it never charges twice.
 * The SDK's own retries are off (`maxNetworkRetries: 0`): the caller decides.
 *
 * Amounts go to Stripe in the currency's minor units (ISO 4217 exponent,
 * half-to-even; ISK in Stripe's two-decimal form). Note Stripe requires
 * three-decimal amounts (KWD, BHD, ...) to be multiples of 10 for charges;
 * we send the exact amount and let Stripe refuse one that is not.
 */
import Stripe from "stripe";
import { microsToMinorUnits, normalizeCurrency, type Money } from "./money.js";
import {
  PaymentDeclinedError,
  type ChargeRequest,
  type ChargeResult,
  type ChargeStoredRequest,
  type CreditCardTypeName,
  type PaymentProcessor,
  type RefundRequest,
  type RefundResult,
  type StoreCardRequest,
  type StoreCardResult,
} from "./payment-processor.js";

export interface StripeProcessorOptions {
  /** `STRIPE_SECRET_KEY` (`sk_live_...` / `sk_test_...`). */
  readonly secretKey: string;
  /** API host (default Stripe's); tests point it at a local stand-in. */
  readonly host?: string;
  readonly port?: number;
  readonly protocol?: "http" | "https";
  /** Per-request timeout in milliseconds (default 30 000). */
  readonly timeoutMs?: number;
}

export class StripeProcessor implements PaymentProcessor {
  private readonly stripe: Stripe;

  constructor(options: StripeProcessorOptions) {
    if (options.secretKey === "") throw new RangeError("Stripe secret key must not be empty");
    this.stripe = new Stripe(options.secretKey, {
      ...(options.host === undefined ? {} : { host: options.host }),
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.protocol === undefined ? {} : { protocol: options.protocol }),
      maxNetworkRetries: 0,
      timeout: options.timeoutMs ?? 30_000,
    });
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    const key = checkKey(request.idempotencyKey);
    const amount = stripeAmount(request.amount);
    const token = parseGooglePayToken(request.token);
    return call(async () => {
      const paymentMethod = await this.stripe.paymentMethods.create(
        { type: "card", card: { token } },
        { idempotencyKey: `${key}:payment_method` },
      );
      const intent = await this.stripe.paymentIntents.create(
        {
          ...amount,
          payment_method: paymentMethod.id,
          automatic_payment_methods: { enabled: true, allow_redirects: "never" },
          confirm: true,
          description: request.description,
          metadata: metadata(request.bookingId, request.merchantId, key),
        },
        { idempotencyKey: key },
      );
      return { transactionId: succeeded(intent) };
    });
  }

  async findCharge(idempotencyKey: string): Promise<ChargeResult | undefined> {
    const key = checkKey(idempotencyKey);
    return call(async () => {
      const found = await this.stripe.paymentIntents.search({
        query: `metadata['idempotency_key']:'${key.replace(/'/g, "\\'")}'`,
      });
      const intent = found.data.find((candidate) => candidate.status === "succeeded");
      return intent && { transactionId: intent.id };
    });
  }

  async storeCard(request: StoreCardRequest): Promise<StoreCardResult> {
    const key = checkKey(request.idempotencyKey);
    const token = parseGooglePayToken(request.token);
    return call(async () => {
      const customer = await this.stripe.customers.create(
        { metadata: metadata(request.bookingId, request.merchantId, key) },
        { idempotencyKey: `${key}:customer` },
      );
      const paymentMethod = await this.stripe.paymentMethods.create(
        { type: "card", card: { token } },
        { idempotencyKey: `${key}:payment_method` },
      );
      await this.stripe.paymentMethods.attach(
        paymentMethod.id,
        { customer: customer.id },
        { idempotencyKey: `${key}:attach` },
      );
      return { paymentMethodRef: `${customer.id}/${paymentMethod.id}` };
    });
  }

  async chargeStored(request: ChargeStoredRequest): Promise<ChargeResult> {
    const key = checkKey(request.idempotencyKey);
    const amount = stripeAmount(request.amount);
    const match = /^(cus_[A-Za-z0-9_]+)\/(pm_[A-Za-z0-9_]+)$/.exec(request.paymentMethodRef);
    if (match === null) {
      throw new PaymentDeclinedError("invalid_token", `not a stored Stripe payment method: ${request.paymentMethodRef}`);
    }
    const [, customer, paymentMethod] = match as unknown as [string, string, string];
    return call(async () => {
      const intent = await this.stripe.paymentIntents.create(
        {
          ...amount,
          customer,
          payment_method: paymentMethod,
          automatic_payment_methods: { enabled: true, allow_redirects: "never" },
          off_session: true,
          confirm: true,
          description: request.description,
          metadata: metadata(request.bookingId, request.merchantId, key),
        },
        { idempotencyKey: key },
      );
      return { transactionId: succeeded(intent) };
    });
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    const key = checkKey(request.idempotencyKey);
    const amount = request.amount === undefined ? undefined : stripeAmount(request.amount).amount;
    if (!request.transactionId.startsWith("pi_")) {
      throw new PaymentDeclinedError("processor_error", `not a Stripe PaymentIntent: ${request.transactionId}`);
    }
    return call(async () => {
      const refund = await this.stripe.refunds.create(
        {
          payment_intent: request.transactionId,
          ...(amount === undefined ? {} : { amount }),
          metadata: { idempotency_key: key },
        },
        { idempotencyKey: key },
      );
      if (refund.status === "failed" || refund.status === "canceled") {
        throw new PaymentDeclinedError("processor_error", `Stripe refund ${refund.id} ${refund.status}`);
      }
      return { refundId: refund.id };
    });
  }
}

/**
 * The Stripe token id in Google Pay's payment method token: the `id` of the
 * JSON payload, or the whole (trimmed) string when it is not JSON.
 */
export function parseGooglePayToken(unparsed: string): string {
  const text = typeof unparsed === "string" ? unparsed.trim() : "";
  if (text === "") throw new PaymentDeclinedError("invalid_token", "empty payment method token");
  if (!text.startsWith("{")) return text;
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new PaymentDeclinedError("invalid_token", "payment method token is not valid JSON");
  }
  const id = (payload as { id?: unknown } | null)?.id;
  if (typeof id !== "string" || id.trim() === "") {
    throw new PaymentDeclinedError("invalid_token", "payment method token has no Stripe token id");
  }
  return id.trim();
}

/** Money → Stripe's `amount` (minor units) and `currency` (lower case). */
export function stripeAmount(money: Money): { amount: number; currency: string } {
  if (typeof money?.micros !== "bigint" || money.micros <= 0n) {
    throw new RangeError(`amount must be a positive bigint of micros, got ${String(money?.micros)}`);
  }
  const currency = normalizeCurrency(money.currency);
  let minor = microsToMinorUnits(money.micros, currency);
  // Stripe still takes ISK (ISO exponent 0) in two-decimal form, a multiple of 100.
  if (currency === "ISK") minor *= 100n;
  if (minor <= 0n) {
    throw new PaymentDeclinedError("processor_error", `amount ${money.micros} micros ${currency} is less than one minor unit`);
  }
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`amount too large for Stripe: ${minor}`);
  return { amount: Number(minor), currency: currency.toLowerCase() };
}

function checkKey(key: string): string {
  if (typeof key !== "string" || key === "") throw new RangeError("idempotencyKey must not be empty");
  // Stripe accepts keys up to 255 characters; ours add at most ":payment_method".
  if (key.length > 240) throw new RangeError("idempotencyKey longer than 240 characters");
  return key;
}

function metadata(bookingId: string, merchantId: string, key: string): Record<string, string> {
  return { booking_id: bookingId, merchant_id: merchantId, idempotency_key: key };
}

function succeeded(intent: Stripe.PaymentIntent): string {
  switch (intent.status) {
    case "succeeded":
      return intent.id;
    case "requires_action":
    case "requires_payment_method":
      // No one can complete an authentication challenge here: nothing was captured.
      throw new PaymentDeclinedError("card_declined", `Stripe PaymentIntent ${intent.id}: ${intent.status}`);
    default:
      throw new PaymentDeclinedError("processor_error", `Stripe PaymentIntent ${intent.id}: ${intent.status}`, {
        outcomeUnknown: intent.status === "processing",
      });
  }
}

async function call<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapStripeError(error);
  }
}

const CARD_BRANDS: Record<string, CreditCardTypeName> = {
  visa: "VISA",
  mastercard: "MASTERCARD",
  amex: "AMERICAN_EXPRESS",
  discover: "DISCOVER",
  jcb: "JCB",
};

const INVALID_TOKEN_CODES = new Set([
  "incorrect_number",
  "invalid_number",
  "token_already_used",
  "token_in_use",
  "payment_method_unexpected_state",
]);

/** A Stripe SDK error → PaymentDeclinedError (other errors pass through unchanged). */
export function mapStripeError(error: unknown): unknown {
  if (error instanceof PaymentDeclinedError) return error;
  if (!(error instanceof Stripe.errors.StripeError)) return error;
  const code = error.code ?? "";
  const declineCode = error.decline_code ?? "";
  const message = `Stripe: ${error.message}${code === "" ? "" : ` (${code}${declineCode === "" ? "" : `/${declineCode}`})`}`;
  if (code === "card_not_supported" || declineCode === "card_not_supported") {
    const brand = error.payment_method?.card?.brand;
    const rejectedCardType = brand === undefined ? undefined : CARD_BRANDS[brand];
    return new PaymentDeclinedError("card_type_rejected", message, {
      cause: error,
      ...(rejectedCardType === undefined ? {} : { rejectedCardType }),
    });
  }
  if (INVALID_TOKEN_CODES.has(code) || (code === "resource_missing" && /token|payment_method/.test(error.param ?? ""))) {
    return new PaymentDeclinedError("invalid_token", message, { cause: error });
  }
  if (error.type === "StripeCardError" && code !== "processing_error") {
    return new PaymentDeclinedError("card_declined", message, { cause: error });
  }
  // The request may have been carried out: no answer, or Stripe failed on its side.
  const outcomeUnknown =
    error.type === "StripeConnectionError" ||
    (error.type === "StripeAPIError" && (error.statusCode === undefined || error.statusCode >= 500));
  return new PaymentDeclinedError("processor_error", message, { cause: error, outcomeUnknown });
}
