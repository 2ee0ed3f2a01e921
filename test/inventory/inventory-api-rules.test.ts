/**
 * The inventory API's rules as use cases, in process on a real SQLite store
 * through the storage contract: what ReplaceAvailability, AdjustSpots,
 * CloseAvailability and ListAvailability change, what they refuse (and that
 * a refusal writes nothing), how they count the spots this server holds, and
 * the availability updates they queue for Google.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { BookingStatus, UpdateBookingRequestSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import {
  AdjustSpotsRequestSchema,
  CloseAvailabilityRequestSchema,
  ListAvailabilityRequestSchema,
  ReplaceAvailabilityRequestSchema,
} from "../../gen/es/partner/inventory/v1/inventory_service_pb";
import { createBooking } from "../../src/booking/create-booking";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError } from "../../src/booking/errors";
import type { MerchantCaller } from "../../src/booking/merchant-decisions";
import { updateBooking } from "../../src/booking/update-booking";
import { adjustSpots } from "../../src/inventory/adjust-spots";
import { closeAvailability } from "../../src/inventory/close-availability";
import { listAvailability } from "../../src/inventory/list-availability";
import { replaceAvailability } from "../../src/inventory/replace-availability";
import {
  availabilityUpdate,
  bookingRequest,
  openBookingWorld,
  slotOf,
  takeQueuedNotifications,
  userOf,
  type BookingWorld,
} from "../support/booking-fixtures";
import { futureStartSec, hour, seedSlots } from "../support/test-server";

const merchantId = "bistro";
const serviceId = "dinner";
const bistro: MerchantCaller = { kind: "merchant", merchantId };
const otherMerchant: MerchantCaller = { kind: "merchant", merchantId: "cafe" };
const admin: MerchantCaller = { kind: "admin" };
const t0 = futureStartSec;

let world: BookingWorld;
beforeEach(() => {
  world = openBookingWorld();
});
afterEach(() => world.close());

const replaceRequest = (init: Omit<MessageInitShape<typeof ReplaceAvailabilityRequestSchema>, "$typeName">) =>
  create(ReplaceAvailabilityRequestSchema, { merchantId, serviceId, startSec: BigInt(t0), endSec: BigInt(t0 + 3 * hour), ...init });
const adjustRequest = (init: Omit<MessageInitShape<typeof AdjustSpotsRequestSchema>, "$typeName">) =>
  create(AdjustSpotsRequestSchema, { merchantId, serviceId, startSec: BigInt(t0), durationSec: BigInt(hour), ...init });
const closeRequest = (init: Omit<MessageInitShape<typeof CloseAvailabilityRequestSchema>, "$typeName"> = {}) =>
  create(CloseAvailabilityRequestSchema, { merchantId, startSec: BigInt(t0), endSec: BigInt(t0 + 3 * hour), ...init });
const listRequest = (init: Omit<MessageInitShape<typeof ListAvailabilityRequestSchema>, "$typeName"> = {}) =>
  create(ListAvailabilityRequestSchema, { merchantId, startSec: BigInt(t0), endSec: BigInt(t0 + 24 * hour), ...init });

/** Books the slot at `startSec` (party of `partySize`) as Google does; answers the booking id. */
async function bookHere(startSec: number, partySize = 2, user = `guest-${startSec}-${partySize}-${Math.random()}`): Promise<string> {
  const slot = slotOf({ merchantId, serviceId, startSec, partySize });
  const response = await createBooking(world.ctx, bookingRequest(slot, userOf(user), `token-${user}`));
  expect(response.booking?.status).toBe(BookingStatus.CONFIRMED);
  return response.booking!.bookingId;
}

/** Every slot of the bistro's day as (start offset in hours, party size, total, open, held by bookings). */
async function day(): Promise<Array<[number, number, number, number, number]>> {
  const { slots } = await listAvailability(world.ctx, admin, listRequest());
  return slots.map((slot) => [
    (Number(slot.startSec) - t0) / hour,
    slot.resources?.partySize ?? 0,
    Number(slot.spotsTotal),
    Number(slot.spotsOpen),
    Number(slot.spotsHeldByBookings),
  ]);
}

/** The error a call was refused with (fails the test when it succeeded). */
async function refusal(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => {
      throw new Error("the call succeeded");
    },
    (error: unknown) => error,
  );
}

