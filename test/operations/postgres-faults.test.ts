/**
 * Two `booking-server serve` processes on one PostgreSQL database under a
 * storm of CreateBooking, and something breaks under them: one instance is
 * SIGKILLed, or the database crashes and comes back (`pg_ctl stop -m
 * immediate`, then start: crash recovery). What the clients were told must
 * be what the database holds: nothing acknowledged is lost, no slot is
 * overbooked, a request that got no answer can be sent again with its token
 * and makes at most one booking.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  acknowledged,
  acknowledgedButMissing,
  bookingCountsOfTokens,
  bookingsByToken,
  bookingStorm,
  hangMs,
  importSlots,
  overbookedSlots,
  retryUnanswered,
  serveOn,
  slotStarts,
  tally,
  waitUntil,
  type Attempt,
} from "../support/booking-instances";
import { clusterStartTimeoutMs, createTestDatabase, startOwnCluster, type OwnCluster, type TestDatabase } from "../support/postgres-cluster";
import { killHard, killIfRunning, type ServerProcess } from "../support/server-process";
import { authHeader } from "../support/test-server";

const slots = 20;
const spotsPerSlot = 4;
const starts = slotStarts(slots);
/** Token n of a storm goes to slot n mod `slots` (bookingStorm's rule), so its start time follows from its number. */
const startOf = (token: string) => starts[Number(token.slice(token.lastIndexOf("-") + 1)) % slots];
/** What an instance on a working database may answer a CreateBooking (tally's names): a booking, a full slot, 503 / `unavailable`. */
const answers = ["booked", "200 SLOT_UNAVAILABLE", "503 unavailable"];

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "booking-pg-faults-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * For every retried token: a retry that booked is the token's one booking in
 * the database; one refused (the slot filled meanwhile) left it none.
 */
async function expectOneBookingPerRetriedToken(url: string, retries: Attempt[]): Promise<void> {
  const tokens = retries.map((retry) => retry.token);
  const [counts, stored] = await Promise.all([bookingCountsOfTokens(url, tokens), bookingsByToken(url, tokens)]);
  for (const retry of retries) {
    expect({ token: retry.token, outcome: tally([retry]) }).toEqual({ token: retry.token, outcome: acknowledged(retry) ? { booked: 1 } : { "200 SLOT_UNAVAILABLE": 1 } });
    expect({ token: retry.token, bookings: counts.get(retry.token), id: stored.get(retry.token) }).toEqual(
      acknowledged(retry) ? { token: retry.token, bookings: 1, id: retry.bookingId } : { token: retry.token, bookings: 0, id: undefined },
    );
  }
}

describe("one instance SIGKILLed mid-storm", () => {
  let database: TestDatabase;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
    importSlots(dir, database.url, starts, spotsPerSlot);
    servers.push(...(await Promise.all([serveOn(database.url), serveOn(database.url)])));
  }, clusterStartTimeoutMs);
  afterAll(async () => {
    for (const server of servers) await killIfRunning(server);
    await database?.drop();
  });

  test("when one of two instances is SIGKILLed during a booking storm, then everything acknowledged is in the database, nothing is overbooked, the survivor serves on, and an unanswered token retried on it books once", async () => {
    const tokens = 200;
    const storm = bookingStorm({ servers, starts, concurrency: 12, tokens, duplicateEvery: 5, prefix: "kill" });
    await waitUntil(() => storm.attempts.length >= 60, "60 answers before the kill");
    const killedAtMs = Date.now();
    await killHard(servers[1]);
    const attempts = await storm.done;
    const summary = tally(attempts);

    // Every token was answered or given up on at least once. The survivor answered each of its requests: a booking, a
    // refusal of a full slot, or 503 busy (a unit that kept losing its race for 2 s; its token is retried below).
    expect(new Set(attempts.map((attempt) => attempt.token)).size).toBe(tokens);
    const survivorOutcomes = Object.keys(tally(attempts.filter((attempt) => attempt.instance === 0)));
    expect(survivorOutcomes.filter((outcome) => !answers.includes(outcome))).toEqual([]);
    // Sent to the dead instance after the kill: no answer at all, never an acknowledgement.
    const toTheDead = attempts.filter((attempt) => attempt.instance === 1 && attempt.startedAtMs > killedAtMs);
    expect(toTheDead.length).toBeGreaterThan(0);
    expect(toTheDead.filter((attempt) => attempt.status !== undefined)).toEqual([]);

    expect(await acknowledgedButMissing(database.url, attempts)).toEqual([]);
    expect(await overbookedSlots(database.url)).toEqual([]);
    // A token sent to both instances that both answered: the same booking.
    const answeredTwice = new Map<string, Set<string>>();
    for (const ack of attempts.filter(acknowledged)) answeredTwice.set(ack.token, (answeredTwice.get(ack.token) ?? new Set()).add(ack.bookingId!));
    expect([...answeredTwice.values()].filter((ids) => ids.size > 1)).toEqual([]);

    const retries = await retryUnanswered(attempts, servers, 0, startOf);
    expect(retries.length).toBeGreaterThan(0);
    await expectOneBookingPerRetriedToken(database.url, retries);
    expect(await overbookedSlots(database.url)).toEqual([]);

    const health = await fetch(`${servers[0].baseUrl}/v3/HealthCheck`, { headers: { Authorization: authHeader } });
    expect(health.status).toBe(200);
    console.log(`SIGKILL mid-storm: ${JSON.stringify(summary)}; ${retries.length} unanswered tokens retried: ${JSON.stringify(tally(retries))}`);
  }, 120_000);
});

