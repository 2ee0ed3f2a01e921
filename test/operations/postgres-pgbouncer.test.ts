/**
 * The booking server through a real pgbouncer (Debian's; 1.18 on Debian 12)
 * in front of PostgreSQL: which pool mode works for which command
 * (docs/pgbouncer.md).
 *
 * - `serve` through pool_mode = transaction: two instances, each with a pool
 *   of more connections (BOOKING_DATABASE_POOL_SIZE) than pgbouncer has
 *   server connections for the database (default_pool_size), behave as on
 *   the database itself. Each unit of work is one transaction, each plain
 *   read one statement, the only advisory lock is transaction-scoped and no
 *   statement is named.
 * - `import` keeps temporary tables in one session from its first record to
 *   its last: through transaction pooling it fails with a clear message,
 *   or completes when all of it happened to run in one server session,
 *   and then the next import fails with that message. Through session
 *   pooling, or on the database itself, it works.
 * - `export-feeds` reads page by page in single statements: transaction
 *   pooling is fine.
 * - The database stopped behind pgbouncer: with docs/pgbouncer.md's
 *   query_wait_timeout, requests get 503 rather than waiting in pgbouncer's
 *   queue, and the instance serves again by itself once it is back (on a
 *   cluster of the suite's own: the run's is shared by suites in parallel).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { acknowledged, bookingStorm, createBookingAttempt, importSlots, overbookedSlots, serveOn, slotStarts, tally, waitUntil } from "../support/booking-instances";
import { GoogleStandIn } from "../support/google-stand-in";
import { startPgbouncer, type Pgbouncer, type PgbouncerOptions } from "../support/pgbouncer";
import { clusterStartTimeoutMs, createTestDatabase, onDatabase, startOwnCluster, type OwnCluster, type TestDatabase } from "../support/postgres-cluster";
import { runCli, killIfRunning, type ServerProcess } from "../support/server-process";
import { authHeader } from "../support/test-server";

/** pgbouncer's server connections for the database: fewer than either instance's own pool. */
const serverConnections = 4;
const instancePoolSize = 10;
const spots = 5;
const [burstStart, ...laterStarts] = slotStarts(8);

let dir = "";
let database: TestDatabase;
let google: GoogleStandIn;
const bouncers: Pgbouncer[] = [];
let transactionPool: Pgbouncer;
const servers: ServerProcess[] = [];

async function bouncer(options: PgbouncerOptions): Promise<Pgbouncer> {
  const started = await startPgbouncer(database.url, { defaultPoolSize: serverConnections, ...options });
  bouncers.push(started);
  return started;
}

