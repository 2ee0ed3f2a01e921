/**
 * A feed import's staging on the PostgreSQL store (`Store.stageFeeds`):
 * records are staged apart from the live inventory, answered as upserts
 * would have been, and written by `apply` at once, with what it queues for
 * Google; a discarded or failed staging leaves the live inventory as it
 * was. And the pages a feed export reads.
 */
import { ConfirmationMode } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import {
  StagingError,
  type AppliedFeedChanges,
  type FeedStaging,
  type SlotFeedRecord,
  type StagedFeedRecord,
} from "../../src/store/repositories.js";
import { usePostgresStore } from "../support/postgres-store-fixture.js";
import { uniqueId } from "../support/rest-helpers.js";
import { futureStartSec, hour } from "../support/test-server.js";

const suite = usePostgresStore();

function feedOf(merchantId: string) {
  const merchant: StagedFeedRecord = { kind: "merchant", record: { merchantId, name: "Salon", feedJson: '{"name":"Salon"}' } };
  const service: StagedFeedRecord = {
    kind: "service",
    record: { merchantId, serviceId: "cut", name: "Cut", priceMicros: 25_000_000n, currencyCode: "EUR", feedJson: '{"price":25}', bookingPaymentTerms: false },
  };
  const slot = (startSec: number, spotsOpen = 2): StagedFeedRecord & { kind: "slot"; record: SlotFeedRecord } => ({
    kind: "slot",
    record: {
      merchantId, serviceId: "cut", startSec, durationSec: hour, staffId: "", roomId: "", partySize: 0, availabilityTag: "",
      spotsTotal: 2, spotsOpen, confirmationMode: ConfirmationMode.SYNCHRONOUS, durationRequirement: 0, feedJson: "{}", bookingPaymentTerms: false,
    },
  });
  return { merchant, service, slot };
}

const slotsOf = (merchantId: string, startSec: number) =>
  suite.store.read.inventory.findSlots({ merchantId, serviceId: "cut", startSec, durationSec: 0, staffId: "", roomId: "", partySize: 0 }, 10);

test("when records are staged, then stage answers what each would change, nothing is live until apply, and apply writes them all", async () => {
  const merchantId = uniqueId("merchant");
  const { merchant, service, slot } = feedOf(merchantId);
  const staging = await suite.store.stageFeeds();
  try {
    // The second record of one slot counts against the first, as a second upsert would.
    expect(await staging.stage([merchant, service, slot(futureStartSec), slot(futureStartSec, 1), slot(futureStartSec, 1)])).toEqual([
      "inserted", "inserted", "inserted", "updated", "unchanged",
    ]);
    expect(await staging.serviceFeeds(merchantId, "cut")).toEqual({ merchantFeed: '{"name":"Salon"}', serviceFeed: '{"price":25}' });
    expect(await suite.store.read.inventory.hasMerchant(merchantId)).toBe(false);

    const { lockHeldMs } = await staging.apply();
    expect(lockHeldMs).toBeGreaterThanOrEqual(0);
  } finally {
    await staging.discard();
  }
  expect(await suite.store.read.inventory.serviceFeeds(merchantId, "cut")).toEqual({ merchantFeed: '{"name":"Salon"}', serviceFeed: '{"price":25}' });
  expect(await slotsOf(merchantId, futureStartSec)).toMatchObject([{ spotsTotal: 2, spotsOpen: 1 }]);

  // A second import of the same feed stages nothing; a changed slot is an update of the live one.
  const again = await suite.store.stageFeeds();
  try {
    expect(await again.stage([merchant, service, slot(futureStartSec, 1), slot(futureStartSec + hour)])).toEqual([
      "unchanged", "unchanged", "unchanged", "inserted",
    ]);
    await again.apply();
  } finally {
    await again.discard();
  }
  expect(await slotsOf(merchantId, futureStartSec + hour)).toMatchObject([{ spotsOpen: 2 }]);
});

test("when a staged record is refused, then stage rejects with a StagingError naming it and nothing of that call is staged; a discarded staging changes nothing live", async () => {
  const merchantId = uniqueId("merchant");
  const { merchant, service, slot } = feedOf(merchantId);
  const staging = await suite.store.stageFeeds();
  try {
    expect(await staging.stage([merchant])).toEqual(["inserted"]);
    const bad = slot(futureStartSec);
    // Not a whole number: the column's type refuses it.
    bad.record.partySize = 1.5;
    const refused = await staging.stage([service, bad]).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StagingError);
    expect(refused).toMatchObject({ index: 1 });
    // The service of the refused call was not staged: staging it again is still an insert.
    expect(await staging.stage([service])).toEqual(["inserted"]);
  } finally {
    await staging.discard();
  }
  expect(await suite.store.read.inventory.hasMerchant(merchantId)).toBe(false);
});

