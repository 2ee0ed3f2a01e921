import type { OutboxEntry, Repositories, Store } from "../store/repositories.js";
import { availabilityReplaceRequest } from "./availability-notification.js";
import { notificationRequest } from "./booking-notification.js";
import { inventoryFallback, inventoryRequest } from "./inventory-notification.js";
import { readResponsePrefix } from "./response-prefix.js";

/**
 * Delivers the notification outbox to Google's Booking Notification API and
 * its real-time inventory updates (availability, merchants, services).
 *
 * Entries are written by the domain in the same transaction as the status
 * change they report; this worker only reads and updates them, so a process
 * killed at any point loses nothing: an entry that was in flight stays
 * `pending` and is sent again after restart (at-least-once delivery). Each of
 * its writes is a unit of work of its own (`Store.transaction`): claiming an
 * entry (with building its request), recording Google's answer, bringing far
 * retries forward; the HTTP exchange happens between units, never inside one.
 *
 * Order per booking: `nextDue` only ever returns the oldest pending entry of
 * each booking, so a later notification waits until the earlier one is
 * delivered or dead. Different bookings do not wait for each other.
 *
 * Every instance on one database runs this worker. An entry is sent by the
 * instance whose `claim` took it: the claim is a conditional write that
 * only the queue's head, due and unclaimed, passes, committed before the
 * request goes out and cleared when the answer is recorded; meanwhile no
 * other instance claims the entry or anything after it in its queue. An
 * instance lost mid-delivery leaves its claim to expire (`claimLeaseMs`);
 * then any instance, or this one restarted, claims the entry again.
 */

export const DEFAULT_NOTIFICATION_API_URL = "https://mapsbooking.googleapis.com";

/** Where the bearer token for Google's API comes from. */
export interface AccessTokenSource {
  getAccessToken(): Promise<string>;
  /** Short description for logs (never the token). */
  describe(): string;
}

/** A fixed token (NOTIFICATION_BEARER_TOKEN): for stand-ins and tests. */
export class StaticTokenSource implements AccessTokenSource {
  constructor(private readonly token: string) {
    if (!token) throw new NotifierConfigError("StaticTokenSource: empty token");
  }
  async getAccessToken(): Promise<string> {
    return this.token;
  }
  describe(): string {
    return "a static bearer token (NOTIFICATION_BEARER_TOKEN)";
  }
}

export class NotifierConfigError extends Error {
  override name = "NotifierConfigError";
}

/** Read from the environment by notifierConfigFromEnv (src/config/notifier-config.ts). */
export interface NotifierConfig {
  baseUrl: string;
  /** Absent: the outbox keeps notifications and nothing is sent. */
  partnerId?: string;
  tokenSource?: AccessTokenSource;
  /** NOTIFICATION_CLAIM_LEASE_SEC; absent: the notifier's default (see `NotifierOptions.claimLeaseMs`). */
  claimLeaseMs?: number;
}

export interface NotifierOptions {
  store: Store;
  partnerId?: string;
  baseUrl?: string;
  tokenSource?: AccessTokenSource;
  /** Current time in milliseconds; tests inject their own. */
  now?: () => number;
  fetch?: typeof fetch;
  /** First retry delay bound (full jitter), default 1 s. */
  baseBackoffMs?: number;
  /**
   * Largest retry delay, default 5 min: the bound of the exponential backoff,
   * and the most a `Retry-After` from Google may make an entry wait.
   */
  maxBackoffMs?: number;
  /** Uniform in [0, 1): the jitter. */
  random?: () => number;
  /** Per-request timeout, default 10 s (shorter when `claimLeaseMs` asks for it). */
  requestTimeoutMs?: number;
  /**
   * How long a claim holds an entry being sent, default 3 x requestTimeoutMs
   * (30 s). A delivery makes at most two requests (an inventory update's
   * create-or-patch fallback), and each is given up after requestTimeoutMs
   * or a third of the lease, whichever is sooner: an instance that is alive
   * records the answer, clearing its claim, before the claim can expire,
   * with a third of the lease left for the store's units and for clocks of
   * instances that differ. A claim that expired under a live delivery would
   * let another instance send the entry too, and the queue's next entry
   * overtake it. Longer: an instance lost mid-delivery (or restarted) holds
   * its entry, and its queue, that much longer.
   */
  claimLeaseMs?: number;
  /** How often the worker looks for due entries, default 250 ms. */
  pollIntervalMs?: number;
  /** Entries per pass, default 50. */
  batchSize?: number;
  log?: (message: string) => void;
  /** Told of every failed attempt: the entry's kind and whether it will be "retried" or is "dead". */
  onFailure?: (kind: string, reason: "retried" | "dead") => void;
  /**
   * Told of every failure of the worker's own work, outside the exchange with
   * Google: a store error such as `StoreBusyError` (the database stayed
   * locked) or `StoreUnavailableError` (a full disk, a read-only file system)
   * while looking for, claiming or recording entries. The worker survives it
   * and tries again at its next poll; the entries stay pending. Default: only
   * logged. Wire it to a metric.
   */
  onTickError?: (error: unknown) => void;
}

