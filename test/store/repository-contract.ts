/**
 * The repository contract suite (issue 13): written once against the storage
 * contract of src/store/repositories.ts and run for every backend (a
 * `*-contract.test.ts` per backend calls `describeRepositoryContract`). It
 * reaches the store only through `Store.transaction`, `Store.read` and the
 * repositories they hand out: no SQL, no driver, so the facts it pins hold on
 * any database that implements the contract.
 *
 * The facts the database enforces (one booking per idempotency token, one
 * holding booking per user and slot, a spot never taken past the slot's
 * total) are raced for by parallel units, some batch and some not, started in
 * the same turn of the event loop: on SQLite they queue on one connection
 * (batch units sharing a transaction, each in its savepoint); on a server
 * database they run on several connections at once.
 */
import { create } from "@bufbuild/protobuf";
import {
  BookingSchema,
  BookingStatus,
  ConfirmationMode,
  LeaseSchema,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { slotMessage } from "../../src/booking/slots.js";
import {
  ConstraintViolation,
  sameUserKeys,
  type BookingRecord,
  type LeaseRecord,
  type MerchantBookingQuery,
  type OutboxEntryInput,
  type Repositories,
  type ServiceFeedRecord,
  type SlotFeedRecord,
  type SlotQuery,
  type SlotRecord,
  type SlotWindowQuery,
  type Store,
  type UnitOfWork,
} from "../../src/store/repositories.js";
import { uniqueId } from "../support/rest-helpers.js";
import { futureStartSec, hour, seedSlots, type SlotSeed } from "../support/test-server.js";

/** A store of the backend under test, fresh for each test, and how to close it (and drop its data). */
export interface OpenedStore {
  store: Store;
  close: () => Promise<void>;
}

/** "Now" for the rows the tests write (created_at and the like). */
const nowSec = 1_750_000_000;

/** How many units race in the concurrency tests. */
const racers = 20;

type UserInfo = { userId: string; email: string };

function newUserInfo(): UserInfo {
  const userId = uniqueId("user");
  return { userId, email: `${userId}@example.com` };
}

/** The query that finds every slot of a merchant's service at `startSec` (open on duration and resources). */
function startQuery(merchantId: string, serviceId: string, startSec: number): SlotQuery {
  return { merchantId, serviceId, startSec, durationSec: 0, staffId: "", roomId: "", partySize: 0 };
}

/** Seeds one slot of a merchant of its own (through `seedSlots`, one unit of upserts) and answers it as the store reads it. */
async function seedSlot(store: Store, seed: Partial<SlotSeed> = {}): Promise<SlotRecord> {
  const full: SlotSeed = { merchantId: uniqueId("merchant"), serviceId: "haircut", startSec: futureStartSec, ...seed };
  await seedSlots(store, [full]);
  const [slot] = await store.read.inventory.findSlots(startQuery(full.merchantId, full.serviceId, full.startSec), 1);
  if (!slot) throw new Error("the seeded slot was not found");
  return slot;
}

const spotsOpen = async (store: Store, slotId: number) => (await store.read.inventory.getSlot(slotId))!.spotsOpen;

/** A booking of `user` on `slot`, built as CreateBooking builds one (`create(BookingSchema, ...)`, `slotMessage`). */
function bookingOn(
  slot: SlotRecord,
  user: UserInfo,
  options: { bookingId?: string; status?: BookingStatus; holdsSpot?: boolean; createdAtSec?: number; decideBySec?: number } = {},
): BookingRecord {
  const booking = create(BookingSchema, {
    bookingId: options.bookingId ?? uniqueId("booking"),
    slot: slotMessage(slot),
    userInformation: user,
    status: options.status ?? BookingStatus.CONFIRMED,
  });
  return {
    booking,
    slotId: slot.slotId,
    holdsSpot: options.holdsSpot ?? true,
    createdAtSec: options.createdAtSec ?? nowSec,
    additionalRequest: "",
    decideBySec: options.decideBySec ?? 0,
  };
}

function outboxEntry(queueKey: string, payload = "{}"): OutboxEntryInput {
  return { queueKey, kind: "booking_patch", updateMask: "status", payloadJson: payload, queryJson: "{}" };
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts every unit in the same turn of the event loop, two in three of them
 * `batch` (so on SQLite some share a transaction and some have one of their
 * own), and waits for all of them to settle.
 */
function race<T>(store: Store, units: UnitOfWork<T>[]): Promise<PromiseSettledResult<T>[]> {
  return Promise.allSettled(units.map((unit, index) => store.transaction(unit, { batch: index % 3 !== 2 })));
}

/** The constraint each rejected unit was refused by (anything else that rejected shows as its message). */
function refusals(results: PromiseSettledResult<unknown>[]): string[] {
  return results.flatMap((result) => {
    if (result.status === "fulfilled") return [];
    const reason: unknown = result.reason;
    return [reason instanceof ConstraintViolation ? reason.constraint : `not a ConstraintViolation: ${String(reason)}`];
  });
}

const fulfilled = <T>(results: PromiseSettledResult<T>[]): T[] =>
  results.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));

const allBookingsOf = (merchantId: string): MerchantBookingQuery => ({
  merchantId,
  statuses: [],
  startSecFrom: 0,
  startSecBefore: undefined,
  after: undefined,
  limit: 1000,
});

