/**
 * Helpers for the suites that run several `booking-server serve` processes on
 * one PostgreSQL database and break something under them (an instance, the
 * database, its primary): the inventory imported on the URL, instances
 * started on it, a storm of REST CreateBooking split across them, and what
 * the database says afterwards about what the clients were told.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createBookingJson, opsServerEnv, opsSlot } from "./operations";
import { onDatabase } from "./postgres-cluster";
import { runCli, startServerProcess, type ServerProcess } from "./server-process";
import { authHeader, futureStartSec, hour } from "./test-server";

/** The start times of the ops merchant's slots that `importSlots` makes: one an hour from `futureStartSec`. */
export function slotStarts(count: number): number[] {
  return Array.from({ length: count }, (_, n) => futureStartSec + n * hour);
}

/**
 * Imports the ops merchant (service `dinner`) with one slot of `spots` spots
 * at each of `starts`, confirmed at once, through `booking-server import` on
 * `url`; the feed files go to `dir`. Throws when the import fails; answers
 * what it printed.
 */
export function importSlots(dir: string, url: string, starts: number[], spots: number): ReturnType<typeof runCli> {
  const feed = (name: string, body: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(body));
    return path;
  };
  const imported = runCli(
    [
      "import",
      feed("merchants.json", { merchant: [{ merchant_id: "ops", name: "Ops Bistro" }] }),
      feed("services.json", { service: [{ merchant_id: "ops", service_id: "dinner", name: "Dinner" }] }),
      feed("availability.json", {
        availability: starts.map((start_sec) => ({
          merchant_id: "ops",
          service_id: "dinner",
          start_sec,
          duration_sec: Number(opsSlot.duration_sec),
          spots_total: spots,
          spots_open: spots,
          confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS",
        })),
      }),
    ],
    { BOOKING_DATABASE_URL: url },
  );
  if (imported.status !== 0) throw new Error(`import failed (${imported.status}): ${imported.stderr}`);
  return imported;
}

/** `booking-server serve` on the PostgreSQL database at `url`, with Google's test credentials and `env`. */
export function serveOn(url: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  return startServerProcess([], { ...opsServerEnv, BOOKING_DATABASE_URL: url, ...env });
}

/** What one CreateBooking came to, as the client saw it. */
export interface Attempt {
  token: string;
  /** The index of the instance it was sent to. */
  instance: number;
  startedAtMs: number;
  endedAtMs: number;
  /** The HTTP status; undefined when no answer came (connection refused or reset, or the client's timeout). */
  status?: number;
  /** Set when the answer is a 200 carrying a booking: acknowledged. */
  bookingId?: string;
  /** A 200's booking_failure cause (e.g. SLOT_UNAVAILABLE). */
  failureCause?: string;
  /** An error answer's `code` (e.g. `unavailable`) and message. */
  errorCode?: string;
  errorMessage?: string;
  /** Why no answer came: the socket's error code, or the client's. */
  noAnswer?: string;
}

export const acknowledged = (attempt: Attempt): boolean => attempt.bookingId !== undefined;

/** How long a client waits for an answer: far longer than any answer should take, so that running out of it means a hang. */
export const hangMs = 20_000;

