import type { DescEnum } from "@bufbuild/protobuf";
import {
  CheckAvailabilityResponse_DurationRequirementSchema,
  ConfirmationModeSchema,
  type ConfirmationMode,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { describeValue, FieldError } from "../feeds/field-error.js";
import { hasBookingPaymentTerms } from "../payments/feed-terms.js";
import { expandRecurrence, type Recurrence, type TimeRange } from "./recurrence-expansion.js";
import type {
  MerchantFeedRecord,
  OfferFeedRecord,
  ServiceFeedRecord,
  SlotFeedRecord,
} from "../store/repositories.js";

/**
 * Validation of single feed records (Google's feed JSON, snake_case names) into
 * the store's feed records. Each function throws a `FieldError` naming the
 * offending field (dotted path inside the record, e.g. `resources.party_size`);
 * the importer adds the file and record index.
 *
 * Conventions follow proto3 JSON: int64 fields may be a JSON number or a
 * decimal string, enums a value name or its number, and `null` means "not set".
 * Fields the server does not use are not checked; they are kept in `feedJson`.
 */

type JsonObject = Record<string, unknown>;

const INT32_MAX = 2_147_483_647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function path(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

function requireRecordObject(value: unknown): JsonObject {
  if (!isObject(value)) throw new FieldError(null, `must be a JSON object, got ${describeValue(value)}`);
  return value;
}

function objectField(record: JsonObject, name: string, prefix = ""): JsonObject | undefined {
  const value = record[name];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new FieldError(path(prefix, name), `must be an object, got ${describeValue(value)}`);
  return value;
}

function optionalString(record: JsonObject, name: string, prefix = ""): string {
  const value = record[name];
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") throw new FieldError(path(prefix, name), `must be a string, got ${describeValue(value)}`);
  return value;
}

function requiredId(record: JsonObject, name: string): string {
  const value = record[name];
  if (value === undefined || value === null || value === "") throw new FieldError(name, "is required");
  if (typeof value !== "string") throw new FieldError(name, `must be a non-empty string, got ${describeValue(value)}`);
  return value;
}

interface IntegerRule {
  min: number;
  max: number;
  /** Completes "must be ...", e.g. "a positive integer". */
  expected: string;
}

const positiveInt64: IntegerRule = { min: 1, max: Number.MAX_SAFE_INTEGER, expected: "a positive integer" };
const nonNegativeInt64: IntegerRule = { min: 0, max: Number.MAX_SAFE_INTEGER, expected: "a non-negative integer" };
const nonNegativeInt32: IntegerRule = { min: 0, max: INT32_MAX, expected: "a non-negative 32-bit integer" };
const positiveInt32: IntegerRule = { min: 1, max: INT32_MAX, expected: "a positive 32-bit integer" };

const DECIMAL = /^-?\d+$/;

/**
 * An integer field given as a JSON number or a decimal string (proto3 JSON
 * writes int64 as a string), within the rule's range and
 * Number.MAX_SAFE_INTEGER. `undefined` when absent or null.
 */
function integerField(record: JsonObject, name: string, rule: IntegerRule, prefix = ""): number | undefined {
  const value = record[name];
  if (value === undefined || value === null) return undefined;
  let parsed: number | undefined;
  if (typeof value === "number") parsed = value;
  else if (typeof value === "string" && DECIMAL.test(value)) parsed = Number(value);
  if (parsed === undefined || !Number.isSafeInteger(parsed) || parsed < rule.min || parsed > rule.max) {
    throw new FieldError(path(prefix, name), `must be ${rule.expected}, got ${describeValue(value)}`);
  }
  return parsed;
}

function requiredInteger(record: JsonObject, name: string, rule: IntegerRule): number {
  const value = integerField(record, name, rule);
  if (value === undefined) throw new FieldError(name, `is required (${rule.expected})`);
  return value;
}

/** A resolver of enum values given by name (e.g. "CONFIRMATION_MODE_ASYNCHRONOUS") or number. */
function enumResolver(schema: DescEnum) {
  const byName = new Map<string, number>(schema.values.map((value) => [value.name, value.number]));
  const numbers = new Set<number>(schema.values.map((value) => value.number));
  const names = schema.values.map((value) => value.name).join(", ");
  return (record: JsonObject, name: string): number => {
    const value = record[name];
    if (value === undefined || value === null) return 0;
    if (typeof value === "string" && byName.has(value)) return byName.get(value)!;
    if (typeof value === "number" && numbers.has(value)) return value;
    throw new FieldError(name, `unknown ${schema.name} value ${describeValue(value)} (expected one of ${names}, or its number)`);
  };
}

const confirmationMode = enumResolver(ConfirmationModeSchema);
const durationRequirement = enumResolver(CheckAvailabilityResponse_DurationRequirementSchema);

/** A merchant feed record: `merchant_id` and `name`. */
export function merchantFromFeed(value: unknown): MerchantFeedRecord {
  const record = requireRecordObject(value);
  return {
    merchantId: requiredId(record, "merchant_id"),
    name: optionalString(record, "name"),
    feedJson: JSON.stringify(record),
  };
}

/**
 * The service's display name: `name`, else `localized_service_name` (a Text:
 * `value`, else the first `localized_value[].value`).
 */
function serviceName(record: JsonObject): string {
  const name = optionalString(record, "name");
  if (name !== "") return name;
  const localized = record.localized_service_name;
  if (localized === undefined || localized === null) return "";
  if (typeof localized === "string") return localized;
  if (!isObject(localized)) {
    throw new FieldError("localized_service_name", `must be an object, got ${describeValue(localized)}`);
  }
  const value = optionalString(localized, "value", "localized_service_name");
  if (value !== "") return value;
  const variants = localized.localized_value;
  if (variants === undefined || variants === null) return "";
  if (!Array.isArray(variants)) {
    throw new FieldError("localized_service_name.localized_value", `must be an array, got ${describeValue(variants)}`);
  }
  for (const [index, variant] of variants.entries()) {
    const prefix = `localized_service_name.localized_value[${index}]`;
    if (!isObject(variant)) throw new FieldError(prefix, `must be an object, got ${describeValue(variant)}`);
    const text = optionalString(variant, "value", prefix);
    if (text !== "") return text;
  }
  return "";
}

/** int64 micros as a bigint: a JSON number (within 2^53) or a decimal string. */
function microsField(record: JsonObject, name: string, prefix: string): bigint {
  const value = record[name];
  const field = path(prefix, name);
  if (value === undefined || value === null) return 0n;
  let micros: bigint | undefined;
  if (typeof value === "number" && Number.isSafeInteger(value)) micros = BigInt(value);
  else if (typeof value === "string" && DECIMAL.test(value)) micros = BigInt(value);
  else if (typeof value === "number" && Number.isInteger(value)) {
    throw new FieldError(field, `is beyond 2^53 as a JSON number and would lose precision; write it as a decimal string, got ${describeValue(value)}`);
  }
  if (micros === undefined || micros < INT64_MIN || micros > INT64_MAX) {
    throw new FieldError(field, `must be an int64 (a JSON number or decimal string), got ${describeValue(value)}`);
  }
  if (micros < 0n) throw new FieldError(field, `must not be negative, got ${describeValue(value)}`);
  return micros;
}

/** A service feed record: ids, name and `price` {`price_micros`, `currency_code`}. */
export function serviceFromFeed(value: unknown): ServiceFeedRecord {
  const record = requireRecordObject(value);
  const merchantId = requiredId(record, "merchant_id");
  const serviceId = requiredId(record, "service_id");
  const name = serviceName(record);
  const price = objectField(record, "price");
  let priceMicros: bigint | null = null;
  let currencyCode: string | null = null;
  if (price) {
    priceMicros = microsField(price, "price_micros", "price");
    currencyCode = optionalString(price, "currency_code", "price");
    if (!/^[A-Z]{3}$/.test(currencyCode)) {
      throw new FieldError(
        "price.currency_code",
        currencyCode === "" ? "is required with a price (ISO 4217 code, e.g. \"EUR\")" : `must be an ISO 4217 code such as "EUR", got ${describeValue(currencyCode)}`,
      );
    }
  }
  return {
    merchantId,
    serviceId,
    name,
    priceMicros,
    currencyCode,
    feedJson: JSON.stringify(record),
    bookingPaymentTerms: hasBookingPaymentTerms("service", record),
  };
}

/** An offer feed record: `offer_id`, `merchant_id`, optional `service_id` (empty = every service). */
export function offerFromFeed(value: unknown): OfferFeedRecord {
  const record = requireRecordObject(value);
  return {
    offerId: requiredId(record, "offer_id"),
    merchantId: requiredId(record, "merchant_id"),
    serviceId: optionalString(record, "service_id"),
    feedJson: JSON.stringify(record),
  };
}

/** What one availability feed record describes: its slots, and whether a recurrence made them. */
export interface FeedAvailability {
  slots: SlotFeedRecord[];
  /** Google's compressed format (`recurrence`, see recurrence-expansion.ts), rather than a slot with its spots. */
  recurring: boolean;
}

/** Whether a repeated field is set (present, not null, not an empty list). */
const isSet = (value: unknown) => value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);

/**
 * An availability feed record: one slot with its spots, or a `recurrence`
 * with its `schedule_exception`s, expanded into the slots it describes (one
 * spot each; see recurrence-expansion.ts). Each expanded slot keeps the
 * record's other fields, and its feed JSON states that one slot (its
 * `start_sec` and spots, no recurrence), as if it had been listed.
 */
export function slotsFromFeed(value: unknown): FeedAvailability {
  const record = requireRecordObject(value);
  const merchantId = requiredId(record, "merchant_id");
  const serviceId = requiredId(record, "service_id");
  const startSec = requiredInteger(record, "start_sec", positiveInt64);
  const durationSec = requiredInteger(record, "duration_sec", positiveInt64);

  const givenTotal = integerField(record, "spots_total", nonNegativeInt64);
  const givenOpen = integerField(record, "spots_open", nonNegativeInt64);
  const recurrence = recurrenceField(record);
  const exceptions = scheduleExceptions(record);
  if (recurrence === undefined && exceptions.length > 0) {
    throw new FieldError("schedule_exception", "is only read with a recurrence: a slot listed with its spots is closed with spots_open 0");
  }
  if (recurrence !== undefined) {
    for (const [name, given] of [["spots_total", givenTotal], ["spots_open", givenOpen]] as const) {
      if (given !== undefined && given !== 1) {
        throw new FieldError(name, `must be 1 or absent with a recurrence (each of its slots has one spot), got ${describeValue(record[name])}; list the slots one by one to give more`);
      }
    }
  }
  if (givenTotal === undefined && givenOpen !== undefined) {
    throw new FieldError("spots_total", "is required when spots_open is given");
  }
  const spotsTotal = givenTotal ?? 1;
  const spotsOpen = givenOpen ?? spotsTotal;
  if (spotsOpen > spotsTotal) {
    throw new FieldError("spots_open", `must be between 0 and spots_total (${spotsTotal}), got ${describeValue(record.spots_open)}`);
  }

  const resources = objectField(record, "resources") ?? {};
  const slot: SlotFeedRecord = {
    merchantId,
    serviceId,
    startSec,
    durationSec,
    staffId: optionalString(resources, "staff_id", "resources"),
    roomId: optionalString(resources, "room_id", "resources"),
    partySize: integerField(resources, "party_size", nonNegativeInt32, "resources") ?? 0,
    availabilityTag: optionalString(record, "availability_tag"),
    spotsTotal,
    spotsOpen,
    confirmationMode: confirmationMode(record, "confirmation_mode") as ConfirmationMode,
    durationRequirement: durationRequirement(record, "duration_requirement"),
    feedJson: JSON.stringify(record),
    bookingPaymentTerms: hasBookingPaymentTerms("availability", record),
  };
  if (recurrence === undefined) return { slots: [slot], recurring: false };

  const { recurrence: _recurrence, schedule_exception: _exceptions, ...listed } = record;
  const slots = expandRecurrence(startSec, durationSec, recurrence, exceptions).map(({ startSec: start, open }) => {
    const spots = { spots_total: 1, spots_open: open ? 1 : 0 };
    return { ...slot, startSec: start, spotsTotal: 1, spotsOpen: spots.spots_open, feedJson: JSON.stringify({ ...listed, start_sec: start, ...spots }) };
  });
  return { slots, recurring: true };
}

/** `recurrence` {`repeat_every_sec`, `repeat_until_sec`}: undefined when absent. */
function recurrenceField(record: JsonObject): Recurrence | undefined {
  const recurrence = objectField(record, "recurrence");
  if (recurrence === undefined) return undefined;
  const repeatEverySec = integerField(recurrence, "repeat_every_sec", positiveInt32, "recurrence");
  const repeatUntilSec = integerField(recurrence, "repeat_until_sec", positiveInt64, "recurrence");
  if (repeatEverySec === undefined) throw new FieldError("recurrence.repeat_every_sec", `is required (${positiveInt32.expected})`);
  if (repeatUntilSec === undefined) throw new FieldError("recurrence.repeat_until_sec", `is required (${positiveInt64.expected})`);
  return { repeatEverySec, repeatUntilSec };
}

/** `schedule_exception[]`, each a `time_range` {`begin_sec`, `end_sec`} with its end after its begin. */
function scheduleExceptions(record: JsonObject): TimeRange[] {
  const given = record.schedule_exception;
  if (!isSet(given)) return [];
  if (!Array.isArray(given)) throw new FieldError("schedule_exception", `must be an array, got ${describeValue(given)}`);
  return given.map((exception, index) => {
    const prefix = `schedule_exception[${index}]`;
    if (!isObject(exception)) throw new FieldError(prefix, `must be an object, got ${describeValue(exception)}`);
    const range = objectField(exception, "time_range", prefix);
    if (range === undefined) throw new FieldError(`${prefix}.time_range`, "is required");
    const at = `${prefix}.time_range`;
    const beginSec = integerField(range, "begin_sec", nonNegativeInt64, at) ?? 0;
    const endSec = integerField(range, "end_sec", nonNegativeInt64, at);
    if (endSec === undefined) throw new FieldError(`${at}.end_sec`, `is required (${nonNegativeInt64.expected})`);
    if (endSec <= beginSec) throw new FieldError(`${at}.end_sec`, `must be after begin_sec (${beginSec}), got ${describeValue(range.end_sec)}`);
    return { beginSec, endSec };
  });
}