export function describeRepositoryContract(backend: string, open: () => Promise<OpenedStore>): void {
  describe(`repository contract (${backend})`, () => {
    let store: Store;
    let closeStore: (() => Promise<void>) | undefined;
    beforeEach(async () => {
      ({ store, close: closeStore } = await open());
    });
    afterEach(async () => {
      await closeStore?.();
      closeStore = undefined;
    });

    describe("inventory", () => {
      test("when inventory is upserted through a unit, then each upsert answers inserted, then unchanged for the same record, then updated for a changed one", async () => {
        const merchantId = uniqueId("merchant");
        const merchant = { merchantId, name: "Salon", feedJson: "{}" };
        const service: ServiceFeedRecord = {
          merchantId, serviceId: "haircut", name: "Haircut", priceMicros: 30_000_000n, currencyCode: "USD", feedJson: "{}", bookingPaymentTerms: false,
        };
        const slot: SlotFeedRecord = {
          merchantId, serviceId: "haircut", startSec: futureStartSec, durationSec: hour, staffId: "", roomId: "", partySize: 0,
          availabilityTag: "", spotsTotal: 2, spotsOpen: 2, confirmationMode: ConfirmationMode.SYNCHRONOUS, durationRequirement: 0, feedJson: "{}",
          bookingPaymentTerms: false,
        };
        const offer = { merchantId, offerId: "spring", serviceId: "", feedJson: "{}" };
        const upsertAll = (records: { merchant: typeof merchant; service: ServiceFeedRecord; slot: SlotFeedRecord; offer: typeof offer }) =>
          store.transaction(async (tx) => [
            await tx.inventory.upsertMerchant(records.merchant),
            await tx.inventory.upsertService(records.service),
            await tx.inventory.upsertSlot(records.slot),
            await tx.inventory.upsertOffer(records.offer),
          ]);

        expect(await upsertAll({ merchant, service, slot, offer })).toEqual(["inserted", "inserted", "inserted", "inserted"]);
        expect(await upsertAll({ merchant, service, slot, offer })).toEqual(["unchanged", "unchanged", "unchanged", "unchanged"]);
        const changed = {
          merchant: { ...merchant, name: "Salon & Spa" },
          service: { ...service, priceMicros: 35_000_000n },
          slot: { ...slot, spotsTotal: 4, spotsOpen: 3, availabilityTag: "evening", confirmationMode: ConfirmationMode.ASYNCHRONOUS, durationRequirement: 1 },
          offer: { ...offer, feedJson: '{"discount":10}' },
        };
        expect(await upsertAll(changed)).toEqual(["updated", "updated", "updated", "updated"]);

        expect(await store.read.inventory.hasMerchant(merchantId)).toBe(true);
        expect(await store.read.inventory.hasMerchant(uniqueId("merchant"))).toBe(false);
        expect(await store.read.inventory.hasService(merchantId, "haircut")).toBe(true);
        expect(await store.read.inventory.hasService(merchantId, "massage")).toBe(false);
        // An offer with no service applies to every service of the merchant.
        expect(await store.read.inventory.hasOffer(merchantId, "massage", "spring")).toBe(true);
        expect(await store.read.inventory.hasOffer(merchantId, "haircut", "autumn")).toBe(false);

        const [stored] = await store.read.inventory.findSlots(startQuery(merchantId, "haircut", futureStartSec), 10);
        const { feedJson: _feedJson, bookingPaymentTerms: _terms, ...slotFields } = changed.slot;
        expect(stored).toEqual({ ...slotFields, slotId: stored.slotId, spotsOpen: 3, mayTakePayment: false });
        expect(await store.read.inventory.getSlot(stored.slotId)).toEqual(stored);
        expect(await store.read.inventory.feedsOf(stored.slotId)).toEqual({ merchantFeed: "{}", serviceFeed: "{}", slotFeed: "{}" });
        expect(await store.read.inventory.serviceFeeds(merchantId, "haircut")).toEqual({ merchantFeed: "{}", serviceFeed: "{}" });
        expect(await store.read.inventory.serviceFeeds(merchantId, "massage")).toBeUndefined();
      });

      test("when a slot is upserted again with the same feed record, then it is unchanged and the spots this server holds stay held", async () => {
        const slot = await seedSlot(store, { spotsTotal: 3 });
        expect(await store.transaction((tx) => tx.inventory.takeSpot(slot.slotId))).toBe(true);
        const feed: SlotFeedRecord = {
          merchantId: slot.merchantId, serviceId: slot.serviceId, startSec: slot.startSec, durationSec: slot.durationSec,
          staffId: slot.staffId, roomId: slot.roomId, partySize: slot.partySize, availabilityTag: "", spotsTotal: 3,
          spotsOpen: 3, confirmationMode: 0, durationRequirement: 0, feedJson: "{}", bookingPaymentTerms: false,
        };
        expect(await store.transaction((tx) => tx.inventory.upsertSlot(feed))).toBe("unchanged");
        expect(await spotsOpen(store, slot.slotId)).toBe(2);
        // The feed sells one spot elsewhere: open = total - sold elsewhere - held here.
        expect(await store.transaction((tx) => tx.inventory.upsertSlot({ ...feed, spotsOpen: 2 }))).toBe("updated");
        expect(await spotsOpen(store, slot.slotId)).toBe(1);
      });

      test("when a slot's or its service's feed record has a term that can take money, then the slot may take payment", async () => {
        const plain = await seedSlot(store);
        expect(plain.mayTakePayment).toBe(false);
        const feed = (slot: SlotRecord): SlotFeedRecord => ({
          merchantId: slot.merchantId, serviceId: slot.serviceId, startSec: slot.startSec, durationSec: slot.durationSec,
          staffId: slot.staffId, roomId: slot.roomId, partySize: slot.partySize, availabilityTag: "", spotsTotal: slot.spotsTotal,
          spotsOpen: slot.spotsTotal, confirmationMode: 0, durationRequirement: 0, feedJson: "{}", bookingPaymentTerms: false,
        });
        const service = (slot: SlotRecord, bookingPaymentTerms: boolean): ServiceFeedRecord => ({
          merchantId: slot.merchantId, serviceId: slot.serviceId, name: slot.serviceId, priceMicros: null, currencyCode: null,
          feedJson: "{}", bookingPaymentTerms,
        });
        // The flag alone is a change of the record.
        expect(await store.transaction((tx) => tx.inventory.upsertSlot({ ...feed(plain), bookingPaymentTerms: true }))).toBe("updated");
        expect((await store.read.inventory.getSlot(plain.slotId))!.mayTakePayment).toBe(true);
        expect(await store.transaction((tx) => tx.inventory.upsertSlot(feed(plain)))).toBe("updated");
        expect((await store.read.inventory.getSlot(plain.slotId))!.mayTakePayment).toBe(false);

        expect(await store.transaction((tx) => tx.inventory.upsertService(service(plain, true)))).toBe("updated");
        expect((await store.read.inventory.getSlot(plain.slotId))!.mayTakePayment).toBe(true);
        expect(await store.transaction((tx) => tx.inventory.upsertService(service(plain, false)))).toBe("updated");
        expect((await store.read.inventory.getSlot(plain.slotId))!.mayTakePayment).toBe(false);
      });

      test("when slots match a query, then those with open spots come first, and the limit keeps the first ones", async () => {
        const merchantId = uniqueId("merchant");
        const at = (staffId: string, spotsTotal: number, extra: Partial<SlotSeed> = {}): SlotSeed => ({
          merchantId, serviceId: "haircut", startSec: futureStartSec, staffId, spotsTotal, ...extra,
        });
        await seedSlots(store, [
          at("a", 1), // full: its spot is taken below
          at("b", 2),
          at("c", 1, { spotsOpen: 0 }), // sold elsewhere
          at("d", 0),
          at("e", 1),
          at("f", 1, { durationSec: 1800 }),
          at("g", 5, { startSec: futureStartSec + hour }), // another start
          { merchantId, serviceId: "color", startSec: futureStartSec, staffId: "h", spotsTotal: 5 }, // another service
        ]);
        const query = startQuery(merchantId, "haircut", futureStartSec);
        const [full] = await store.read.inventory.findSlots({ ...query, staffId: "a" }, 10);
        expect(await store.transaction((tx) => tx.inventory.takeSpot(full.slotId))).toBe(true);

        const found = await store.read.inventory.findSlots(query, 10);
        const staff = (slots: SlotRecord[]) => slots.map((slot) => slot.staffId).sort();
        expect(staff(found)).toEqual(["a", "b", "c", "d", "e", "f"]);
        const openCount = found.findIndex((slot) => slot.spotsOpen === 0);
        expect(staff(found.slice(0, openCount))).toEqual(["b", "e", "f"]);
        expect(found.slice(openCount).every((slot) => slot.spotsOpen === 0)).toBe(true);
        expect(staff(await store.read.inventory.findSlots(query, 3))).toEqual(["b", "e", "f"]);
        expect((await store.read.inventory.findSlots(query, 1))[0].spotsOpen).toBeGreaterThan(0);
        // Given parts of the key narrow the query.
        expect(staff(await store.read.inventory.findSlots({ ...query, durationSec: hour }, 10))).toEqual(["a", "b", "c", "d", "e"]);
        expect(await store.read.inventory.findSlots({ ...query, staffId: "a" }, 10)).toMatchObject([{ staffId: "a", spotsOpen: 0 }]);

        const between = await store.read.inventory.slotsStartingBetween(merchantId, "haircut", futureStartSec, futureStartSec + hour);
        expect(between.map((slot) => slot.startSec)).toEqual([...Array(6).fill(futureStartSec), futureStartSec + hour]);
        expect(between.find((slot) => slot.staffId === "b")).toMatchObject({ spotsOpen: 2, confirmationMode: 0 });
        expect(await store.read.inventory.slotsStartingBetween(merchantId, "haircut", futureStartSec + 1, futureStartSec + hour - 1)).toEqual([]);
      });

      test("when spots are taken one by one, then each take answers true until the slot is full, then false and nothing changes", async () => {
        const slot = await seedSlot(store, { spotsTotal: 3 });
        const opens: number[] = [];
        const takes: boolean[] = [];
        for (let i = 0; i < 5; i++) {
          takes.push(await store.transaction((tx) => tx.inventory.takeSpot(slot.slotId)));
          opens.push(await spotsOpen(store, slot.slotId));
        }
        expect(takes).toEqual([true, true, true, false, false]);
        expect(opens).toEqual([2, 1, 0, 0, 0]);
      });

      test("when the feed sold spots elsewhere, then only the spots still open can be taken", async () => {
        const slot = await seedSlot(store, { spotsTotal: 3, spotsOpen: 1 });
        expect(await store.transaction(async (tx) => [await tx.inventory.takeSpot(slot.slotId), await tx.inventory.takeSpot(slot.slotId)])).toEqual([true, false]);
        expect(await spotsOpen(store, slot.slotId)).toBe(0);
      });

      test("when spots are released, then never below zero: releasing more than was taken frees no spot the slot does not have", async () => {
        const slot = await seedSlot(store, { spotsTotal: 2 });
        await store.transaction((tx) => tx.inventory.releaseSpot(slot.slotId));
        expect(await spotsOpen(store, slot.slotId)).toBe(2);
        await store.transaction(async (tx) => {
          expect(await tx.inventory.takeSpot(slot.slotId)).toBe(true);
          expect(await tx.inventory.takeSpot(slot.slotId)).toBe(true);
          for (let i = 0; i < 4; i++) await tx.inventory.releaseSpot(slot.slotId);
        });
        expect(await spotsOpen(store, slot.slotId)).toBe(2);
        // Nothing counts below zero: exactly the total can be taken again.
        expect(await store.transaction(async (tx) => [
          await tx.inventory.takeSpot(slot.slotId),
          await tx.inventory.takeSpot(slot.slotId),
          await tx.inventory.takeSpot(slot.slotId),
        ])).toEqual([true, true, false]);

        // A release never frees a spot the feed sold elsewhere.
        const soldOut = await seedSlot(store, { spotsTotal: 3, spotsOpen: 1 });
        await store.transaction((tx) => tx.inventory.releaseSpot(soldOut.slotId));
        expect(await spotsOpen(store, soldOut.slotId)).toBe(1);
      });

      /*
       * The "spots_within_total" constraint is the schema's backstop (on SQLite
       * a trigger, migration 9) behind `takeSpot`'s conditional write. The
       * contract has no way to take a spot other than `takeSpot`, so no call
       * through it can reach the constraint: what the suite proves through the
       * contract is the fact itself, that a spot is never held past the total,
       * whatever the contract is asked: takes at full answer false, a feed that
       * lowers the total below what is held stops new takes until enough are
       * given back, spotsOpen never goes below zero, and racing units (below)
       * never take more than the total. That the trigger itself refuses a raw
       * UPDATE is a property of the SQLite schema, for a test that may use SQL.
       */
      test("when a spot would be taken past the slot's total, then the repository refuses it: takeSpot answers false and the slot never holds more than its total", async () => {
        const slot = await seedSlot(store, { spotsTotal: 3 });
        expect(await store.transaction(async (tx) => {
          const takes: boolean[] = [];
          for (let i = 0; i < 5; i++) takes.push(await tx.inventory.takeSpot(slot.slotId));
          return takes;
        })).toEqual([true, true, true, false, false]);
        expect(await store.read.inventory.getSlot(slot.slotId)).toMatchObject({ spotsTotal: 3, spotsOpen: 0 });

        // The feed lowers the total to 1 while this server holds 3: the slot is over its total, and stays closed.
        const feed: SlotFeedRecord = {
          merchantId: slot.merchantId, serviceId: slot.serviceId, startSec: slot.startSec, durationSec: slot.durationSec,
          staffId: "", roomId: "", partySize: 0, availabilityTag: "", spotsTotal: 1, spotsOpen: 1,
          confirmationMode: 0, durationRequirement: 0, feedJson: "{}", bookingPaymentTerms: false,
        };
        expect(await store.transaction((tx) => tx.inventory.upsertSlot(feed))).toBe("updated");
        expect(await store.read.inventory.getSlot(slot.slotId)).toMatchObject({ spotsTotal: 1, spotsOpen: 0 });
        const afterRelease: Array<[boolean, number]> = [];
        for (let i = 0; i < 3; i++) {
          await store.transaction((tx) => tx.inventory.releaseSpot(slot.slotId));
          const took = await store.transaction((tx) => tx.inventory.takeSpot(slot.slotId));
          afterRelease.push([took, await spotsOpen(store, slot.slotId)]);
          if (took) await store.transaction((tx) => tx.inventory.releaseSpot(slot.slotId));
        }
        // Held 2, then 1 (still at the total): refused; held 0: one spot again.
        expect(afterRelease).toEqual([[false, 0], [false, 0], [true, 0]]);
      });
    });

    describe("inventory API writes", () => {
      /** Every slot of the merchant in [fromSec, toSec), as the inventory API reads a window. */
      const windowOf = (merchantId: string, fromSec: number, toSec: number, extra: Partial<SlotWindowQuery> = {}): SlotWindowQuery => ({
        merchantId, serviceId: "", fromSec, toSec, durationSec: 0, staffId: "", roomId: "", partySize: 0, after: undefined, limit: 100, ...extra,
      });

      test("when a window is read, then it has the slots starting in [from, to) by start, with what is sold elsewhere and held by bookings and by leases", async () => {
        const merchantId = uniqueId("merchant");
        await seedSlots(store, [
          { merchantId, serviceId: "haircut", startSec: futureStartSec, staffId: "a", spotsTotal: 3, spotsOpen: 2 },
          { merchantId, serviceId: "color", startSec: futureStartSec, staffId: "b", spotsTotal: 1 },
          { merchantId, serviceId: "haircut", startSec: futureStartSec + hour, staffId: "a", spotsTotal: 2, durationSec: 1800 },
          { merchantId, serviceId: "haircut", startSec: futureStartSec + 2 * hour, staffId: "a", spotsTotal: 2 },
        ]);
        const [first] = await store.read.inventory.slotsInWindow(windowOf(merchantId, futureStartSec, futureStartSec + 1, { serviceId: "haircut" }));
        // Two spots held: one by a booking, one by a lease not booked yet.
        await store.transaction(async (tx) => {
          await tx.inventory.takeSpot(first.slotId);
          await tx.inventory.takeSpot(first.slotId);
          await tx.bookings.insert(bookingOn(first, newUserInfo()), nowSec);
        });

        const all = await store.read.inventory.slotsInWindow(windowOf(merchantId, futureStartSec, futureStartSec + 2 * hour));
        expect(all.map((slot) => [slot.serviceId, slot.startSec - futureStartSec])).toEqual([["haircut", 0], ["color", 0], ["haircut", hour]]);
        expect(all[0]).toMatchObject({ spotsTotal: 3, spotsOpen: 0, spotsSoldElsewhere: 1, spotsHeldByBookings: 1, spotsHeldByLeases: 1 });
        expect(all[1]).toMatchObject({ spotsTotal: 1, spotsOpen: 1, spotsSoldElsewhere: 0, spotsHeldByBookings: 0, spotsHeldByLeases: 0 });
        const read = (extra: Partial<SlotWindowQuery>) => store.read.inventory.slotsInWindow(windowOf(merchantId, futureStartSec, futureStartSec + 3 * hour, extra));
        expect((await read({ durationSec: 1800 })).map((slot) => slot.startSec)).toEqual([futureStartSec + hour]);
        expect((await read({ staffId: "b" })).map((slot) => slot.serviceId)).toEqual(["color"]);
        // Keyset pages: after a (start, slot id) position, at most `limit`.
        const page1 = await read({ limit: 2 });
        const page2 = await read({ limit: 2, after: { startSec: page1[1].startSec, slotId: page1[1].slotId } });
        expect([...page1, ...page2].map((slot) => slot.slotId)).toEqual((await read({})).map((slot) => slot.slotId));
        expect(page2).toHaveLength(2);
        expect(await store.read.inventory.slotsInWindow(windowOf(uniqueId("merchant"), 0, futureStartSec * 2))).toEqual([]);
      });

      test("when spots are taken and given back elsewhere, then each move is all or nothing, never past the open spots nor below what was taken", async () => {
        const slot = await seedSlot(store, { spotsTotal: 5 });
        const move = (work: (tx: Repositories) => Promise<boolean>) => store.transaction(work);
        expect(await move((tx) => tx.inventory.takeSpot(slot.slotId))).toBe(true);
        expect(await move((tx) => tx.inventory.takeSpotsElsewhere(slot.slotId, 3))).toBe(true);
        expect(await spotsOpen(store, slot.slotId)).toBe(1);
        expect(await move((tx) => tx.inventory.takeSpotsElsewhere(slot.slotId, 2))).toBe(false);
        expect(await move((tx) => tx.inventory.giveBackSpotsElsewhere(slot.slotId, 4))).toBe(false);
        expect(await spotsOpen(store, slot.slotId)).toBe(1);
        expect(await move((tx) => tx.inventory.giveBackSpotsElsewhere(slot.slotId, 3))).toBe(true);
        expect(await spotsOpen(store, slot.slotId)).toBe(4);
        // A restated slot (a feed) replaces what was sold elsewhere; the spot held here stays held.
        const feed: SlotFeedRecord = {
          merchantId: slot.merchantId, serviceId: slot.serviceId, startSec: slot.startSec, durationSec: slot.durationSec,
          staffId: "", roomId: "", partySize: 0, availabilityTag: "", spotsTotal: 5, spotsOpen: 2,
          confirmationMode: 0, durationRequirement: 0, feedJson: '{"spots_open":2}', bookingPaymentTerms: false,
        };
        expect(await move(async (tx) => (await tx.inventory.upsertSlot(feed)) === "updated")).toBe(true);
        expect(await spotsOpen(store, slot.slotId)).toBe(1);
        expect(await move((tx) => tx.inventory.giveBackSpotsElsewhere(slot.slotId, 3))).toBe(true);
        expect(await spotsOpen(store, slot.slotId)).toBe(4);
      });

      test("when walk-ins race Google's takes for a slot's spots, then exactly the total is taken", async () => {
        const slot = await seedSlot(store, { spotsTotal: 5 });
        const results = await race(
          store,
          Array.from({ length: racers }, (_, i) => (tx: Repositories) =>
            i % 2 === 0 ? tx.inventory.takeSpot(slot.slotId) : tx.inventory.takeSpotsElsewhere(slot.slotId, 1)),
        );
        expect(fulfilled(results).filter(Boolean)).toHaveLength(5);
        expect(refusals(results).every((constraint) => constraint === "spots_within_total")).toBe(true);
        const [stock] = await store.read.inventory.slotsInWindow(windowOf(slot.merchantId, slot.startSec, slot.startSec + 1));
        expect(stock.spotsOpen).toBe(0);
        expect(stock.spotsSoldElsewhere + stock.spotsHeldByLeases).toBe(5);
      });

      test("when a slot is closed, then no spot is open, a spot given back does not reopen it, and a restatement does", async () => {
        const slot = await seedSlot(store, { spotsTotal: 3 });
        expect(await store.transaction((tx) => tx.inventory.takeSpot(slot.slotId))).toBe(true);
        expect(await store.transaction((tx) => tx.inventory.closeSlot(slot.slotId))).toBe(true);
        expect(await spotsOpen(store, slot.slotId)).toBe(0);
        expect(await store.transaction((tx) => tx.inventory.closeSlot(slot.slotId))).toBe(false);
        await store.transaction((tx) => tx.inventory.releaseSpot(slot.slotId));
        expect(await spotsOpen(store, slot.slotId)).toBe(0);
        expect(await store.transaction((tx) => tx.inventory.takeSpot(slot.slotId))).toBe(false);
        expect(JSON.parse((await store.read.inventory.feedsOf(slot.slotId)).slotFeed)).toMatchObject({ spots_open: 0 });
        const feed: SlotFeedRecord = {
          merchantId: slot.merchantId, serviceId: slot.serviceId, startSec: slot.startSec, durationSec: slot.durationSec,
          staffId: "", roomId: "", partySize: 0, availabilityTag: "", spotsTotal: 3, spotsOpen: 3,
          confirmationMode: 0, durationRequirement: 0, feedJson: "{}", bookingPaymentTerms: false,
        };
        await store.transaction((tx) => tx.inventory.upsertSlot(feed));
        expect(await spotsOpen(store, slot.slotId)).toBe(3);
      });

      test("when slots are removed, then one nothing refers to is deleted, and one a booking or a lease refers to is kept with no spots", async () => {
        const free = await seedSlot(store, { spotsTotal: 2 });
        const booked = await seedSlot(store, { spotsTotal: 2 });
        const leased = await seedSlot(store, { spotsTotal: 2 });
        await store.transaction(async (tx) => {
          await tx.inventory.takeSpot(booked.slotId);
          await tx.bookings.insert(bookingOn(booked, newUserInfo()), nowSec);
          await tx.leases.insert({
            lease: create(LeaseSchema, { leaseId: uniqueId("lease"), slot: slotMessage(leased), userReference: uniqueId("ref"), leaseExpirationTimeSec: 1n }),
            slotId: leased.slotId,
            state: "expired",
          }, nowSec);
        });

        expect(await store.transaction(async (tx) => [
          await tx.inventory.removeSlot(free.slotId),
          await tx.inventory.removeSlot(booked.slotId),
          await tx.inventory.removeSlot(leased.slotId),
        ])).toEqual(["deleted", "kept", "kept"]);
        expect(await store.read.inventory.getSlot(free.slotId)).toBeUndefined();
        expect(await store.read.inventory.getSlot(booked.slotId)).toMatchObject({ spotsTotal: 0, spotsOpen: 0 });
        await store.transaction((tx) => tx.inventory.releaseSpot(booked.slotId));
        expect(await spotsOpen(store, booked.slotId)).toBe(0);
        expect(await store.transaction((tx) => tx.inventory.takeSpot(booked.slotId))).toBe(false);
      });
    });

    describe("units of work", () => {
      test("when a unit throws after writing through every repository, then nothing of it is written", async () => {
        const slot = await seedSlot(store, { spotsTotal: 2 });
        const user = newUserInfo();
        const record = bookingOn(slot, user);
        const lease = create(LeaseSchema, {
          leaseId: uniqueId("lease"),
          slot: slotMessage(slot),
          userReference: uniqueId("ref"),
          leaseExpirationTimeSec: BigInt(nowSec + 600),
        });
        const newMerchant = uniqueId("merchant");
        const unit = store.transaction(async (tx) => {
          expect(await tx.inventory.takeSpot(slot.slotId)).toBe(true);
          await tx.inventory.upsertMerchant({ merchantId: newMerchant, name: "", feedJson: "{}" });
          await tx.bookings.insert(record, nowSec);
          await tx.idempotency.record("token-of-a-failed-unit", record.booking.bookingId, nowSec);
          await tx.leases.insert({ lease, slotId: slot.slotId, state: "held" }, nowSec);
          await tx.users.setMarketingPreference(user.userId, true, nowSec);
          await tx.outbox.enqueue(outboxEntry(record.booking.bookingId), nowSec);
          await tx.payments.start(
            {
              bookingId: record.booking.bookingId, merchantId: slot.merchantId, operation: "deposit",
              idempotencyKey: "key-of-a-failed-unit", amountMicros: 1_000_000n, currency: "USD",
            },
            nowSec,
          );
          // What it wrote, it reads back.
          expect(await tx.bookings.get(record.booking.bookingId)).toBeDefined();
          throw new Error("the unit fails");
        });
        await expect(unit).rejects.toThrow("the unit fails");

        expect(await spotsOpen(store, slot.slotId)).toBe(2);
        expect(await store.read.inventory.hasMerchant(newMerchant)).toBe(false);
        expect(await store.read.bookings.get(record.booking.bookingId)).toBeUndefined();
        expect(await store.read.idempotency.findBookingId("token-of-a-failed-unit")).toBeUndefined();
        expect(await store.read.leases.get(lease.leaseId)).toBeUndefined();
        expect(await store.read.users.getMarketingPreference(user.userId)).toBeUndefined();
        expect(await store.read.outbox.nextDue(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
        expect(await store.read.payments.forBooking(record.booking.bookingId)).toEqual([]);
      });

      test("when one unit of a batch throws, then it alone is rolled back and its neighbours commit", async () => {
        const slot = await seedSlot(store, { spotsTotal: 5 });
        const records = [0, 1, 2].map(() => bookingOn(slot, newUserInfo()));
        const results = await Promise.allSettled(
          records.map((record, index) =>
            store.transaction(
              async (tx) => {
                expect(await tx.inventory.takeSpot(slot.slotId)).toBe(true);
                await tx.bookings.insert(record, nowSec);
                await tx.idempotency.record(`token-${index}`, record.booking.bookingId, nowSec);
                if (index === 1) throw new Error("the middle unit fails");
                return record.booking.bookingId;
              },
              { batch: true },
            ),
          ),
        );
        expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
        expect(await spotsOpen(store, slot.slotId)).toBe(3);
        expect(await store.read.bookings.get(records[0].booking.bookingId)).toBeDefined();
        expect(await store.read.bookings.get(records[1].booking.bookingId)).toBeUndefined();
        expect(await store.read.bookings.get(records[2].booking.bookingId)).toBeDefined();
        expect(await Promise.all([0, 1, 2].map((index) => store.read.idempotency.findBookingId(`token-${index}`)))).toEqual([
          records[0].booking.bookingId,
          undefined,
          records[2].booking.bookingId,
        ]);
      });

      test("when a unit has written and then fails, then a read made while it was under way never sees its writes", async () => {
        const slot = await seedSlot(store, { spotsTotal: 3 });
        const record = bookingOn(slot, newUserInfo());
        const written = deferred();
        const release = deferred();
        const unit = store.transaction(async (tx) => {
          await tx.inventory.takeSpot(slot.slotId);
          await tx.bookings.insert(record, nowSec);
          await tx.idempotency.record("token-uncommitted", record.booking.bookingId, nowSec);
          written.resolve();
          await release.promise;
          throw new Error("rolled back");
        });
        await written.promise;
        const reads = Promise.all([
          store.read.inventory.getSlot(slot.slotId),
          store.read.bookings.get(record.booking.bookingId),
          store.read.idempotency.findBookingId("token-uncommitted"),
          store.read.bookings.findActiveOnSlotForUser(slot.slotId, sameUserKeys(record.booking.userInformation)),
        ]);
        await sleep(20);
        release.resolve();
        await expect(unit).rejects.toThrow("rolled back");
        const [seenSlot, seenBooking, seenToken, seenActive] = await reads;
        expect(seenSlot!.spotsOpen).toBe(3);
        expect(seenBooking).toBeUndefined();
        expect(seenToken).toBeUndefined();
        expect(seenActive).toBeUndefined();
      });

      test("when a unit has written but not committed, then store.read does not see its writes until the unit commits", async () => {
        const slot = await seedSlot(store, { spotsTotal: 3 });
        const record = bookingOn(slot, newUserInfo());
        const written = deferred();
        const release = deferred();
        let released = false;
        const unit = store.transaction(async (tx) => {
          await tx.inventory.takeSpot(slot.slotId);
          await tx.bookings.insert(record, nowSec);
          written.resolve();
          await release.promise;
        });
        await written.promise;
        // A read that answers while the unit is still open must not see its writes
        // (a backend may also make the read wait for the commit: then it may see them).
        const read = Promise.all([store.read.bookings.get(record.booking.bookingId), store.read.inventory.getSlot(slot.slotId)]).then(
          ([booking, seenSlot]) => ({ booking, spotsOpen: seenSlot!.spotsOpen, beforeRelease: !released }),
        );
        await sleep(20);
        released = true;
        release.resolve();
        await unit;
        const seen = await read;
        if (seen.beforeRelease) expect(seen).toEqual({ booking: undefined, spotsOpen: 3, beforeRelease: true });
        // Once the unit's promise has settled, its writes are committed: every read sees them.
        expect(await store.read.bookings.get(record.booking.bookingId)).toBeDefined();
        expect(await spotsOpen(store, slot.slotId)).toBe(2);
      });

      test("when a unit's tx is used after the unit ended, then every call rejects and writes nothing", async () => {
        const slot = await seedSlot(store, { spotsTotal: 2 });
        let leaked!: Repositories;
        await store.transaction(async (tx) => {
          leaked = tx;
        });
        await expect(leaked.inventory.getSlot(slot.slotId)).rejects.toThrow();
        await expect(leaked.inventory.takeSpot(slot.slotId)).rejects.toThrow();
        await expect(leaked.bookings.insert(bookingOn(slot, newUserInfo()), nowSec)).rejects.toThrow();
        await expect(leaked.outbox.enqueue(outboxEntry("leaked"), nowSec)).rejects.toThrow();
        expect(await spotsOpen(store, slot.slotId)).toBe(2);
        expect(await store.read.bookings.listForMerchant(allBookingsOf(slot.merchantId))).toEqual([]);
        expect(await store.read.outbox.nextDue(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
      });

      test("when a unit's tx is used after the unit ended while another unit is under way, then it rejects and writes nothing into the other unit", async () => {
        const slot = await seedSlot(store, { spotsTotal: 2 });
        let leaked!: Repositories;
        await store.transaction(async (tx) => {
          leaked = tx;
        });
        const started = deferred();
        const release = deferred();
        const other = store.transaction(async (tx) => {
          await tx.inventory.getSlot(slot.slotId);
          started.resolve();
          await release.promise;
        });
        await started.promise;
        // A handle that outlived its unit (a callback that fires late) must not write into whichever unit runs next.
        const late = await Promise.allSettled([leaked.inventory.takeSpot(slot.slotId), leaked.outbox.enqueue(outboxEntry("leaked"), nowSec)]);
        release.resolve();
        await other;
        // One look at all of it: what the stale handle answered, and what of it the other unit committed.
        expect({
          answers: late.map((result) => result.status),
          spotsOpen: await spotsOpen(store, slot.slotId),
          outboxEntries: (await store.read.outbox.nextDue(Number.MAX_SAFE_INTEGER, 10)).length,
        }).toEqual({ answers: ["rejected", "rejected"], spotsOpen: 2, outboxEntries: 0 });
      });
    });

    describe("constraints under concurrency", () => {
      test(`when ${racers} units (some batch, some not) race to take a spot of a slot with 3 spots, then exactly 3 take one and book`, async () => {
        const slot = await seedSlot(store, { spotsTotal: 3 });
        const results = await race(
          store,
          Array.from({ length: racers }, () => async (tx: Repositories) => {
            // Read, then write: the unit must not act on a count another unit changes under it.
            const [seen] = await tx.inventory.findSlots(startQuery(slot.merchantId, slot.serviceId, slot.startSec), 1);
            if (seen.spotsOpen === 0) return false;
            if (!(await tx.inventory.takeSpot(slot.slotId))) return false;
            await tx.bookings.insert(bookingOn(slot, newUserInfo()), nowSec);
            return true;
          }),
        );
        expect(refusals(results)).toEqual([]);
        expect(fulfilled(results).filter(Boolean)).toHaveLength(3);
        expect(await store.read.inventory.getSlot(slot.slotId)).toMatchObject({ spotsTotal: 3, spotsOpen: 0 });
        expect(await store.read.bookings.listForMerchant(allBookingsOf(slot.merchantId))).toHaveLength(3);
      });

      test(`when ${racers} units race for the last spot of a slot, then exactly one takes it`, async () => {
        const slot = await seedSlot(store, { spotsTotal: 3 });
        await store.transaction(async (tx) => {
          await tx.inventory.takeSpot(slot.slotId);
          await tx.inventory.takeSpot(slot.slotId);
        });
        const results = await race(
          store,
          Array.from({ length: racers }, () => (tx: Repositories) => tx.inventory.takeSpot(slot.slotId)),
        );
        expect(refusals(results)).toEqual([]);
        expect(fulfilled(results).filter(Boolean)).toHaveLength(1);
        expect(await spotsOpen(store, slot.slotId)).toBe(0);
      });

      test(`when ${racers} units race to book under one idempotency token, then exactly one booking is made and every other unit is refused by one_booking_per_idempotency_token, nothing of it written`, async () => {
        const slot = await seedSlot(store, { spotsTotal: racers + 5 });
        const token = uniqueId("token");
        const records = Array.from({ length: racers }, () => bookingOn(slot, newUserInfo()));
        // As CreateBooking's unit: take the spot, insert the booking, record its token, in one unit
        // (without its lookup of the token first: each unit acts as if that lookup had found nothing).
        const results = await race(
          store,
          records.map((record) => async (tx: Repositories) => {
            expect(await tx.inventory.takeSpot(slot.slotId)).toBe(true);
            await tx.bookings.insert(record, nowSec);
            await tx.idempotency.record(token, record.booking.bookingId, nowSec);
            return record.booking.bookingId;
          }),
        );
        const winners = fulfilled(results);
        expect(winners).toHaveLength(1);
        expect(refusals(results)).toEqual(Array(racers - 1).fill("one_booking_per_idempotency_token"));
        expect(await store.read.idempotency.findBookingId(token)).toBe(winners[0]);
        const booked = await store.read.bookings.listForMerchant(allBookingsOf(slot.merchantId));
        expect(booked.map((record) => record.booking.bookingId)).toEqual(winners);
        expect(await spotsOpen(store, slot.slotId)).toBe(racers + 4);
      });

      test(`when ${racers} read committed units book under one token as CreateBooking does (the token locked first), then one books and every other finds its booking, none refused`, async () => {
        const slot = await seedSlot(store, { spotsTotal: racers + 5 });
        const token = uniqueId("token");
        const results = await Promise.allSettled(
          Array.from({ length: racers }, (_, index) =>
            store.transaction(
              async (tx) => {
                const found = await tx.idempotency.lockToken(token);
                if (found !== undefined) return { found };
                const record = bookingOn(slot, newUserInfo());
                expect(await tx.inventory.takeSpot(slot.slotId)).toBe(true);
                await tx.bookings.insert(record, nowSec);
                await tx.idempotency.record(token, record.booking.bookingId, nowSec);
                return { booked: record.booking.bookingId };
              },
              { batch: index % 3 !== 2, isolation: "read committed" },
            ),
          ),
        );
        expect(refusals(results)).toEqual([]);
        const answers = fulfilled(results);
        const booked = answers.flatMap((answer) => ("booked" in answer ? [answer.booked] : []));
        expect(booked).toHaveLength(1);
        expect(answers.filter((answer) => "found" in answer && answer.found === booked[0])).toHaveLength(racers - 1);
        expect(await spotsOpen(store, slot.slotId)).toBe(racers + 4);
      });

      test(`when ${racers} read committed units race to consume one lease, then exactly one ends its hold`, async () => {
        const slot = await seedSlot(store, { spotsTotal: 1 });
        const lease = create(LeaseSchema, { leaseId: uniqueId("lease"), slot: slotMessage(slot), userReference: uniqueId("ref"), leaseExpirationTimeSec: BigInt(nowSec + 600) });
        await store.transaction((tx) => tx.leases.insert({ lease, slotId: slot.slotId, state: "held" }, nowSec));
        const results = await Promise.allSettled(
          Array.from({ length: racers }, () => store.transaction((tx) => tx.leases.endHold(lease.leaseId, "consumed"), { isolation: "read committed" })),
        );
        expect(refusals(results)).toEqual([]);
        expect(fulfilled(results).filter(Boolean)).toHaveLength(1);
      });

      test(`when ${racers} units move a spot between two slots in opposite directions, each locking both slots first, then every unit commits and the spots add up`, async () => {
        const merchantId = uniqueId("merchant");
        const first = await seedSlot(store, { merchantId, spotsTotal: racers + 5 });
        const second = await seedSlot(store, { merchantId, startSec: futureStartSec + 3600, spotsTotal: racers + 5 });
        await store.transaction(async (tx) => {
          for (let index = 0; index < racers; index++) await tx.inventory.takeSpot(index % 2 ? first.slotId : second.slotId);
        });
        const results = await Promise.allSettled(
          Array.from({ length: racers }, (_, index) => {
            const [from, to] = index % 2 ? [first, second] : [second, first];
            return store.transaction(
              async (tx) => {
                await tx.inventory.lockSlots([to.slotId, from.slotId]);
                expect(await tx.inventory.takeSpot(to.slotId)).toBe(true);
                await tx.inventory.releaseSpot(from.slotId);
              },
              { isolation: "read committed" },
            );
          }),
        );
        expect(refusals(results)).toEqual([]);
        expect((await spotsOpen(store, first.slotId)) + (await spotsOpen(store, second.slotId))).toBe(2 * (racers + 5) - racers);
      });

      const sameUserCases: Array<[string, (index: number) => UserInfo, UserInfo]> = [
        ["the same user id with different emails", (index) => ({ userId: "ada", email: `ada-${index}@example.com` }), { userId: "ada", email: "" }],
        [
          "the same email in different case under different user ids",
          (index) => ({ userId: `user-${index}`, email: index % 2 ? "Ada.Lovelace@Example.COM" : `ada.lovelace@${index % 3 ? "EXAMPLE" : "example"}.com` }),
          { userId: "", email: "ADA.LOVELACE@EXAMPLE.COM" },
        ],
      ];
      test.each(sameUserCases)(
        `when ${racers} units race to insert a holding booking on one slot for %s, then exactly one is inserted and the others are refused by one_holding_booking_per_user_and_slot`,
        async (_case, userOf, lookup) => {
          const slot = await seedSlot(store, { spotsTotal: racers + 5 });
          const results = await race(
            store,
            Array.from({ length: racers }, (_, index) => async (tx: Repositories) => {
              const record = bookingOn(slot, userOf(index));
              expect(await tx.inventory.takeSpot(slot.slotId)).toBe(true);
              await tx.bookings.insert(record, nowSec);
              return record.booking.bookingId;
            }),
          );
          const winners = fulfilled(results);
          expect(winners).toHaveLength(1);
          expect(refusals(results)).toEqual(Array(racers - 1).fill("one_holding_booking_per_user_and_slot"));
          const active = await store.read.bookings.findActiveOnSlotForUser(slot.slotId, sameUserKeys(lookup));
          expect(active?.booking.bookingId).toBe(winners[0]);
          expect(await store.read.bookings.listForMerchant(allBookingsOf(slot.merchantId))).toHaveLength(1);
          expect(await spotsOpen(store, slot.slotId)).toBe(racers + 4);
        },
      );

      test("when a user's booking on a slot does not hold a spot (canceled), then it does not count: the user may hold one, and only one, booking of the slot", async () => {
        const slot = await seedSlot(store, { spotsTotal: 5 });
        const user = newUserInfo();
        const canceled = [1, 2].map(() => bookingOn(slot, user, { status: BookingStatus.CANCELED, holdsSpot: false }));
        await store.transaction(async (tx) => {
          for (const record of canceled) await tx.bookings.insert(record, nowSec);
        });
        expect(await store.read.bookings.findActiveOnSlotForUser(slot.slotId, sameUserKeys(user))).toBeUndefined();

        const holding = bookingOn(slot, user);
        await store.transaction((tx) => tx.bookings.insert(holding, nowSec));
        expect((await store.read.bookings.findActiveOnSlotForUser(slot.slotId, sameUserKeys(user)))?.booking.bookingId).toBe(holding.booking.bookingId);
        const second = store.transaction((tx) => tx.bookings.insert(bookingOn(slot, { ...user, email: "someone.else@example.com" }), nowSec));
        await expect(second).rejects.toBeInstanceOf(ConstraintViolation);
        await expect(second).rejects.toMatchObject({ constraint: "one_holding_booking_per_user_and_slot" });

        // Another slot is another matter.
        const other = await seedSlot(store, { merchantId: slot.merchantId, startSec: slot.startSec + hour });
        await store.transaction((tx) => tx.bookings.insert(bookingOn(other, user), nowSec));
        expect(await store.read.bookings.listForUser(user.userId, 0)).toHaveLength(4);
      });

      test("when a holding booking is updated to hold no spot, then the same user may insert a new one, and the old one cannot hold a spot again beside it", async () => {
        const slot = await seedSlot(store, { spotsTotal: 5 });
        const user = newUserInfo();
        const first = bookingOn(slot, user);
        await store.transaction((tx) => tx.bookings.insert(first, nowSec));
        const canceled: BookingRecord = { ...first, booking: { ...first.booking, status: BookingStatus.CANCELED }, holdsSpot: false };
        await store.transaction((tx) => tx.bookings.update(canceled, nowSec + 1));
        expect(await store.read.bookings.get(first.booking.bookingId)).toMatchObject({ holdsSpot: false, booking: { status: BookingStatus.CANCELED } });

        // The same user again (by email, without case), under another user id.
        const again = bookingOn(slot, { userId: `${user.userId}-again`, email: user.email.toUpperCase() });
        await store.transaction((tx) => tx.bookings.insert(again, nowSec + 2));
        expect((await store.read.bookings.findActiveOnSlotForUser(slot.slotId, sameUserKeys(user)))?.booking.bookingId).toBe(again.booking.bookingId);

        const reinstated = store.transaction((tx) => tx.bookings.update({ ...first, holdsSpot: true }, nowSec + 3));
        await expect(reinstated).rejects.toMatchObject({ constraint: "one_holding_booking_per_user_and_slot" });
        await expect(reinstated).rejects.toBeInstanceOf(ConstraintViolation);
        expect(await store.read.bookings.get(first.booking.bookingId)).toMatchObject({ holdsSpot: false, booking: { status: BookingStatus.CANCELED } });
      });
    });

    describe("bookings", () => {
      test("when Google's cancellation of a booking is claimed, then another claim is refused until the first is released or lapses, and a stale release leaves a newer claim", async () => {
        const slot = await seedSlot(store);
        const record = bookingOn(slot, newUserInfo());
        await store.transaction((tx) => tx.bookings.insert(record, nowSec));
        const id = record.booking.bookingId;
        const claim = (nowMs: number, untilMs: number) => store.transaction((tx) => tx.bookings.claimCancellation(id, nowMs, untilMs));
        const release = (untilMs: number) => store.transaction((tx) => tx.bookings.releaseCancellation(id, untilMs));
        expect(await claim(1_000, 2_000)).toBe(true);
        expect(await claim(1_500, 2_500)).toBe(false);
        await release(2_000);
        expect(await claim(1_600, 2_600)).toBe(true);
        // A claim whose holder died lapses at its end; the holder's late release then leaves the new claim alone.
        expect(await claim(2_600, 3_600)).toBe(true);
        await release(2_600);
        expect(await claim(3_000, 4_000)).toBe(false);
        const racers = await Promise.all(Array.from({ length: 8 }, () => claim(5_000, 6_000)));
        expect(racers.filter(Boolean)).toHaveLength(1);
      });

      test("when a booking is inserted, then get answers it as it was given", async () => {
        const slot = await seedSlot(store);
        const record = { ...bookingOn(slot, newUserInfo(), { decideBySec: nowSec + 600 }), additionalRequest: "window seat" };
        await store.transaction((tx) => tx.bookings.insert(record, nowSec));
        expect(await store.read.bookings.get(record.booking.bookingId)).toEqual(record);
        expect(await store.read.bookings.get(uniqueId("booking"))).toBeUndefined();
        expect(await store.read.bookings.hasUser(record.booking.userInformation!.userId)).toBe(true);
        expect(await store.read.bookings.hasUser(uniqueId("user"))).toBe(false);
      });

      test("when bookings await the merchant's decision, then listDecisionsDue answers those of that status whose decideBySec is at or before now, oldest first", async () => {
        const slot = await seedSlot(store, { spotsTotal: 10 });
        const pending = (createdAtSec: number, decideBySec: number) =>
          bookingOn(slot, newUserInfo(), { status: BookingStatus.PENDING_MERCHANT_CONFIRMATION, createdAtSec, decideBySec });
        const p1 = pending(100, 1000);
        const p2 = pending(200, 2000);
        const p3 = pending(300, 3000);
        const declined = bookingOn(slot, newUserInfo(), { status: BookingStatus.DECLINED_BY_MERCHANT, holdsSpot: false, createdAtSec: 50, decideBySec: 500 });
        await store.transaction(async (tx) => {
          for (const record of [p3, declined, p1, p2]) await tx.bookings.insert(record, nowSec);
        });
        const due = async (atSec: number, limit = 10) =>
          (await store.read.bookings.listDecisionsDue(BookingStatus.PENDING_MERCHANT_CONFIRMATION, atSec, limit)).map((record) => record.booking.bookingId);
        const ids = (...records: BookingRecord[]) => records.map((record) => record.booking.bookingId);
        expect(await due(999)).toEqual([]);
        expect(await due(1000)).toEqual(ids(p1));
        expect(await due(2500)).toEqual(ids(p1, p2));
        expect(await due(3000)).toEqual(ids(p1, p2, p3));
        expect(await due(3000, 2)).toEqual(ids(p1, p2));
        // Decided: no longer due.
        await store.transaction((tx) => tx.bookings.update({ ...p1, booking: { ...p1.booking, status: BookingStatus.CONFIRMED }, decideBySec: 0 }, nowSec));
        expect(await due(3000)).toEqual(ids(p2, p3));
      });

      test("when a merchant's bookings are listed page by page, then keyset paging on (slot start, booking id) answers each once, in order, with the filters applied", async () => {
        const merchantId = uniqueId("merchant");
        const [s0, s1, s2] = [0, 1, 2].map((offset) => futureStartSec + offset * hour);
        await seedSlots(store, [s0, s1, s2].map((startSec) => ({ merchantId, serviceId: "haircut", startSec, spotsTotal: 5 })));
        const slotAt = async (startSec: number) => (await store.read.inventory.findSlots(startQuery(merchantId, "haircut", startSec), 1))[0];
        const [slot0, slot1, slot2] = await Promise.all([s0, s1, s2].map(slotAt));
        const elsewhere = await seedSlot(store, { startSec: s0 });
        const make = (slot: SlotRecord, bookingId: string, status = BookingStatus.CONFIRMED) =>
          bookingOn(slot, newUserInfo(), { bookingId, status, holdsSpot: status === BookingStatus.CONFIRMED });
        await store.transaction(async (tx) => {
          for (const record of [
            make(slot2, "b-d"),
            make(slot0, "b-c"),
            make(slot1, "b-b", BookingStatus.CANCELED),
            make(slot0, "b-a"),
            make(elsewhere, "b-0"),
          ]) await tx.bookings.insert(record, nowSec);
        });
        const list = async (query: Partial<MerchantBookingQuery>) =>
          (await store.read.bookings.listForMerchant({ ...allBookingsOf(merchantId), ...query })).map((record) => record.booking.bookingId);

        expect(await list({})).toEqual(["b-a", "b-c", "b-b", "b-d"]);
        expect(await list({ limit: 2 })).toEqual(["b-a", "b-c"]);
        expect(await list({ limit: 2, after: { startSec: s0, bookingId: "b-c" } })).toEqual(["b-b", "b-d"]);
        expect(await list({ limit: 2, after: { startSec: s0, bookingId: "b-a" } })).toEqual(["b-c", "b-b"]);
        expect(await list({ limit: 2, after: { startSec: s2, bookingId: "b-d" } })).toEqual([]);

        const paged: string[] = [];
        let after: MerchantBookingQuery["after"];
        for (let page = 0; page < 10; page++) {
          const records = await store.read.bookings.listForMerchant({ ...allBookingsOf(merchantId), limit: 1, after });
          if (records.length === 0) break;
          paged.push(records[0].booking.bookingId);
          after = { startSec: Number(records[0].booking.slot!.startSec), bookingId: records[0].booking.bookingId };
        }
        expect(paged).toEqual(["b-a", "b-c", "b-b", "b-d"]);

        expect(await list({ statuses: [BookingStatus.CANCELED] })).toEqual(["b-b"]);
        expect(await list({ statuses: [BookingStatus.CONFIRMED, BookingStatus.CANCELED], limit: 3 })).toEqual(["b-a", "b-c", "b-b"]);
        expect(await list({ startSecFrom: s1 })).toEqual(["b-b", "b-d"]);
        expect(await list({ startSecBefore: s2 })).toEqual(["b-a", "b-c", "b-b"]);
        expect(await list({ startSecFrom: s1, startSecBefore: s2 })).toEqual(["b-b"]);
        expect(await list({ startSecFrom: s1, statuses: [BookingStatus.CONFIRMED] })).toEqual(["b-d"]);
      });
    });

    describe("outbox", () => {
      test("when notifications are queued, then nextDue answers only the oldest pending entry of each queue, and claim, markDelivered, scheduleRetry and markDead move each queue on", async () => {
        const ids = await store.transaction(async (tx) => ({
          a1: await tx.outbox.enqueue(outboxEntry("A", '{"n":1}'), 1000),
          a2: await tx.outbox.enqueue(outboxEntry("A", '{"n":2}'), 1001),
          b1: await tx.outbox.enqueue(outboxEntry("B", '{"n":3}'), 1002),
        }));
        const { a1, a2, b1 } = ids;
        expect(new Set([a1, a2, b1]).size).toBe(3);
        const due = async (nowMs: number, limit = 10) => (await store.read.outbox.nextDue(nowMs, limit)).map((entry) => entry.id);

        expect(await store.read.outbox.get(a1)).toMatchObject({
          ...outboxEntry("A", '{"n":1}'), id: a1, state: "pending", attempts: 0, lastStatus: null, lastError: null, createdAtSec: 1000, deliveredAtSec: null,
        });
        expect(await due(0)).toEqual([a1, b1]);
        expect(await due(0, 1)).toEqual([a1]);
        expect(await store.read.outbox.findUnsentId("A", "booking_patch")).toBe(a2);
        expect(await store.read.outbox.findUnsentId("A", "availability_replace")).toBeUndefined();

        // claim: counted as attempted; nothing merges into it any more, and it is not due while the claim holds it.
        expect(await store.transaction((tx) => tx.outbox.claim(b1, 0, 100))).toMatchObject({ id: b1, attempts: 1, state: "pending", claimedUntilMs: 100 });
        expect(await store.read.outbox.get(b1)).toMatchObject({ attempts: 1, state: "pending", claimedUntilMs: 100 });
        expect(await store.read.outbox.findUnsentId("B", "booking_patch")).toBeUndefined();

        // markDelivered: the queue's next entry is its head.
        await store.transaction(async (tx) => {
          await tx.outbox.claim(a1, 0, 100);
          await tx.outbox.markDelivered(a1, 2000, 200, 100);
        });
        expect(await store.read.outbox.get(a1)).toMatchObject({ state: "delivered", attempts: 1, lastStatus: 200, lastError: null, deliveredAtSec: 2000 });
        expect(await due(0)).toEqual([a2]);
        expect(await due(100)).toEqual([b1, a2].sort((x, y) => x - y));

        // scheduleRetry: the entry waits, and so does the rest of its queue.
        const b2 = await store.transaction(async (tx) => {
          await tx.outbox.scheduleRetry(b1, 5000, 503, "unavailable", 100);
          return tx.outbox.enqueue(outboxEntry("B", '{"n":4}'), 1003);
        });
        expect(await store.read.outbox.get(b1)).toMatchObject({ state: "pending", nextAttemptAtMs: 5000, lastStatus: 503, lastError: "unavailable" });
        expect(await due(4999)).toEqual([a2]);
        expect(await due(5000)).toEqual([a2, b1]);

        // markDead: the queue moves on to its next entry.
        await store.transaction((tx) => tx.outbox.markDead(b1, 400, '{"error":"bad request"}', null));
        expect(await store.read.outbox.get(b1)).toMatchObject({ state: "dead", lastStatus: 400, lastError: '{"error":"bad request"}' });
        expect(await due(0)).toEqual([a2, b2]);
        expect((await store.read.outbox.listDead(10)).map((entry) => entry.id)).toEqual([b1]);
        expect(await store.read.outbox.listDead(10, b1)).toEqual([]);
        expect(await store.read.outbox.depth(1010)).toEqual({ pending: 2, oldestPendingAgeSec: 9, dead: 1 });
      });

      test("when a dead entry is requeued, then it is pending and due at the given time, heading its queue again; requeue answers false for an entry that is not dead", async () => {
        const [dead, next, delivered] = await store.transaction(async (tx) => [
          await tx.outbox.enqueue(outboxEntry("Q"), 1000),
          await tx.outbox.enqueue(outboxEntry("Q"), 1001),
          await tx.outbox.enqueue(outboxEntry("R"), 1002),
        ]);
        await store.transaction(async (tx) => {
          await tx.outbox.claim(dead, 0, 100);
          await tx.outbox.markDead(dead, 404, "not found", 100);
          await tx.outbox.markDelivered(delivered, 1003, 200, null);
        });
        expect((await store.read.outbox.nextDue(0, 10)).map((entry) => entry.id)).toEqual([next]);

        expect(await store.transaction((tx) => tx.outbox.requeue(dead, 7000))).toBe(true);
        expect(await store.read.outbox.get(dead)).toMatchObject({ state: "pending", nextAttemptAtMs: 7000 });
        expect(await store.read.outbox.listDead(10)).toEqual([]);
        // The oldest pending entry of the queue is the requeued one: the later one waits behind it.
        expect(await store.read.outbox.nextDue(6999, 10)).toEqual([]);
        expect((await store.read.outbox.nextDue(7000, 10)).map((entry) => entry.id)).toEqual([dead]);

        expect(await store.transaction((tx) => tx.outbox.requeue(dead, 8000))).toBe(false);
        expect(await store.transaction((tx) => tx.outbox.requeue(delivered, 8000))).toBe(false);
        expect(await store.transaction((tx) => tx.outbox.requeue(next, 8000))).toBe(false);
        expect(await store.read.outbox.get(delivered)).toMatchObject({ state: "delivered" });
      });

      test("when retries are scheduled too far ahead, then clampRetriesAfter brings them forward and answers them as they were", async () => {
        const [near, far, farther] = await store.transaction(async (tx) => [
          await tx.outbox.enqueue(outboxEntry("near"), 1000),
          await tx.outbox.enqueue(outboxEntry("far"), 1000),
          await tx.outbox.enqueue(outboxEntry("farther"), 1000),
        ]);
        await store.transaction(async (tx) => {
          await tx.outbox.scheduleRetry(near, 50_000, null, "timeout", null);
          await tx.outbox.scheduleRetry(far, 9_000_000, 500, "server error", null);
          await tx.outbox.scheduleRetry(farther, 9_000_000_000, 429, "too many", null);
        });
        const clamped = await store.transaction((tx) => tx.outbox.clampRetriesAfter(100_000));
        // As they were before the clamp (in no promised order).
        const byId = [...clamped].sort((x, y) => x.id - y.id);
        expect(byId.map((entry) => [entry.id, entry.nextAttemptAtMs])).toEqual([[far, 9_000_000], [farther, 9_000_000_000]]);
        expect(byId[0]).toMatchObject({ lastStatus: 500, lastError: "server error", state: "pending" });
        expect(await Promise.all([near, far, farther].map(async (id) => (await store.read.outbox.get(id))!.nextAttemptAtMs))).toEqual([50_000, 100_000, 100_000]);
        expect(await store.transaction((tx) => tx.outbox.clampRetriesAfter(100_000))).toEqual([]);
        expect(await store.read.outbox.earliestPendingAtMs()).toBe(50_000);
      });

      test("when availability start times are added to an entry, then startSecsOf answers each once, earliest first", async () => {
        const id = await store.transaction(async (tx) => {
          const entry = await tx.outbox.enqueue({ ...outboxEntry("service-1"), kind: "availability_replace" }, 1000);
          for (const startSec of [300, 100, 200, 100]) await tx.outbox.addStartSec(entry, startSec);
          return entry;
        });
        expect(await store.read.outbox.startSecsOf(id)).toEqual([100, 200, 300]);
        expect(await store.read.outbox.findUnsentId("service-1", "availability_replace")).toBe(id);
        expect(await store.read.outbox.earliestPendingAtMs()).toBe(0);
      });
    });

    describe("outbox claims (every instance drains one outbox)", () => {
      const claimAt = (id: number, nowMs: number, claimedUntilMs = nowMs + 1000) =>
        store.transaction((tx) => tx.outbox.claim(id, nowMs, claimedUntilMs));

      test("when every claim is released (a store no other instance shares, at start), then a claimed entry can be claimed again at once and its attempts stay counted", async () => {
        const id = await store.transaction((tx) => tx.outbox.enqueue(outboxEntry("released"), 1000));
        expect(await claimAt(id, 5000, 3_600_000)).toBeDefined();
        expect(await claimAt(id, 6000)).toBeUndefined();
        expect(await store.transaction((tx) => tx.outbox.releaseClaims())).toBeGreaterThanOrEqual(1);
        expect(await claimAt(id, 6000)).toMatchObject({ id, attempts: 2, claimedUntilMs: 7000 });
        await store.transaction((tx) => tx.outbox.markDelivered(id, 7, 200, 7000));
      });

      test(`when ${racers} units claim one entry at once, some read committed, then exactly one gets it and its attempt is counted once`, async () => {
        const id = await store.transaction((tx) => tx.outbox.enqueue(outboxEntry("raced"), 1000));
        const results = await Promise.allSettled(
          Array.from({ length: racers }, (_, index) =>
            store.transaction((tx) => tx.outbox.claim(id, 5000, 9000), index % 2 === 0 ? { isolation: "read committed" } : {}),
          ),
        );
        expect(refusals(results)).toEqual([]);
        expect(fulfilled(results).filter((entry) => entry !== undefined)).toEqual([expect.objectContaining({ id, attempts: 1, claimedUntilMs: 9000 })]);
        expect(await store.read.outbox.get(id)).toMatchObject({ attempts: 1, claimedUntilMs: 9000 });
      });

      test("when a queue's head is pending or claimed, then its later entry cannot be claimed, and nextDue leaves both out while the claim lives", async () => {
        const [head, later, other] = await store.transaction(async (tx) => [
          await tx.outbox.enqueue(outboxEntry("Q"), 1000),
          await tx.outbox.enqueue(outboxEntry("Q"), 1001),
          await tx.outbox.enqueue(outboxEntry("R"), 1002),
        ]);
        expect(await claimAt(later, 5000)).toBeUndefined();
        expect(await claimAt(head, 5000, 8000)).toMatchObject({ id: head, attempts: 1, claimedUntilMs: 8000 });
        expect(await claimAt(later, 5000)).toBeUndefined();
        expect(await store.read.outbox.get(later)).toMatchObject({ attempts: 0, claimedUntilMs: null });
        expect((await store.read.outbox.nextDue(5000, 10)).map((entry) => entry.id)).toEqual([other]);
        // The poll wakes when the claim would expire.
        await store.transaction((tx) => tx.outbox.markDelivered(other, 1003, 200, null));
        expect(await store.read.outbox.earliestPendingAtMs()).toBe(8000);

        await store.transaction((tx) => tx.outbox.markDelivered(head, 1004, 200, 8000));
        expect(await claimAt(later, 5000)).toMatchObject({ id: later, attempts: 1 });
      });

      test("when an instance answers for a claim that lapsed and was claimed again elsewhere, then its answer records nothing and the new claim keeps the entry", async () => {
        const [head, next] = await store.transaction(async (tx) => [
          await tx.outbox.enqueue(outboxEntry("overran"), 1000),
          await tx.outbox.enqueue(outboxEntry("overran"), 1001),
        ]);
        expect(await claimAt(head, 5000, 8000)).toBeDefined();
        expect(await claimAt(head, 8000, 12_000)).toBeDefined();
        // The first instance's delivery overran its lease: its answers change nothing.
        await store.transaction(async (tx) => {
          await tx.outbox.markDelivered(head, 9, 200, 8000);
          await tx.outbox.scheduleRetry(head, 9000, 503, "unavailable", 8000);
          await tx.outbox.markDead(head, 400, "bad request", 8000);
        });
        expect(await store.read.outbox.get(head)).toMatchObject({ state: "pending", attempts: 2, claimedUntilMs: 12_000, lastStatus: null });
        // So the queue's next entry waits for the instance sending now.
        expect(await claimAt(next, 9000)).toBeUndefined();
        await store.transaction((tx) => tx.outbox.markDelivered(head, 10, 200, 12_000));
        expect(await claimAt(next, 10_000)).toMatchObject({ id: next });
      });

      test("when a claim has expired (its instance was lost), then the entry is due and can be claimed again, its attempts counting both", async () => {
        const id = await store.transaction((tx) => tx.outbox.enqueue(outboxEntry("lost"), 1000));
        expect(await claimAt(id, 5000, 8000)).toBeDefined();
        expect(await claimAt(id, 7999)).toBeUndefined();
        expect(await store.read.outbox.nextDue(7999, 10)).toEqual([]);
        expect((await store.read.outbox.nextDue(8000, 10)).map((entry) => entry.id)).toEqual([id]);
        expect(await claimAt(id, 8000, 12_000)).toMatchObject({ id, attempts: 2, claimedUntilMs: 12_000 });
      });

      test("when an answer is recorded (a retry, delivered, dead), then the claim is cleared, and a retry is claimable only once due", async () => {
        const [retried, delivered, dead] = await store.transaction(async (tx) => [
          await tx.outbox.enqueue(outboxEntry("retried"), 1000),
          await tx.outbox.enqueue(outboxEntry("delivered"), 1000),
          await tx.outbox.enqueue(outboxEntry("dead"), 1000),
        ]);
        for (const id of [retried, delivered, dead]) expect(await claimAt(id, 5000, 60_000)).toBeDefined();
        await store.transaction(async (tx) => {
          await tx.outbox.scheduleRetry(retried, 7000, 503, "unavailable", 60_000);
          await tx.outbox.markDelivered(delivered, 6, 200, 60_000);
          await tx.outbox.markDead(dead, 400, "bad request", 60_000);
        });
        for (const id of [retried, delivered, dead]) expect((await store.read.outbox.get(id))!.claimedUntilMs).toBeNull();
        expect(await store.read.outbox.earliestPendingAtMs()).toBe(7000);
        expect(await claimAt(retried, 6999)).toBeUndefined();
        expect(await claimAt(retried, 7000)).toMatchObject({ id: retried, attempts: 2 });
        expect(await claimAt(delivered, 7000)).toBeUndefined();
        expect(await claimAt(dead, 7000)).toBeUndefined();
      });

      /** An availability entry of a queue of its own with one start time, as CreateBooking queues it. */
      const queueAvailability = (queueKey: string, startSec: number) =>
        store.transaction(async (tx) => {
          const id = await tx.outbox.enqueue({ ...outboxEntry(queueKey), kind: "availability_replace" }, 1000);
          await tx.outbox.addStartSec(id, startSec);
          return id;
        });

      test("when a change merges into an entry while a claim races it, then the claim either waits for or passes over the merge, and never builds its payload without the change", async () => {
        const queueKey = uniqueId("service");
        const id = await queueAvailability(queueKey, 100);
        const merged = deferred();
        const release = deferred();
        const merge = store.transaction(async (tx) => {
          const into = await tx.outbox.findUnsentId(queueKey, "availability_replace");
          await tx.outbox.addStartSec(into!, 200);
          merged.resolve();
          await release.promise;
          return into;
        });
        await merged.promise;
        const claim = store.transaction(async (tx) => {
          const entry = await tx.outbox.claim(id, 5000, 9000);
          return entry && tx.outbox.startSecsOf(entry.id);
        });
        await sleep(20);
        release.resolve();
        expect(await merge).toBe(id);
        // Passed over (a server database: the merge held the row) or waited for the merge's commit (SQLite: one writer).
        const built = (await claim) ?? (await store.transaction(async (tx) => (await tx.outbox.claim(id, 5000, 9000)) && tx.outbox.startSecsOf(id)));
        expect(built).toEqual([100, 200]);
      });

      test("when a claim commits while a read committed unit is about to merge into its entry, then the change goes into a new entry, never into the payload in flight", async () => {
        const queueKey = uniqueId("service");
        const id = await queueAvailability(queueKey, 100);
        const claimed = deferred();
        const release = deferred();
        const claim = store.transaction(async (tx) => {
          const entry = await tx.outbox.claim(id, 5000, 9000);
          claimed.resolve();
          await release.promise;
          return entry && tx.outbox.startSecsOf(id);
        });
        await claimed.promise;
        const merge = store.transaction(
          async (tx) => {
            const into = (await tx.outbox.findUnsentId(queueKey, "availability_replace")) ?? (await tx.outbox.enqueue({ ...outboxEntry(queueKey), kind: "availability_replace" }, 1001));
            await tx.outbox.addStartSec(into, 200);
            return into;
          },
          { isolation: "read committed" },
        );
        // Time for the merge to reach the entry (a server database: to wait on the claim's lock) before the claim commits.
        await sleep(200);
        release.resolve();
        expect(await claim).toEqual([100]);
        const into = await merge;
        expect(into).not.toBe(id);
        expect(await store.read.outbox.startSecsOf(id)).toEqual([100]);
        expect(await store.read.outbox.startSecsOf(into)).toEqual([200]);
        expect(await store.read.outbox.findUnsentId(queueKey, "availability_replace")).toBe(into);
      });
    });

    describe("payment records", () => {
      test("when a payment is started twice with the same idempotency key, then it is recorded once, and complete records the processor's answer", async () => {
        const bookingId = uniqueId("booking");
        const deposit = { bookingId, merchantId: "m", operation: "deposit", idempotencyKey: `${bookingId}/deposit`, amountMicros: 12_500_000n, currency: "USD" };
        await store.transaction((tx) => tx.payments.start(deposit, 100));
        await store.transaction((tx) => tx.payments.start({ ...deposit, amountMicros: 99_000_000n }, 101));
        await store.transaction((tx) =>
          tx.payments.start({ bookingId, merchantId: "m", operation: "store_card", idempotencyKey: `${bookingId}/card`, amountMicros: null, currency: null }, 102),
        );
        await store.transaction((tx) => tx.payments.start({ ...deposit, bookingId: uniqueId("booking"), idempotencyKey: "another" }, 103));
        expect(await store.read.payments.forBooking(bookingId)).toEqual([
          { ...deposit, state: "started", transactionId: null },
          {
            bookingId, merchantId: "m", operation: "store_card", idempotencyKey: `${bookingId}/card`,
            amountMicros: null, currency: null, state: "started", transactionId: null,
          },
        ]);

        await store.transaction((tx) => tx.payments.complete(deposit.idempotencyKey, "ch_1", 200));
        expect((await store.read.payments.forBooking(bookingId))[0]).toEqual({ ...deposit, state: "done", transactionId: "ch_1" });
        expect(await store.read.payments.forBooking(uniqueId("booking"))).toEqual([]);
      });

      test("when parallel units start a payment with the same idempotency key, then every one succeeds and it is recorded once", async () => {
        const bookingId = uniqueId("booking");
        const results = await race(
          store,
          Array.from({ length: 10 }, (_, index) => (tx: Repositories) =>
            tx.payments.start(
              {
                bookingId, merchantId: "m", operation: "prepayment", idempotencyKey: `${bookingId}/prepayment`,
                amountMicros: BigInt(1_000_000 + index), currency: "EUR",
              },
              100,
            ),
          ),
        );
        expect(results.map((result) => result.status)).toEqual(Array(10).fill("fulfilled"));
        expect(await store.read.payments.forBooking(bookingId)).toHaveLength(1);
      });
    });

    describe("leases", () => {
      test("when leases are inserted, then get and findByUserReference answer them, and listExpired and earliestHeldExpirySec only the held ones", async () => {
        const slot = await seedSlot(store, { spotsTotal: 10 });
        expect(await store.read.leases.earliestHeldExpirySec()).toBeUndefined();
        const lease = (expirySec: number): LeaseRecord => ({
          lease: create(LeaseSchema, { leaseId: uniqueId("lease"), slot: slotMessage(slot), userReference: uniqueId("ref"), leaseExpirationTimeSec: BigInt(expirySec) }),
          slotId: slot.slotId,
          state: "held",
        });
        const [l1000, l2000, l1500, l1200] = [1000, 2000, 1500, 1200].map(lease);
        await store.transaction(async (tx) => {
          for (const record of [l1000, l2000, l1500, l1200]) await tx.leases.insert(record, nowSec);
          expect(await tx.leases.endHold(l1200.lease.leaseId, "consumed")).toBe(true);
        });
        // The contract promises which leases, not their order.
        const ids = (records: LeaseRecord[]) => records.map((record) => record.lease.leaseId).sort();

        expect(await store.read.leases.get(l2000.lease.leaseId)).toEqual(l2000);
        expect(await store.read.leases.get(uniqueId("lease"))).toBeUndefined();
        expect(await store.read.leases.findByUserReference(l1500.lease.userReference)).toEqual(l1500);
        expect(await store.read.leases.findByUserReference(uniqueId("ref"))).toBeUndefined();
        expect((await store.read.leases.get(l1200.lease.leaseId))?.state).toBe("consumed");

        expect(await store.read.leases.listExpired(999)).toEqual([]);
        expect(ids(await store.read.leases.listExpired(1500))).toEqual(ids([l1000, l1500]));
        expect(ids(await store.read.leases.listExpired(5000))).toEqual(ids([l1000, l1500, l2000]));
        expect(await store.read.leases.earliestHeldExpirySec()).toBe(1000);

        expect(await store.transaction((tx) => tx.leases.endHold(l1000.lease.leaseId, "expired"))).toBe(true);
        // A lease no longer held stays as it is: its spot is handed on once.
        expect(await store.transaction((tx) => tx.leases.endHold(l1000.lease.leaseId, "consumed"))).toBe(false);
        expect((await store.read.leases.get(l1000.lease.leaseId))?.state).toBe("expired");
        expect(await store.read.leases.earliestHeldExpirySec()).toBe(1500);
        expect(ids(await store.read.leases.listExpired(5000))).toEqual(ids([l1500, l2000]));
        await store.transaction(async (tx) => {
          await tx.leases.endHold(l1500.lease.leaseId, "consumed");
          await tx.leases.endHold(l2000.lease.leaseId, "expired");
        });
        expect(await store.read.leases.earliestHeldExpirySec()).toBeUndefined();
        expect(await store.read.leases.listExpired(5000)).toEqual([]);
      });
    });
  });
}
