/**
 * Two `booking-server serve` processes on one PostgreSQL database
 * (BOOKING_DATABASE_URL), as behind a load balancer: they must behave as one.
 * The inventory comes in through `booking-server import` on the same URL.
 * The last test stops the database under a server, on a cluster of its own
 * (the run's cluster is shared by suites running in parallel).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importSlots, serveOn } from "../support/booking-instances";
import { bookingOutcome, createBookingJson, opsSlot, type Outcome } from "../support/operations";
import { clusterStartTimeoutMs, createTestDatabase, onDatabase, startOwnCluster, type OwnCluster, type TestDatabase } from "../support/postgres-cluster";
import { killIfRunning, type ServerProcess } from "../support/server-process";
import { authHeader, futureStartSec } from "../support/test-server";

const spots = 5;
let dir = "";
let database: TestDatabase;
const servers: ServerProcess[] = [];

/** The ops merchant with one slot of `spots` spots at opsSlot's start, imported on `url`. */
const importInto = (url: string) => importSlots(dir, url, [futureStartSec], spots);

const serve = (url: string) => serveOn(url, { METRICS_PUBLIC: "1" });

/** booking_store_retries_total of `server`: the units its store ran again after a conflict with another unit. */
async function storeRetries(server: ServerProcess): Promise<number> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith("booking_store_retries_total "));
  if (!line) throw new Error("booking_store_retries_total is not among the metrics");
  return Number(line.split(" ")[1]);
}

async function post(server: ServerProcess, method: string, body: unknown, timeoutMs = 30_000) {
  const response = await fetch(`${server.baseUrl}/v3/${method}`, {
    method: "POST",
    headers: { Authorization: authHeader, "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: response.status, text: await response.text() };
}

async function createBooking(server: ServerProcess, token: string, via: string): Promise<Outcome> {
  const { status, text } = await post(server, "CreateBooking", createBookingJson(token));
  return bookingOutcome(token, via, status, text);
}

async function slotAvailable(server: ServerProcess): Promise<boolean> {
  const { text } = await post(server, "BatchAvailabilityLookup", {
    merchant_id: "ops",
    slot_time: [{ service_id: "dinner", start_sec: opsSlot.start_sec, duration_sec: opsSlot.duration_sec }],
  });
  return JSON.parse(text).slot_time_availability[0].available === true;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "booking-pg-instances-"));
  database = await createTestDatabase();
}, clusterStartTimeoutMs);

afterAll(async () => {
  for (const server of servers) await killIfRunning(server);
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("when the inventory is imported on BOOKING_DATABASE_URL and two instances serve it, then both start and neither prints the password", async () => {
  const imported = importInto(database.url);
  expect(imported.stderr).toBe("");
  expect(imported.status).toBe(0);
  expect(imported.stdout).toMatch(new RegExp(`imported 3 feed file\\(s\\) into PostgreSQL database ${database.name} on 127\\.0\\.0\\.1:\\d+`));
  servers.push(...(await Promise.all([serve(database.url), serve(database.url)])));
  const password = new URL(database.url).password;
  for (const output of [imported.stdout, ...servers.map((server) => server.output())]) expect(output).not.toContain(password);
  expect(servers[0].output()).toContain(`(database PostgreSQL database ${database.name} on 127.0.0.1:`);
}, 60_000);

test("when a burst of CreateBooking is split across both instances at a slot of 5 spots, then at most 5 are booked, as BAL and the database agree", async () => {
  const outcomes = await Promise.all(
    Array.from({ length: 30 }, (_, n) => createBooking(servers[n % 2], `burst-${n}`, `instance-${n % 2}`)),
  );
  const booked = outcomes.filter((outcome) => outcome.bookingId);
  const refusedFull = outcomes.filter((outcome) => outcome.error?.includes("SLOT_UNAVAILABLE"));
  // Every other answer would be an error the client sees (busy, unavailable): none is expected here.
  expect(booked.length + refusedFull.length).toBe(outcomes.length);
  expect(booked.length).toBe(spots);
  // Which instance wins the five spots is the race itself: one may take them all (it did once under load).
  const [row] = await onDatabase<{ holding: string; spots_open: number }>(
    database.url,
    "SELECT (SELECT count(*) FROM bookings WHERE holds_spot) AS holding, (SELECT spots_open FROM slots) AS spots_open",
  );
  expect(Number(row.holding)).toBe(spots);
  expect(row.spots_open).toBe(0);
  for (const server of servers) expect(await slotAvailable(server)).toBe(false);
  // Thirty units racing for one slot's row: the store re-ran some of them, and says how many.
  const retries = await Promise.all(servers.map(storeRetries));
  for (const count of retries) expect(Number.isInteger(count)).toBe(true);
}, 120_000);

test("when one idempotency token is sent to both instances at once, then one booking is made and both answer it", async () => {
  await onDatabase(database.url, "UPDATE slots SET spots_total = spots_total + 1");
  const outcomes = await Promise.all(servers.map((server, n) => createBooking(server, "same-token", `instance-${n}`)));
  expect(outcomes.map((outcome) => outcome.error)).toEqual([undefined, undefined]);
  expect(outcomes[0].bookingId).toBe(outcomes[1].bookingId);
  const rows = await onDatabase<{ count: string }>(database.url, "SELECT count(*) FROM idempotency_records WHERE idempotency_token = $1", ["same-token"]);
  expect(Number(rows[0].count)).toBe(1);
  const bookings = await onDatabase<{ count: string }>(database.url, "SELECT count(*) FROM bookings WHERE user_id = $1", ["user-same-token"]);
  expect(Number(bookings[0].count)).toBe(1);
}, 60_000);

describe("the database stopped under a server", () => {
  let cluster: OwnCluster | undefined;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await killIfRunning(server);
    cluster?.remove();
  });

  test("when the database stops, then requests get 503 without hanging and /readyz says not ready; when it is back, then the instance serves again by itself", async () => {
    cluster = await startOwnCluster();
    const url = `${cluster.serverUrl}/postgres`;
    importInto(url);
    server = await serve(url);
    expect((await createBooking(server, "before-stop", "up")).bookingId).toBeDefined();

    cluster.stop();
    // The bound only tells a hang from an answer: the store gives up on a connection after 5 s.
    const down = await post(server, "CreateBooking", createBookingJson("while-down"), 20_000);
    expect(down.status).toBe(503);
    const ready = await fetch(`${server.baseUrl}/readyz`, { signal: AbortSignal.timeout(20_000) });
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "not ready", reason: expect.stringMatching(/^the database does not take writes/) });
    const health = await fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: { Authorization: authHeader }, signal: AbortSignal.timeout(20_000) });
    expect(health.status).toBe(503);

    cluster.start();
    let readyAgain = 0;
    for (let attempt = 0; attempt < 60 && readyAgain !== 200; attempt++) {
      readyAgain = (await fetch(`${server.baseUrl}/readyz`)).status;
      if (readyAgain !== 200) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(readyAgain).toBe(200);
    expect((await createBooking(server, "after-start", "back")).bookingId).toBeDefined();
    expect((await fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: { Authorization: authHeader } })).status).toBe(200);
    // The booking acknowledged before the stop is still there.
    const status = await post(server, "ListBookings", { user_id: "user-before-stop" });
    expect(JSON.parse(status.text).bookings).toHaveLength(1);
  }, clusterStartTimeoutMs);
});
