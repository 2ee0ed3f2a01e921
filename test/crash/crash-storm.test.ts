/**
 * Crash safety, proven: a separate client process (test/crash/storm-client.js)
 * fires a storm of REST CreateBooking (with ~20% idempotency-token replays),
 * UpdateBooking cancels and MerchantService confirm / decline / fail / cancel
 * calls, ~20 in flight, and fsyncs every acknowledged answer to a log. Meanwhile
 * the test SIGKILLs `bin/booking-server serve` at random moments and restarts it
 * on the same SQLite file. After each kill (the file as the crash left it), after
 * each restart (while the storm goes on) and at the end, the file is opened
 * read-only and checked against the log (test/support/crash-invariants.ts):
 * acknowledged bookings and statuses survive, spots add up on every slot, no
 * token has two bookings, no notification is lost. At the end the outbox must
 * drain to a stand-in for Google's notification API that received every one.
 *
 * Knobs (environment):
 *   CRASH_STORM_KILLS    SIGKILLs to survive (default 5; at least 1)
 *   CRASH_STORM_SECONDS  the storm lasts at least this long, killing on (default 0: as long as the kills
 *                        take: after each restart the storm is answered again, then a kill 1-3 s later, or
 *                        0.1-0.6 s later one time in four); `make test-long` material, e.g.
 *                        `CRASH_STORM_KILLS=60 CRASH_STORM_SECONDS=300 npx jest test/crash`
 *   CRASH_STORM_SEED     seed of the kill timing and of the client's mix of operations (printed)
 * The default run takes about 10-25 s (more under load). The jest timeout grows with the knobs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bookingPatches, checkInvariants, readAcks, type Ack, type InvariantReport } from "../support/crash-invariants";
import { GoogleStandIn } from "../support/google-stand-in";
import { mulberry32 } from "../support/prng";
import { killHard, runCli, startServerProcess, type ServerProcess } from "../support/server-process";

// Not from test-server.ts: this test loads nothing of src/ in-process, only the built server it spawns.
const hour = 3600;
/** Slots start a month from now, hour-aligned: never in the past, never auto-declined during the run. */
const futureStartSec = Math.floor(Date.now() / 1000 / hour) * hour + 30 * 24 * hour;

const kills = Math.max(1, Number(process.env.CRASH_STORM_KILLS ?? 5));
const minSeconds = Math.max(0, Number(process.env.CRASH_STORM_SECONDS ?? 0));
const seed = Number(process.env.CRASH_STORM_SEED ?? Math.floor(Math.random() * 2 ** 31));
const timeoutMs = 60_000 + Math.max(kills * 6_000, minSeconds * 1_000 * 1.3);

// Credentials of its own, so a stale URL can never reach another test's server.
const basic = { username: "storm-google", password: `storm-${process.pid}-${seed}` };
const PARTNER = "20009999";
const GOOGLE_TOKEN = "storm-notification-bearer";

const merchants = [
  { id: "storm-bistro", service: "dinner", mode: "CONFIRMATION_MODE_SYNCHRONOUS", dining: true },
  { id: "storm-salon", service: "haircut", mode: "CONFIRMATION_MODE_ASYNCHRONOUS", dining: false },
  { id: "storm-trattoria", service: "dinner", mode: "mixed", dining: true },
];

interface StormSlot {
  merchant_id: string;
  service_id: string;
  start_sec: number;
  duration_sec: number;
  party_size: number;
  asynchronous: boolean;
}

let dir: string;
let dbPath: string;
let urlFile: string;
let ackLog: string;
let server: ServerProcess | undefined;
let client: ChildProcess | undefined;
let clientOutput = "";
let google: GoogleStandIn;
let serverEnv: Record<string, string>;
let passed = false;

// Seeded: the kill timing of a run can be replayed.
const random = mulberry32(seed);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const alive = (child: ChildProcess | undefined) => child !== undefined && child.exitCode === null && child.signalCode === null;

function writeJson(name: string, body: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(body));
  return path;
}

/** Publishes the server's current URL to the client (atomically: it re-reads the file before every request). */
function publishUrl(url: string): void {
  writeFileSync(`${urlFile}.tmp`, url);
  renameSync(`${urlFile}.tmp`, urlFile);
}

