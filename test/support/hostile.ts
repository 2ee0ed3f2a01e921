import { fromBinary, fromJson, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import fc from "fast-check";
import { request as httpRequest } from "node:http";
import { connect as http2Connect, type ClientHttp2Session } from "node:http2";
import { BookingService } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { authHeader, futureStartSec, seedSlots, type TestServer } from "./test-server.js";

/**
 * Helpers for the hostile-input property tests (test/hostile): raw HTTP/1.1
 * and HTTP/2 requests that can carry any bytes, a read-only snapshot of the
 * database, valid requests to mutate, hostile values, and the invariants every
 * answer must keep.
 */

export const methods: DescMethod[] = [...BookingService.methods];
export const servicePath = (method: DescMethod) => `/${BookingService.typeName}/${method.name}`;

/** fast-check run bounds: small enough that the whole directory stays well under a minute. */
/** `make test-long` multiplies every property's runs (HOSTILE_RUNS_FACTOR) and lifts the time limit. */
const runsFactor = Number(process.env.HOSTILE_RUNS_FACTOR ?? 1);
export const runs = (numRuns: number): fc.Parameters<unknown> =>
  runsFactor > 1 ? { numRuns: numRuns * runsFactor } : { numRuns, interruptAfterTimeLimit: 20_000 };

// ---------------------------------------------------------------- raw requests

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * One HTTP/1.1 request on a fresh connection with exactly these bytes. If the
 * server answers before it has read the whole body (413) and then resets the
 * connection, the answer it sent is still returned.
 */
export function http1(
  server: TestServer,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let answer: RawAnswer | undefined;
    const chunks: Buffer[] = [];
    const req = httpRequest(
      { host: "127.0.0.1", port: server.port, path, method: init.method ?? "POST", headers: init.headers, agent: false },
      (res) => {
        answer = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0) };
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ ...answer!, headers: { ...res.headers, ...res.trailers }, body: Buffer.concat(chunks) }));
        res.on("error", () => resolve({ ...answer!, body: Buffer.concat(chunks) }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer within 10 s: ${init.method ?? "POST"} ${path}`)));
    req.on("error", (error) => (answer ? resolve({ ...answer, body: Buffer.concat(chunks) }) : reject(error)));
    req.end(init.body);
  });
}

export function restHeaders(contentType: string | null = "application/json"): Record<string, string> {
  const headers: Record<string, string> = { Authorization: authHeader };
  if (contentType !== null) headers["Content-Type"] = contentType;
  return headers;
}

export interface GrpcAnswer {
  httpStatus: number;
  grpcStatus: number | undefined;
  grpcMessage: string;
  body: Buffer;
}

/** One gRPC call over an HTTP/2 session with a raw body (frame it with `grpcFrame`). */
export function grpcRaw(session: ClientHttp2Session, path: string, body: Buffer, extraHeaders: Record<string, string> = {}): Promise<GrpcAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      authorization: authHeader,
      ...extraHeaders,
    });
    let httpStatus = 0;
    let grpcStatus: number | undefined;
    let grpcMessage = "";
    const chunks: Buffer[] = [];
    const statusFrom = (headers: Record<string, unknown>) => {
      if (headers["grpc-status"] !== undefined) grpcStatus = Number(headers["grpc-status"]);
      if (headers["grpc-message"] !== undefined) grpcMessage = decodeURIComponent(String(headers["grpc-message"]));
    };
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error(`no gRPC answer within 10 s: ${path}`));
    }, 10_000);
    stream.on("response", (headers) => {
      httpStatus = Number(headers[":status"]);
      statusFrom(headers);
    });
    stream.on("trailers", statusFrom);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      clearTimeout(timer);
      resolve({ httpStatus, grpcStatus, grpcMessage, body: Buffer.concat(chunks) });
    });
    stream.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    stream.end(body);
  });
}

/** The 5-byte gRPC message header (compressed flag, big-endian length) followed by the message. */
export function grpcFrame(message: Buffer, compressed = false, declaredLength = message.length): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(compressed ? 1 : 0, 0);
  header.writeUInt32BE(declaredLength >>> 0, 1);
  return Buffer.concat([header, message]);
}

/** One plain HTTP/2 request (e.g. a REST path over h2c) with a raw body. */
export function http2Request(session: ClientHttp2Session, path: string, headers: Record<string, string>, body: Buffer | string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": path, ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) });
    let status = 0;
    let responseHeaders: RawAnswer["headers"] = {};
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error(`no HTTP/2 answer within 10 s: ${path}`));
    }, 10_000);
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      responseHeaders = h as RawAnswer["headers"];
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      clearTimeout(timer);
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks) });
    });
    stream.on("error", (error) => {
      clearTimeout(timer);
      if (status) resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks) });
      else reject(error);
    });
    stream.end(body);
  });
}

export function http2Session(server: TestServer): ClientHttp2Session {
  const session = http2Connect(server.baseUrl);
  session.on("error", () => {});
  return session;
}

// ---------------------------------------------------------------- state

export type Snapshot = Record<string, number | string | null>;

/** Counts that an error answer must never change (the database opened read-only). */
export function openSnapshotter(dbPath: string): { snapshot(): Snapshot; close(): void } {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  const query = db.prepare(`SELECT
      (SELECT count(*) FROM bookings) AS bookings,
      (SELECT group_concat(status || ':' || n) FROM (SELECT status, count(*) AS n FROM bookings GROUP BY status ORDER BY status)) AS booking_statuses,
      (SELECT count(*) FROM leases) AS leases,
      (SELECT count(*) FROM idempotency_records) AS idempotency_records,
      (SELECT count(*) FROM users) AS users,
      (SELECT group_concat(user_id || ':' || coalesce(receive_marketing, 'null'))
         FROM (SELECT user_id, receive_marketing FROM users ORDER BY user_id)) AS marketing,
      (SELECT coalesce(sum(spots_held), 0) FROM slots) AS spots_held,
      (SELECT count(*) FROM notification_outbox) AS outbox`);
  return { snapshot: () => query.get() as Snapshot, close: () => db.close() };
}

// ---------------------------------------------------------------- seeded world

export interface HostileWorld {
  merchantId: string;
  serviceId: string;
  startSec: number;
  /** A valid request per method, snake_case with int64 strings (as Google sends). */
  valid: Record<string, Record<string, any>>;
}

let worldCounter = 0;

/** Seeds a merchant with plenty of spots and answers one valid request per method. */
export async function seedWorld(server: TestServer): Promise<HostileWorld> {
  worldCounter += 1;
  const merchantId = `hostile-merchant-${worldCounter}`;
  const serviceId = "haircut";
  const startSec = futureStartSec + 5 * 3600;
  await seedSlots(server.store, [
    { merchantId, serviceId, startSec, spotsTotal: 1_000_000 },
    { merchantId, serviceId, startSec: startSec + 3600, spotsTotal: 1_000_000, partySize: 2 },
  ]);
  const slot = { merchant_id: merchantId, service_id: serviceId, start_sec: String(startSec), duration_sec: "3600" };
  const user = { user_id: "hostile-user", given_name: "Ada", family_name: "Lovelace", telephone: "+15550100", email: "ada@example.com" };
  return {
    merchantId,
    serviceId,
    startSec,
    valid: {
      HealthCheck: {},
      BatchAvailabilityLookup: {
        merchant_id: merchantId,
        slot_time: [
          { service_id: serviceId, start_sec: String(startSec), duration_sec: "3600" },
          { service_id: serviceId, start_sec: String(startSec + 3600), duration_sec: "3600", resource_ids: { party_size: 2 } },
        ],
      },
      CheckAvailability: { slot },
      CreateLease: { lease: { user_reference: "hostile-lease", slot } },
      CreateBooking: {
        slot: { ...slot, resources: { party_size: 0 } },
        user_information: user,
        idempotency_token: "hostile-token",
        payment_information: { prepayment_status: "PREPAYMENT_NOT_PROVIDED" },
        lease_ref: { lease_id: "no-such-lease" },
      },
      UpdateBooking: { booking: { booking_id: "no-such-booking", status: "CANCELED", slot: { start_sec: String(startSec) } } },
      GetBookingStatus: { booking_id: "no-such-booking" },
      ListBookings: { user_id: "hostile-user" },
      SetMarketingPreference: { user_information: { user_id: "hostile-user" }, user_to_receive_marketing: true },
    },
  };
}

// ---------------------------------------------------------------- hostile values

const bigNumbers: JsonValue[] = [
  "99999999999999999999",
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775808",
  "-9223372036854775809",
  "18446744073709551616",
  "1e400",
  "-1e400",
  "1e3",
  "-1",
  "0",
  "-0",
  "1.5",
  "NaN",
  "Infinity",
  "-Infinity",
  "0x10",
  " 12",
  "12 ",
  "",
  "١٢",
  -1,
  -5,
  0,
  1.5,
  -0.000001,
  2147483647,
  2147483648,
  -2147483648,
  4294967296,
  9007199254740993, // 2^53+1 (rounds in JS)
  Number.MAX_SAFE_INTEGER,
  1e21,
  1e308,
  -1e308,
  32503680000, // year 3000
  "32503680000",
  "9007199254740993",
];

/** int64/int32-ish values that are hostile: overflowing, negative, fractional, not numbers at all. */
export const hostileNumber: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom(...bigNumbers),
  fc.integer().map((n) => n as JsonValue),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => n as JsonValue),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => n.toString()),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => Number(n)),
);

/** Any JSON value (fast-check's), plus the hostile numbers and enum-looking strings. */
export const hostileValue: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 3, arbitrary: hostileNumber },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonValue> },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme" }) },
  { weight: 1, arbitrary: fc.constantFrom<JsonValue>(null, true, false, [], {}, "CANCELED", "CONFIRMED", "SLOT_UNAVAILABLE", "status", "UNKNOWN_ENUM_NAME") },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z_]{1,30}$/) },
);

/** Every key path in a JSON object (arrays indexed), e.g. ["slot", "start_sec"]. */
export function pathsOf(json: JsonValue, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof json !== "object" || json === null) return [];
  const entries: Array<[string | number, JsonValue]> = Array.isArray(json) ? json.map((v, i) => [i, v]) : Object.entries(json);
  return entries.flatMap(([key, value]) => [[...prefix, key], ...pathsOf(value, [...prefix, key])]);
}

export type Mutation =
  | { kind: "drop"; path: Array<string | number> }
  | { kind: "set"; path: Array<string | number>; value: JsonValue }
  | { kind: "camel" };

export function applyMutation(json: JsonValue, mutation: Mutation): JsonValue {
  const copy = structuredClone(json) as any;
  if (mutation.kind === "camel") return camelCase(copy);
  const path = mutation.path;
  if (path.length === 0) return mutation.kind === "set" ? mutation.value : copy;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key];
  const last = path[path.length - 1];
  if (mutation.kind === "drop") {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else parent[last] = mutation.value;
  return copy;
}

function camelCase(json: any): any {
  if (Array.isArray(json)) return json.map(camelCase);
  if (typeof json !== "object" || json === null) return json;
  return Object.fromEntries(Object.entries(json).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), camelCase(v)]));
}

/** A few mutations (drop a field, set any field to a hostile value, camelCase) of a valid request. */
export function mutatedRequest(valid: Record<string, any>): fc.Arbitrary<JsonValue> {
  const paths = pathsOf(valid);
  const mutation: fc.Arbitrary<Mutation> =
    paths.length === 0
      ? fc.record({ kind: fc.constant("set" as const), path: fc.constant(["extra"]), value: hostileValue })
      : fc.oneof(
          { weight: 2, arbitrary: fc.record({ kind: fc.constant("drop" as const), path: fc.constantFrom(...paths) }) },
          { weight: 5, arbitrary: fc.record({ kind: fc.constant("set" as const), path: fc.constantFrom(...paths), value: hostileValue }) },
          { weight: 1, arbitrary: fc.constant({ kind: "camel" as const }) },
        );
  return fc.array(mutation, { minLength: 1, maxLength: 3 }).map((mutations) => {
    let json: JsonValue = valid;
    for (const m of mutations) {
      // A path may vanish after an earlier drop or set: skip it.
      try {
        json = applyMutation(json, m);
      } catch {
        /* path gone */
      }
    }
    return json;
  });
}

/** Nesting `depth` levels of arrays or objects, as text (JSON.stringify would recurse). */
export function deeplyNested(depth: number, kind: "array" | "object", inside = "slot"): string {
  if (kind === "array") return `{"${inside}":${"[".repeat(depth)}${"]".repeat(depth)}}`;
  return `{"${inside}":${'{"slot":'.repeat(depth)}{}${"}".repeat(depth)}}`;
}

// ---------------------------------------------------------------- request limits

/** One limited field of a valid request (src/booking/request-limits.ts), to fill just past or exactly at its limit. */
export interface LimitCase {
  method: DescMethod;
  /** The field's proto path, as the error names it, e.g. `user_information.given_name`. */
  field: string;
  /** The longest accepted string, in characters, or the most accepted entries. */
  max: number;
  /** The method's valid request with `value` (a string, or the entries of a repeated field) at the field. */
  request(value: JsonValue): JsonValue;
}

/** One field of every limited class: ids and tokens, names, email, phone, free text, the payment token. */
export function stringLimitCases(world: HostileWorld): LimitCase[] {
  const cases: Array<[string, Array<string | number>, number]> = [
    ["CreateBooking", ["idempotency_token"], 255],
    ["CreateBooking", ["slot", "merchant_id"], 255],
    ["CreateBooking", ["slot", "resources", "staff_id"], 255],
    ["CreateBooking", ["lease_ref", "lease_id"], 255],
    ["CreateBooking", ["offer_id"], 255],
    ["BatchAvailabilityLookup", ["slot_time", 1, "service_id"], 255],
    ["CheckAvailability", ["slot", "availability_tag"], 255],
    ["CreateLease", ["lease", "user_reference"], 255],
    ["GetBookingStatus", ["booking_id"], 255],
    ["ListBookings", ["user_id"], 255],
    ["UpdateBooking", ["booking", "booking_id"], 255],
    ["CreateBooking", ["user_information", "given_name"], 256],
    ["SetMarketingPreference", ["user_information", "family_name"], 256],
    ["CreateBooking", ["user_information", "email"], 320],
    ["CreateBooking", ["user_information", "telephone"], 64],
    ["CreateBooking", ["additional_request"], 4096],
    ["CreateBooking", ["user_information", "address", "street_address"], 4096],
    ["CreateBooking", ["payment_processing_parameters", "unparsed_payment_method_token"], 16 * 1024],
  ];
  return cases.map(([name, path, max]) => limitCase(world, name, path, max));
}

/** The repeated and map fields with a count limit. */
export function countLimitCases(world: HostileWorld): LimitCase[] {
  return [
    limitCase(world, "BatchAvailabilityLookup", ["slot_time"], 5000),
    limitCase(world, "CreateBooking", ["payment_processing_parameters", "tokenization_config", "tokenization_parameter"], 100),
  ];
}

function limitCase(world: HostileWorld, methodName: string, path: Array<string | number>, max: number): LimitCase {
  const method = methods.find((m) => m.name === methodName)!;
  const field = path.map((key) => (typeof key === "number" ? `[${key}]` : `.${key}`)).join("").slice(1);
  return { method, field, max, request: (value) => validWith(world, methodName, path, value) };
}

/** A copy of `json` with `value` at `path`, making the objects on the way that are not there. */
function withValueAt(json: JsonValue, path: Array<string | number>, value: JsonValue): JsonValue {
  const copy = structuredClone(json) as any;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] ??= {};
  parent[path[path.length - 1]] = value;
  return copy;
}

/** `count` entries for a repeated or map field: slot times like the valid request's, or tokenization parameters. */
export function entries(world: HostileWorld, limit: LimitCase, count: number): JsonValue {
  if (limit.method.name === "BatchAvailabilityLookup") {
    const slotTime = world.valid.BatchAvailabilityLookup.slot_time[0];
    return Array.from({ length: count }, () => slotTime);
  }
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`parameter-${i}`, "value"]));
}

/** The message an over-long string is refused with. */
export const tooLong = (limit: LimitCase, characters: number) => `${limit.field}: is ${characters} characters, at most ${limit.max}`;

/** Integers as strings that are not decimal numbers (which BigInt() and Number() read), refused for every integer field. */
export const nonDecimalIntegers = ["0x6b5328a0", " 0o5214 ", "0b1010", "0X10", " 12", "12 ", "\t12", "+12", "1_000", "12n", "Infinity"];

/** Decimal, but not integers as written: refused for 64-bit fields (protobuf-es reads their strings with BigInt()). */
export const nonIntegerStrings = ["1e3", "1E3", "1.0"];

/** Integer fields of valid requests, one per kind of integer: [method, path, proto path as errors name it, 64-bit]. */
export const integerFields: Array<[string, Array<string | number>, string, boolean]> = [
  ["CreateBooking", ["slot", "start_sec"], "slot.start_sec", true],
  ["BatchAvailabilityLookup", ["slot_time", 1, "duration_sec"], "slot_time[1].duration_sec", true],
  ["CheckAvailability", ["slot", "resources", "party_size"], "slot.resources.party_size", false],
];

/** The valid request of `methodName` with `value` at `path`. */
export function validWith(world: HostileWorld, methodName: string, path: Array<string | number>, value: JsonValue): JsonValue {
  return withValueAt(world.valid[methodName], path, value);
}

// ---------------------------------------------------------------- invariants

/** The parsed JSON of a body, or a description of why it is not JSON. */
export function parseJson(body: Buffer): { ok: true; value: any } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(body.toString("utf8")) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/**
 * A REST or Connect answer is acceptable: a 4xx whose body is a JSON error with
 * a code other than internal/unknown, or a 200 whose body decodes as the
 * method's response. Answers why not, or undefined.
 */
export function jsonAnswerProblem(method: DescMethod | undefined, answer: RawAnswer): string | undefined {
  // A content type of application/grpc+json (or grpc-web) over HTTP/1.1 is answered as gRPC.
  if (method && /^application\/grpc/.test(String(answer.headers["content-type"] ?? ""))) return grpcWebAnswerProblem(answer).problem;
  // Connect answers an unsupported content type with a bare 415 (its protocol says so).
  if (answer.status === 415 && answer.body.length === 0) return undefined;
  const parsed = parseJson(answer.body);
  if (answer.status >= 400 && answer.status < 500) {
    if (!parsed.ok) return `4xx body is not JSON: ${answer.body.subarray(0, 200).toString()}`;
    const { code, message } = parsed.value ?? {};
    if (typeof code !== "string" || typeof message !== "string") return `4xx body is not {code, message}: ${answer.body.subarray(0, 200)}`;
    if (code === "internal" || code === "unknown") return `error code ${code}: ${message}`;
    const allowed = statusesByCode[code];
    if (allowed && !allowed.includes(answer.status)) return `HTTP ${answer.status} does not fit code ${code}: ${message}`;
    return undefined;
  }
  if (answer.status === 200) {
    if (!method) return "200 for a path that is no method";
    if (!parsed.ok) return `200 body is not JSON: ${parsed.error}`;
    try {
      fromJson(method.output, parsed.value);
    } catch (error) {
      return `200 body is not a ${method.output.typeName}: ${(error as Error).message}`;
    }
    return undefined;
  }
  return `HTTP ${answer.status}: ${answer.body.subarray(0, 300).toString()}`;
}

/** HTTP statuses an error code may come with (REST: 413 and 429 for resource_exhausted, 405 for a wrong verb). */
const statusesByCode: Record<string, number[]> = {
  invalid_argument: [400],
  failed_precondition: [400],
  out_of_range: [400],
  not_found: [404],
  unauthenticated: [401],
  permission_denied: [403],
  already_exists: [409],
  aborted: [409],
  resource_exhausted: [413, 429],
  unimplemented: [404, 405],
  deadline_exceeded: [408],
  canceled: [408, 499],
};

/** Whether the answer is an error (so nothing may have changed); gRPC over HTTP/1.1 by its grpc-status. */
export function isErrorAnswer(status: number, answer?: RawAnswer): boolean {
  if (answer && /^application\/grpc/.test(String(answer.headers["content-type"] ?? ""))) return grpcWebAnswerProblem(answer).code !== 0;
  return status !== 200;
}

/**
 * gRPC (or gRPC-Web) answered over HTTP/1.1: HTTP 200 and a grpc-status in the
 * headers (trailers-only), the HTTP trailers, or a gRPC-Web trailer frame.
 */
export function grpcWebAnswerProblem(answer: RawAnswer): { problem: string | undefined; code: number; message: string } {
  const trailerFrame = /grpc-status:\s*(\d+)/i.exec(answer.body.toString("latin1"))?.[1];
  const code = Number(answer.headers["grpc-status"] ?? trailerFrame);
  const message = decodeURIComponent(String(answer.headers["grpc-message"] ?? /grpc-message:\s*([^\r\n]*)/i.exec(answer.body.toString("latin1"))?.[1] ?? ""));
  if (answer.status !== 200) return { problem: `HTTP ${answer.status}`, code, message };
  if (Number.isNaN(code)) return { problem: "no grpc-status", code, message };
  if (code === 2 || code === 13) return { problem: `grpc-status ${code}: ${message}`, code, message };
  return { problem: undefined, code, message };
}

/** A Connect binary 200 must decode as the method's response. */
export function binaryAnswerProblem(method: DescMethod, answer: RawAnswer): string | undefined {
  if (answer.status === 200) {
    try {
      fromBinary(method.output, answer.body);
    } catch (error) {
      return `200 body is not a binary ${method.output.typeName}: ${(error as Error).message}`;
    }
    return undefined;
  }
  return jsonAnswerProblem(method, answer);
}

/** gRPC: HTTP 200 with a grpc-status; OK only with a decodable response; never UNKNOWN (2) or INTERNAL (13). */
export function grpcAnswerProblem(method: DescMethod, answer: GrpcAnswer): string | undefined {
  if (answer.httpStatus !== 200) return `HTTP ${answer.httpStatus} (grpc-status ${answer.grpcStatus})`;
  if (answer.grpcStatus === undefined || Number.isNaN(answer.grpcStatus)) return "no grpc-status";
  if (answer.grpcStatus === 2 || answer.grpcStatus === 13) return `grpc-status ${answer.grpcStatus}: ${answer.grpcMessage}`;
  if (answer.grpcStatus === 0) {
    if (answer.body.length < 5) return "OK without a response message";
    const length = answer.body.readUInt32BE(1);
    try {
      fromBinary(method.output, answer.body.subarray(5, 5 + length));
    } catch (error) {
      return `OK with a response that is not a ${method.output.typeName}: ${(error as Error).message}`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- the process

/**
 * Records every uncaught exception and unhandled rejection while installed.
 * Under Jest the sandbox's `process` never hears them: a test file that runs
 * with `@jest-environment ./test/support/hostile-environment.js` listens on the
 * real process (install it inside beforeAll, after jest-circus has put its own
 * handlers in place, so they are not swapped out).
 */
export function watchProcess(): { errors: unknown[]; stop(): void; real: boolean } {
  const realProcess = (globalThis as { __hostileRealProcess?: NodeJS.Process }).__hostileRealProcess;
  const target = realProcess ?? process;
  const errors: unknown[] = [];
  const onError = (error: unknown) => errors.push(error);
  target.on("uncaughtException", onError);
  target.on("unhandledRejection", onError);
  return {
    errors,
    real: realProcess !== undefined,
    stop() {
      target.off("uncaughtException", onError);
      target.off("unhandledRejection", onError);
    },
  };
}

/** HealthCheck over REST still answers 200 SERVING. */
export async function stillHealthy(server: TestServer): Promise<boolean> {
  const answer = await http1(server, "/v3/HealthCheck", { method: "GET", headers: restHeaders(null) });
  return answer.status === 200 && parseJson(answer.body).ok && (JSON.parse(answer.body.toString()) as any).status === "SERVING";
}

/** Tally of inputs tried, printed by each file at the end. */
export class Tally {
  readonly counts = new Map<string, number>();
  private readonly outcomes = new Map<string, { ok: number; error: number }>();
  outcome(protocol: string, error: boolean): void {
    const seen = this.outcomes.get(protocol) ?? { ok: 0, error: 0 };
    seen[error ? "error" : "ok"] += 1;
    this.outcomes.set(protocol, seen);
  }
  add(protocol: string, n = 1): void {
    this.counts.set(protocol, (this.counts.get(protocol) ?? 0) + n);
  }
  print(file: string): void {
    const total = [...this.counts.values()].reduce((a, b) => a + b, 0);
    const parts = [...this.counts.entries()]
      .map(([k, v]) => `${k}: ${v} (${this.outcomes.get(k)?.ok ?? 0} answered OK, ${this.outcomes.get(k)?.error ?? 0} refused)`)
      .join(", ");
    console.log(`hostile inputs tried (${file}): ${total} — ${parts}`);
  }
}

// ---------------------------------------------------------------- one probe

export interface Verdict {
  /** Why the answer breaks the contract, or undefined. */
  problem: string | undefined;
  /** The answer was an error: the database must be as it was. */
  error: boolean;
  /** Shown in failures: status and the start of the body. */
  seen: string;
}

export interface Prober {
  /** Sends one input, checks the answer, the state (on errors) and that the server is still healthy. */
  probe(protocol: string, send: () => Promise<Verdict>): Promise<void>;
  tally: Tally;
  close(): void;
}

export function prober(server: TestServer, options: { healthEvery?: number } = {}): Prober {
  const snapshots = openSnapshotter(server.dbPath);
  const tally = new Tally();
  let sent = 0;
  return {
    tally,
    async probe(protocol, send) {
      const before = snapshots.snapshot();
      const verdict = await send();
      tally.add(protocol);
      tally.outcome(protocol, verdict.error);
      sent += 1;
      if (verdict.problem) throw new Error(`${protocol}: ${verdict.problem} (seen ${verdict.seen})`);
      if (verdict.error) {
        const after = snapshots.snapshot();
        const changed = Object.keys(before).filter((key) => before[key] !== after[key]);
        if (changed.length > 0) {
          throw new Error(
            `${protocol}: an error answer changed ${changed.map((k) => `${k} ${before[k]} -> ${after[k]}`).join(", ")} (seen ${verdict.seen})`,
          );
        }
      }
      if (sent % (options.healthEvery ?? 1) === 0 && !(await stillHealthy(server))) {
        throw new Error(`${protocol}: HealthCheck no longer answers 200 after (seen ${verdict.seen})`);
      }
    },
    close: () => snapshots.close(),
  };
}

export function jsonVerdict(method: DescMethod | undefined, answer: RawAnswer): Verdict {
  return {
    problem: jsonAnswerProblem(method, answer),
    error: isErrorAnswer(answer.status, answer),
    seen: `HTTP ${answer.status} ${answer.body.subarray(0, 300).toString()}`,
  };
}

/** Connect errors are JSON; only a 200 is binary. */
export function binaryVerdict(method: DescMethod, answer: RawAnswer): Verdict {
  return {
    problem: binaryAnswerProblem(method, answer),
    error: isErrorAnswer(answer.status, answer),
    seen: `HTTP ${answer.status} ${answer.status === 200 ? `${answer.body.length} bytes` : answer.body.subarray(0, 300).toString()}`,
  };
}

export function grpcVerdict(method: DescMethod, answer: GrpcAnswer): Verdict {
  return {
    problem: grpcAnswerProblem(method, answer),
    error: answer.grpcStatus !== 0,
    seen: `HTTP ${answer.httpStatus} grpc-status ${answer.grpcStatus} ${answer.grpcMessage.slice(0, 300)}`,
  };
}

/** Any value fast-check makes, as the JSON text JSON.stringify gives it (or its String when it cannot). */
export function asJsonText(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text;
  } catch {
    return String(value);
  }
}