async function post(server: ServerProcess, method: string, body: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(`${server.baseUrl}/v3/${method}`, {
    method: "POST",
    headers: { Authorization: authHeader, "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function burstSlotAvailable(server: ServerProcess): Promise<boolean> {
  const { body } = await post(server, "BatchAvailabilityLookup", {
    merchant_id: "ops",
    slot_time: [{ service_id: "dinner", start_sec: String(burstStart), duration_sec: "3600" }],
  });
  return body.slot_time_availability[0].available === true;
}

/** The server sessions the database has open for the test database (pgbouncer's, when only it connects), not counting the one asking. */
async function serverSessions(): Promise<number> {
  const [row] = await onDatabase<{ count: string }>(database.url, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [database.name]);
  return Number(row.count);
}

/** The client connections pgbouncer holds for the test database (its admin console's SHOW CLIENTS). */
async function pgbouncerClients(pool: Pgbouncer): Promise<number> {
  const admin = new pg.Client({ connectionString: pool.adminUrl });
  await admin.connect();
  try {
    return (await admin.query<{ database: string }>("SHOW CLIENTS")).rows.filter((row) => row.database === database.name).length;
  } finally {
    await admin.end();
  }
}

const slotCount = async (startSec: number) =>
  Number((await onDatabase<{ count: string }>(database.url, "SELECT count(*) FROM slots WHERE start_sec = $1", [startSec]))[0].count);

/** What `importSlots` throws for an import through transaction pooling: exit 2, the ConfigError's one line (no stack trace). */
const refusedForTransactionPooling =
  /import failed \(2\): booking-server: the import's (statements moved from one database session to another|staging tables exist already)[^\n]*pool_mode = transaction[^\n]*pool_mode = session[^\n]*\n?$/;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "booking-pgbouncer-test-"));
  database = await createTestDatabase();
  // On the database itself: an import works there (it also applies the migrations).
  importSlots(dir, database.url, [burstStart], spots);
  google = new GoogleStandIn();
  await google.listen();
  transactionPool = await bouncer({ poolMode: "transaction" });
  const env = {
    BOOKING_DATABASE_POOL_SIZE: String(instancePoolSize),
    NOTIFICATION_API_URL: google.baseUrl,
    NOTIFICATION_PARTNER_ID: "20001234",
    NOTIFICATION_BEARER_TOKEN: "pgbouncer-bearer",
  };
  servers.push(...(await Promise.all([serveOn(transactionPool.url, env), serveOn(transactionPool.url, env)])));
}, clusterStartTimeoutMs);

afterAll(async () => {
  for (const server of servers) await killIfRunning(server);
  for (const pool of bouncers) pool.stop();
  await google?.close();
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("serve through pool_mode = transaction", () => {
  test("when two instances serve through it, then HealthCheck says healthy and /readyz ready on both", async () => {
    for (const server of servers) {
      const health = await fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: { Authorization: authHeader }, signal: AbortSignal.timeout(30_000) });
      expect(health.status).toBe(200);
      expect((await fetch(`${server.baseUrl}/readyz`, { signal: AbortSignal.timeout(30_000) })).status).toBe(200);
    }
  }, 60_000);

  test(`when a burst of CreateBooking is split across both at a slot of ${spots} spots, then ${spots} are booked and the rest refused, on ${serverConnections} server connections for ${2 * instancePoolSize} pooled ones`, async () => {
    const storm = bookingStorm({ servers, starts: [burstStart], concurrency: 2 * instancePoolSize, tokens: 40, prefix: "burst" });
    const attempts = await storm.done;
    // Every answer is a booking or SLOT_UNAVAILABLE: no error, no 503 while the transactions queue in pgbouncer.
    expect(tally(attempts)).toEqual({ booked: spots, "200 SLOT_UNAVAILABLE": 40 - spots });
    expect(attempts.filter(acknowledged)).toHaveLength(spots);
    expect(await overbookedSlots(database.url)).toEqual([]);
    for (const server of servers) expect(await burstSlotAvailable(server)).toBe(false);
    // The instances held more connections to pgbouncer than pgbouncer opened to the database.
    expect(await pgbouncerClients(transactionPool)).toBeGreaterThan(serverConnections);
    expect(await serverSessions()).toBeLessThanOrEqual(serverConnections);
  }, 120_000);

  test("when one idempotency token is sent to both at once, then one booking is made and both answer it (the token's transaction-level advisory lock holds through transaction pooling)", async () => {
    await onDatabase(database.url, "UPDATE slots SET spots_total = spots_total + 3 WHERE start_sec = $1", [burstStart]);
    for (let round = 0; round < 3; round++) {
      const token = `same-token-${round}`;
      const body = {
        slot: { merchant_id: "ops", service_id: "dinner", start_sec: String(burstStart), duration_sec: "3600" },
        idempotency_token: token,
        user_information: { user_id: `user-${token}`, given_name: "A", family_name: "B", telephone: "+1", email: `${token}@example.com` },
      };
      const answers = await Promise.all(servers.map((server) => post(server, "CreateBooking", body)));
      expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
      expect(answers[0].body.booking.booking_id).toBe(answers[1].body.booking.booking_id);
      const [row] = await onDatabase<{ count: string }>(database.url, "SELECT count(*) FROM bookings WHERE user_id = $1", [`user-${token}`]);
      expect(Number(row.count)).toBe(1);
    }
    expect(await overbookedSlots(database.url)).toEqual([]);
  }, 60_000);

  test("when a booking is cancelled on both instances at once and another on one, then each is cancelled once, their spots come back, and BatchAvailabilityLookup says so on both", async () => {
    const held = await onDatabase<{ booking_id: string }>(database.url, "SELECT booking_id FROM bookings WHERE holds_spot ORDER BY booking_id LIMIT 2");
    const [twice, once] = held.map((row) => row.booking_id);
    const cancel = (server: ServerProcess, bookingId: string) => post(server, "UpdateBooking", { booking: { booking_id: bookingId, status: "CANCELED" } });
    const answers = await Promise.all([cancel(servers[0], twice), cancel(servers[1], twice), cancel(servers[1], once)]);
    const outcome = (answer: (typeof answers)[number]) => [answer.status, answer.body.booking?.status ?? answer.body.booking_failure?.cause];
    // The two cancellations of one booking run one after the other (a claim in the database): the second finds it cancelled.
    expect(answers.slice(0, 2).map(outcome).sort()).toEqual([
      [200, "BOOKING_ALREADY_CANCELLED"],
      [200, "CANCELED"],
    ]);
    expect(outcome(answers[2])).toEqual([200, "CANCELED"]);
    const [slot] = await onDatabase<{ spots_open: number }>(database.url, "SELECT spots_open FROM slots WHERE start_sec = $1", [burstStart]);
    expect(slot.spots_open).toBe(2);
    expect(await overbookedSlots(database.url)).toEqual([]);
    for (const server of servers) expect(await burstSlotAvailable(server)).toBe(true);
  }, 60_000);

  test("when bookings and the import queued notifications, then the instances deliver every one through transaction pooling", async () => {
    const undelivered = async () =>
      Number((await onDatabase<{ count: string }>(database.url, "SELECT count(*) FROM notification_outbox WHERE state <> 'delivered'"))[0].count);
    await waitUntil(async () => (await undelivered()) === 0, "every notification delivered", 45_000);
    const [{ count }] = await onDatabase<{ count: string }>(database.url, "SELECT count(*) FROM notification_outbox");
    expect(Number(count)).toBeGreaterThan(0);
    expect(google.accepted().length).toBeGreaterThanOrEqual(Number(count));
  }, 60_000);

  test("when export-feeds runs through transaction pooling, then it exports the live inventory (single-statement reads)", () => {
    const exported = runCli(["export-feeds", "--out", join(dir, "export")], { BOOKING_DATABASE_URL: transactionPool.url });
    expect(exported.stderr).toBe("");
    expect(exported.status).toBe(0);
    expect(exported.stdout).toMatch(/^exported 1 merchant\(s\), 1 service\(s\) and 1 slot\(s\)/);
  }, 60_000);
});

describe("import through pgbouncer", () => {
  test("when import runs through pool_mode = transaction while its transactions move between server sessions, then it fails with the message naming pgbouncer's modes, and imports nothing", async () => {
    const rotating = await bouncer({ poolMode: "transaction", roundRobin: true });
    // Three idle server sessions: with server_round_robin each next transaction takes another, as under load.
    const clients = Array.from({ length: 3 }, () => new pg.Client({ connectionString: rotating.url }));
    for (const client of clients) await client.connect();
    await Promise.all(clients.map((client) => client.query("BEGIN")));
    await Promise.all(clients.map(async (client) => (await client.query("COMMIT"), client.end())));

    expect(() => importSlots(dir, rotating.url, [laterStarts[0]], spots)).toThrow(refusedForTransactionPooling);
    expect(await slotCount(laterStarts[0])).toBe(0);
  }, 60_000);

  test("when import runs through pool_mode = transaction with no other client, then the first may complete in one server session, and the next fails with the message, since the first one's tables outlived it there", async () => {
    const quiet = await bouncer({ poolMode: "transaction" });
    // pgbouncer hands a lone client the server session it released last: the whole first import runs in one.
    importSlots(dir, quiet.url, [laterStarts[1]], spots);
    expect(await slotCount(laterStarts[1])).toBe(1);
    expect(() => importSlots(dir, quiet.url, [laterStarts[2]], spots)).toThrow(refusedForTransactionPooling);
    expect(await slotCount(laterStarts[2])).toBe(0);
  }, 60_000);

  test("when imports run one after another through pool_mode = session, then each works (pgbouncer resets the server session between clients)", async () => {
    // Two server sessions, as docs/pgbouncer.md's import database has, for an import's pool of the default 10.
    const session = await bouncer({ poolMode: "session", defaultPoolSize: 2 });
    for (const start of laterStarts.slice(3, 6)) {
      importSlots(dir, session.url, [start], spots);
      expect(await slotCount(start)).toBe(1);
    }
  }, 60_000);
});

describe("the database stopped behind pgbouncer", () => {
  let cluster: OwnCluster | undefined;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await killIfRunning(server);
    cluster?.remove();
  });

  test("when the database stops under an instance serving through pool_mode = transaction with query_wait_timeout = 5, then requests get 503 (not the 30 s request deadline) and /readyz says not ready; when it is back, then the instance serves again by itself", async () => {
    cluster = await startOwnCluster();
    const url = `${cluster.serverUrl}/postgres`;
    importSlots(dir, url, [burstStart], 50);
    // docs/pgbouncer.md's timeouts: without them the first request after the stop waited in pgbouncer's queue until serve's own 30 s deadline.
    const pool = await startPgbouncer(url, { poolMode: "transaction", defaultPoolSize: serverConnections, settings: ["query_wait_timeout = 5", "server_login_retry = 1"] });
    bouncers.push(pool);
    server = await serveOn(pool.url);
    const one = [server];
    expect((await createBookingAttempt(one, 0, "before-stop", burstStart)).bookingId).toBeDefined();

    cluster.stop();
    const down = await createBookingAttempt(one, 0, "while-down", burstStart);
    expect([down.status, down.errorCode]).toEqual([503, "unavailable"]);
    const ready = await fetch(`${server.baseUrl}/readyz`, { signal: AbortSignal.timeout(30_000) });
    expect(ready.status).toBe(503);

    cluster.start();
    await waitUntil(async () => (await fetch(`${server!.baseUrl}/readyz`)).status === 200, "/readyz ready again", 30_000);
    expect((await createBookingAttempt(one, 0, "after-start", burstStart)).bookingId).toBeDefined();
    const [{ count }] = await onDatabase<{ count: string }>(url, "SELECT count(*) FROM bookings WHERE user_id = ANY($1)", [["user-before-stop", "user-after-start"]]);
    expect(Number(count)).toBe(2);
  }, clusterStartTimeoutMs);
});
