import { ConfirmationModeSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { AvailabilitySlot } from "../../gen/es/partner/inventory/v1/inventory_service_pb.js";
import { InvalidArgumentError } from "../booking/errors.js";
import { resourceQuery } from "../booking/slots.js";
import { seconds } from "../booking/request-fields.js";
import { hasBookingPaymentTerms } from "../payments/feed-terms.js";
import type { SlotFeedRecord, SlotKey } from "../store/repositories.js";

/**
 * A slot as the merchant states it through the inventory API
 * (`AvailabilitySlot`), turned into the record an availability feed gives
 * the store, with the same meaning of every field: `spots_open` is what the
 * merchant's other channels have not taken (the spots this server holds are
 * counted apart), an absent `spots_total` is 1 and an absent `spots_open` is
 * every spot. Its feed JSON is the availability feed record it stands for
 * (proto field names), so the slot reads back as if it had been imported.
 */
export function statedSlot(merchantId: string, serviceId: string, slot: AvailabilitySlot, field: string): SlotFeedRecord {
  const startSec = seconds(slot.startSec, `${field}.start_sec`, { positive: true });
  const durationSec = seconds(slot.durationSec, `${field}.duration_sec`, { positive: true });
  const { staffId, roomId, partySize } = resourceQuery(slot.resources, `${field}.resources`);
  const spotsTotal = slot.spotsTotal === undefined ? 1 : spotCount(slot.spotsTotal, `${field}.spots_total`);
  const spotsOpen = slot.spotsOpen === undefined ? spotsTotal : spotCount(slot.spotsOpen, `${field}.spots_open`);
  if (spotsOpen > spotsTotal) {
    throw new InvalidArgumentError(`${field}.spots_open`, `must be between 0 and spots_total (${spotsTotal}), got ${spotsOpen}`);
  }
  const mode = ConfirmationModeSchema.values.find((value) => value.number === slot.confirmationMode);
  if (!mode) throw new InvalidArgumentError(`${field}.confirmation_mode`, `not a ConfirmationMode: ${slot.confirmationMode}`);

  const resources = { ...(staffId && { staff_id: staffId }), ...(roomId && { room_id: roomId }), ...(partySize && { party_size: partySize }) };
  const feedRecord = {
    merchant_id: merchantId,
    service_id: serviceId,
    start_sec: startSec,
    duration_sec: durationSec,
    spots_total: spotsTotal,
    spots_open: spotsOpen,
    ...(slot.availabilityTag && { availability_tag: slot.availabilityTag }),
    ...(Object.keys(resources).length > 0 && { resources }),
    ...(mode.number !== 0 && { confirmation_mode: mode.name }),
  };
  return {
    merchantId,
    serviceId,
    startSec,
    durationSec,
    staffId,
    roomId,
    partySize,
    availabilityTag: slot.availabilityTag,
    spotsTotal,
    spotsOpen,
    confirmationMode: mode.number,
    durationRequirement: 0,
    feedJson: JSON.stringify(feedRecord),
    bookingPaymentTerms: hasBookingPaymentTerms("availability", feedRecord),
  };
}

/** A count of spots given as an int64: 0 or more. */
function spotCount(value: bigint, field: string): number {
  if (value < 0n) throw new InvalidArgumentError(field, `must not be negative, got ${value}`);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(field, `must be at most ${Number.MAX_SAFE_INTEGER}, got ${value}`);
  return Number(value);
}

/** What identifies a slot of a service (start, duration, resources), as one string. */
export function slotIdentity(slot: Omit<SlotKey, "merchantId" | "serviceId">): string {
  return JSON.stringify([slot.startSec, slot.durationSec, slot.staffId, slot.roomId, slot.partySize]);
}
