/**
 * A local stand-in for the Stripe endpoints the adapter uses, for tests: form
 * bodies in, Stripe-shaped JSON out, every request recorded with its
 * Idempotency-Key, and — like Stripe — a repeated idempotency key answered
 * with the stored response (a different body under the same key is a 400
 * idempotency_error).
 *
 * Token behaviour (the token id after Google Pay JSON parsing):
 * - `tok_chargeDeclined`: the PaymentIntent is declined (402 card_declined)
 * - `tok_amex_unsupported`: declined with decline_code card_not_supported, brand amex
 * - `tok_incorrect_number`: PaymentMethod creation fails (402 incorrect_number)
 * - `tok_processing_error`: 402 processing_error; `tok_api_error`: 500 api_error
 * - any other `tok_*` succeeds (brand amex when it starts with `tok_amex`, else visa);
 *   anything not starting with `tok_` is an unknown token (400 resource_missing).
 *
 * `GET /v1/payment_intents/search` answers the succeeded PaymentIntents whose
 * metadata matches a `metadata['key']:'value'` query (the one form the adapter sends).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly body: Record<string, string>;
  readonly idempotencyKey: string | undefined;
  readonly authorization: string | undefined;
  /** True when the answer was the stored response of an earlier request with the key. */
  readonly replayed: boolean;
}

interface Answer {
  status: number;
  json: unknown;
}

interface PaymentMethod {
  id: string;
  token: string;
  brand: string;
  customer: string | null;
}

export interface StandInPaymentIntent {
  id: string;
  amount: number;
  currency: string;
  customer: string | null;
  paymentMethod: string;
  refunded: number;
  metadata: Record<string, string>;
}

export class StripeStandIn {
  readonly requests: RecordedRequest[] = [];
  /** Succeeded PaymentIntents: the money actually charged. */
  readonly paymentIntents: StandInPaymentIntent[] = [];
  readonly refunds: { id: string; paymentIntent: string; amount: number }[] = [];
  readonly customers: string[] = [];
  readonly paymentMethods = new Map<string, PaymentMethod>();
  private readonly stored = new Map<string, { fingerprint: string; answer: Answer }>();
  private readonly delays: { path: string; ms: number }[] = [];
  private readonly holds: { path: string; arrived: () => void; released: Promise<void> }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private counter = 0;
  private server: Server | undefined;

  /** Listens on 127.0.0.1 and returns the port. */
  async start(): Promise<number> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** The next request to `path` is processed at once but answered `ms` later. */
  delayNextAnswer(path: string, ms: number): void {
    this.delays.push({ path, ms });
  }

