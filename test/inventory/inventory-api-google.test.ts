/**
 * What Google gets from the inventory API, through a real server whose
 * notifier tells the Google stand-in (test/support/google-stand-in.js): the
 * availability:replace updates AdjustSpots, CloseAvailability and
 * ReplaceAvailability queue, as the stand-in records them; and a walk-in
 * racing a burst of Google's CreateBooking for a slot's last spots, which
 * never overbooks (checked with Google's BatchAvailabilityLookup over REST).
 */
import { Notifier, StaticTokenSource } from "../../src/notify/notifier";
import { GoogleStandIn } from "../support/google-stand-in";
import { createBooking, newUser, slotJson, type Json } from "../support/rest-helpers";
import { RpcError } from "../support/rpc-clients";
import { futureStartSec, hour, rest, seedSlots, startTestServer, type TestServer } from "../support/test-server";
import { connectJson, type InventoryClient } from "./inventory-api-clients";

const merchantId = "trattoria";
const token = "token-of-the-trattoria";
const t0 = futureStartSec;

let google: GoogleStandIn;
let server: TestServer;
let client: InventoryClient;
beforeAll(async () => {
  google = new GoogleStandIn();
  await google.listen();
  server = await startTestServer({
    merchantAuth: { merchantTokens: new Map([[merchantId, token]]) },
    notifier: (store) => new Notifier({ store, partnerId: "p1", baseUrl: google.baseUrl, tokenSource: new StaticTokenSource("t") }),
  });
  client = connectJson.connect(server.baseUrl);
});
afterAll(async () => {
  client.close();
  await server.close();
  await google.close();
});

const iso = (sec: number) => new Date(sec * 1000).toISOString().replace(".000Z", "Z");
const tableFor2 = (startSec: number) => slotJson({ merchantId, serviceId: "dinner", startSec, partySize: 2 });

/** The spots_open Google was last told for the table for 2 at `startSec` (undefined: never told). */
function lastToldOpen(startSec: number): string | undefined {
  let told: string | undefined;
  for (const request of google.requests) {
    if (!request.path.endsWith("/availability:replace")) continue;
    for (const service of request.body.extendedServiceAvailability) {
      if (service.startTimeRestrict !== iso(startSec)) continue;
      const table = service.availability.find((slot: Json) => slot.resources?.partySize === "2");
      told = table ? table.spotsOpen : "gone";
    }
  }
  return told;
}

async function seedTable(startSec: number, spotsTotal: number): Promise<void> {
  await seedSlots(server.store, [{ merchantId, serviceId: "dinner", startSec, partySize: 2, spotsTotal }]);
}

const adjust = (startSec: number, change: Json) =>
  client.call("adjustSpots", { merchantId, serviceId: "dinner", startSec: String(startSec), durationSec: "3600", resources: { partySize: 2 }, ...change }, token);

describe("what Google is told", () => {
  test("when a walk-in takes a spot and then gives it back, then the stand-in receives availability:replace with each new spots_open", async () => {
    const startSec = t0 + 10 * hour;
    await seedTable(startSec, 3);

    await adjust(startSec, { takeSpots: 1 });
    await google.waitFor(() => lastToldOpen(startSec) === "2", 5000, "spots_open 2 after the walk-in");
    const request = google.requests.find((r) => r.path.endsWith("/availability:replace"))!;
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/v1alpha/inventory/partners/p1/availability:replace");
    expect(request.body.extendedServiceAvailability[0]).toMatchObject({
      merchantId,
      serviceId: "dinner",
      startTimeRestrict: iso(startSec),
      endTimeRestrict: iso(startSec + 1),
      availability: [{ startTime: iso(startSec), duration: "3600s", spotsTotal: "3", spotsOpen: "2", resources: { partySize: "2" } }],
    });

    await adjust(startSec, { giveBackSpots: 1 });
    await google.waitFor(() => lastToldOpen(startSec) === "3", 5000, "spots_open 3 after the cancellation");
  });

  test("when an evening is closed and the next replaced, then the stand-in hears spots_open 0, then the new slots and the removed one gone", async () => {
    const first = t0 + 20 * hour;
    await seedTable(first, 2);
    await seedTable(first + hour, 2);

    await client.call("closeAvailability", { merchantId, startSec: String(first), endSec: String(first + hour) }, token);
    await google.waitFor(() => lastToldOpen(first) === "0", 5000, "the closed slot");
    expect(lastToldOpen(first + hour)).toBeUndefined();

    await client.call("replaceAvailability", {
      merchantId,
      serviceId: "dinner",
      startSec: String(first),
      endSec: String(first + 2 * hour),
      slots: [{ startSec: String(first + hour), durationSec: "3600", resources: { partySize: 2 }, spotsTotal: "5" }],
    }, token);
    await google.waitFor(() => lastToldOpen(first) === "gone" && lastToldOpen(first + hour) === "5", 5000, "the replaced evening");
  });
});

describe("a walk-in racing Google's bookings", () => {
  test.each([1, 2, 3, 4])("when a walk-in and a burst of CreateBooking race for a slot's last two spots (round %i), then exactly two are taken and Google's lookup sees it full", async (round) => {
    const startSec = t0 + (30 + round) * hour;
    await seedTable(startSec, 4);
    for (let i = 0; i < 2; i++) expect((await createBooking(server, tableFor2(startSec), newUser())).body.booking).toBeDefined();

    const walkIn = adjust(startSec, { takeSpots: 1 }).then(
      () => 1,
      (error: unknown) => {
        expect(error).toBeInstanceOf(RpcError);
        return 0;
      },
    );
    const bookings = Array.from({ length: 8 }, () => createBooking(server, tableFor2(startSec), newUser()));
    const [walkedIn, ...answers] = await Promise.all([walkIn, ...bookings]);

    const booked = answers.filter((answer) => answer.status === 200 && answer.body.booking !== undefined).length;
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(walkedIn + booked).toBe(2);
    const lookup = await rest(server, "BatchAvailabilityLookup", {
      merchant_id: merchantId,
      slot_time: [{ service_id: "dinner", start_sec: String(startSec), duration_sec: "3600", resource_ids: { party_size: 2 } }],
    });
    expect(lookup.body.slot_time_availability[0].available ?? false).toBe(false);
    const { slots } = await client.call("listAvailability", { merchantId, startSec: String(startSec), endSec: String(startSec + 1) }, token);
    expect(slots).toHaveLength(1);
    const [slot] = slots;
    expect(Number(slot.spotsTakenElsewhere ?? 0) + Number(slot.spotsHeldByBookings ?? 0)).toBe(4);
    expect(slot.spotsOpen).toBeUndefined(); // 0, left out of proto3 JSON
  });
});
