import { futureStartSec, rest, seedSlots, startTestServer, type TestServer } from "../support/test-server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const slotJson = (merchantId: string) => ({
  merchant_id: merchantId,
  service_id: "dinner",
  start_sec: String(futureStartSec),
  duration_sec: "3600",
});

const user = (n: number) => ({
  user_id: `user-${n}`,
  given_name: "Test",
  family_name: `User${n}`,
  telephone: "+1 415-736-0000",
  email: `user${n}@example.com`,
});

async function openSpots(merchantId: string): Promise<number> {
  const { body } = await rest(server, "CheckAvailability", { slot: slotJson(merchantId) });
  return body.count_available ?? 0;
}

describe("CreateBooking under concurrency", () => {
  test("when 200 different users book a 3-spot slot at once, then exactly 3 bookings are made", async () => {
    await seedSlots(server.store, [{ merchantId: "burst", serviceId: "dinner", startSec: futureStartSec, spotsTotal: 3 }]);
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, n) =>
        rest(server, "CreateBooking", { slot: slotJson("burst"), idempotency_token: `burst-${n}`, user_information: user(n) }),
      ),
    );
    expect(responses.every((response) => response.status === 200)).toBe(true);
    const booked = responses.filter((response) => response.body.booking);
    const refused = responses.filter((response) => response.body.booking_failure?.cause === "SLOT_UNAVAILABLE");
    expect(booked).toHaveLength(3);
    expect(refused).toHaveLength(197);
    expect(new Set(booked.map((response) => response.body.booking.booking_id)).size).toBe(3);
    expect(await openSpots("burst")).toBe(0);
  });

  test("when the same request is replayed 50 times in parallel, then one booking is made and every answer is it", async () => {
    await seedSlots(server.store, [{ merchantId: "replay", serviceId: "dinner", startSec: futureStartSec, spotsTotal: 3 }]);
    const request = { slot: slotJson("replay"), idempotency_token: "same-token", user_information: user(1) };
    const responses = await Promise.all(Array.from({ length: 50 }, () => rest(server, "CreateBooking", request)));
    const ids = new Set(responses.map((response) => response.body.booking?.booking_id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toEqual(expect.any(String));
    expect(await openSpots("replay")).toBe(2);
  });

  test("when bookings and cancellations race, then open spots plus active bookings equal the total", async () => {
    await seedSlots(server.store, [{ merchantId: "race", serviceId: "dinner", startSec: futureStartSec, spotsTotal: 5 }]);
    const first = await Promise.all(
      Array.from({ length: 5 }, (_, n) =>
        rest(server, "CreateBooking", { slot: slotJson("race"), idempotency_token: `race-${n}`, user_information: user(n) }),
      ),
    );
    const ids = first.map((response) => response.body.booking.booking_id as string);
    const mixed = await Promise.all([
      ...ids.map((bookingId) => rest(server, "UpdateBooking", { booking: { booking_id: bookingId, status: "CANCELED" } })),
      ...Array.from({ length: 20 }, (_, n) =>
        rest(server, "CreateBooking", {
          slot: slotJson("race"),
          idempotency_token: `race-late-${n}`,
          user_information: user(100 + n),
        }),
      ),
    ]);
    const lateBookings = mixed.slice(ids.length).filter((response) => response.body.booking).length;
    expect(lateBookings).toBeLessThanOrEqual(5);
    expect((await openSpots("race")) + lateBookings).toBe(5);
  });
});