  /**
   * The next request to `path` is processed at once (the money moves) but
   * answered only once the test calls `release`; `arrived` resolves when that
   * request has been processed. Races become deterministic, with no timers.
   */
  holdNextAnswer(path: string): { arrived: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.holds.push({ path, arrived, released });
    return { arrived: arrival, release };
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const body: Record<string, string> = {};
    for (const [key, value] of new URLSearchParams(raw)) body[key] = value;
    const [path, query = ""] = (req.url ?? "").split("?") as [string, string?];
    if (req.method === "GET") for (const [key, value] of new URLSearchParams(query)) body[key] = value;
    const idempotencyKey = header(req, "idempotency-key");
    const fingerprint = `${req.method} ${path} ${raw}`;

    let answer: Answer;
    let replayed = false;
    const previous = idempotencyKey === undefined ? undefined : this.stored.get(idempotencyKey);
    if (previous !== undefined) {
      replayed = true;
      answer =
        previous.fingerprint === fingerprint
          ? previous.answer
          : stripeError(400, "idempotency_error", undefined,
              `Keys for idempotent requests can only be used with the same parameters they were first used with.`);
    } else {
      answer = this.process(req.method ?? "GET", path, body);
      if (idempotencyKey !== undefined) this.stored.set(idempotencyKey, { fingerprint, answer });
    }
    this.requests.push({
      method: req.method ?? "",
      path,
      body,
      idempotencyKey,
      authorization: header(req, "authorization"),
      replayed,
    });

    const send = () => {
      if (res.destroyed) return;
      res.writeHead(answer.status, {
        "Content-Type": "application/json",
        "Request-Id": `req_${++this.counter}`,
        ...(replayed ? { "Idempotent-Replayed": "true" } : {}),
      });
      res.end(JSON.stringify(answer.json));
    };
    const hold = this.holds.findIndex((h) => h.path === path);
    const delay = this.delays.findIndex((d) => d.path === path);
    if (hold >= 0) {
      const { arrived, released } = this.holds.splice(hold, 1)[0]!;
      arrived();
      void released.then(send);
    } else if (delay >= 0) {
      const { ms } = this.delays.splice(delay, 1)[0]!;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        send();
      }, ms);
      this.timers.add(timer);
    } else {
      send();
    }
  }

  private process(method: string, path: string, body: Record<string, string>): Answer {
    if (method === "GET" && path === "/v1/payment_intents/search") return this.searchPaymentIntents(body["query"] ?? "");
    if (method !== "POST") return stripeError(404, "invalid_request_error", "resource_missing", `Unrecognized request URL (${method}: ${path})`);
    if (path === "/v1/customers") {
      const id = this.nextId("cus");
      this.customers.push(id);
      return ok({ id, object: "customer", metadata: metadataOf(body) });
    }
    if (path === "/v1/payment_methods") return this.createPaymentMethod(body);
    const attach = /^\/v1\/payment_methods\/([^/]+)\/attach$/.exec(path);
    if (attach !== null) {
      const pm = this.paymentMethods.get(attach[1]!);
      if (pm === undefined) return stripeError(404, "invalid_request_error", "resource_missing", "No such PaymentMethod", "payment_method");
      if (!this.customers.includes(body["customer"] ?? "")) {
        return stripeError(404, "invalid_request_error", "resource_missing", "No such customer", "customer");
      }
      pm.customer = body["customer"]!;
      return ok(pmJson(pm));
    }
    if (path === "/v1/payment_intents") return this.createPaymentIntent(body);
    if (path === "/v1/refunds") return this.createRefund(body);
    return stripeError(404, "invalid_request_error", "resource_missing", `Unrecognized request URL (POST: ${path})`);
  }

  private createPaymentMethod(body: Record<string, string>): Answer {
    const token = body["card[token]"];
    if (body["type"] !== "card" || token === undefined) {
      return stripeError(400, "invalid_request_error", "parameter_missing", "Missing card[token]", "card[token]");
    }
    if (!token.startsWith("tok_")) {
      return stripeError(400, "invalid_request_error", "resource_missing", `No such token: '${token}'`, "card[token]");
    }
    if (token === "tok_incorrect_number") {
      return stripeError(402, "card_error", "incorrect_number", "Your card number is incorrect.", "number");
    }
    const pm: PaymentMethod = { id: this.nextId("pm"), token, brand: token.startsWith("tok_amex") ? "amex" : "visa", customer: null };
    this.paymentMethods.set(pm.id, pm);
    return ok(pmJson(pm));
  }

  private createPaymentIntent(body: Record<string, string>): Answer {
    const amount = Number(body["amount"]);
    const currency = body["currency"] ?? "";
    if (!/^[0-9]+$/.test(body["amount"] ?? "") || amount <= 0) {
      return stripeError(400, "invalid_request_error", "parameter_invalid_integer", "Invalid integer", "amount");
    }
    if (!/^[a-z]{3}$/.test(currency)) return stripeError(400, "invalid_request_error", "parameter_invalid", "Invalid currency", "currency");
    if (body["confirm"] !== "true") return stripeError(400, "invalid_request_error", "parameter_invalid", "expected confirm=true", "confirm");
    const pm = this.paymentMethods.get(body["payment_method"] ?? "");
    if (pm === undefined) return stripeError(400, "invalid_request_error", "resource_missing", "No such PaymentMethod", "payment_method");
    const customer = body["customer"] ?? null;
    if (customer !== null && pm.customer !== customer) {
      return stripeError(400, "invalid_request_error", "payment_method_not_attached", "The PaymentMethod is not attached to this customer", "payment_method");
    }
    const id = this.nextId("pi");
    const intentJson = { id, object: "payment_intent", amount, currency, customer, payment_method: pm.id, status: "requires_payment_method" };
    const declined = (declineCode: string) => ({
      status: 402,
      json: {
        error: {
          type: "card_error",
          code: "card_declined",
          decline_code: declineCode,
          message: "Your card was declined.",
          payment_intent: intentJson,
          payment_method: pmJson(pm),
        },
      },
    });
    if (pm.token === "tok_chargeDeclined") return declined("generic_decline");
    if (pm.token === "tok_amex_unsupported") return declined("card_not_supported");
    if (pm.token === "tok_processing_error") {
      return stripeError(402, "card_error", "processing_error", "An error occurred while processing your card.");
    }
    if (pm.token === "tok_api_error") return stripeError(500, "api_error", undefined, "Something went wrong on Stripe's end.");
    const intent: StandInPaymentIntent = { id, amount, currency, customer, paymentMethod: pm.id, refunded: 0, metadata: metadataOf(body) };
    this.paymentIntents.push(intent);
    return ok({
      ...intentJson,
      status: "succeeded",
      amount_received: amount,
      latest_charge: this.nextId("ch"),
      metadata: intent.metadata,
      off_session: body["off_session"] === "true",
    });
  }

  private searchPaymentIntents(query: string): Answer {
    const match = /^metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'$/.exec(query);
    if (match === null) return stripeError(400, "invalid_request_error", "parameter_invalid", `Unsupported search query: ${query}`, "query");
    const [, key, escaped] = match as unknown as [string, string, string];
    const value = escaped.replace(/\\(.)/g, "$1");
    const data = this.paymentIntents
      .filter((intent) => intent.metadata[key] === value)
      .map((intent) => ({
        id: intent.id,
        object: "payment_intent",
        amount: intent.amount,
        currency: intent.currency,
        customer: intent.customer,
        payment_method: intent.paymentMethod,
        status: "succeeded",
        metadata: intent.metadata,
      }));
    return ok({ object: "search_result", url: "/v1/payment_intents/search", has_more: false, next_page: null, data });
  }

  private createRefund(body: Record<string, string>): Answer {
    const intent = this.paymentIntents.find((pi) => pi.id === body["payment_intent"]);
    if (intent === undefined) return stripeError(400, "invalid_request_error", "resource_missing", "No such payment_intent", "payment_intent");
    const left = intent.amount - intent.refunded;
    const amount = body["amount"] === undefined ? left : Number(body["amount"]);
    if (left === 0) return stripeError(400, "invalid_request_error", "charge_already_refunded", "Charge has already been refunded.");
    if (amount > left) {
      return stripeError(400, "invalid_request_error", "amount_too_large", `Refund amount (${amount}) is greater than unrefunded amount (${left})`, "amount");
    }
    intent.refunded += amount;
    const id = this.nextId("re");
    this.refunds.push({ id, paymentIntent: intent.id, amount });
    return ok({ id, object: "refund", amount, currency: intent.currency, payment_intent: intent.id, status: "succeeded" });
  }

  private nextId(prefix: string): string {
    return `${prefix}_standin${++this.counter}`;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function ok(json: unknown): Answer {
  return { status: 200, json };
}

function stripeError(status: number, type: string, code: string | undefined, message: string, param?: string): Answer {
  return {
    status,
    json: { error: { type, message, ...(code === undefined ? {} : { code }), ...(param === undefined ? {} : { param }) } },
  };
}

function pmJson(pm: PaymentMethod) {
  return { id: pm.id, object: "payment_method", type: "card", card: { brand: pm.brand, last4: "4242" }, customer: pm.customer };
}

function metadataOf(body: Record<string, string>): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(body)) {
    const match = /^metadata\[(.+)\]$/.exec(key);
    if (match !== null) metadata[match[1]!] = value;
  }
  return metadata;
}
