import { ConfirmationModeSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { InventoryReads, OutboxEntry, OutboxReads, OutboxRepository, SlotKey, SlotRecord } from "../store/repositories.js";
import { duration, timestamp } from "./v1alpha-json.js";

/**
 * Real-time availability updates (`availability:replace`, spec §4.2) for
 * slots whose open spots changed. They go through the same outbox as booking
 * notifications, one queue per service: a burst of changes to one service
 * merges into the entry not sent yet. The entry only names the service and
 * (in its own table, one row per start time, so merging is one insert) the
 * start times; the availability sent is read from inventory when it is
 * delivered, so Google always gets the latest spots.
 */

interface AvailabilityChange {
  merchantId: string;
  serviceId: string;
}

const kind = "availability_replace";

function queueKey(merchantId: string, serviceId: string): string {
  return `availability/${merchantId}/${serviceId}`;
}

/**
 * Queues (or merges) an availability update for the slot's start time.
 * Call inside the change's unit of work, with its `tx.outbox`: the lookup of
 * the entry not sent yet and the merge into it are then one atomic step.
 */
export async function queueAvailabilityReplace(outbox: OutboxRepository, slot: SlotKey, nowSec: number): Promise<void> {
  await queueAvailabilityReplaces(outbox, slot, [slot.startSec], nowSec);
}

/**
 * Queues (or merges) an availability update of one service for each of
 * `startSecs`, as `queueAvailabilityReplace` does for one (a feed import's
 * many start times: the entry is looked up once).
 */
export async function queueAvailabilityReplaces(
  outbox: OutboxRepository,
  service: Pick<SlotKey, "merchantId" | "serviceId">,
  startSecs: Iterable<number>,
  nowSec: number,
): Promise<void> {
  const key = queueKey(service.merchantId, service.serviceId);
  const change: AvailabilityChange = { merchantId: service.merchantId, serviceId: service.serviceId };
  const entryId =
    (await outbox.findUnsentId(key, kind)) ??
    (await outbox.enqueue({ queueKey: key, kind, updateMask: "", payloadJson: JSON.stringify(change), queryJson: "{}" }, nowSec));
  for (const startSec of startSecs) await outbox.addStartSec(entryId, startSec);
}

/**
 * The availability:replace request for a queued change. Each start time is
 * its own window [start, start + 1 s): Google deletes every slot starting in
 * it and takes the slots sent, i.e. all of this service's slots at that time.
 * `reads`: a unit's `tx` (the notifier builds it in the unit that claims the
 * entry) or `Store.read`.
 */
export async function availabilityReplaceRequest(
  partnerId: string,
  entry: Pick<OutboxEntry, "id" | "payloadJson">,
  reads: { inventory: InventoryReads; outbox: OutboxReads },
): Promise<{ pathAndQuery: string; body: string }> {
  const { inventory } = reads;
  const change = JSON.parse(entry.payloadJson) as AvailabilityChange;
  const extendedServiceAvailability = [];
  // One start time after the other: a unit awaits its repositories in turn.
  for (const startSec of await reads.outbox.startSecsOf(entry.id)) {
    const slots = await inventory.findSlots(
      { merchantId: change.merchantId, serviceId: change.serviceId, startSec, durationSec: 0, staffId: "", roomId: "", partySize: 0 },
      1000,
    );
    extendedServiceAvailability.push({
      merchantId: change.merchantId,
      serviceId: change.serviceId,
      startTimeRestrict: timestamp(startSec),
      endTimeRestrict: timestamp(startSec + 1),
      availability: slots.map(availabilityJson),
    });
  }
  return {
    pathAndQuery: `/v1alpha/inventory/partners/${encodeURIComponent(partnerId)}/availability:replace`,
    body: JSON.stringify({ extendedServiceAvailability }),
  };
}

function availabilityJson(slot: SlotRecord) {
  const resources: Record<string, string> = {};
  if (slot.staffId) resources.staffId = slot.staffId;
  if (slot.roomId) resources.roomId = slot.roomId;
  if (slot.partySize) resources.partySize = String(slot.partySize);
  return {
    startTime: timestamp(slot.startSec),
    duration: duration(slot.durationSec),
    spotsTotal: String(slot.spotsTotal),
    spotsOpen: String(slot.spotsOpen),
    ...(slot.availabilityTag ? { availabilityTag: slot.availabilityTag } : {}),
    ...(Object.keys(resources).length ? { resources } : {}),
    confirmationMode: ConfirmationModeSchema.value[slot.confirmationMode].name,
  };
}
