/**
 * The process under an unlucky operator's faults, through real server
 * processes on real files: a second server on the same file, a missing
 * database, a taken port, database files deleted under the server, a full
 * disk and a file system remounted read-only (a tmpfs of its own). The server
 * never crashes, keeps answering lookups, and says the truth on /readyz.
 */
import { existsSync, mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importOpsInventory, opsServerEnv, opsSlot, sleep } from "../support/operations";
import { killHard, killIfRunning, runCli, startServerProcess, type ServerProcess } from "../support/server-process";
import { canMountSmallFilesystem, mountSmallFilesystem, type SmallFilesystem } from "../support/small-filesystem";
import { authHeader } from "../support/test-server";

const env = {
  ...opsServerEnv,
  METRICS_TOKEN: "scrape",
  // Pending requests are due a second after they are made, so the auto-decline timer has writes to do.
  AUTO_DECLINE_AFTER_SEC: "1",
};
const slot = opsSlot;

let dir: string;
const servers: ServerProcess[] = [];
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "booking-faults-"))));
afterEach(async () => {
  for (const server of servers.splice(0)) await killIfRunning(server);
  rmSync(dir, { recursive: true, force: true });
});

/** One merchant whose only slot (100 spots) is confirmed by the restaurant later (asynchronous). */
const importInventory = (dbPath: string) => importOpsInventory(dir, dbPath, 100, "CONFIRMATION_MODE_ASYNCHRONOUS");

async function serve(dbPath: string, extraEnv: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess(["--db", dbPath], { ...env, ...extraEnv });
  servers.push(server);
  return server;
}

