import { fromBinary } from "@bufbuild/protobuf";
import { BookingSchema, LeaseSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { BookingRecord, LeaseRecord, PaymentRecord, SlotRecord } from "./repositories.js";

/**
 * How both backends' rows become the contract's records: the schemas give
 * every column the same name on SQLite and PostgreSQL, so each record is
 * read from its row in one place. What differs is how a driver answers a
 * type: a flag is 0/1 on SQLite and a boolean on PostgreSQL; a BIGINT of
 * money a number or bigint on SQLite and text on PostgreSQL (read as
 * `::text`, exact beyond 2^53).
 */

/** A flag column: 0/1 (SQLite) or a boolean (PostgreSQL). */
type Flag = number | boolean;

/** A money column: a number or bigint (SQLite) or its text (PostgreSQL); null when there is none. */
type Money = number | bigint | string | null;

export const moneyOf = (value: Money): bigint | null => (value === null ? null : BigInt(value));

export interface SlotRow {
  slot_id: number;
  merchant_id: string;
  service_id: string;
  start_sec: number;
  duration_sec: number;
  staff_id: string;
  room_id: string;
  party_size: number;
  availability_tag: string;
  spots_total: number;
  spots_open: number;
  confirmation_mode: number;
  duration_requirement: number;
  may_take_payment: Flag;
}

export function slotFromRow(row: SlotRow): SlotRecord {
  return {
    slotId: row.slot_id,
    merchantId: row.merchant_id,
    serviceId: row.service_id,
    startSec: row.start_sec,
    durationSec: row.duration_sec,
    staffId: row.staff_id,
    roomId: row.room_id,
    partySize: row.party_size,
    availabilityTag: row.availability_tag,
    spotsTotal: row.spots_total,
    spotsOpen: row.spots_open,
    confirmationMode: row.confirmation_mode,
    durationRequirement: row.duration_requirement,
    mayTakePayment: Boolean(row.may_take_payment),
  };
}

export interface BookingRow {
  booking_proto: Buffer;
  slot_id: number;
  holds_spot: Flag;
  created_at_sec: number;
  additional_request: string;
  decide_by_sec: number;
}

export function bookingFromRow(row: BookingRow): BookingRecord {
  return {
    booking: fromBinary(BookingSchema, row.booking_proto),
    slotId: row.slot_id,
    holdsSpot: Boolean(row.holds_spot),
    createdAtSec: row.created_at_sec,
    additionalRequest: row.additional_request,
    decideBySec: row.decide_by_sec,
  };
}

/** What a lease is read as. */
export const leaseColumns = "lease_proto, slot_id, state";

export interface LeaseRow {
  lease_proto: Buffer;
  slot_id: number;
  state: LeaseRecord["state"];
}

export function leaseFromRow(row: LeaseRow): LeaseRecord {
  return { lease: fromBinary(LeaseSchema, row.lease_proto), slotId: row.slot_id, state: row.state };
}

export interface PaymentRecordRow {
  booking_id: string;
  merchant_id: string;
  operation: string;
  idempotency_key: string;
  state: PaymentRecord["state"];
  transaction_id: string | null;
  amount_micros: Money;
  currency: string | null;
}

export function paymentRecordFromRow(row: PaymentRecordRow): PaymentRecord {
  return {
    bookingId: row.booking_id,
    merchantId: row.merchant_id,
    operation: row.operation,
    idempotencyKey: row.idempotency_key,
    state: row.state,
    transactionId: row.transaction_id,
    amountMicros: moneyOf(row.amount_micros),
    currency: row.currency,
  };
}