async function startServer(): Promise<ServerProcess> {
  const started = await withTimeout(startServerProcess(["--db", dbPath], serverEnv), 20_000, "the server to listen");
  publishUrl(started.baseUrl);
  return started;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** Runs the invariant checks and fails the test with every violation listed. */
function expectInvariants(when: string, acks: Ack[] = readAcks(ackLog)): InvariantReport {
  const report = checkInvariants(dbPath, acks);
  if (report.violations.length > 0) {
    throw new Error(
      `invariants broken ${when} (${acks.length} acknowledged so far; database kept at ${dbPath}, log at ${ackLog}, seed ${seed}):\n  ` +
        report.violations.join("\n  "),
    );
  }
  return report;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "crash-storm-"));
  dbPath = join(dir, "booking.db");
  urlFile = join(dir, "server-url");
  ackLog = join(dir, "acks.jsonl");

  // 21 slots with 1-5 spots (some partly sold elsewhere), synchronous and asynchronous.
  const slotRandom = mulberry32(seed ^ 0x5eed);
  const availability: unknown[] = [];
  const stormSlots: StormSlot[] = [];
  merchants.forEach((merchant, m) => {
    for (let i = 0; i < 7; i++) {
      const startSec = futureStartSec + (24 * m + 10 + i) * hour;
      const partySize = merchant.dining ? 2 + 2 * (i % 2) : 0;
      const spotsTotal = 1 + Math.floor(slotRandom() * 5);
      const spotsOpen = i === 3 ? Math.max(0, spotsTotal - 1) : spotsTotal;
      const asynchronous = merchant.mode === "mixed" ? i % 2 === 0 : merchant.mode === "CONFIRMATION_MODE_ASYNCHRONOUS";
      availability.push({
        merchant_id: merchant.id,
        service_id: merchant.service,
        start_sec: startSec,
        duration_sec: 3600,
        spots_total: spotsTotal,
        spots_open: spotsOpen,
        ...(partySize ? { resources: { party_size: partySize } } : {}),
        confirmation_mode: asynchronous ? "CONFIRMATION_MODE_ASYNCHRONOUS" : "CONFIRMATION_MODE_SYNCHRONOUS",
      });
      stormSlots.push({
        merchant_id: merchant.id,
        service_id: merchant.service,
        start_sec: startSec,
        duration_sec: 3600,
        party_size: partySize,
        asynchronous,
      });
    }
  });
  const imported = runCli([
    "import",
    "--db",
    dbPath,
    writeJson("merchants.json", { merchant: merchants.map((m) => ({ merchant_id: m.id, name: m.id })) }),
    writeJson("services.json", { service: merchants.map((m) => ({ merchant_id: m.id, service_id: m.service, name: m.service })) }),
    writeJson("availability.json", { availability }),
  ]);
  if (imported.status !== 0) throw new Error(`import failed (${imported.status}):\n${imported.stdout}${imported.stderr}`);
  writeJson("slots.json", stormSlots);
  writeJson("merchant-tokens.json", Object.fromEntries(merchants.map((m) => [m.id, `token-of-${m.id}-${seed}`])));
});

afterAll(async () => {
  if (alive(client)) {
    const exited = new Promise((resolve) => client!.once("exit", resolve));
    client!.kill("SIGKILL");
    await exited;
  }
  if (server && alive(server.child)) await killHard(server);
  if (google) await google.close();
  if (passed) rmSync(dir, { recursive: true, force: true });
  else if (dir) console.log(`crash storm: kept ${dir} (database, acknowledgement log) for inspection`);
});

