import { create } from "@bufbuild/protobuf";
import {
  ConfirmationMode,
  ResourceIdsSchema,
  SlotSchema,
  type ResourceIds,
  type Slot,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { SlotKey, SlotQuery, SlotRecord } from "../store/repositories.js";
import { nonNegative, required, requiredString, seconds } from "./request-fields.js";

/**
 * The inventory query a bookable Slot stands for. Merchant, service, start and
 * duration must be given; staff, room and party size left empty match any.
 */
export function bookableSlotQuery(slot: Slot | undefined, field: string): SlotQuery {
  const given = required(slot, field);
  return {
    merchantId: requiredString(given.merchantId, `${field}.merchant_id`),
    serviceId: requiredString(given.serviceId, `${field}.service_id`),
    startSec: seconds(given.startSec, `${field}.start_sec`, { positive: true }),
    durationSec: seconds(given.durationSec, `${field}.duration_sec`, { positive: true }),
    ...resourceQuery(given.resources, `${field}.resources`),
  };
}

export function resourceQuery(resources: ResourceIds | undefined, field: string) {
  return {
    staffId: resources?.staffId ?? "",
    roomId: resources?.roomId ?? "",
    partySize: nonNegative(resources?.partySize ?? 0, `${field}.party_size`),
  };
}

/** Whether a slot answers a query: empty strings and zeros in the query match anything. */
export function slotMatches(slot: SlotKey, query: SlotQuery): boolean {
  return (
    slot.merchantId === query.merchantId &&
    slot.serviceId === query.serviceId &&
    slot.startSec === query.startSec &&
    (query.durationSec === 0 || slot.durationSec === query.durationSec) &&
    (query.staffId === "" || slot.staffId === query.staffId) &&
    (query.roomId === "" || slot.roomId === query.roomId) &&
    (query.partySize === 0 || slot.partySize === query.partySize)
  );
}

/** SYNCHRONOUS and UNSPECIFIED both mean "confirmed at once". */
export function isAsynchronous(mode: ConfirmationMode): boolean {
  return mode === ConfirmationMode.ASYNCHRONOUS;
}

/** A slot can be booked when it has a spot open and has not started yet. */
export function isBookable(slot: Pick<SlotRecord, "spotsOpen" | "startSec">, nowSec: number): boolean {
  return slot.spotsOpen > 0 && slot.startSec > nowSec;
}

/** The Slot message for an inventory slot, as answered to Google. */
export function slotMessage(record: SlotRecord): Slot {
  const hasResources = record.staffId !== "" || record.roomId !== "" || record.partySize !== 0;
  return create(SlotSchema, {
    merchantId: record.merchantId,
    serviceId: record.serviceId,
    startSec: BigInt(record.startSec),
    durationSec: BigInt(record.durationSec),
    availabilityTag: record.availabilityTag,
    resources: hasResources
      ? create(ResourceIdsSchema, { staffId: record.staffId, roomId: record.roomId, partySize: record.partySize })
      : undefined,
    confirmationMode: record.confirmationMode,
  });
}