describe("the database restarted immediately under load", () => {
  let cluster: OwnCluster | undefined;
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const server of servers) await killIfRunning(server);
    cluster?.remove();
  });

  test("when the database crashes and restarts while both instances take a storm, then answers meanwhile are quick 503s, /readyz says not ready, both recover by themselves, and nothing acknowledged is lost or overbooked", async () => {
    cluster = await startOwnCluster();
    const url = `${cluster.serverUrl}/postgres`;
    // Room for the whole storm: the instances must be seen booking again after the restart.
    importSlots(dir, url, starts, 100);
    servers.push(...(await Promise.all([serveOn(url), serveOn(url)])));
    const pids = servers.map((server) => server.child.pid);

    const storm = bookingStorm({ servers, starts, concurrency: 8, prefix: "crash" });
    await waitUntil(() => storm.attempts.filter(acknowledged).length >= 20, "20 bookings before the crash");
    cluster.stop();
    const downAtMs = Date.now();
    // While it is down: every instance says it is not ready, HealthCheck says unhealthy, and the storm's answers are 503s.
    await waitUntil(() => storm.attempts.some((attempt) => attempt.startedAtMs > downAtMs && attempt.status === 503), "a 503 from the storm while down", hangMs);
    for (const server of servers) {
      const ready = await fetch(`${server.baseUrl}/readyz`, { signal: AbortSignal.timeout(hangMs) });
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: "not ready", reason: expect.stringMatching(/^the database does not take writes/) });
      const health = await fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: { Authorization: authHeader }, signal: AbortSignal.timeout(hangMs) });
      expect(health.status).toBe(503);
    }
    const upAgainAtMs = Date.now();
    cluster.start();

    // Both recover by themselves (the same processes): ready again, and each books again.
    for (const server of servers) {
      await waitUntil(async () => (await fetch(`${server.baseUrl}/readyz`)).status === 200, "/readyz 200 after the restart");
    }
    const bookedAfter = (instance: number) => storm.attempts.some((attempt) => attempt.instance === instance && attempt.startedAtMs > upAgainAtMs && acknowledged(attempt));
    await waitUntil(() => bookedAfter(0) && bookedAfter(1), "a booking on each instance after the restart");
    const attempts = await storm.stop();
    expect(servers.map((server) => server.child.pid)).toEqual(pids);
    expect(servers.every((server) => server.child.exitCode === null)).toBe(true);

    // Started while it was down: answered (no hang: the client's timeout is hangMs), and only with 503 / `unavailable`.
    const whileDown = attempts.filter((attempt) => attempt.startedAtMs > downAtMs && attempt.endedAtMs < upAgainAtMs);
    expect(whileDown.length).toBeGreaterThan(0);
    expect(tally(whileDown)).toEqual({ "503 unavailable": whileDown.length });
    // Whatever else the storm got: bookings, refusals of a full slot, 503s around the crash; never a 500 or a hang.
    expect(Object.keys(tally(attempts)).filter((outcome) => !answers.includes(outcome))).toEqual([]);

    expect(await acknowledgedButMissing(url, attempts)).toEqual([]);
    expect(await overbookedSlots(url)).toEqual([]);
    const retries = await retryUnanswered(attempts, servers, 1, startOf);
    await expectOneBookingPerRetriedToken(url, retries);
    expect(await overbookedSlots(url)).toEqual([]);

    const slowestWhileDownMs = Math.max(...whileDown.map((attempt) => attempt.endedAtMs - attempt.startedAtMs));
    console.log(
      `database restart under load: ${JSON.stringify(tally(attempts))}; while down ${upAgainAtMs - downAtMs} ms, ${whileDown.length} answers, slowest ${slowestWhileDownMs} ms; ${retries.length} retried: ${JSON.stringify(tally(retries))}`,
    );
  }, 180_000);
});