/** One REST CreateBooking of `token` at the slot starting at `startSec`, sent to `servers[instance]`. */
export async function createBookingAttempt(servers: ServerProcess[], instance: number, token: string, startSec: number): Promise<Attempt> {
  const startedAtMs = Date.now();
  const attempt = (fields: Partial<Attempt>): Attempt => ({ token, instance, startedAtMs, endedAtMs: Date.now(), ...fields });
  let status: number;
  let text: string;
  try {
    const response = await fetch(`${servers[instance].baseUrl}/v3/CreateBooking`, {
      method: "POST",
      headers: { Authorization: authHeader, "Content-Type": "application/json" },
      body: JSON.stringify({ ...createBookingJson(token), slot: { ...opsSlot, start_sec: String(startSec) } }),
      signal: AbortSignal.timeout(hangMs),
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    return attempt({ noAnswer: noAnswerCode(error) });
  }
  let body: { booking?: { booking_id?: string }; booking_failure?: { cause?: string }; code?: string; message?: string } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the status says what it was
  }
  if (status === 200 && typeof body.booking?.booking_id === "string") return attempt({ status, bookingId: body.booking.booking_id });
  return attempt({ status, failureCause: body.booking_failure?.cause, errorCode: body.code, errorMessage: body.message });
}

/** undici's fetch wraps the socket's error (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET) in a TypeError's cause. */
function noAnswerCode(error: unknown): string {
  const cause = (error as { cause?: { code?: string; name?: string } }).cause;
  return cause?.code ?? cause?.name ?? (error as Error).name ?? String(error);
}

export interface StormOptions {
  servers: ServerProcess[];
  /** The slots' start times; request n goes to slot n mod their count. */
  starts: number[];
  /** Requests in flight at once. */
  concurrency: number;
  /** Stops after this many tokens; without it, runs until `stop()`. */
  tokens?: number;
  /** Every `duplicateEvery`-th token is also sent, at the same moment, to the next instance (a client retrying elsewhere). */
  duplicateEvery?: number;
  prefix: string;
}

export interface Storm {
  /** Every attempt answered or given up so far, in the order they ended. */
  attempts: Attempt[];
  /** Resolves when every worker has finished (`tokens` sent, or `stop()` called and the requests in flight ended). */
  done: Promise<Attempt[]>;
  stop(): Promise<Attempt[]>;
}

/**
 * A storm of CreateBooking with distinct tokens (and users), token n sent to
 * instance n mod the instances' count, `concurrency` at a time. It goes on
 * sending to an instance that is gone: those requests fail at the client.
 */
export function bookingStorm(options: StormOptions): Storm {
  const { servers, starts, concurrency, tokens, duplicateEvery, prefix } = options;
  const attempts: Attempt[] = [];
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && (tokens === undefined || next < tokens)) {
      const n = next++;
      const token = `${prefix}-${n}`;
      const instance = n % servers.length;
      const sends = [createBookingAttempt(servers, instance, token, starts[n % starts.length])];
      if (duplicateEvery && n % duplicateEvery === 0) sends.push(createBookingAttempt(servers, (instance + 1) % servers.length, token, starts[n % starts.length]));
      for (const sent of sends) void sent.then((attempt) => attempts.push(attempt));
      await Promise.all(sends);
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => attempts);
  return {
    attempts,
    done,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

/** Waits until `condition` holds, polling every 50 ms; throws after `timeoutMs` naming `what`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The bookings the database holds per idempotency token, for `tokens`: token → booking id (absent: no booking). */
export async function bookingsByToken(url: string, tokens: string[]): Promise<Map<string, string>> {
  const rows = await onDatabase<{ idempotency_token: string; booking_id: string }>(
    url,
    `SELECT i.idempotency_token, b.booking_id FROM idempotency_records i JOIN bookings b USING (booking_id)
     WHERE i.idempotency_token = ANY($1)`,
    [tokens],
  );
  return new Map(rows.map((row) => [row.idempotency_token, row.booking_id]));
}

/**
 * The acknowledged attempts the database does not bear out: their token has
 * no booking, or another one than the client was told. Empty when nothing
 * acknowledged was lost.
 */
export async function acknowledgedButMissing(url: string, attempts: Attempt[]): Promise<Attempt[]> {
  const acks = attempts.filter(acknowledged);
  const stored = await bookingsByToken(url, [...new Set(acks.map((ack) => ack.token))]);
  return acks.filter((ack) => stored.get(ack.token) !== ack.bookingId);
}

/**
 * The slots holding more bookings than their total, or whose count of held
 * spots disagrees with the bookings holding one (no leases in these tests).
 * Empty when nothing is overbooked.
 */
export function overbookedSlots(url: string) {
  return onDatabase<{ start_sec: string; spots_total: number; spots_held: number; holding: string }>(
    url,
    `SELECT s.start_sec, s.spots_total, s.spots_held, count(b.booking_id) AS holding
     FROM slots s LEFT JOIN bookings b ON b.slot_id = s.slot_id AND b.holds_spot
     GROUP BY s.slot_id HAVING count(b.booking_id) > s.spots_total OR count(b.booking_id) <> s.spots_held`,
  );
}

/**
 * Sends again, to `servers[instance]`, every token among `attempts` that no
 * attempt got a booking or a business refusal for (no answer, or an error
 * status), one after another, as a client retrying; the retries' attempts.
 */
export async function retryUnanswered(attempts: Attempt[], servers: ServerProcess[], instance: number, startOf: (token: string) => number): Promise<Attempt[]> {
  const settled = new Set(attempts.filter((attempt) => attempt.bookingId !== undefined || attempt.failureCause !== undefined).map((attempt) => attempt.token));
  const unanswered = [...new Set(attempts.map((attempt) => attempt.token))].filter((token) => !settled.has(token));
  const retries: Attempt[] = [];
  for (const token of unanswered) retries.push(await createBookingAttempt(servers, instance, token, startOf(token)));
  return retries;
}

/** Bookings per user of the ops slots, for the users of `tokens` (createBookingJson's `user-<token>`): token → count. */
export async function bookingCountsOfTokens(url: string, tokens: string[]): Promise<Map<string, number>> {
  const rows = await onDatabase<{ user_id: string; count: string }>(
    url,
    "SELECT user_id, count(*) FROM bookings WHERE user_id = ANY($1) GROUP BY user_id",
    [tokens.map((token) => `user-${token}`)],
  );
  const counts = new Map(tokens.map((token) => [token, 0]));
  for (const row of rows) counts.set(row.user_id.slice("user-".length), Number(row.count));
  return counts;
}

/** A summary for a failure message and the report: how many attempts came to what. */
export function tally(attempts: Attempt[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const attempt of attempts) {
    const key = acknowledged(attempt)
      ? "booked"
      : attempt.failureCause
        ? `200 ${attempt.failureCause}`
        : attempt.status !== undefined
          ? `${attempt.status} ${attempt.errorCode ?? ""}`.trim()
          : `no answer ${attempt.noAnswer}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
