import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runCliAsync } from "../support/operations";
import { repoRoot } from "../support/server-process";

/**
 * `booking-server import` killed (SIGKILL: no handler runs) in the middle of a
 * file: the live tables are as they were, and the next import succeeds with
 * counts that owe nothing to the killed one. Needs dist/ (npx tsc -p tsconfig.build.json).
 */

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "killed-import-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const slotCount = 200_000;

function writeFeeds() {
  const file = (name: string, body: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(body));
    return path;
  };
  const merchants = file("merchants.json", { merchant: [{ merchant_id: "big", name: "Big Bistro" }] });
  const services = file("services.json", { service: [{ merchant_id: "big", service_id: "dinner", name: "Dinner" }] });
  const small = file("small.json", {
    availability: [{ merchant_id: "big", service_id: "dinner", start_sec: 1900000000, duration_sec: 3600, spots_total: 4, spots_open: 4 }],
  });
  // Written in pieces: the whole text at once would be a 40 MB string.
  const big = join(dir, "big.json");
  const fd = openSync(big, "w");
  writeSync(fd, '{"availability": [\n');
  for (let i = 0; i < slotCount; i += 10_000) {
    const lines = [];
    for (let j = i; j < i + 10_000; j++) {
      lines.push(JSON.stringify({ merchant_id: "big", service_id: "dinner", start_sec: 2000000000 + j * 60, duration_sec: 3600, spots_total: 2, spots_open: 2 }));
    }
    writeSync(fd, (i === 0 ? "" : ",\n") + lines.join(",\n"));
  }
  writeSync(fd, "\n]}\n");
  closeSync(fd);
  return { merchants, services, small, big };
}

/** Every row of the schema and of the inventory tables, read by another connection. */
function liveSnapshot(dbPath: string) {
  const reader = new Database(dbPath, { readonly: true });
  try {
    return Object.fromEntries(
      ["sqlite_master", "merchants", "services", "offers", "slots"].map((table) => [table, reader.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all()]),
    );
  } finally {
    reader.close();
  }
}

test("when an import is killed in the middle of a file, then the live data is untouched and the next import succeeds", async () => {
  const dbPath = join(dir, "booking.db");
  const feeds = writeFeeds();
  const first = await runCliAsync(["import", "--db", dbPath, feeds.merchants, feeds.services, feeds.small]);
  expect(first.status).toBe(0);
  const before = liveSnapshot(dbPath);

  const child = spawn(join(repoRoot, "bin", "booking-server"), ["import", "--db", dbPath, feeds.merchants, feeds.services, feeds.big], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
  // Well into the file: the import has started and is far from done (it takes several seconds).
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  child.kill("SIGKILL");
  // Killed, not finished: had it finished, this test would prove nothing.
  expect(await exited).toBe("SIGKILL");
  expect(output).not.toContain("imported");

  expect(liveSnapshot(dbPath)).toEqual(before);
  const next = await runCliAsync(["import", "--db", dbPath, feeds.merchants, feeds.services, feeds.big]);
  expect(next.stderr).toBe("");
  expect(next.status).toBe(0);
  expect(next.stdout).toContain("merchants: 0 new, 0 updated, 1 unchanged");
  expect(next.stdout).toContain(`slots: ${slotCount} new, 0 updated, 0 unchanged`);
}, 120_000);
