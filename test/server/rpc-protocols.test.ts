/**
 * BookingService over every protocol the single port speaks: gRPC (grpc-js
 * and buf curl), Connect JSON and binary, gRPC-Web, raw Connect JSON with
 * fetch, and Google's REST paths; plaintext HTTP/1.1 and h2c on one port, and
 * HTTP/1.1 and h2 over TLS on one port. Real server, real SQLite file.
 */
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { credentials as grpcCredentials, status as grpcStatus } from "@grpc/grpc-js";
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as http1Request } from "node:http";
import { connect as http2Connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { BookingService } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { createBookingServer, type BookingServer } from "../../src/server/booking-server.js";
import type { Store } from "../../src/store/repositories.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import {
  connectJsonPost,
  grpcJsStub,
  grpcMetadata,
  grpcUnary,
  rpcProtocols,
  RpcError,
  type JsonMessage,
  type RpcClient,
} from "../support/rpc-clients.js";
import {
  authHeader,
  credentials,
  futureStartSec,
  hour,
  rest,
  seedSlots,
  startTestServer,
  type TestServer,
} from "../support/test-server.js";

const repoRoot = resolve(__dirname, "../..");
const buf = join(repoRoot, "node_modules/.bin/buf");
const wrongAuthHeader = `Basic ${Buffer.from(`${credentials.username}:not-the-password`).toString("base64")}`;
const badCredentials: Array<[string, string | null]> = [
  ["missing", null],
  ["wrong", wrongAuthHeader],
];

let nextId = 0;
/** A fresh id, so tests sharing a server never share slots, users or tokens. */
const unique = (prefix: string) => `${prefix}-${++nextId}`;

/** Seeds one slot (one hour long) and answers it as a proto3 JSON Slot. */
async function seedSlot(store: Store, options: { merchantId?: string; startSec?: number; spots?: number } = {}) {
  const merchantId = options.merchantId ?? unique("merchant");
  const startSec = options.startSec ?? futureStartSec;
  await seedSlots(store, [{ merchantId, serviceId: "haircut", startSec, spotsTotal: options.spots ?? 1 }]);
  return { merchantId, serviceId: "haircut", startSec: String(startSec), durationSec: String(hour) };
}

/** A slot nobody seeded. */
function unknownSlot() {
  return { merchantId: unique("nowhere"), serviceId: "haircut", startSec: String(futureStartSec), durationSec: String(hour) };
}

async function spotsOpen(store: Store, slot: Awaited<ReturnType<typeof seedSlot>>): Promise<number> {
  const [record] = await store.read.inventory.findSlots(
    {
      merchantId: slot.merchantId,
      serviceId: slot.serviceId,
      startSec: Number(slot.startSec),
      durationSec: Number(slot.durationSec),
      staffId: "",
      roomId: "",
      partySize: 0,
    },
    1,
  );
  return record.spotsOpen;
}

function newUser() {
  const userId = unique("user");
  return { userId, email: `${userId}@example.com`, givenName: "Ada", familyName: "Lovelace", telephone: "+15550100" };
}

function bookingRequest(slot: object, user = newUser()) {
  return { slot, userInformation: user, idempotencyToken: unique("token") };
}

