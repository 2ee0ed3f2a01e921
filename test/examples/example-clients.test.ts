/**
 * The example clients (examples/grpc-js-client.js, examples/connect-client.js)
 * run as the README says, against `booking-server serve` on the demo
 * inventory: each checks health, looks up the next week's dinners and books
 * the first free one, and the booking is really there. And why the grpc-js
 * example builds its requests with `fromPartial`.
 */
import { credentials as grpcCredentials, Metadata } from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BatchAvailabilityLookupRequest, BookingServiceClient } from "../../gen/grpc/ext/maps/booking/partner/v3/booking_service";
import { opsServerEnv } from "../support/operations";
import { grpcUnary } from "../support/rpc-clients";
import { killIfRunning, startServerProcess, type ServerProcess } from "../support/server-process";
import { authHeader, credentials } from "../support/test-server";
import { importDemoInventory, runExample } from "./demo-processes";

let dir: string;
let server: ServerProcess;
let env: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "example-clients-"));
  const dbPath = join(dir, "booking.db");
  importDemoInventory(dbPath);
  server = await startServerProcess(["--db", dbPath], opsServerEnv);
  env = { B: server.baseUrl, AUTH: `${credentials.username}:${credentials.password}` };
});
afterAll(async () => {
  await killIfRunning(server);
  rmSync(dir, { recursive: true, force: true });
});

/** Tomorrow at 18:00 UTC: the first dinner the examples ask for. */
const tomorrowAt18 = new Date((Math.floor(Date.now() / 86_400_000) + 1) * 86_400_000 + 18 * 3_600_000).toISOString();

async function bookingStatus(bookingId: string): Promise<string> {
  const response = await fetch(`${server.baseUrl}/v3/GetBookingStatus`, {
    method: "POST",
    headers: { Authorization: authHeader, "Content-Type": "application/json" },
    body: JSON.stringify({ booking_id: bookingId }),
  });
  return (await response.json()).booking_status;
}

describe.each([
  ["grpc-js-client.js", "UNAUTHENTICATED"],
  ["connect-client.js", "Unauthenticated"],
])("examples/%s", (script, unauthenticated) => {
  test("when it runs with B and AUTH from make run's line, then it checks health, finds free dinners and books the first one for real", () => {
    const run = runExample(script, env);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines.slice(0, 2)).toEqual(["HealthCheck: SERVING", "BatchAvailabilityLookup: 14 of 14 dinners for 2 available"]);
    const booked = /^CreateBooking: (\S+) CONFIRMED for (\S+)$/.exec(lines[2]);
    expect(booked?.[2]).toBe(tomorrowAt18);
    return expect(bookingStatus(booked![1])).resolves.toBe("CONFIRMED");
  });

  test("when AUTH is wrong, then it names the call that was refused and exits 1", () => {
    const run = runExample(script, { ...env, AUTH: `${credentials.username}:wrong` });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toMatch(new RegExp(`^healthCheck failed: ${unauthenticated} `));
  });

  test("when B and AUTH are not set, then it says to paste make run's line and exits 1", () => {
    const run = runExample(script, {});
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe("set B and AUTH first: paste the `export B=... AUTH=...` line `make run` prints");
  });
});

describe("ts-proto's grpc-js stubs (gen/grpc)", () => {
  const lookup = (request: BatchAvailabilityLookupRequest) => {
    const client = new BookingServiceClient(new URL(server.baseUrl).host, grpcCredentials.createInsecure());
    const metadata = new Metadata();
    metadata.set("authorization", authHeader);
    return grpcUnary(client.batchAvailabilityLookup.bind(client), request, metadata).finally(() => client.close());
  };
  const slotTime = { serviceId: "dinner", startSec: String(Date.parse(tomorrowAt18) / 1000), resourceIds: { partySize: 2 } };

  test("when a request is a plain object without an int64 field, then the call fails before it is sent with \"Cannot convert undefined to a BigInt\"", async () => {
    const plain = { merchantId: "demo-restaurant", slotTime: [slotTime] } as unknown as BatchAvailabilityLookupRequest;
    await expect(lookup(plain)).rejects.toThrow("Cannot convert undefined to a BigInt");
  });

  test("when the same request is built with fromPartial, then the missing fields are defaults and the call is answered", async () => {
    const response = await lookup(BatchAvailabilityLookupRequest.fromPartial({ merchantId: "demo-restaurant", slotTime: [slotTime] }));
    expect(response.slotTimeAvailability).toHaveLength(1);
  });
});