describe("ReplaceAvailability", () => {
  beforeEach(() =>
    seedSlots(world.store, [
      { merchantId, serviceId, startSec: t0, partySize: 2, spotsTotal: 4 },
      { merchantId, serviceId, startSec: t0, partySize: 4, spotsTotal: 2 },
      { merchantId, serviceId, startSec: t0 + hour, partySize: 2, spotsTotal: 4 },
    ]),
  );

  test("when a slot booked here is given again, then its booking's spot stays held and is not counted twice", async () => {
    await bookHere(t0);
    await takeQueuedNotifications(world.store, 0);

    const response = await replaceAvailability(world.ctx, bistro, replaceRequest({
      endSec: BigInt(t0 + 2 * hour),
      slots: [
        { startSec: BigInt(t0), durationSec: BigInt(hour), resources: { partySize: 2 }, spotsTotal: 4n, spotsOpen: 3n },
        { startSec: BigInt(t0), durationSec: BigInt(hour), resources: { partySize: 4 }, spotsTotal: 2n },
        { startSec: BigInt(t0 + hour), durationSec: BigInt(hour), resources: { partySize: 2 }, spotsTotal: 4n },
      ],
    }));

    // spots_open 3 is what the other channels left: one went to the phone; the booking made here is taken from those 3.
    expect(response.slots.map((slot) => [Number(slot.spotsTotal), Number(slot.spotsOpen), Number(slot.spotsTakenElsewhere), Number(slot.spotsHeldByBookings)])).toEqual([
      [4, 2, 1, 1],
      [2, 2, 0, 0],
      [4, 4, 0, 0],
    ]);
    expect({ inserted: response.inserted, updated: response.updated, removed: response.removed }).toEqual({ inserted: 0, updated: 3, removed: 0 });
    expect(await takeQueuedNotifications(world.store, 0)).toMatchObject([availabilityUpdate(merchantId, serviceId, [t0, t0 + hour])]);
    expect(world.wakeUps()).toBeGreaterThan(0);
  });

  test("when slots are not given again, then those without bookings are removed and one holding a booking is kept with no spots and named with it", async () => {
    const bookingId = await bookHere(t0);
    await takeQueuedNotifications(world.store, 0);

    const response = await replaceAvailability(world.ctx, bistro, replaceRequest({
      slots: [
        { startSec: BigInt(t0 + hour), durationSec: BigInt(hour), resources: { partySize: 2 }, spotsTotal: 4n },
        { startSec: BigInt(t0 + 2 * hour), durationSec: BigInt(hour), resources: { partySize: 6 }, spotsTotal: 1n },
      ],
    }));

    expect({ inserted: response.inserted, updated: response.updated, removed: response.removed }).toEqual({ inserted: 1, updated: 1, removed: 2 });
    expect(response.keptForBookings).toHaveLength(1);
    expect(response.keptForBookings[0].bookings.map((booking) => booking.bookingId)).toEqual([bookingId]);
    expect(response.keptForBookings[0].slot).toMatchObject({ spotsTotal: 0n, spotsOpen: 0n, spotsHeldByBookings: 1n });
    expect(await day()).toEqual([
      [0, 2, 0, 0, 1],
      [1, 2, 4, 4, 0],
      [2, 6, 1, 1, 0],
    ]);
    expect(await takeQueuedNotifications(world.store, 0)).toMatchObject([availabilityUpdate(merchantId, serviceId, [t0, t0 + hour, t0 + 2 * hour])]);

    // The kept slot is never bookable again: the cancellation gives its spot to no one.
    await updateBooking(world.ctx, create(UpdateBookingRequestSchema, { booking: { bookingId, status: BookingStatus.CANCELED } }));
    expect((await day())[0]).toEqual([0, 2, 0, 0, 0]);
  });

  test("when the replacement is restricted to a party size, then only those slots are replaced", async () => {
    const response = await replaceAvailability(world.ctx, bistro, replaceRequest({ resources: { partySize: 4 }, slots: [] }));

    expect(response.removed).toBe(1);
    expect((await day()).map(([offset, party]) => [offset, party])).toEqual([[0, 2], [1, 2]]);
  });

  test.each([
    ["a slot outside the window", { slots: [{ startSec: BigInt(t0 + 3 * hour), durationSec: BigInt(hour) }] }, "slots[0].start_sec"],
    ["the end before the start", { endSec: BigInt(t0 - hour) }, "end_sec"],
    ["more spots open than the total", { slots: [{ startSec: BigInt(t0), durationSec: BigInt(hour), spotsTotal: 2n, spotsOpen: 3n }] }, "slots[0].spots_open"],
    ["negative spots", { slots: [{ startSec: BigInt(t0), durationSec: BigInt(hour), spotsTotal: -1n }] }, "slots[0].spots_total"],
    ["a slot without a duration", { slots: [{ startSec: BigInt(t0) }] }, "slots[0].duration_sec"],
    ["the same slot twice", { slots: [{ startSec: BigInt(t0), durationSec: BigInt(hour) }, { startSec: BigInt(t0), durationSec: BigInt(hour) }] }, "slots[1]"],
    ["a slot of another party size than the restriction", { resources: { partySize: 4 }, slots: [{ startSec: BigInt(t0), durationSec: BigInt(hour), resources: { partySize: 2 } }] }, "slots[0].resources.party_size"],
  ])("when the request has %s, then it is refused naming the field and nothing changes", async (_what, init, field) => {
    const before = await day();
    const error = await refusal(replaceAvailability(world.ctx, bistro, replaceRequest(init)));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe(field);
    expect(await day()).toEqual(before);
    expect(await takeQueuedNotifications(world.store, 0)).toEqual([]);
  });

  test("when the service or merchant is unknown, or the merchant is another's, then it is refused and nothing changes", async () => {
    const before = await day();
    expect(await refusal(replaceAvailability(world.ctx, bistro, replaceRequest({ serviceId: "lunch", slots: [] })))).toBeInstanceOf(NotFoundError);
    expect(await refusal(replaceAvailability(world.ctx, admin, replaceRequest({ merchantId: "nobody", slots: [] })))).toBeInstanceOf(NotFoundError);
    expect(await refusal(replaceAvailability(world.ctx, otherMerchant, replaceRequest({ slots: [] })))).toBeInstanceOf(PermissionDeniedError);
    expect(await day()).toEqual(before);
    expect(await takeQueuedNotifications(world.store, 0)).toEqual([]);
  });
});

