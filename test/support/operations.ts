import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest, type Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killIfRunning, runCli, type ServerProcess } from "./server-process";
import { authHeader, credentials, futureStartSec } from "./test-server";

/** Helpers for the operations suites (shutdown, backup, credentials, limits) and the other suites that run `booking-server`. */

/** The environment of a `booking-server serve` these suites start: Google's Basic credentials as test-server.ts has them. */
export const opsServerEnv = { BOOKING_AUTH_USERNAME: credentials.username, BOOKING_AUTH_PASSWORD: credentials.password };

/** What useOpsDatabase keeps for the tests of one file. */
export interface OpsDatabase {
  /** A temporary directory of the file's own (feeds, copies, anything else it writes). */
  dir: string;
  /** `dir`/booking.db, holding the ops inventory. */
  dbPath: string;
  /** The server process a test started, if any: killed after the file's last test if it still runs. */
  server: ServerProcess | undefined;
}

/**
 * For the tests of one file: before the first, a temporary directory
 * (`prefix` + random) whose booking.db holds the ops inventory
 * (importOpsInventory with `spots` spots); after the last, `server` killed if
 * it still runs and the directory removed.
 */
export function useOpsDatabase(prefix: string, spots?: number): OpsDatabase {
  const ops: OpsDatabase = { dir: "", dbPath: "", server: undefined };
  beforeAll(() => {
    ops.dir = mkdtempSync(join(tmpdir(), prefix));
    ops.dbPath = join(ops.dir, "booking.db");
    importOpsInventory(ops.dir, ops.dbPath, spots);
  });
  afterAll(async () => {
    await killIfRunning(ops.server);
    if (ops.dir) rmSync(ops.dir, { recursive: true, force: true });
  });
  return ops;
}

export const opsSlot = { merchant_id: "ops", service_id: "dinner", start_sec: String(futureStartSec), duration_sec: "3600" };

/**
 * Imports one merchant with one slot of `spots` spots into `dbPath` through
 * `booking-server import` (confirmed at once unless `confirmationMode` says otherwise).
 */
export function importOpsInventory(dir: string, dbPath: string, spots = 10_000, confirmationMode = "CONFIRMATION_MODE_SYNCHRONOUS"): void {
  const feed = (name: string, body: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(body));
    return path;
  };
  const imported = runCli([
    "import",
    "--db",
    dbPath,
    feed("merchants.json", { merchant: [{ merchant_id: "ops", name: "Ops Bistro" }] }),
    feed("services.json", { service: [{ merchant_id: "ops", service_id: "dinner", name: "Dinner" }] }),
    feed("availability.json", {
      availability: [
        {
          merchant_id: "ops",
          service_id: "dinner",
          start_sec: futureStartSec,
          duration_sec: 3600,
          spots_total: spots,
          spots_open: spots,
          confirmation_mode: confirmationMode,
        },
      ],
    }),
  ]);
  if (imported.status !== 0) throw new Error(`import failed: ${imported.stderr}`);
}

/** A REST CreateBooking body (snake_case) for the ops slot. */
export function createBookingJson(token: string) {
  return {
    slot: opsSlot,
    idempotency_token: token,
    user_information: { user_id: `user-${token}`, given_name: "A", family_name: "B", telephone: "+1", email: `${token}@example.com` },
  };
}

/** The same request as a Connect/protobuf init message (lowerCamelCase, bigint int64s). */
export function createBookingMessage(token: string) {
  return {
    slot: { merchantId: "ops", serviceId: "dinner", startSec: BigInt(futureStartSec), durationSec: 3600n },
    idempotencyToken: token,
    userInformation: { userId: `user-${token}`, givenName: "A", familyName: "B", telephone: "+1", email: `${token}@example.com` },
  };
}

/** What one CreateBooking came to for the client: the booking, or the error in words. */
export type Outcome = { token: string; via: string; bookingId?: string; error?: string };

/** The Outcome of an answer: its booking id when it is a 200 carrying a booking, else the status and the start of the text. */
export function bookingOutcome(token: string, via: string, status: number, text: string): Outcome {
  try {
    const bookingId = JSON.parse(text)?.booking?.booking_id;
    if (status === 200 && typeof bookingId === "string") return { token, via, bookingId };
  } catch {
    // falls through
  }
  return { token, via, error: `HTTP ${status} ${text.slice(0, 200)}` };
}

/** A REST CreateBooking (createBookingJson) over HTTP/1.1 whose body is held back until `finish()` (so it is surely under way). */
export function heldHttp1(port: number, agent: Agent, token: string) {
  const body = JSON.stringify(createBookingJson(token));
  const half = Math.floor(body.length / 2);
  let finish!: () => void;
  const outcome = new Promise<Outcome>((resolve) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        path: "/v3/CreateBooking",
        method: "POST",
        agent,
        headers: { Authorization: authHeader, "Content-Type": "application/json", "Content-Length": body.length },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve(bookingOutcome(token, "http1-held", res.statusCode!, text)));
        res.on("error", (e) => resolve({ token, via: "http1-held", error: e.message }));
      },
    );
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ token, via: "http1-held", error: `${e.code} ${e.message}` }));
    req.write(body.slice(0, half));
    finish = () => req.end(body.slice(half));
  });
  return { outcome, finish: () => finish() };
}

/** The same, sent at once. */
export function fullHttp1(port: number, agent: Agent, token: string): Promise<Outcome> {
  const held = heldHttp1(port, agent, token);
  held.finish();
  return held.outcome.then((o) => ({ ...o, via: "http1" }));
}

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `bin/booking-server <args>` without blocking the test's event loop (unlike runCli). */
export function runCliAsync(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const { spawn } = require("node:child_process") as typeof import("node:child_process");
  const { repoRoot } = require("./server-process") as typeof import("./server-process");
  return new Promise((resolve, reject) => {
    const child = spawn(join(repoRoot, "bin", "booking-server"), args, { cwd: repoRoot, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}
