import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importOpsInventory, opsSlot } from "../support/operations";
import { killHard, runCli, startServerProcess, type ServerProcess } from "../support/server-process";
import { authHeader, credentials } from "../support/test-server";

const env = { BOOKING_AUTH_USERNAME: credentials.username, BOOKING_AUTH_PASSWORD: credentials.password };
let dir: string;
let dbPath: string;
let server: ServerProcess | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "booking-restart-"));
  dbPath = join(dir, "booking.db");
  importOpsInventory(dir, dbPath, 3);
});

afterAll(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) await killHard(server);
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, body: unknown) {
  const response = await fetch(`${server!.baseUrl}/v3/${method}`, {
    method: "POST",
    headers: { Authorization: authHeader, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const slot = opsSlot;
const booking = (n: number) => ({
  slot,
  idempotency_token: `restart-${n}`,
  user_information: { user_id: `u${n}`, given_name: "A", family_name: "B", telephone: "+1", email: `u${n}@example.com` },
});

test("when the server process is killed with SIGKILL and restarted, then bookings, spots and idempotency survive", async () => {
  server = await startServerProcess(["--db", dbPath], env);
  const first = await call("CreateBooking", booking(1));
  const second = await call("CreateBooking", booking(2));
  const canceled = await call("UpdateBooking", { booking: { booking_id: second.body.booking.booking_id, status: "CANCELED" } });
  expect(canceled.body.booking.status).toBe("CANCELED");
  await killHard(server);

  server = await startServerProcess(["--db", dbPath], env);
  const status = await call("GetBookingStatus", { booking_id: first.body.booking.booking_id });
  expect(status.body).toEqual({
    booking_id: first.body.booking.booking_id,
    booking_status: "CONFIRMED",
    prepayment_status: "PREPAYMENT_NOT_PROVIDED",
  });
  const secondStatus = await call("GetBookingStatus", { booking_id: second.body.booking.booking_id });
  expect(secondStatus.body.booking_status).toBe("CANCELED");
  expect((await call("CheckAvailability", { slot })).body.count_available).toBe(2);

  const replay = await call("CreateBooking", booking(1));
  expect(replay.body.booking.booking_id).toBe(first.body.booking.booking_id);
  expect((await call("CheckAvailability", { slot })).body.count_available).toBe(2);
  await killHard(server);
});

test("when re-importing the same feed after bookings, then nothing changes and booked spots stay taken", async () => {
  server = await startServerProcess(["--db", dbPath], env);
  const before = (await call("CheckAvailability", { slot })).body.count_available;
  await killHard(server);
  const again = runCli(["import", "--db", dbPath, join(dir, "merchants.json"), join(dir, "services.json"), join(dir, "availability.json")]);
  expect(again.status).toBe(0);
  expect(again.stdout).toMatch(/slots: 0 new, 0 updated, 1 unchanged/);
  server = await startServerProcess(["--db", dbPath], env);
  expect((await call("CheckAvailability", { slot })).body.count_available).toBe(before);
  await killHard(server);
});
