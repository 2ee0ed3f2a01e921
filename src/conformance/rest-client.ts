/**
 * The checker's side of the wire: Google's REST calls to a booking server
 * (`POST <base>/v3/<Method>` with a JSON body, `GET <base>/v3/HealthCheck`,
 * HTTP Basic on every request), with Node's fetch. Every request and answer
 * is handed to a recorder, so that a failed check can show what it saw.
 */

/** Google's Basic credentials for the server under test. */
export interface Credentials {
  username: string;
  password: string;
}

/** One request and its answer (or why none came), as the report shows it. */
export interface Exchange {
  request: { method: "GET" | "POST"; url: string; headers: Record<string, string>; body?: string };
  response?: { status: number; headers: Record<string, string>; body: string };
  /** Why no answer came: refused connection, timeout. */
  error?: string;
  durationMs: number;
}

/** An answer: the HTTP status, the body as sent, and the body as JSON (undefined when it is not JSON). */
export interface RestAnswer {
  status: number;
  text: string;
  json: unknown;
}

/** Which Authorization a request carries: Google's, none, or Google's user with a wrong password. */
export type AuthChoice = "google" | "none" | "wrong-password";

export interface CallOptions {
  /** `/v3/<Method>/` instead of `/v3/<Method>` (Google's guides show both). */
  trailingSlash?: boolean;
  auth?: AuthChoice;
}

/** No answer at all (the server is down, the URL wrong, or it took longer than the timeout). */
export class NoAnswerError extends Error {}

export interface RestClientOptions {
  /** The base URL partners enter in the Partner Portal, e.g. `https://api.example.com/google`. */
  baseUrl: string;
  credentials: Credentials;
  /** Longest wait for one answer, in ms. */
  timeoutMs: number;
}

export class RestClient {
  private readonly base: string;

  constructor(
    private readonly options: RestClientOptions,
    private readonly record: (exchange: Exchange) => void = () => {},
  ) {
    this.base = options.baseUrl.replace(/\/+$/, "");
  }

  /** The same client, telling `record` of every exchange (one recorder per check). */
  recordingTo(record: (exchange: Exchange) => void): RestClient {
    return new RestClient(this.options, record);
  }

  /** `POST /v3/<method>` with `body` as JSON, or `raw` text sent as it is (for malformed requests). */
  post(method: string, body: unknown, options: CallOptions & { raw?: string } = {}): Promise<RestAnswer> {
    return this.send("POST", method, options, options.raw ?? JSON.stringify(body));
  }

  /** `GET /v3/<method>` (HealthCheck). */
  get(method: string, options: CallOptions = {}): Promise<RestAnswer> {
    return this.send("GET", method, options, undefined);
  }

  private async send(verb: "GET" | "POST", method: string, options: CallOptions, body: string | undefined): Promise<RestAnswer> {
    const url = `${this.base}/v3/${method}${options.trailingSlash ? "/" : ""}`;
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const authorization = this.authorization(options.auth ?? "google");
    if (authorization) headers.Authorization = authorization;
    const exchange: Exchange = {
      request: { method: verb, url, headers: { ...headers, ...(authorization ? { Authorization: this.redacted(options.auth) } : {}) }, body },
      durationMs: 0,
    };
    const started = performance.now();
    try {
      const response = await fetch(url, { method: verb, headers, body, signal: AbortSignal.timeout(this.options.timeoutMs) });
      const text = await response.text();
      exchange.durationMs = Math.round(performance.now() - started);
      exchange.response = { status: response.status, headers: Object.fromEntries(response.headers), body: text };
      return { status: response.status, text, json: parseJson(text) };
    } catch (error) {
      exchange.durationMs = Math.round(performance.now() - started);
      exchange.error = describeFetchError(error);
      throw new NoAnswerError(`no answer from ${verb} ${url}: ${exchange.error}`);
    } finally {
      this.record(exchange);
    }
  }

  private authorization(auth: AuthChoice): string | undefined {
    const { username, password } = this.options.credentials;
    if (auth === "none") return undefined;
    const pair = auth === "wrong-password" ? `${username}:${password}-wrong` : `${username}:${password}`;
    return `Basic ${Buffer.from(pair).toString("base64")}`;
  }

  /** What the report shows of the Authorization header: never the password. */
  private redacted(auth: AuthChoice | undefined): string {
    const which = auth === "wrong-password" ? "a wrong password" : "the password from the credentials file";
    return `Basic (user "${this.options.credentials.username}" with ${which}; not shown)`;
  }
}

function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describeFetchError(error: unknown): string {
  const { name, message, cause } = error as Error & { cause?: { code?: string; message?: string } };
  if (name === "TimeoutError") return "no answer within the timeout";
  return cause?.code ?? cause?.message ?? message;
}
