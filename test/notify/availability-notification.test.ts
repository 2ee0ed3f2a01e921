import { availabilityReplaceRequest, queueAvailabilityReplace } from "../../src/notify/availability-notification";
import { Notifier, StaticTokenSource } from "../../src/notify/notifier";
import { GoogleStandIn } from "../support/google-stand-in";
import { futureStartSec, rest, seedSlots, startTestServer, type TestServer } from "../support/test-server";

const user = (n: number) => ({
  user_id: `rtu-user-${n}`,
  given_name: "R",
  family_name: "T",
  telephone: "+1",
  email: `rtu${n}@example.com`,
});
const slotJson = (partySize: number) => ({
  merchant_id: "rtu",
  service_id: "dinner",
  start_sec: String(futureStartSec),
  duration_sec: "3600",
  resources: { party_size: partySize },
});

describe("availability:replace through the outbox", () => {
  let server: TestServer;
  beforeEach(async () => {
    server = await startTestServer();
    await seedSlots(server.store, [
      { merchantId: "rtu", serviceId: "dinner", startSec: futureStartSec, partySize: 2, spotsTotal: 3, confirmationMode: 1 },
      { merchantId: "rtu", serviceId: "dinner", startSec: futureStartSec, partySize: 4, spotsTotal: 1, confirmationMode: 2 },
      { merchantId: "rtu", serviceId: "dinner", startSec: futureStartSec + 3600, partySize: 2, spotsTotal: 2 },
    ]);
  });
  afterEach(() => server.close());

  test("when several bookings hit one service before delivery, then one entry names every start time changed", async () => {
    await rest(server, "CreateBooking", { slot: slotJson(2), idempotency_token: "r1", user_information: user(1) });
    await rest(server, "CreateBooking", { slot: slotJson(4), idempotency_token: "r2", user_information: user(2) });
    await rest(server, "CreateBooking", {
      slot: { ...slotJson(2), start_sec: String(futureStartSec + 3600) },
      idempotency_token: "r3",
      user_information: user(3),
    });
    const pending = await server.store.read.outbox.nextDue(Date.now(), 10);
    expect(pending).toHaveLength(1);
    expect(pending[0].kind).toBe("availability_replace");
    expect(await server.store.read.outbox.startSecsOf(pending[0].id)).toEqual([futureStartSec, futureStartSec + 3600]);
  });

  test("when an entry is being sent, then a new change goes into a new entry instead of the one in flight", async () => {
    const slot = (
      await server.store.read.inventory.findSlots(
        { merchantId: "rtu", serviceId: "dinner", startSec: futureStartSec, durationSec: 0, staffId: "", roomId: "", partySize: 2 },
        1,
      )
    )[0];
    await server.store.transaction((tx) => queueAvailabilityReplace(tx.outbox, slot, 1));
    const [inFlight] = await server.store.read.outbox.nextDue(Date.now(), 10);
    await server.store.transaction((tx) => tx.outbox.claim(inFlight.id, Date.now(), Date.now() + 60_000));
    await server.store.transaction((tx) => queueAvailabilityReplace(tx.outbox, { ...slot, startSec: futureStartSec + 3600 }, 2));
    expect(await server.store.read.outbox.startSecsOf(inFlight.id)).toEqual([futureStartSec]);
    expect((await server.store.read.outbox.findUnsentId(inFlight.queueKey, "availability_replace"))).not.toBe(inFlight.id);
  });

  test("when the update is built, then it carries every slot of that start with live spots and confirmation mode", async () => {
    await rest(server, "CreateBooking", { slot: slotJson(2), idempotency_token: "r4", user_information: user(4) });
    const [entry] = await server.store.read.outbox.nextDue(Date.now(), 10);
    const request = await availabilityReplaceRequest("partner-7", entry, server.store.read);
    expect(request.pathAndQuery).toBe("/v1alpha/inventory/partners/partner-7/availability:replace");
    const start = new Date(futureStartSec * 1000).toISOString().replace(".000Z", "Z");
    expect(JSON.parse(request.body)).toEqual({
      extendedServiceAvailability: [
        {
          merchantId: "rtu",
          serviceId: "dinner",
          startTimeRestrict: start,
          endTimeRestrict: new Date((futureStartSec + 1) * 1000).toISOString().replace(".000Z", "Z"),
          availability: expect.arrayContaining([
            {
              startTime: start,
              duration: "3600s",
              spotsTotal: "3",
              spotsOpen: "2",
              resources: { partySize: "2" },
              confirmationMode: "CONFIRMATION_MODE_SYNCHRONOUS",
            },
            {
              startTime: start,
              duration: "3600s",
              spotsTotal: "1",
              spotsOpen: "1",
              resources: { partySize: "4" },
              confirmationMode: "CONFIRMATION_MODE_ASYNCHRONOUS",
            },
          ]),
        },
      ],
    });
  });

  test("when a booking is canceled, then Google receives the spot back through availability:replace", async () => {
    // Google's inventory API: the stand-in records every request and answers 200.
    const google = new GoogleStandIn();
    await google.listen();
    const notifier = new Notifier({
      store: server.store,
      partnerId: "p1",
      baseUrl: google.baseUrl,
      tokenSource: new StaticTokenSource("t"),
    });
    try {
      const created = await rest(server, "CreateBooking", { slot: slotJson(4), idempotency_token: "r5", user_information: user(5) });
      await notifier.deliverDue();
      await rest(server, "UpdateBooking", { booking: { booking_id: created.body.booking.booking_id, status: "CANCELED" } });
      await notifier.deliverDue();
      expect(google.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
        "POST /v1alpha/inventory/partners/p1/availability:replace",
        "POST /v1alpha/inventory/partners/p1/availability:replace",
      ]);
      const spotsOpenOfTable4 = google.requests.map(
        (r) =>
          r.body.extendedServiceAvailability[0].availability.find((a: any) => a.resources.partySize === "4").spotsOpen,
      );
      expect(spotsOpenOfTable4).toEqual(["0", "1"]);
    } finally {
      await google.close();
    }
  });
});
