/**
 * `booking-server import` of 300,000 slots into the database a running server
 * serves, while a client keeps calling HealthCheck and CreateBooking over
 * REST: nothing is answered 500, nothing hangs, every CreateBooking is a
 * booking, a booking failure or a 503 with Retry-After (the database was
 * locked by the import's final transaction for longer than the server retries),
 * and the import completes with the right counts. The latencies seen are
 * reported, not asserted. Needs dist/ (npx tsc -p tsconfig.build.json).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createBookingJson, opsServerEnv, runCliAsync, useOpsDatabase } from "../support/operations";
import { startServerProcess } from "../support/server-process";
import { authHeader } from "../support/test-server";

// The benchmark's feed generator (CommonJS): the same inventory the bench imports, 1,000 slots per merchant.
const { generateFeeds } = require("../../bench/generate-feeds.js") as {
  generateFeeds: (dir: string, options: { merchants: number }) => { files: string[]; slots: number };
};

/** A request not answered within this is a hang. */
const hangMs = 15_000;

const ops = useOpsDatabase("import-under-load-");

interface Answer {
  status: number;
  retryAfter: string | null;
  body: string;
  ms: number;
}

async function call(baseUrl: string, method: string, body?: unknown): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${baseUrl}/v3/${method}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { Authorization: authHeader, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(hangMs),
  });
  const text = await response.text();
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body: text, ms: performance.now() - started };
}

/** Calls `next()` one request after another until `done()`; every answer is kept. */
async function loop(next: () => Promise<Answer>, done: () => boolean): Promise<Answer[]> {
  const answers: Answer[] = [];
  while (!done()) answers.push(await next());
  return answers;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

test("when 300k slots are imported into the served database, then HealthCheck and CreateBooking keep being answered, never 500", async () => {
  const { dbPath } = ops;
  const feedDir = join(ops.dir, "feeds");
  mkdirSync(feedDir);
  const { files, slots } = generateFeeds(feedDir, { merchants: 300 });
  const server = (ops.server = await startServerProcess(["--db", dbPath], opsServerEnv));
  const { baseUrl } = server;

  let importDone = false;
  const importing = runCliAsync(["import", "--db", dbPath, ...files]).finally(() => (importDone = true));
  let token = 0;
  const [imported, healthChecks, bookings] = await Promise.all([
    importing,
    loop(() => call(baseUrl, "HealthCheck"), () => importDone),
    loop(() => call(baseUrl, "CreateBooking", createBookingJson(`under-import-${token++}`)), () => importDone),
  ]);

  expect(imported.stderr).toBe("");
  expect(imported.status).toBe(0);
  expect(imported.stdout).toContain("merchants: 300 new, 0 updated, 0 unchanged");
  expect(imported.stdout).toContain(`slots: ${slots} new, 0 updated, 0 unchanged`);
  expect(healthChecks.filter((answer) => answer.status !== 200)).toEqual([]);
  for (const booking of bookings) {
    if (booking.status === 503) expect(booking.retryAfter).toMatch(/^\d+$/);
    else expect({ status: booking.status, body: booking.body }).toEqual({ status: 200, body: expect.stringMatching(/"booking"|"booking_failure"/) });
  }

  const healthMs = healthChecks.map((answer) => answer.ms).sort((a, b) => a - b);
  const outcome = (answer: Answer) =>
    answer.status === 503 ? "503" : answer.body.includes('"booking_failure"') ? "booking_failure" : "booked";
  const outcomes: Record<string, number> = {};
  for (const booking of bookings) outcomes[outcome(booking)] = (outcomes[outcome(booking)] ?? 0) + 1;
  const bookingMs = bookings.map((answer) => answer.ms).sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  console.log(
    [
      `during the import (${imported.stdout.split("\n")[0]}):`,
      `  HealthCheck: ${healthMs.length} calls, p50 ${round(percentile(healthMs, 50))} ms, p99 ${round(percentile(healthMs, 99))} ms, max ${round(healthMs[healthMs.length - 1])} ms`,
      `  CreateBooking: ${bookings.length} calls, ${JSON.stringify(outcomes)}, p50 ${round(percentile(bookingMs, 50))} ms, p99 ${round(percentile(bookingMs, 99))} ms, max ${round(bookingMs[bookingMs.length - 1])} ms`,
    ].join("\n"),
  );
}, 240_000);
