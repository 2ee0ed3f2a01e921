/**
 * The batch commands on BOOKING_DATABASE_URL (PostgreSQL instead of the
 * SQLite file): they work on the database the URL names, `backup` says what
 * to use instead, and the URL, which holds a password, is never printed.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importSlots } from "../support/booking-instances";
import { clusterStartTimeoutMs, createTestDatabase, type TestDatabase } from "../support/postgres-cluster";
import { runCli } from "../support/server-process";

let dir = "";
let database: TestDatabase;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "booking-pg-cli-"));
  database = await createTestDatabase();
  importSlots(dir, database.url, [4_000_000_000], 2);
}, clusterStartTimeoutMs);

afterAll(async () => {
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const password = () => new URL(database.url).password;

test("when backup runs on BOOKING_DATABASE_URL, then it refuses in one sentence naming pg_dump and pg_basebackup and copies nothing", () => {
  const destination = join(dir, "copy.db");
  const result = runCli(["backup", destination], { BOOKING_DATABASE_URL: database.url });
  expect(result.status).not.toBe(0);
  expect(result.stderr.trim().split("\n")).toHaveLength(1);
  expect(result.stderr).toMatch(/pg_dump/);
  expect(result.stderr).toMatch(/pg_basebackup/);
  expect(readdirSync(dir)).not.toContain("copy.db");
});

test("when export-feeds and payments run on BOOKING_DATABASE_URL_FILE, then they read the PostgreSQL database and never print the URL", () => {
  const urlFile = join(dir, "database-url");
  writeFileSync(urlFile, `${database.url}\n`, { mode: 0o600 });
  const env = { BOOKING_DATABASE_URL_FILE: urlFile };
  const exported = runCli(["export-feeds", "--out", join(dir, "out")], env);
  expect(exported.stderr).toBe("");
  expect(exported.stdout).toMatch(new RegExp(`exported 1 merchant\\(s\\), 1 service\\(s\\) and 1 slot\\(s\\) from PostgreSQL database ${database.name} on 127\\.0\\.0\\.1:\\d+`));
  const payments = runCli(["payments", "no-such-booking"], env);
  expect(payments.status).toBe(0);
  expect(payments.stdout).toBe("no payments recorded for booking no-such-booking\n");
  for (const output of [exported.stdout, exported.stderr, payments.stdout, payments.stderr]) expect(output).not.toContain(password());
});

test("when --db is given with BOOKING_DATABASE_URL, then the command refuses to guess which database is meant", () => {
  const result = runCli(["payments", "--db", join(dir, "booking.db"), "b1"], { BOOKING_DATABASE_URL: database.url });
  expect(result.status).toBe(2);
  expect(result.stderr).toBe("booking-server: --db names a SQLite file, but BOOKING_DATABASE_URL selects PostgreSQL: pass one of them\n");
});

test("when BOOKING_DATABASE_URL is not a postgres:// URL or cannot be opened, then the command says so without echoing it", () => {
  const notPostgres = runCli(["payments", "b1"], { BOOKING_DATABASE_URL: "mysql://root:hunter2@db/booking" });
  expect(notPostgres.status).toBe(2);
  expect(notPostgres.stderr).toBe("booking-server: BOOKING_DATABASE_URL must be a postgres:// URL, got a mysql:// one\n");
  const wrongPassword = new URL(database.url);
  wrongPassword.password = "not-the-password";
  const refused = runCli(["payments", "b1"], { BOOKING_DATABASE_URL: wrongPassword.toString() });
  expect(refused.status).toBe(2);
  expect(refused.stderr).toMatch(new RegExp(`^booking-server: cannot open the PostgreSQL database ${database.name} on 127\\.0\\.0\\.1:\\d+: `));
  expect(refused.stderr).not.toContain("not-the-password");
});

test("when BOOKING_DATABASE_POOL_SIZE is not a positive count, then the command refuses in one sentence; with 1 connection it works", () => {
  const refused = runCli(["payments", "b1"], { BOOKING_DATABASE_URL: database.url, BOOKING_DATABASE_POOL_SIZE: "lots" });
  expect(refused.status).toBe(2);
  expect(refused.stderr).toBe('booking-server: BOOKING_DATABASE_POOL_SIZE must be a positive number of connections, got "lots"\n');
  const out = join(dir, "export-one-connection");
  const exported = runCli(["export-feeds", "--out", out], { BOOKING_DATABASE_URL: database.url, BOOKING_DATABASE_POOL_SIZE: "1" });
  expect(exported.stderr).toBe("");
  expect(exported.status).toBe(0);
  expect(readdirSync(out).length).toBeGreaterThan(0);
});
