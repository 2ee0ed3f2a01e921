import { join } from "node:path";
import { opsServerEnv, opsSlot, useOpsDatabase } from "../support/operations";
import { killHard, runCli, startServerProcess } from "../support/server-process";
import { authHeader } from "../support/test-server";

const ops = useOpsDatabase("booking-restart-", 3);

async function call(method: string, body: unknown) {
  const response = await fetch(`${ops.server!.baseUrl}/v3/${method}`, {
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
  ops.server = await startServerProcess(["--db", ops.dbPath], opsServerEnv);
  const first = await call("CreateBooking", booking(1));
  const second = await call("CreateBooking", booking(2));
  const canceled = await call("UpdateBooking", { booking: { booking_id: second.body.booking.booking_id, status: "CANCELED" } });
  expect(canceled.body.booking.status).toBe("CANCELED");
  await killHard(ops.server);

  ops.server = await startServerProcess(["--db", ops.dbPath], opsServerEnv);
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
  await killHard(ops.server);
});

test("when re-importing the same feed after bookings, then nothing changes and booked spots stay taken", async () => {
  ops.server = await startServerProcess(["--db", ops.dbPath], opsServerEnv);
  const before = (await call("CheckAvailability", { slot })).body.count_available;
  await killHard(ops.server);
  const again = runCli(["import", "--db", ops.dbPath, join(ops.dir, "merchants.json"), join(ops.dir, "services.json"), join(ops.dir, "availability.json")]);
  expect(again.status).toBe(0);
  expect(again.stdout).toMatch(/slots: 0 new, 0 updated, 1 unchanged/);
  ops.server = await startServerProcess(["--db", ops.dbPath], opsServerEnv);
  expect((await call("CheckAvailability", { slot })).body.count_available).toBe(before);
  await killHard(ops.server);
});
