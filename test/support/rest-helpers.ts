import type { DescMessage } from "@bufbuild/protobuf";
import { authHeader, credentials, futureStartSec, rest, seedSlots, type SlotSeed, type TestServer } from "./test-server";

/** Helpers for tests that talk to Google's REST paths (`/v3/<Method>`) with fetch. */

export type Json = Record<string, any>;
export type RestResponse = Awaited<ReturnType<typeof rest>>;

let counter = 0;
/** An id no other test of this file uses (merchants, users, tokens). */
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

/** Authorization headers Google's credentials check must refuse. */
export const refusedAuthorizations: Array<[string, string | null]> = [
  ["the Authorization header is missing", null],
  ["the password is wrong", basic(credentials.username, "not-the-password")],
  ["the username is wrong", basic("someone-else", credentials.password)],
  ["the scheme is not Basic", `Bearer ${authHeader.slice("Basic ".length)}`],
];

/** A raw request to any path (GET by default), with Google's credentials unless told otherwise. */
export async function request(
  server: TestServer,
  path: string,
  init: { method?: string; auth?: string | null; body?: string } = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const headers: Record<string, string> = {};
  const auth = init.auth === undefined ? authHeader : init.auth;
  if (auth !== null) headers.Authorization = auth;
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${server.baseUrl}${path}`, { method: init.method ?? "GET", headers, body: init.body });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

export interface SlotSpec {
  merchantId: string;
  serviceId: string;
  startSec: number;
  durationSec?: number;
  partySize?: number;
}

/** A Slot as Google sends it: snake_case, int64 as strings. */
export function slotJson(spec: SlotSpec, extra: Json = {}): Json {
  return {
    merchant_id: spec.merchantId,
    service_id: spec.serviceId,
    start_sec: String(spec.startSec),
    duration_sec: String(spec.durationSec ?? 3600),
    ...(spec.partySize ? { resources: { party_size: spec.partySize } } : {}),
    ...extra,
  };
}

export type SlotSeedWithoutKeys = Omit<SlotSeed, "merchantId" | "serviceId"> & { serviceId?: string };

/**
 * Seeds a merchant of its own (service "haircut" unless told) with the given
 * slots; answers the merchant id and each slot as Google would send it.
 */
export async function seedMerchant(server: TestServer, slots: SlotSeedWithoutKeys[]): Promise<{ merchantId: string; slots: Json[] }> {
  const merchantId = uniqueId("merchant");
  const seeds = slots.map((slot) => ({ serviceId: "haircut", ...slot, merchantId }));
  await seedSlots(server.store, seeds);
  return {
    merchantId,
    slots: seeds.map((seed) =>
      slotJson({
        merchantId,
        serviceId: seed.serviceId,
        startSec: seed.startSec,
        durationSec: seed.durationSec ?? 3600,
        partySize: seed.partySize,
      }),
    ),
  };
}

/** Start times relative to the shared future start, one hour apart. */
export function at(hourOffset: number): number {
  return futureStartSec + hourOffset * 3600;
}

export function newUser(): Json {
  const userId = uniqueId("user");
  return {
    user_id: userId,
    given_name: "Ada",
    family_name: "Lovelace",
    telephone: "+15550100",
    email: `${userId}@example.com`,
  };
}

export function bookingRequest(slot: Json, user: Json, token = uniqueId("token"), extra: Json = {}): Json {
  return { slot, user_information: user, idempotency_token: token, ...extra };
}

export async function createBooking(server: TestServer, slot: Json, user = newUser(), token = uniqueId("token"), extra: Json = {}) {
  return rest(server, "CreateBooking", bookingRequest(slot, user, token, extra));
}

/** Books the slot and answers the booking; fails the test unless it is made. */
export async function book(server: TestServer, slot: Json, user = newUser()): Promise<Json> {
  const response = await createBooking(server, slot, user);
  expect(response.status).toBe(200);
  expect(response.body.booking_failure).toBeUndefined();
  return response.body.booking;
}

/** Open spots of a slot as CheckAvailability answers them (absent = 0). */
export async function countAvailable(server: TestServer, slot: Json): Promise<number> {
  const response = await rest(server, "CheckAvailability", { slot });
  expect(response.status).toBe(200);
  return response.body.count_available ?? 0;
}

export async function bookingStatus(server: TestServer, bookingId: string): Promise<string> {
  const response = await rest(server, "GetBookingStatus", { booking_id: bookingId });
  expect(response.status).toBe(200);
  return response.body.booking_status;
}

/** Asserts an HTTP 400 `invalid_argument` whose message starts with the field path. */
export function expectInvalidArgument(response: RestResponse, field: string | RegExp): void {
  expect(response.status).toBe(400);
  expect(response.body).toEqual({ code: "invalid_argument", message: expect.any(String) });
  if (typeof field === "string") expect(response.body.message.startsWith(`${field}: `)).toBe(true);
  else expect(response.body.message).toMatch(field);
}

/** A business failure: HTTP 200 with only `booking_failure` set. */
export function expectBookingFailure(response: RestResponse, cause: string): void {
  expect(response.status).toBe(200);
  expect(Object.keys(response.body)).toEqual(["booking_failure"]);
  expect(response.body.booking_failure.cause).toBe(cause);
}

/**
 * Keys of a JSON answer that are not proto field names (snake_case) of the
 * message at that place; empty when the answer holds nothing outside the proto.
 */
export function keysOutsideProto(desc: DescMessage, json: unknown, path = ""): string[] {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return [`${path || "(root)"} is not an object`];
  const outside: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    const at = path ? `${path}.${key}` : key;
    const field = desc.fields.find((candidate) => candidate.name === key);
    if (!field) outside.push(at);
    else if (field.fieldKind === "message") outside.push(...keysOutsideProto(field.message, value, at));
    else if (field.fieldKind === "list" && field.listKind === "message") {
      (value as unknown[]).forEach((item, i) => outside.push(...keysOutsideProto(field.message, item, `${at}[${i}]`)));
    }
  }
  return outside;
}