test("when apply is given queueUpdates, then it sees what the import changes, before and after, and what it queues commits with the import, or neither does", async () => {
  const merchantId = uniqueId("merchant");
  const { merchant, service, slot } = feedOf(merchantId);
  const importOnce = async (records: StagedFeedRecord[], queueUpdates: Parameters<FeedStaging["apply"]>[0]) => {
    const staging = await suite.store.stageFeeds();
    try {
      await staging.stage(records);
      await staging.apply(queueUpdates);
    } finally {
      await staging.discard();
    }
  };
  const seen: AppliedFeedChanges[] = [];
  await importOnce([merchant, service, slot(futureStartSec), slot(futureStartSec + hour)], async (changes, outbox) => {
    seen.push(changes);
    await outbox.enqueue({ queueKey: merchantId, kind: "merchant_update", updateMask: "", payloadJson: "{}", queryJson: "{}" }, 1);
  });
  expect(seen).toEqual([
    {
      merchants: [{ merchantId, serviceId: "", beforeFeedJson: null, afterFeedJson: '{"name":"Salon"}' }],
      services: [{ merchantId, serviceId: "cut", beforeFeedJson: null, afterFeedJson: '{"price":25}' }],
      slotStarts: [futureStartSec, futureStartSec + hour].map((startSec) => ({ merchantId, serviceId: "cut", startSec })),
    },
  ]);
  const queued = await suite.store.read.outbox.findUnsentId(merchantId, "merchant_update");
  expect(queued).toBeDefined();

  // A renamed merchant whose queueing fails: neither the import nor anything queued is written.
  const renamed: StagedFeedRecord = { kind: "merchant", record: { merchantId, name: "Salon 2", feedJson: '{"name":"Salon 2"}' } };
  const failed = importOnce([renamed], async (changes, outbox) => {
    expect(changes.merchants).toEqual([{ merchantId, serviceId: "", beforeFeedJson: '{"name":"Salon"}', afterFeedJson: '{"name":"Salon 2"}' }]);
    await outbox.enqueue({ queueKey: merchantId, kind: "merchant_update", updateMask: "", payloadJson: "{}", queryJson: "{}" }, 2);
    throw new Error("queueing failed");
  });
  await expect(failed).rejects.toThrow("queueing failed");
  expect((await suite.store.read.inventory.serviceFeeds(merchantId, "cut"))?.merchantFeed).toBe('{"name":"Salon"}');
  expect(await suite.store.read.outbox.findUnsentId(merchantId, "merchant_update")).toBe(queued);
});

test("when the inventory is read page by page for an export, then every merchant, service and slot comes once, by key, each slot with its spots as they stand", async () => {
  const merchantIds = [uniqueId("merchant-a"), uniqueId("merchant-b")].sort();
  for (const merchantId of merchantIds) {
    const { merchant, service, slot } = feedOf(merchantId);
    const staging = await suite.store.stageFeeds();
    try {
      await staging.stage([merchant, service, slot(futureStartSec, 1)]);
      await staging.apply();
    } finally {
      await staging.discard();
    }
  }
  const { inventory } = suite.store.read;
  const counts = await inventory.inventoryCounts();
  const merchants = [];
  for (let page = await inventory.merchantFeedsAfter("", 1); page.length > 0; page = await inventory.merchantFeedsAfter(page[0].merchantId, 1)) merchants.push(...page);
  expect(merchants).toHaveLength(counts.merchants);
  expect(merchants.filter((record) => merchantIds.includes(record.merchantId))).toEqual(
    merchantIds.map((merchantId) => ({ merchantId, serviceId: "", feedJson: '{"name":"Salon"}' })),
  );
  const services = [];
  for (let page = await inventory.serviceFeedsAfter(undefined, 1); page.length > 0; page = await inventory.serviceFeedsAfter(page[0], 1)) services.push(...page);
  expect(services).toHaveLength(counts.services);
  const slots = [];
  for (let page = await inventory.slotFeedsAfter(0, 1); page.length > 0; page = await inventory.slotFeedsAfter(page[0].slotId, 1)) slots.push(...page);
  expect(slots).toHaveLength(counts.slots);
  const [slotOfA] = await slotsOf(merchantIds[0], futureStartSec);
  await suite.store.transaction((tx) => tx.inventory.takeSpot(slotOfA.slotId));
  expect(await inventory.slotFeedsAfter(slotOfA.slotId - 1, 1)).toEqual([
    {
      slotId: slotOfA.slotId, merchantId: merchantIds[0], serviceId: "cut", startSec: futureStartSec, durationSec: hour,
      staffId: "", roomId: "", partySize: 0, spotsTotal: 2, spotsOpen: 0, feedJson: "{}",
    },
  ]);
});