describe("AdjustSpots", () => {
  beforeEach(() =>
    seedSlots(world.store, [
      { merchantId, serviceId, startSec: t0, partySize: 2, spotsTotal: 3 },
      { merchantId, serviceId, startSec: t0, partySize: 4, spotsTotal: 1 },
    ]),
  );
  const table2 = { partySize: 2 };

  test("when walk-ins take spots and a cancellation gives some back, then open spots follow, never below zero nor above the total", async () => {
    const taken = await adjustSpots(world.ctx, bistro, adjustRequest({ resources: table2, change: { case: "takeSpots", value: 2 } }));
    expect(taken.spotsOpenBefore).toBe(3n);
    expect(taken.slot).toMatchObject({ spotsTotal: 3n, spotsOpen: 1n, spotsTakenElsewhere: 2n });

    expect(await refusal(adjustSpots(world.ctx, bistro, adjustRequest({ resources: table2, change: { case: "takeSpots", value: 2 } })))).toBeInstanceOf(FailedPreconditionError);
    expect(await refusal(adjustSpots(world.ctx, bistro, adjustRequest({ resources: table2, change: { case: "giveBackSpots", value: 3 } })))).toBeInstanceOf(FailedPreconditionError);
    expect((await day())[0]).toEqual([0, 2, 3, 1, 0]);

    const givenBack = await adjustSpots(world.ctx, bistro, adjustRequest({ resources: table2, change: { case: "giveBackSpots", value: 2 } }));
    expect(givenBack.slot).toMatchObject({ spotsOpen: 3n, spotsTakenElsewhere: 0n });
    expect(await takeQueuedNotifications(world.store, 0)).toMatchObject([availabilityUpdate(merchantId, serviceId, [t0])]);
  });

  test("when a walk-in takes the last spot next to a booking made here, then Google's next booking finds the slot full", async () => {
    await bookHere(t0);
    await bookHere(t0);
    await adjustSpots(world.ctx, bistro, adjustRequest({ resources: table2, change: { case: "takeSpots", value: 1 } }));

    const slot = slotOf({ merchantId, serviceId, startSec: t0, partySize: 2 });
    const response = await createBooking(world.ctx, bookingRequest(slot, userOf("late"), "token-late"));
    expect(response.bookingFailure?.cause).toBeDefined();
    expect((await day())[0]).toEqual([0, 2, 3, 0, 2]);
    expect(await refusal(adjustSpots(world.ctx, bistro, adjustRequest({ resources: table2, change: { case: "takeSpots", value: 1 } })))).toBeInstanceOf(FailedPreconditionError);
  });

  test.each([
    ["no change", {}, "change"],
    ["a negative take", { resources: table2, change: { case: "takeSpots" as const, value: -1 } }, "take_spots"],
    ["a zero give-back", { resources: table2, change: { case: "giveBackSpots" as const, value: 0 } }, "give_back_spots"],
    ["resources naming two slots", { change: { case: "takeSpots" as const, value: 1 } }, "resources"],
  ])("when the request has %s, then it is refused naming the field and nothing changes", async (_what, init, field) => {
    const error = await refusal(adjustSpots(world.ctx, bistro, adjustRequest(init)));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe(field);
    expect(await day()).toEqual([[0, 2, 3, 3, 0], [0, 4, 1, 1, 0]]);
    expect(await takeQueuedNotifications(world.store, 0)).toEqual([]);
  });

  test("when no slot starts then, or the merchant is another's, then it is refused and nothing changes", async () => {
    const take = { case: "takeSpots" as const, value: 1 };
    expect(await refusal(adjustSpots(world.ctx, bistro, adjustRequest({ startSec: BigInt(t0 + hour), resources: table2, change: take })))).toBeInstanceOf(NotFoundError);
    expect(await refusal(adjustSpots(world.ctx, otherMerchant, adjustRequest({ resources: table2, change: take })))).toBeInstanceOf(PermissionDeniedError);
    expect(await day()).toEqual([[0, 2, 3, 3, 0], [0, 4, 1, 1, 0]]);
  });
});

