import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "./server-process";
import { futureStartSec } from "./test-server";

/** Helpers for the operations suites (shutdown, backup, credentials, limits). */

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