test(
  `when the server is SIGKILLed ${kills}+ times during a booking storm from another process, then nothing acknowledged is lost and every invariant holds`,
  async () => {
    google = new GoogleStandIn();
    await google.listen();
    serverEnv = {
      BOOKING_AUTH_USERNAME: basic.username,
      BOOKING_AUTH_PASSWORD: basic.password,
      MERCHANT_TOKENS_FILE: join(dir, "merchant-tokens.json"),
      NOTIFICATION_API_URL: google.baseUrl,
      NOTIFICATION_PARTNER_ID: PARTNER,
      NOTIFICATION_BEARER_TOKEN: GOOGLE_TOKEN,
    };
    const startedAt = Date.now();
    server = await startServer();

    client = spawn(process.execPath, [join(__dirname, "storm-client.js")], {
      env: {
        ...process.env,
        STORM_URL_FILE: urlFile,
        STORM_ACK_LOG: ackLog,
        STORM_SLOTS_FILE: join(dir, "slots.json"),
        STORM_BASIC_AUTH: `${basic.username}:${basic.password}`,
        STORM_MERCHANT_TOKENS_FILE: join(dir, "merchant-tokens.json"),
        STORM_CONCURRENCY: "20",
        STORM_SEED: String(seed),
        STORM_REQUEST_TIMEOUT_MS: "10000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    client.stdout!.on("data", (chunk: Buffer) => (clientOutput += chunk.toString()));
    client.stderr!.on("data", (chunk: Buffer) => (clientOutput += chunk.toString()));
    const clientExit = new Promise<number | null>((resolve) => client!.once("exit", (code) => resolve(code)));

    /** Waits until the log has grown past `count` acknowledgements (the server is serving). */
    const acknowledgedPast = async (count: number, what: string) => {
      const deadline = Date.now() + 15_000;
      while (readAcks(ackLog).length <= count) {
        if (!alive(client)) throw new Error(`the storm client exited early:\n${clientOutput}`);
        if (Date.now() > deadline) throw new Error(`no acknowledgement within 15 s ${what}:\n${clientOutput}\nserver:\n${server?.output()}`);
        await sleep(50);
      }
    };

    let survived = 0;
    let lastReport: InvariantReport | undefined;
    // What the crashes left behind: committed work whose answer never arrived.
    let unacknowledgedAtKills = 0;
    let movedOnAtKills = 0;
    await acknowledgedPast(0, "after the first start");
    while (survived < kills || Date.now() - startedAt < minSeconds * 1000) {
      // Mostly 1-3 s into serving; one kill in four within 0.6 s of the restart (catch-up at start, first deliveries).
      await sleep(random() < 0.25 ? 100 + random() * 500 : 1000 + random() * 2000);
      if (!alive(server.child)) throw new Error(`the server died on its own before kill ${survived + 1}:\n${server.output()}`);
      await withTimeout(killHard(server), 10_000, "the killed server to exit");
      survived++;
      // The file exactly as the crash left it (no process has it open).
      const acks = readAcks(ackLog);
      const atKill = expectInvariants(`after kill ${survived}`, acks);
      unacknowledgedAtKills += atKill.figures.unacknowledgedBookings;
      movedOnAtKills += atKill.figures.movedOnSinceAck;
      server = await startServer();
      lastReport = expectInvariants(`after restart ${survived}`);
      // Nothing can be acknowledged while the server is down: wait for the storm to get answers again.
      await acknowledgedPast(acks.length, `after restart ${survived}`);
    }

    client.kill("SIGTERM");
    const code = await withTimeout(clientExit, 20_000, "the storm client to stop");
    expect(code).toBe(0);
    const statsLine = /STORM-STATS (.*)/.exec(clientOutput);
    expect(statsLine).not.toBeNull();
    const stats = JSON.parse(statsLine![1]);

    const acks = readAcks(ackLog);
    lastReport = expectInvariants("after the storm", acks);

    // The outbox drains to Google, and Google received every booking notification the outbox holds.
    const deadline = Date.now() + 20_000;
    while (checkInvariants(dbPath, acks).figures.outboxPending > 0) {
      if (Date.now() > deadline) throw new Error(`the outbox did not drain within 20 s:\n${server.output()}`);
      await sleep(100);
    }
    const received = new Set(
      google
        .accepted()
        .filter((request) => request.method === "PATCH" && request.bookingId !== "")
        .map((request) => `${request.bookingId} ${request.body?.status}`),
    );
    const patches = bookingPatches(dbPath);
    const undelivered = patches.filter((patch) => patch.state !== "delivered" || !received.has(`${patch.bookingId} ${patch.status}`));
    expect(undelivered).toEqual([]);
    for (const request of google.requests) {
      expect(request.headers.authorization).toBe(`Bearer ${GOOGLE_TOKEN}`);
    }
    for (const ack of acks.filter((a) => a.merchant)) expect(received.has(`${ack.bookingId} ${ack.status}`)).toBe(true);
    lastReport = expectInvariants("after the outbox drained", acks);

    await killHard(server);
    expect(stats.mismatches).toEqual([]);
    // A 5xx would be the server failing a request it was able to read (not a kill).
    const serverErrors = Object.entries(stats.httpStatus as Record<string, number>).filter(([status]) => Number(status) >= 500);
    expect(serverErrors).toEqual([]);

    const figures = {
      seed,
      killsSurvived: survived,
      seconds: Math.round((Date.now() - startedAt) / 100) / 10,
      requestsSent: stats.sent,
      acknowledged: acks.length,
      acknowledgedByKind: stats.ackByKind,
      connectionErrors: stats.connectionErrors,
      timeouts: stats.timeouts,
      bookingFailures: stats.bookingFailures,
      httpStatus: stats.httpStatus,
      bookingsInDb: lastReport.figures.bookingsInDb,
      bookingsChecked: lastReport.figures.bookingsChecked,
      unacknowledgedBookingsAtKills: unacknowledgedAtKills,
      unacknowledgedChangesAtKills: movedOnAtKills,
      tokensChecked: lastReport.figures.tokensChecked,
      notificationsChecked: lastReport.figures.notificationsChecked,
      bookingPatchesDelivered: patches.length,
      patchRequestsReceivedByGoogle: google.requests.filter((request) => request.method === "PATCH").length,
    };
    console.log(`crash storm figures: ${JSON.stringify(figures)}`);
    expect(survived).toBeGreaterThanOrEqual(kills);
    expect(acks.length).toBeGreaterThan(0);
    passed = true;
  },
  timeoutMs,
);