describe("CloseAvailability", () => {
  beforeEach(() =>
    seedSlots(world.store, [
      { merchantId, serviceId, startSec: t0, partySize: 2, spotsTotal: 3 },
      { merchantId, serviceId, startSec: t0 + hour, partySize: 2, spotsTotal: 3 },
      { merchantId, serviceId: "brunch", startSec: t0 + hour, partySize: 2, spotsTotal: 3 },
      { merchantId, serviceId, startSec: t0 + 5 * hour, partySize: 2, spotsTotal: 3 },
    ]),
  );

  test("when an evening is closed, then its slots have no spot open, bookings stay and are listed, and a cancellation does not reopen", async () => {
    const bookingId = await bookHere(t0 + hour);
    await takeQueuedNotifications(world.store, 0);

    const response = await closeAvailability(world.ctx, bistro, closeRequest());

    expect({ closed: response.closed, alreadyClosed: response.alreadyClosed }).toEqual({ closed: 3, alreadyClosed: 0 });
    expect(response.withBookings.map((slot) => [Number(slot.slot!.startSec) - t0, slot.bookings.map((b) => b.bookingId)])).toEqual([[hour, [bookingId]]]);
    expect((await day()).map(([offset, , , open, held]) => [offset, open, held])).toEqual([[0, 0, 0], [1, 0, 1], [1, 0, 0], [5, 3, 0]]);
    const queued = await takeQueuedNotifications(world.store, 0);
    expect(queued).toHaveLength(2);
    expect(queued).toEqual(
      expect.arrayContaining([
        expect.objectContaining(availabilityUpdate(merchantId, serviceId, [t0, t0 + hour])),
        expect.objectContaining(availabilityUpdate(merchantId, "brunch", [t0 + hour])),
      ]),
    );

    await updateBooking(world.ctx, create(UpdateBookingRequestSchema, { booking: { bookingId, status: BookingStatus.CANCELED } }));
    expect((await day())[1]).toEqual([1, 2, 3, 0, 0]);

    const again = await closeAvailability(world.ctx, bistro, closeRequest());
    expect({ closed: again.closed, alreadyClosed: again.alreadyClosed }).toEqual({ closed: 0, alreadyClosed: 3 });
  });

  test("when one service is closed, then the merchant's other services stay open", async () => {
    await closeAvailability(world.ctx, bistro, closeRequest({ serviceId: "brunch" }));
    expect((await day()).map(([, , , open]) => open)).toEqual([3, 3, 0, 3]);
  });

  test("when the range is backwards, the service unknown or the merchant another's, then it is refused and nothing changes", async () => {
    const error = await refusal(closeAvailability(world.ctx, bistro, closeRequest({ endSec: BigInt(t0) })));
    expect((error as InvalidArgumentError).field).toBe("end_sec");
    expect(await refusal(closeAvailability(world.ctx, bistro, closeRequest({ serviceId: "lunch" })))).toBeInstanceOf(NotFoundError);
    expect(await refusal(closeAvailability(world.ctx, otherMerchant, closeRequest()))).toBeInstanceOf(PermissionDeniedError);
    expect((await day()).map(([, , , open]) => open)).toEqual([3, 3, 3, 3]);
    expect(await takeQueuedNotifications(world.store, 0)).toEqual([]);
  });
});

describe("ListAvailability", () => {
  test("when the slots are more than a page, then the pages give each slot once, by start", async () => {
    await seedSlots(world.store, [0, 1, 2, 3, 4].map((n) => ({ merchantId, serviceId, startSec: t0 + n * hour, spotsTotal: n + 1 })));
    const starts: number[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await listAvailability(world.ctx, bistro, listRequest({ pageSize: 2, pageToken }));
      starts.push(...page.slots.map((slot) => (Number(slot.startSec) - t0) / hour));
      pageToken = page.nextPageToken;
      pages += 1;
    } while (pageToken);
    expect(starts).toEqual([0, 1, 2, 3, 4]);
    expect(pages).toBe(3);
    const error = await refusal(listAvailability(world.ctx, bistro, listRequest({ pageToken: "not-a-token" })));
    expect((error as InvalidArgumentError).field).toBe("page_token");
  });
});