export interface DeliveryPass {
  delivered: number;
  retried: number;
  dead: number;
}

export class Notifier {
  private readonly store: Store;
  private readonly partnerId?: string;
  private readonly baseUrl: string;
  private readonly tokenSource?: AccessTokenSource;
  private readonly now: () => number;
  private readonly fetchFn: typeof fetch;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly random: () => number;
  private readonly requestTimeoutMs: number;
  private readonly claimLeaseMs: number;
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly log: (message: string) => void;
  private readonly onFailure: (kind: string, reason: "retried" | "dead") => void;
  private readonly onTickError: (error: unknown) => void;

  private running = false;
  /** Whether the entries an older version scheduled too far ahead have been brought forward (see `clampFarRetries`). */
  private farRetriesClamped = false;
  private timer: NodeJS.Timeout | undefined;
  /** The worker's polls under way (`tick`): `stop` waits for them before it waits for the deliveries they started. */
  private readonly ticks = new Set<Promise<void>>();
  /**
   * Deliveries under way, by queue (booking id): one at most per queue keeps
   * each booking's notifications in order, while a slow answer for one
   * booking holds up no other.
   */
  private readonly inFlight = new Map<string, Promise<DeliveryOutcome>>();

  constructor(options: NotifierOptions) {
    this.store = options.store;
    this.partnerId = options.partnerId || undefined;
    this.baseUrl = (options.baseUrl ?? DEFAULT_NOTIFICATION_API_URL).replace(/\/+$/, "");
    this.tokenSource = options.tokenSource;
    this.now = options.now ?? Date.now;
    this.fetchFn = options.fetch ?? fetch;
    this.baseBackoffMs = options.baseBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 5 * 60 * 1000;
    this.random = options.random ?? Math.random;
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.claimLeaseMs = options.claimLeaseMs ?? 3 * requestTimeoutMs;
    this.requestTimeoutMs = Math.min(requestTimeoutMs, Math.floor(this.claimLeaseMs / 3));
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.batchSize = options.batchSize ?? 50;
    this.log = options.log ?? (() => {});
    this.onFailure = options.onFailure ?? (() => {});
    this.onTickError = options.onTickError ?? (() => {});
    if (this.partnerId && !this.tokenSource) {
      throw new NotifierConfigError("Notifier: a partner id needs a token source");
    }
    if (!(this.requestTimeoutMs > 0)) {
      throw new NotifierConfigError(`Notifier: a claim lease of ${this.claimLeaseMs} ms leaves no time for a request`);
    }
  }

  /** Whether the worker can send (it has a partner id). */
  get enabled(): boolean {
    return this.partnerId !== undefined;
  }

  /** One sentence for the start-up log. */
  describe(): string {
    if (!this.partnerId) {
      return (
        "Booking notifications are disabled: the outbox keeps every notification " +
        "until NOTIFICATION_PARTNER_ID is set (and the server restarted)."
      );
    }
    return (
      `Booking notifications go to ${this.baseUrl} for partner ${this.partnerId}, ` +
      `authenticated with ${this.tokenSource!.describe()}.`
    );
  }

  /** Starts the polling worker; false (and nothing started) without a partner id. */
  start(): boolean {
    if (!this.partnerId) return false;
    if (this.running) return true;
    this.running = true;
    this.schedule(0);
    return true;
  }

