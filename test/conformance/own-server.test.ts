import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BookingStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { conformanceTests } from "../../src/conformance/conformance-tests";
import { importFeeds } from "../../src/inventory/feed-import";
import { repoRoot } from "../support/server-process";
import { credentials, startTestServer, type TestServer } from "../support/test-server";
import { demoFeeds, writeDemoAvailability } from "./demo-feed";

/**
 * `bin/booking-server conformance --all`, as a partner runs it, against this
 * project's own server (a real server on a loopback port, its SQLite file
 * loaded with the demo feeds through the importer).
 */

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI without blocking this process's event loop (the server under test lives in it). */
function runConformanceCli(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(join(repoRoot, "bin", "booking-server"), ["conformance", ...args], { cwd: repoRoot }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let server: TestServer;
let dir: string;
let run: CliRun;
let report: any;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "conformance-"));
  server = await startTestServer();
  const availability = writeDemoAvailability(dir);
  await importFeeds(server.store, [demoFeeds.merchants, demoFeeds.services, availability]);
  const credentialsFile = join(dir, "google-credentials");
  writeFileSync(credentialsFile, `${credentials.username}:${credentials.password}\n`);
  const reportFile = join(dir, "report.json");
  run = await runConformanceCli(["--url", server.baseUrl, "--credentials", credentialsFile, "--availability-feed", availability, "--all", "--report", reportFile]);
  report = JSON.parse(readFileSync(reportFile, "utf8"));
}, 60_000);

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("when --all runs against the project's server, then every check passes, it prints N passed, 0 failed and exits 0", () => {
  const lines = run.stdout.trim().split("\n");
  expect(lines.filter((line) => /^(FAIL|SKIP) /.test(line))).toEqual([]);
  expect(lines).toContainEqual(expect.stringMatching(/^\d+ passed, 0 failed$/));
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
});

test("when --all runs, then each test prints a line per check, and so does the final cancellation", () => {
  const checked = run.stdout.split("\n").flatMap((line) => /^PASS ([\w-]+)\.[\w-]+: /.exec(line)?.[1] ?? []);
  expect(new Set(checked)).toEqual(new Set([...conformanceTests.map((test) => test.name), "cleanup"]));
  const passedCount = Number(/^(\d+) passed/m.exec(run.stdout)![1]);
  expect(passedCount).toBe(report.checks.length);
  expect(report.summary).toEqual({ passed: passedCount, failed: 0, skipped: 0 });
});

test("when the run is over, then every booking it made is cancelled on the server", async () => {
  const onServer = [];
  for (const merchantId of ["demo-restaurant", "demo-salon"]) {
    const query = { merchantId, statuses: [], startSecFrom: 0, startSecBefore: undefined, after: undefined, limit: 1000 };
    onServer.push(...(await server.store.read.bookings.listForMerchant(query)));
  }
  expect(onServer.map((record) => record.booking.bookingId).sort()).toEqual([...report.bookings.made].sort());
  expect(onServer.length).toBeGreaterThan(5);
  expect(onServer.filter((record) => record.booking.status !== BookingStatus.CANCELED)).toEqual([]);
  expect(report.bookings.left_standing).toEqual([]);
});

test("when every check passes, then the report lists them without any request or answer", () => {
  expect(report.checks.every((check: any) => check.outcome === "pass" && check.exchanges === undefined)).toBe(true);
  expect(readFileSync(join(dir, "report.json"), "utf8")).not.toContain(credentials.password);
});