async function call(server: ServerProcess, method: string, body: unknown) {
  const response = await fetch(`${server.baseUrl}/v3/${method}`, {
    method: "POST",
    headers: { Authorization: authHeader, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() };
}

const book = (server: ServerProcess, token: string) =>
  call(server, "CreateBooking", {
    slot,
    idempotency_token: token,
    user_information: { user_id: token, given_name: "A", family_name: "B", telephone: "+1", email: `${token}@example.com` },
  });

async function readyz(server: ServerProcess) {
  const response = await fetch(`${server.baseUrl}/readyz`);
  return { status: response.status, body: await response.json() };
}

async function jobFailures(server: ServerProcess, job: string): Promise<number> {
  const text = await (await fetch(`${server.baseUrl}/metrics`, { headers: { Authorization: "Bearer scrape" } })).text();
  const match = new RegExp(`^booking_background_job_failures_total\\{job="${job}"\\} (\\d+)`, "m").exec(text);
  return match ? Number(match[1]) : 0;
}

/** Polls until `check` holds (a server's timers run on their own schedule), failing after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await sleep(200);
  }
}

test("when a second serve starts on a database another process serves, then it exits 2 with one sentence naming the holder; once the holder is killed -9, a new serve starts", async () => {
  const dbPath = join(dir, "booking.db");
  importInventory(dbPath);
  const first = await serve(dbPath);
  const second = runCli(["serve", "--port", "0", "--host", "127.0.0.1", "--db", dbPath], env);
  expect(second.status).toBe(2);
  expect(second.stderr.trim()).toMatch(
    new RegExp(`^booking-server: ${dbPath.replace(/[.]/g, "\\.")} is already served by another booking-server \\(pid ${first.child.pid} on .+\\): stop it first, or serve another --db$`),
  );
  expect(second.stdout).not.toMatch(/listening/);

  // The kernel drops the lock with the process: nothing stale is left behind.
  await killHard(first);
  const third = await serve(dbPath);
  expect((await call(third, "CheckAvailability", { slot })).body.count_available).toBe(100);
});

test("when serve is pointed at a missing database, then it refuses in one sentence unless told to create one", async () => {
  const dbPath = join(dir, "nowhere", "booking.db");
  const refused = runCli(["serve", "--port", "0", "--db", dbPath], { ...env, BOOKING_DB_CREATE: "" });
  expect(refused.status).toBe(2);
  expect(refused.stderr.trim()).toBe(
    `booking-server: no database at ${dbPath}: pass --create-db (or BOOKING_DB_CREATE=1) to start a new, empty one, or point --db / BOOKING_DB at the existing file`,
  );
  expect(existsSync(dbPath)).toBe(false);

  const created = await startServerProcess(["--db", dbPath, "--create-db"], { ...env, BOOKING_DB_CREATE: "" });
  servers.push(created);
  expect(created.output()).toContain(`created a new, empty database at ${dbPath} (--create-db)`);
});

test("when the port is already taken, then serve says so in one sentence and exits 2, without a stack trace", async () => {
  const dbPath = join(dir, "booking.db");
  importInventory(dbPath);
  const first = await serve(dbPath);
  const otherDb = join(dir, "other.db");
  importInventory(otherDb);
  const second = runCli(["serve", "--port", String(first.port), "--host", "127.0.0.1", "--db", otherDb], env);
  expect(second.status).toBe(2);
  expect(second.stderr.trim()).toBe(
    `booking-server: cannot listen on 127.0.0.1:${first.port}: another process is listening there; stop it or choose another port (--port / PORT)`,
  );
});

test("when the database files are deleted under the running server, then /readyz says so, and a restart refuses to serve an empty database in their place", async () => {
  const dbPath = join(dir, "booking.db");
  importInventory(dbPath);
  const server = await serve(dbPath);
  expect((await book(server, "before-delete")).status).toBe(200);
  expect((await readyz(server)).status).toBe(200);

  for (const file of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) if (existsSync(file)) unlinkSync(file);
  await sleep(1_100); // past the reuse of the last "ready" answer
  expect(await readyz(server)).toEqual({
    status: 503,
    body: { status: "not ready", reason: "the database file is gone (deleted under the running server)" },
  });
  expect(existsSync(dbPath)).toBe(false); // nothing in the server made a new one in its place
  // Lookups still answer from the file the server has open.
  expect((await call(server, "CheckAvailability", { slot })).status).toBe(200);

  await killHard(server);
  const restarted = runCli(["serve", "--port", "0", "--db", dbPath], { ...env, BOOKING_DB_CREATE: "" });
  expect(restarted.status).toBe(2);
  expect(restarted.stderr).toContain(`no database at ${dbPath}`);
  expect(existsSync(dbPath)).toBe(false);
});

const withSmallFilesystem = canMountSmallFilesystem ? test : test.skip;
if (!canMountSmallFilesystem) console.warn("process-faults: cannot mount a tmpfs here (not root): the full-disk and read-only tests are skipped");

describe("on a file system of its own", () => {
  let fs: SmallFilesystem;
  beforeEach(() => {
    if (canMountSmallFilesystem) fs = mountSmallFilesystem(8 * 1024 * 1024)!;
  });
  afterEach(async () => {
    for (const server of servers.splice(0)) await killIfRunning(server);
    fs?.unmount();
  });

  withSmallFilesystem("when the server restarts on a full disk with a request overdue, then it starts, the auto-decline timer fails and counts without ending the process, lookups answer, bookings get 503 with Retry-After, and /readyz says why", async () => {
    const dbPath = join(fs.dir, "booking.db");
    importInventory(dbPath);
    let server = await serve(dbPath, { AUTO_DECLINE_AFTER_SEC: "86400" });
    const pending = await book(server, "pending-before-full");
    expect(pending.body.booking.status).toBe("PENDING_MERCHANT_CONFIRMATION");
    // A clean stop empties the WAL, so every write after the restart needs new space.
    server.child.kill("SIGTERM");
    await new Promise((resolve) => server.child.once("exit", resolve));
    fs.fill();

    server = await serve(dbPath);
    expect((await call(server, "CheckAvailability", { slot })).body.count_available).toBe(99);
    const refused = await book(server, "on-a-full-disk");
    expect(refused.status).toBe(503);
    expect(refused.retryAfter).toMatch(/^\d+$/);
    expect(refused.body).toEqual({ code: "unavailable", message: "the database cannot take this request right now: retry later" });
    expect(await readyz(server)).toEqual({ status: 503, body: { status: "not ready", reason: "the database does not take writes (SQLITE_FULL)" } });

    // The overdue request is tried at start and at every tick (5 s): each failure is counted, none ends the process.
    await eventually(async () => (await jobFailures(server, "auto_decline")) >= 2);
    expect(server.child.exitCode).toBeNull();
    expect((await call(server, "GetBookingStatus", { booking_id: pending.body.booking.booking_id })).body.booking_status).toBe(
      "PENDING_MERCHANT_CONFIRMATION",
    );
    expect(server.output()).toContain('"job":"auto_decline"');
    expect(server.output()).not.toMatch(/uncaught|Unhandled/i);
  }, 40_000);

  withSmallFilesystem("when the database's file system is read-only, then serve refuses in one sentence (SQLite cannot open it there) instead of a stack trace", async () => {
    const dbPath = join(fs.dir, "booking.db");
    importInventory(dbPath);
    // (A read-only remount under a running server is refused by the kernel while it has files open for writing.)
    fs.remountReadOnly();
    const refused = runCli(["serve", "--port", "0", "--db", dbPath], env);
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim()).toBe(
      `booking-server: cannot serve ${dbPath}: its file system is read-only (SQLite needs to write its -wal and -shm files beside it)`,
    );
  });
});