  /** Stops polling and waits for the deliveries under way to finish. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.ticks]);
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Wakes the worker now (call after committing an enqueue). */
  notify(): void {
    if (this.running) this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const tick = this.tick().finally(() => this.ticks.delete(tick));
      this.ticks.add(tick);
    }, delayMs);
    this.timer.unref?.();
  }

  /** One poll of the worker; never rejects (a rejection from a timer's work would end the process). */
  private async tick(): Promise<void> {
    try {
      if (!this.farRetriesClamped) await this.clampFarRetries();
      await this.startDue(true);
    } catch (error) {
      this.reportTickError(error);
    }
    if (this.running) this.schedule(this.pollIntervalMs);
  }

  /**
   * Starts sending every due entry whose queue has no delivery under way;
   * resolves, once they are started, with their outcomes to come.
   * `fromWorker`: a poll of the worker, which starts nothing once `stop` was called.
   */
  private async startDue(fromWorker: boolean): Promise<Array<Promise<DeliveryOutcome>>> {
    if (!this.partnerId) return [];
    const due = await this.store.read.outbox.nextDue(this.now(), this.batchSize + this.inFlight.size);
    if (fromWorker && !this.running) return [];
    const started: Array<Promise<DeliveryOutcome>> = [];
    // From here to the end, nothing awaits: checking and filling `inFlight` cannot interleave with another pass.
    for (const entry of due) {
      const queue = entry.queueKey;
      if (this.inFlight.has(queue)) continue;
      let answerRecorded = false;
      const delivery = this.deliver(entry)
        .then((outcome) => {
          answerRecorded = outcome !== "claimed elsewhere";
          return outcome;
        })
        .catch((error: unknown): DeliveryOutcome => {
          // Only the store (claim, building the request, recording the answer)
          // throws here: the entry stays pending and is sent again (once its claim expires, if it was claimed).
          this.reportTickError(error);
          return "retried";
        })
        .finally(() => {
          this.inFlight.delete(queue);
          // The queue's next entry may be due now. After a store error, or an
          // entry another unit held, the next poll tries again, instead of at
          // once against a database still locked or a unit still under way.
          if (this.running && answerRecorded) this.schedule(0);
        });
      this.inFlight.set(queue, delivery);
      started.push(delivery);
    }
    return started;
  }

  /**
   * Brings forward every pending entry due later than now + maxBackoffMs:
   * older versions honoured any Retry-After (99999999999 s scheduled a retry
   * 3,175 years ahead, holding up the queue behind it across restarts). Done
   * once, in one unit, at the first tick that can write the store; entries
   * scheduled since are never further ahead than that. On a store no other
   * instance shares, the same unit ends the claims a killed previous run
   * left: what it was sending goes out again now, not after the lease.
   */
  private async clampFarRetries(): Promise<void> {
    const latestAllowedMs = this.now() + this.maxBackoffMs;
    const clamped = await this.store.transaction(async (tx) => {
      if (!this.store.sharedByInstances) await tx.outbox.releaseClaims();
      return tx.outbox.clampRetriesAfter(latestAllowedMs);
    });
    for (const entry of clamped) {
      this.log(`notification ${entry.id} (${entry.kind} ${entry.queueKey}) was due in ${entry.nextAttemptAtMs - this.now()} ms: now in ${this.maxBackoffMs} ms`);
    }
    this.farRetriesClamped = true;
  }

  /** Logs and reports a failure of the worker's own work; never throws (a throw from a timer would end the process). */
  private reportTickError(error: unknown): void {
    try {
      this.log(`notifier: ${describeError(error)}; trying again at the next poll`);
      this.onTickError(error);
    } catch {
      // A failing reporter must not stop the worker either.
    }
  }

  /** One pass: sends every due entry once and waits for the answers. */
  async deliverDue(): Promise<DeliveryPass> {
    const pass: DeliveryPass = { delivered: 0, retried: 0, dead: 0 };
    for (const outcome of await Promise.all(await this.startDue(false))) if (outcome !== "claimed elsewhere") pass[outcome]++;
    return pass;
  }

  /**
   * The HTTP request for an entry: a bookings.patch, an availability:replace
   * built from current inventory (read through `tx`), or a merchant's or
   * service's create or patch.
   */
  private async requestFor(entry: OutboxEntry, tx: Repositories): Promise<{ method: string; pathAndQuery: string; body: string }> {
    switch (entry.kind) {
      case "availability_replace":
        return { method: "POST", ...(await availabilityReplaceRequest(this.partnerId!, entry, tx)) };
      case "merchant_update":
      case "service_update":
        return inventoryRequest(this.partnerId!, entry);
      case "booking_patch":
        return { method: "PATCH", ...notificationRequest(this.partnerId!, entry) };
    }
  }

  private async deliver(due: OutboxEntry): Promise<DeliveryOutcome> {
    // One unit: the entry is claimed and the attempt counted (from then on no
    // change merges into the entry), and the request is built from the start
    // times and spots as they are at that commit. It only reads and writes
    // the store: the request is sent after it.
    const claimed = await this.store.transaction(async (tx) => {
      const nowMs = this.now();
      const entry = await tx.outbox.claim(due.id, nowMs, nowMs + this.claimLeaseMs);
      return entry && { entry, request: await this.requestFor(entry, tx) };
    });
    if (!claimed) return "claimed elsewhere";
    const { entry, request } = claimed;
    let answer = await this.exchange(request);
    if (answer.failed === undefined && isInventoryUpdate(entry)) {
      // Google has the merchant or service already, or not yet: the other operation says the same.
      const other = inventoryFallback(this.partnerId!, entry, answer.status!);
      if (other) answer = await this.exchange(other);
    }
    const { status, responseBody, retryAfterMs, failed } = answer;
    if (failed !== undefined || status === null) {
      return this.retry(entry, status, `${status === null ? "request" : "response"} failed: ${describeError(failed)}`);
    }

    if (status >= 200 && status < 300) {
      const answered = status;
      const nowSec = Math.floor(this.now() / 1000);
      await this.store.transaction((tx) => tx.outbox.markDelivered(entry.id, nowSec, answered, entry.claimedUntilMs));
      this.log(`notification ${entry.id} (${entry.kind} ${entry.queueKey}) delivered: ${status}`);
      return "delivered";
    }
    if (status === 429 || status >= 500) {
      return this.retry(entry, status, `HTTP ${status}: ${responseBody}`, retryAfterMs);
    }
    const refused = status;
    await this.store.transaction((tx) => tx.outbox.markDead(entry.id, refused, responseBody, entry.claimedUntilMs));
    this.onFailure(entry.kind, "dead");
    this.log(`notification ${entry.id} (${entry.kind} ${entry.queueKey}) dead: HTTP ${status}`);
    return "dead";
  }

  /** Sends one request to Google and reads the start of its answer; `failed` when the request or the response broke. */
  private async exchange(request: { method: string; pathAndQuery: string; body: string }): Promise<Exchange> {
    let status: number | null = null;
    try {
      // One deadline for the token and the request: a token source that hangs must not outlast the claim either.
      const signal = AbortSignal.timeout(this.requestTimeoutMs);
      const token = await unlessAborted(this.tokenSource!.getAccessToken(), signal);
      const response = await this.fetchFn(`${this.baseUrl}${request.pathAndQuery}`, {
        method: request.method,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          accept: "application/json",
        },
        body: request.body,
        signal,
      });
      status = response.status;
      const responseBody = await readResponsePrefix(response);
      return { status, responseBody, retryAfterMs: parseRetryAfter(response.headers.get("retry-after"), this.now(), this.maxBackoffMs) };
    } catch (error) {
      return { status, responseBody: "", retryAfterMs: undefined, failed: error };
    }
  }

  private async retry(entry: OutboxEntry, status: number | null, error: string, retryAfterMs?: number): Promise<"retried"> {
    // `entry` is as claimed: its attempts count this one.
    const delay = Math.max(this.backoffMs(entry.attempts), retryAfterMs ?? 0);
    const nextAttemptAtMs = this.now() + delay;
    await this.store.transaction((tx) => tx.outbox.scheduleRetry(entry.id, nextAttemptAtMs, status, error, entry.claimedUntilMs));
    this.onFailure(entry.kind, "retried");
    this.log(`notification ${entry.id} (${entry.kind} ${entry.queueKey}) retry in ${delay} ms: ${error}`);
    return "retried";
  }

  /** Exponential backoff with full jitter for the n-th failed attempt (n >= 1). */
  backoffMs(failedAttempts: number): number {
    const exponent = Math.min(failedAttempts - 1, 30);
    const bound = Math.min(this.maxBackoffMs, this.baseBackoffMs * 2 ** exponent);
    return Math.floor(this.random() * bound);
  }
}

/**
 * What became of one due entry: its answer recorded, or not claimed (another
 * instance has it, or a unit merging a change into it held it).
 */
type DeliveryOutcome = keyof DeliveryPass | "claimed elsewhere";

/** One request's answer: its status (null when none came), the start of its body, its Retry-After; `failed` when it broke. */
interface Exchange {
  status: number | null;
  responseBody: string;
  retryAfterMs: number | undefined;
  failed?: unknown;
}

const isInventoryUpdate = (entry: OutboxEntry) => entry.kind === "merchant_update" || entry.kind === "service_update";

/**
 * Retry-After as delta-seconds or an HTTP date, in ms from `nowMs`, at most
 * `maxMs` (Google's answer is a hint, not a reason to stop a queue for
 * years); undefined when absent or not understood.
 */
export function parseRetryAfter(value: string | null, nowMs: number, maxMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed) * 1000, maxMs);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, date - nowMs), maxMs);
}

/** `promise`, or a rejection with the signal's reason once it aborts (for a call that takes no signal of its own). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? ` (${cause.message})` : "";
    return `${error.name}: ${error.message}${causeText}`;
  }
  return String(error);
}
