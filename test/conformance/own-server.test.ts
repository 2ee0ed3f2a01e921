import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BookingStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { conformanceTests } from "../../src/conformance/conformance-tests";
import { importFeeds } from "../../src/inventory/feed-import";
import type { BookingRecord } from "../../src/store/repositories";
import { repoRoot } from "../support/server-process";
import { credentials, startTestServer, type TestServer } from "../support/test-server";
import { demoFeeds, spaFeeds, writeShiftedAvailability } from "./demo-feed";

/**
 * `bin/booking-server conformance`, as a partner runs it, against this
 * project's own server (a real server on a loopback port, its SQLite file
 * loaded through the importer with the demo feeds and the payments demo).
 */

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  report: any;
}

let server: TestServer;
let dir: string;
let demoAvailability: string;
let spaAvailability: string;
let credentialsFile: string;

/** Runs the CLI against the server without blocking this process's event loop (the server lives in it). */
function runConformance(args: string[]): Promise<CliRun> {
  const reportFile = join(dir, `report-${Date.now()}.json`);
  const all = ["conformance", "--url", server.baseUrl, "--credentials", credentialsFile, "--report", reportFile, ...args];
  return new Promise((resolve) => {
    execFile(join(repoRoot, "bin", "booking-server"), all, { cwd: repoRoot }, (error, stdout, stderr) => {
      const code = error ? Number((error as { code?: number }).code ?? 1) : 0;
      resolve({ code, stdout, stderr, report: JSON.parse(readFileSync(reportFile, "utf8")) });
    });
  });
}

/** Every booking the server holds for the merchant. */
async function bookingsOf(merchantId: string): Promise<BookingRecord[]> {
  const query = { merchantId, statuses: [], startSecFrom: 0, startSecBefore: undefined, after: undefined, limit: 1000 };
  return server.store.read.bookings.listForMerchant(query);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "conformance-"));
  server = await startTestServer();
  demoAvailability = writeShiftedAvailability(dir, demoFeeds.availability);
  spaAvailability = writeShiftedAvailability(dir, spaFeeds.availability);
  await importFeeds(server.store, [demoFeeds.merchants, demoFeeds.services, demoAvailability]);
  await importFeeds(server.store, [spaFeeds.merchants, spaFeeds.services, spaAvailability]);
  credentialsFile = join(dir, "google-credentials");
  writeFileSync(credentialsFile, `${credentials.username}:${credentials.password}\n`);
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("when --all runs against the demo inventory", () => {
  let run: CliRun;
  beforeAll(async () => {
    run = await runConformance(["--availability-feed", demoAvailability, "--all"]);
  }, 60_000);

  test("then every check passes, it prints N passed, 0 failed and exits 0", () => {
    const lines = run.stdout.trim().split("\n");
    expect(lines.filter((line) => /^(FAIL|SKIP) /.test(line))).toEqual([]);
    expect(lines).toContainEqual(expect.stringMatching(/^\d+ passed, 0 failed$/));
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  });

  test("then each test prints a line per check, and so does the final cancellation", () => {
    const checked = run.stdout.split("\n").flatMap((line) => /^PASS ([\w-]+)\.[\w-]+: /.exec(line)?.[1] ?? []);
    expect(new Set(checked)).toEqual(new Set([...conformanceTests.map((test) => test.name), "cleanup"]));
    const passedCount = Number(/^(\d+) passed/m.exec(run.stdout)![1]);
    expect(passedCount).toBe(run.report.checks.length);
    expect(run.report.summary).toEqual({ passed: passedCount, failed: 0, skipped: 0 });
  });

  test("then every booking it made is cancelled on the server, and it made no other", async () => {
    const onServer = [...(await bookingsOf("demo-restaurant")), ...(await bookingsOf("demo-salon"))];
    expect(onServer.map((record) => record.booking.bookingId).sort()).toEqual([...run.report.bookings.made].sort());
    expect(onServer.length).toBeGreaterThan(5);
    expect(onServer.filter((record) => record.booking.status !== BookingStatus.CANCELED)).toEqual([]);
    expect(run.report.bookings.left_standing).toEqual([]);
  });

  test("then the report lists every check without any request or answer, and not the password", () => {
    expect(run.report.checks.every((check: any) => check.outcome === "pass" && check.exchanges === undefined)).toBe(true);
    expect(JSON.stringify(run.report)).not.toContain(credentials.password);
  });
});

describe("when the inventory takes payments and the service feed is given", () => {
  let run: CliRun;
  beforeAll(async () => {
    run = await runConformance(["--availability-feed", spaAvailability, "--service-feed", spaFeeds.services, "booking", "rescheduling", "burst"]);
  }, 60_000);

  test("then it books only slots of services that take no payment, and those checks pass", async () => {
    const lines = run.stdout.trim().split("\n");
    expect(lines.filter((line) => line.startsWith("FAIL "))).toEqual([]);
    // The payments demo has no asynchronous slot: the one check that needs one says so.
    expect(lines.filter((line) => line.startsWith("SKIP "))).toEqual([
      "SKIP booking.create-pending-async: the feed lists no asynchronous slot (CONFIRMATION_MODE_ASYNCHRONOUS) with an open spot",
    ]);
    expect(run.code).toBe(0);
    const booked = await bookingsOf("demo-spa");
    expect(booked.length).toBeGreaterThan(5);
    expect(new Set(booked.map((record) => record.booking.slot?.serviceId))).toEqual(new Set(["massage-pay-on-arrival", "group-spa-day"]));
  });
});
