import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { conformanceCommand } from "../../src/conformance/command";
import { loadFeedSlots, type FeedSlot } from "../../src/conformance/feed-slots";
import { startBrokenServer, type BrokenServer, type Fault } from "./broken-server";
import { demoFeeds, writeShiftedAvailability } from "./demo-feed";

/**
 * The checker against a partner server that is right but for one fault (a
 * test double, broken-server.ts): each fault must fail the check named for it,
 * and the run must exit 1. In process, for speed: the same command the CLI runs.
 */

const username = "google";
const password = "double-secret-password";

let dir: string;
let feed: string;
let slots: FeedSlot[];
let credentialsFile: string;
const servers: BrokenServer[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "conformance-broken-"));
  feed = writeShiftedAvailability(dir, demoFeeds.availability);
  slots = await loadFeedSlots([feed]);
  credentialsFile = join(dir, "credentials");
  writeFileSync(credentialsFile, `${username}:${password}\n`);
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a double with `fault` and runs `conformance --all` against it. */
async function checkServerWith(fault: Fault) {
  const server = await startBrokenServer({ slots, username, password, fault });
  servers.push(server);
  const lines: string[] = [];
  const reportFile = join(dir, `report-${fault}.json`);
  const code = await conformanceCommand(
    ["--url", server.baseUrl, "--credentials", credentialsFile, "--availability-feed", feed, "--all", "--report", reportFile],
    { write: (line) => lines.push(line), clock: { nowSec: () => Math.floor(Date.now() / 1000) } },
  );
  return { code, lines, report: JSON.parse(readFileSync(reportFile, "utf8")) };
}

test("when the double has no fault, then every check passes and the exit code is 0", async () => {
  const { code, lines } = await checkServerWith("none");
  expect(lines.filter((line) => /^(FAIL|SKIP) /.test(line))).toEqual([]);
  expect(lines).toContainEqual(expect.stringMatching(/^\d+ passed, 0 failed$/));
  expect(code).toBe(0);
});

const faults: Array<[Fault, string, RegExp]> = [
  ["old-booking-for-new-token", "booking.new-token-new-booking", /answered booking booking-1, made for another token/],
  ["business-failure-409", "booking.slot-unavailable-http-200", /booking_failure with HTTP 409: business failures must be HTTP 200/],
  ["camel-case", "booking.create-confirmed", /booking\.bookingId is a lowerCamelCase name: Google reads proto field names \("booking_id"\)/],
  ["overbooks-under-burst", "burst.no-overbooking", /overbooked: \d+ of \d+ parallel CreateBookings were booked/],
  ["enums-as-numbers", "booking.create-confirmed", /booking\.status is an enum given as 1: Google reads enum names/],
  ["accepts-malformed", "booking.malformed-requests", /slot\.start_sec that is not an integer: HTTP 200, expected 4xx/],
];

test.each(faults)("when the server has the fault %s, then %s fails naming it and the exit code is 1", async (fault, check, reason) => {
  const { code, lines } = await checkServerWith(fault);
  const line = lines.find((candidate) => candidate.startsWith(`FAIL ${check}: `));
  expect(line).toMatch(reason);
  expect(lines).toContainEqual(expect.stringMatching(/^\d+ passed, [1-9]\d* failed/));
  expect(code).toBe(1);
});

test("when a check fails, then the report holds every request and answer of that check, and never the password", async () => {
  const { report } = await checkServerWith("business-failure-409");
  const failed = report.checks.find((check: any) => check.name === "booking.slot-unavailable-http-200");
  expect(failed.outcome).toBe("fail");
  const [exchange] = failed.exchanges;
  expect(exchange.request).toMatchObject({ method: "POST", url: expect.stringMatching(/\/v3\/CreateBooking$/) });
  expect(JSON.parse(exchange.request.body)).toMatchObject({ idempotency_token: expect.any(String), slot: expect.any(Object) });
  expect(exchange.response.status).toBe(409);
  expect(JSON.parse(exchange.response.body)).toEqual({ booking_failure: { cause: "SLOT_UNAVAILABLE" } });
  expect(report.checks.filter((check: any) => check.outcome === "pass").every((check: any) => check.exchanges === undefined)).toBe(true);
  expect(JSON.stringify(report)).not.toContain(password);
  expect(JSON.stringify(report)).not.toContain(Buffer.from(`${username}:${password}`).toString("base64"));
});

test("when one test is named, then only its checks run, and the bookings made are cancelled", async () => {
  const server = await startBrokenServer({ slots, username, password, fault: "none" });
  servers.push(server);
  const lines: string[] = [];
  const code = await conformanceCommand(
    ["--url", server.baseUrl, "--credentials", credentialsFile, "--availability-feed", feed, "list-bookings", "--report", join(dir, "one.json")],
    { write: (line) => lines.push(line), clock: { nowSec: () => Math.floor(Date.now() / 1000) } },
  );
  const checks = lines.flatMap((line) => /^PASS ([\w.-]+):/.exec(line)?.[1] ?? []);
  expect(checks).toEqual([
    "list-bookings.lists-new-booking",
    "list-bookings.get-booking-status",
    "list-bookings.unknown-booking",
    "list-bookings.unknown-user",
    "cleanup.cancel-bookings",
  ]);
  expect(lines).toContainEqual("PASS cleanup.cancel-bookings: cancelled the 1 booking(s) still standing of 1 made by this run");
  expect(code).toBe(0);
});