/** What a failed call threw (and fails the test if it did not throw). */
async function rejectionOf(call: Promise<unknown>): Promise<RpcError> {
  const outcome = await call.then(
    (response) => ({ response }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected the call to fail, got ${JSON.stringify(outcome.response)}`);
  expect(outcome.error).toBeInstanceOf(RpcError);
  return outcome.error as RpcError;
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

describe.each(rpcProtocols)("BookingService over $name", (protocol) => {
  let client: RpcClient;
  beforeAll(() => {
    client = protocol.connect(server.baseUrl);
  });
  afterAll(() => client.close());

  test("when HealthCheck is called, then it answers SERVING", async () => {
    expect(await client.call("healthCheck", {})).toEqual({ status: "SERVING" });
  });

  test("when BatchAvailabilityLookup asks for a seeded and an unseeded slot time, then it answers them in request order", async () => {
    const slot = await seedSlot(server.store);
    const seeded = { serviceId: slot.serviceId, startSec: slot.startSec, durationSec: slot.durationSec };
    const unseeded = { ...seeded, startSec: String(futureStartSec + 5 * hour) };

    const response = await client.call("batchAvailabilityLookup", {
      merchantId: slot.merchantId,
      slotTime: [seeded, unseeded],
    });

    expect(response.slotTimeAvailability).toHaveLength(2);
    expect(response.slotTimeAvailability.map((answer: JsonMessage) => answer.slotTime.startSec)).toEqual([
      seeded.startSec,
      unseeded.startSec,
    ]);
    expect(response.slotTimeAvailability.map((answer: JsonMessage) => answer.available === true)).toEqual([true, false]);
  });

  test("when CheckAvailability asks for a seeded slot, then it counts the open spots", async () => {
    const slot = await seedSlot(server.store, { spots: 3 });

    const response = await client.call("checkAvailability", { slot });

    expect(response).toMatchObject({ slot: { merchantId: slot.merchantId, startSec: slot.startSec }, countAvailable: 3 });
  });

  test("when CreateLease holds a spot and CreateBooking uses the lease, then the booking is confirmed on that spot", async () => {
    const slot = await seedSlot(server.store, { spots: 2 });

    const leased = await client.call("createLease", { lease: { slot, userReference: unique("lease") } });
    expect(leased.bookingFailure).toBeUndefined();
    expect(leased.lease).toMatchObject({ leaseId: expect.any(String), slot: { merchantId: slot.merchantId } });
    expect(Number(leased.lease.leaseExpirationTimeSec)).toBeGreaterThan(Date.now() / 1000);
    expect(await spotsOpen(server.store, slot)).toBe(1);

    const booked = await client.call("createBooking", {
      ...bookingRequest(slot),
      leaseRef: { leaseId: leased.lease.leaseId },
    });

    expect(booked.bookingFailure).toBeUndefined();
    expect(booked.booking).toMatchObject({ bookingId: expect.any(String), status: "CONFIRMED" });
    expect(await spotsOpen(server.store, slot)).toBe(1);
    expect((await server.store.read.leases.get(leased.lease.leaseId))?.state).toBe("consumed");
  });

  test("when UpdateBooking cancels a booking, then GetBookingStatus answers CANCELED and the spot is open again", async () => {
    const slot = await seedSlot(server.store);
    const { booking } = await client.call("createBooking", bookingRequest(slot));
    expect(await client.call("getBookingStatus", { bookingId: booking.bookingId })).toMatchObject({
      bookingId: booking.bookingId,
      bookingStatus: "CONFIRMED",
    });
    expect(await spotsOpen(server.store, slot)).toBe(0);

    const updated = await client.call("updateBooking", { booking: { bookingId: booking.bookingId, status: "CANCELED" } });

    expect(updated.bookingFailure).toBeUndefined();
    expect(updated.booking).toMatchObject({ bookingId: booking.bookingId, status: "CANCELED" });
    expect(await client.call("getBookingStatus", { bookingId: booking.bookingId })).toMatchObject({
      bookingStatus: "CANCELED",
    });
    expect(await spotsOpen(server.store, slot)).toBe(1);
  });

  test("when a user holds two bookings, then ListBookings answers both", async () => {
    const merchantId = unique("merchant");
    const early = await seedSlot(server.store, { merchantId });
    const late = await seedSlot(server.store, { merchantId, startSec: futureStartSec + 2 * hour });
    const user = newUser();
    const first = await client.call("createBooking", bookingRequest(early, user));
    const second = await client.call("createBooking", bookingRequest(late, user));

    const response = await client.call("listBookings", { userId: user.userId });

    expect(response.bookings.map((booking: JsonMessage) => booking.bookingId).sort()).toEqual(
      [first.booking.bookingId, second.booking.bookingId].sort(),
    );
    expect(response.bookings[0].userInformation).toMatchObject({ userId: user.userId, email: user.email });
  });

  test("when SetMarketingPreference is called, then it echoes the preference and stores it", async () => {
    const user = newUser();

    const response = await client.call("setMarketingPreference", {
      userInformation: user,
      userToReceiveMarketing: true,
    });

    expect(response).toMatchObject({ userInformation: { userId: user.userId }, userToReceiveMarketing: true });
    expect(await server.store.read.users.getMarketingPreference(user.userId)).toBe(true);
  });

  test("when CreateBooking or CreateLease names an unknown slot, then SLOT_UNAVAILABLE travels in booking_failure, not as an error", async () => {
    const slot = unknownSlot();
    const request = bookingRequest(slot);

    const booked = await client.call("createBooking", request);
    const leased = await client.call("createLease", { lease: { slot, userReference: unique("lease") } });

    expect(booked).toEqual({ bookingFailure: expect.objectContaining({ cause: "SLOT_UNAVAILABLE" }) });
    expect(leased).toEqual({ bookingFailure: expect.objectContaining({ cause: "SLOT_UNAVAILABLE" }) });
    expect(await server.store.read.idempotency.findBookingId(request.idempotencyToken)).toBeUndefined();
  });

  test("when CreateBooking lacks idempotency_token, then it fails invalid_argument naming the field and books nothing", async () => {
    const slot = await seedSlot(server.store);
    const { idempotencyToken: _omitted, ...request } = bookingRequest(slot);

    const error = await rejectionOf(client.call("createBooking", request));

    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain("idempotency_token");
    expect(await spotsOpen(server.store, slot)).toBe(1);
    expect(await server.store.read.bookings.hasUser(request.userInformation.userId)).toBe(false);
  });

  test("when GetBookingStatus names an unknown booking, then it fails not_found", async () => {
    const error = await rejectionOf(client.call("getBookingStatus", { bookingId: unique("no-such-booking") }));

    expect(error.code).toBe(Code.NotFound);
    expect(error.rawMessage).toContain("does not exist");
  });

  test.each(badCredentials)(
    "when credentials are %s, then CreateBooking fails unauthenticated and changes nothing",
    async (_kind, authorization) => {
      const slot = await seedSlot(server.store);
      const request = bookingRequest(slot);

      const error = await rejectionOf(client.call("createBooking", request, { authorization }));

      expect(error.code).toBe(Code.Unauthenticated);
      expect(await spotsOpen(server.store, slot)).toBe(1);
      expect(await server.store.read.idempotency.findBookingId(request.idempotencyToken)).toBeUndefined();
      expect(await server.store.read.bookings.hasUser(request.userInformation.userId)).toBe(false);
    },
  );
});

describe("grpc-js status numbers", () => {
  // The table above compares grpc-js codes with Connect's Code enum; these pin the raw gRPC numbers.
  test("when grpc-js calls without credentials, with a missing field and for an unknown booking, then the status codes are 16, 3 and 5", async () => {
    const client = grpcJsStub(server.baseUrl);
    try {
      await expect(grpcUnary(client.healthCheck.bind(client), {}, grpcMetadata(null))).rejects.toMatchObject({
        code: 16,
      });
      await expect(
        grpcUnary(client.getBookingStatus.bind(client), { bookingId: "" }, grpcMetadata()),
      ).rejects.toMatchObject({ code: 3, details: expect.stringContaining("booking_id") });
      await expect(
        grpcUnary(client.getBookingStatus.bind(client), { bookingId: unique("no-such-booking") }, grpcMetadata()),
      ).rejects.toMatchObject({ code: 5 });
    } finally {
      client.close();
    }
  });
});

describe("buf curl over gRPC", () => {
  const run = promisify(execFile);

  function bufCurl(method: string, body: unknown, authorization: string | null) {
    const args = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--schema", "proto"];
    if (authorization !== null) args.push("-H", `Authorization: ${authorization}`);
    args.push("-d", JSON.stringify(body), `${server.baseUrl}/${BookingService.typeName}/${method}`);
    return run(buf, args, { cwd: repoRoot, timeout: 15000 });
  }

  test("when buf curl calls CheckAvailability with credentials, then it prints the open spots", async () => {
    const slot = await seedSlot(server.store, { spots: 2 });

    const { stdout } = await bufCurl("CheckAvailability", { slot }, authHeader);

    expect(JSON.parse(stdout)).toMatchObject({ slot: { merchantId: slot.merchantId }, countAvailable: 2 });
  });

  test("when buf curl calls without credentials, then it exits with UNAUTHENTICATED", async () => {
    const failure = await bufCurl("HealthCheck", {}, null).then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );

    expect(failure).toBeDefined();
    // buf curl exits with the gRPC status shifted left by three bits.
    expect(failure!.code).toBe(grpcStatus.UNAUTHENTICATED << 3);
    expect(`${failure!.stdout}${failure!.stderr}`.toLowerCase()).toContain("unauthenticated");
  });
});

describe("raw Connect JSON with fetch", () => {
  test("when fetch POSTs CreateBooking as JSON, then the booking comes back in lowerCamelCase JSON", async () => {
    const slot = await seedSlot(server.store);
    const user = newUser();

    const response = await connectJsonPost(server.baseUrl, "CreateBooking", {
      slot,
      user_information: { user_id: user.userId, email: user.email },
      idempotency_token: unique("token"),
    });

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.body.booking).toMatchObject({
      bookingId: expect.any(String),
      status: "CONFIRMED",
      slot: { merchantId: slot.merchantId, startSec: slot.startSec, durationSec: slot.durationSec },
      userInformation: { userId: user.userId, email: user.email },
    });
    expect(JSON.stringify(response.body)).not.toMatch(/"[a-z]+_[a-z_]+":/);
    expect(await spotsOpen(server.store, slot)).toBe(0);
  });

  test("when fetch POSTs CreateBooking without idempotency_token, then HTTP 400 invalid_argument names the field and books nothing", async () => {
    const slot = await seedSlot(server.store);
    const user = newUser();

    const response = await connectJsonPost(server.baseUrl, "CreateBooking", { slot, userInformation: user });

    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("idempotency_token") });
    expect(await spotsOpen(server.store, slot)).toBe(1);
    expect(await server.store.read.bookings.hasUser(user.userId)).toBe(false);
  });

  test("when fetch POSTs GetBookingStatus for an unknown booking, then HTTP 404 not_found", async () => {
    const response = await connectJsonPost(server.baseUrl, "GetBookingStatus", { bookingId: unique("no-such-booking") });

    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ code: "not_found" });
  });

  test("when fetch POSTs CreateBooking for an unknown slot, then HTTP 200 carries SLOT_UNAVAILABLE in bookingFailure", async () => {
    const response = await connectJsonPost(server.baseUrl, "CreateBooking", bookingRequest(unknownSlot()));

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ bookingFailure: expect.objectContaining({ cause: "SLOT_UNAVAILABLE" }) });
  });

  test.each(badCredentials)(
    "when fetch POSTs CreateBooking with %s credentials, then HTTP 401 with a Basic WWW-Authenticate challenge and nothing changes",
    async (_kind, authorization) => {
      const slot = await seedSlot(server.store);
      const request = bookingRequest(slot);

      const response = await connectJsonPost(server.baseUrl, "CreateBooking", request, { authorization });

      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
      expect(response.body).toMatchObject({ code: "unauthenticated" });
      expect(await spotsOpen(server.store, slot)).toBe(1);
      expect(await server.store.read.idempotency.findBookingId(request.idempotencyToken)).toBeUndefined();
    },
  );
});

describe("one plaintext port", () => {
  test("when HTTP/1.1 and HTTP/2 clients call the same server, then both are answered on the same port and see the same bookings", async () => {
    const healthCheckPath = `/${BookingService.typeName}/HealthCheck`;

    // HTTP/1.1: a plain node:http request to the Connect path.
    const http1 = await new Promise<{ version: string; status?: number; body: string }>((resolve, reject) => {
      const req = http1Request(
        `${server.baseUrl}${healthCheckPath}`,
        { method: "POST", headers: { "content-type": "application/json", authorization: authHeader }, agent: false },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => (body += chunk));
          res.on("end", () => resolve({ version: res.httpVersion, status: res.statusCode, body }));
        },
      );
      req.on("error", reject);
      req.end("{}");
    });
    expect(http1).toEqual({ version: "1.1", status: 200, body: JSON.stringify({ status: "SERVING" }) });

    // HTTP/2 with prior knowledge: a node:http2 session to the same port.
    const session = http2Connect(server.baseUrl);
    try {
      const http2 = await new Promise<{ status: unknown; body: string }>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": healthCheckPath,
          "content-type": "application/json",
          authorization: authHeader,
        });
        let status: unknown;
        let body = "";
        stream.setEncoding("utf8");
        stream.on("response", (headers) => (status = headers[":status"]));
        stream.on("data", (chunk) => (body += chunk));
        stream.on("end", () => resolve({ status, body }));
        stream.on("error", reject);
        stream.end("{}");
      });
      expect(http2).toEqual({ status: 200, body: JSON.stringify({ status: "SERVING" }) });
    } finally {
      session.close();
    }

    // A booking made over Google's REST path (HTTP/1.1) is visible over gRPC (HTTP/2).
    const slot = await seedSlot(server.store);
    const created = await rest(server, "CreateBooking", {
      slot: { merchant_id: slot.merchantId, service_id: slot.serviceId, start_sec: slot.startSec, duration_sec: slot.durationSec },
      idempotency_token: unique("token"),
      user_information: { user_id: unique("user"), email: "rest@example.com" },
    });
    expect(created.status).toBe(200);
    expect(created.body.booking).toMatchObject({ booking_id: expect.any(String), status: "CONFIRMED" });
    const grpc = grpcJsStub(server.baseUrl);
    try {
      const status = await grpcUnary(
        grpc.getBookingStatus.bind(grpc),
        { bookingId: created.body.booking.booking_id },
        grpcMetadata(),
      );
      expect(status).toMatchObject({ bookingId: created.body.booking.booking_id, bookingStatus: 1 /* CONFIRMED */ });
    } finally {
      grpc.close();
    }
  });

  test("when Google's REST paths are called, then GET HealthCheck and POST CheckAvailability answer with proto field names", async () => {
    const slot = await seedSlot(server.store, { spots: 2 });

    const health = await fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: { authorization: authHeader } });
    const checked = await rest(server, "CheckAvailability", {
      slot: { merchant_id: slot.merchantId, service_id: slot.serviceId, start_sec: slot.startSec, duration_sec: slot.durationSec },
    });

    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "SERVING" });
    expect(checked.status).toBe(200);
    expect(checked.body).toMatchObject({ slot: { merchant_id: slot.merchantId }, count_available: 2 });
  });
});

describe("an open server (no credentials configured)", () => {
  let open: TestServer;
  beforeAll(async () => {
    open = await startTestServer({ open: true });
  });
  afterAll(() => open.close());

  test.each(rpcProtocols)("when $name calls without credentials, then it is answered", async (protocol) => {
    const slot = await seedSlot(open.store, { spots: 2 });
    const client = protocol.connect(open.baseUrl);
    try {
      expect(await client.call("healthCheck", {}, { authorization: null })).toEqual({ status: "SERVING" });
      expect(await client.call("checkAvailability", { slot }, { authorization: null })).toMatchObject({
        countAvailable: 2,
      });
    } finally {
      client.close();
    }
  });

  test("when raw fetch calls the Connect path without credentials, then HTTP 200", async () => {
    const response = await connectJsonPost(open.baseUrl, "HealthCheck", {}, { authorization: null });

    expect(response).toMatchObject({ status: 200, body: { status: "SERVING" } });
  });
});

const opensslAvailable = spawnSync("openssl", ["version"]).status === 0;
if (!opensslAvailable) {
  console.warn("openssl is not on PATH: skipping the TLS test (it needs a throwaway self-signed certificate)");
}

(opensslAvailable ? describe : describe.skip)("TLS on one port (needs openssl)", () => {
  let dir: string;
  let cert: Buffer;
  let store: Store;
  let tlsServer: BookingServer;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "booking-tls-"));
    await promisify(execFile)(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"],
        ...["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
      ],
      { timeout: 15000 },
    );
    cert = readFileSync(join(dir, "cert.pem"));
    store = openSqliteStore(join(dir, "booking.db"));
    tlsServer = createBookingServer({ store, credentials, tls: { cert, key: readFileSync(join(dir, "key.pem")) } });
    ({ port } = await tlsServer.listen(0, "127.0.0.1"));
  });
  afterAll(async () => {
    await tlsServer?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("when HTTP/1.1 and HTTP/2 clients call over TLS, then both answer HealthCheck on the same port", async () => {
    const baseUrl = `https://127.0.0.1:${port}`;

    // HTTP/1.1: node:https offers no ALPN, so the server falls back to http/1.1. Trusts the throwaway certificate.
    const http1 = await new Promise<{ version: string; status?: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        `${baseUrl}/${BookingService.typeName}/HealthCheck`,
        {
          method: "POST",
          headers: { "content-type": "application/json", authorization: authHeader },
          ca: cert,
          agent: false,
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => (body += chunk));
          res.on("end", () => resolve({ version: res.httpVersion, status: res.statusCode, body }));
        },
      );
      req.on("error", reject);
      req.end("{}");
    });
    expect(http1).toEqual({ version: "1.1", status: 200, body: JSON.stringify({ status: "SERVING" }) });

    // HTTP/2 (ALPN h2): Connect binary and gRPC-Web on one session, then grpc-js over TLS.
    const sessionManager = new Http2SessionManager(baseUrl, {}, { ca: cert });
    try {
      for (const transport of [
        createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager }),
        createGrpcWebTransport({ baseUrl, httpVersion: "2", sessionManager }),
      ]) {
        const client = createClient(BookingService, transport);
        expect(await client.healthCheck({}, { headers: { authorization: authHeader } })).toMatchObject({
          status: "SERVING",
        });
      }
    } finally {
      sessionManager.abort();
    }

    const grpc = grpcJsStub(baseUrl, grpcCredentials.createSsl(cert));
    try {
      expect(await grpcUnary(grpc.healthCheck.bind(grpc), {}, grpcMetadata())).toEqual({ status: "SERVING" });
    } finally {
      grpc.close();
    }
  });
});
