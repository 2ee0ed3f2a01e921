/**
 * What the server lets out: files holding guests' data readable by their
 * owner only, failures answered without internals (the detail goes to the
 * log), and /metrics only where the operator said.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { BookingService } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { createBookingServer, type BookingServer } from "../../src/server/booking-server";
import { createLogger, Observability } from "../../src/server/observability";
import type { Store } from "../../src/store/repositories";
import { openSqliteStore } from "../../src/store/sqlite-store";
import { storeError } from "../../src/store/sqlite/store-errors";
import { takeServingLock } from "../../src/store/sqlite/serving-lock";
import { importOpsInventory } from "../support/operations";
import { killHard, startServerProcess } from "../support/server-process";
import { authHeader, credentials, startTestServer } from "../support/test-server";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "booking-exposure-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

test("when the database, its WAL and SHM, its lock and a backup are made under umask 000, then each is 0600 in a 0700 directory", async () => {
  const dbPath = join(dir, "data", "nested", "booking.db");
  const previous = process.umask(0);
  try {
    const lock = takeServingLock(dbPath);
    const store = openSqliteStore(dbPath);
    await store.transaction(async (tx) => {
      await tx.users.setMarketingPreference("someone", true, 1);
    });
    await store.backup(join(dir, "data", "backup.db"));
    expect({
      directory: modeOf(join(dir, "data", "nested")),
      parent: modeOf(join(dir, "data")),
      database: modeOf(dbPath),
      wal: modeOf(`${dbPath}-wal`),
      shm: modeOf(`${dbPath}-shm`),
      lock: modeOf(`${dbPath}.lock`),
      holder: modeOf(`${dbPath}.lock-holder`),
      backup: modeOf(join(dir, "data", "backup.db")),
    }).toEqual({ directory: "700", parent: "700", database: "600", wal: "600", shm: "600", lock: "600", holder: "600", backup: "600" });
    await store.close();
    lock.release();
  } finally {
    process.umask(previous);
  }
});

describe("failures that are not the caller's", () => {
  let store: Store;
  let server: BookingServer;
  let baseUrl: string;
  let logged = "";
  /** The next read of a booking throws this. */
  let failure: Error | undefined;

  beforeAll(async () => {
    store = openSqliteStore(join(mkdtempSync(join(tmpdir(), "booking-exposure-")), "booking.db"));
    // The failure comes back from the store as the SQLite store gives what better-sqlite3 throws (storeError).
    const bookings = new Proxy(store.read.bookings, {
      get: (target, name) =>
        name === "get"
          ? (bookingId: string) => {
              if (failure) return Promise.reject(storeError(failure));
              return target.get(bookingId);
            }
          : Reflect.get(target, name).bind(target),
    });
    const log = new Writable({ write: (chunk, _encoding, done) => ((logged += chunk), done()) });
    server = createBookingServer({
      store: { ...store, read: { ...store.read, bookings } },
      credentials,
      observability: new Observability(createLogger({ destination: log }), store, () => 0),
    });
    const { port } = await server.listen(0, "127.0.0.1");
    baseUrl = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  const getStatusOverRest = async () => {
    const response = await fetch(`${baseUrl}/v3/GetBookingStatus`, {
      method: "POST",
      headers: { Authorization: authHeader, "Content-Type": "application/json" },
      body: JSON.stringify({ booking_id: "b-1" }),
    });
    return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() };
  };
  const connect = () =>
    createClient(BookingService, createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [(next) => (req) => (req.header.set("authorization", authHeader), next(req))] }));

  test("when the database fails unexpectedly, then REST and Connect answer internal with a generic message, and the log has the detail", async () => {
    failure = Object.assign(new Error("SQLITE_CORRUPT: database disk image is malformed at /srv/secret/booking.db"), { code: "SQLITE_CORRUPT" });
    logged = "";
    const answered = await getStatusOverRest();
    expect(answered.status).toBe(500);
    expect(answered.body).toEqual({
      code: "internal",
      message: "internal error: the server could not complete the request (the server log has the details)",
    });
    const viaConnect = await connect().getBookingStatus({ bookingId: "b-1" }).catch((error: Error) => error);
    expect(String(viaConnect)).toMatch(/\[internal\] internal error: the server could not complete the request/);
    expect(String(viaConnect)).not.toMatch(/secret|SQLITE/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(logged).toContain("/srv/secret/booking.db");
    expect(logged.match(/"msg":"call failed"/g)).toHaveLength(2);
  });

  test("when the database is locked, then the answer is 503 unavailable with Retry-After", async () => {
    failure = Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
    const answered = await getStatusOverRest();
    expect(answered).toEqual({
      status: 503,
      retryAfter: "1",
      body: { code: "unavailable", message: "the database is busy: retry in a moment" },
    });
  });
});

describe("/metrics", () => {
  test("when neither a token nor an explicit opening is configured, then the serving port does not serve /metrics", async () => {
    const server = await startTestServer();
    try {
      expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  test("when METRICS_PORT is set, then /metrics is served there without credentials and not on the serving port", async () => {
    const metricsPort = await freePort();
    const dbPath = join(dir, "booking.db");
    importOpsInventory(dir, dbPath);
    const server = await startServerProcess(["--db", dbPath], {
      BOOKING_AUTH_USERNAME: credentials.username,
      BOOKING_AUTH_PASSWORD: credentials.password,
      METRICS_PORT: String(metricsPort),
    });
    try {
      const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toContain("booking_background_job_failures_total");
      expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(404);
    } finally {
      await killHard(server);
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
