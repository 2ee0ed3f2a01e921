"use strict";
// What each scenario sends and what counts as a good answer. Every scenario
// is `async (target) => result of runLoop`, where target = { port, h2Port?, ports?, connections, durationMs,
// merchants? } (merchants: how many of generate-feeds.js's merchants the inventory has, all of them unless said).
const { runLoop, httpPoster, grpcClients } = require("./load.js");
const { slotAt, MERCHANTS, SLOTS_PER_MERCHANT } = require("./generate-feeds.js");

const SERVICE_PATH = "/ext.maps.booking.partner.v3.BookingService";
const randomSlot = (merchants) => slotAt(Math.floor(Math.random() * merchants * SLOTS_PER_MERCHANT));
let tokens = 0;
const uniqueToken = () => `bench-${process.pid}-${Date.now().toString(36)}-${tokens++}`;

/** CreateBookingRequest in Google's snake_case JSON (REST path, raw ceiling). */
function createBookingRest(merchants = MERCHANTS) {
  const s = randomSlot(merchants);
  const token = uniqueToken();
  return {
    idempotency_token: token,
    slot: { merchant_id: s.merchantId, service_id: s.serviceId, start_sec: String(s.startSec), duration_sec: String(s.durationSec), resources: s.resources },
    user_information: { user_id: `user-${token}`, given_name: "Ada", family_name: "Lovelace", telephone: "+44 20 7946 0000", email: `${token}@example.com` },
    payment_information: { prepayment_status: "PREPAYMENT_NOT_PROVIDED" },
  };
}

/** The same request as a camelCase object (Connect JSON, and ts-proto's fromJSON for gRPC). */
function createBookingCamel(merchants = MERCHANTS) {
  const s = randomSlot(merchants);
  const token = uniqueToken();
  const r = s.resources;
  return {
    idempotencyToken: token,
    slot: {
      merchantId: s.merchantId, serviceId: s.serviceId, startSec: String(s.startSec), durationSec: String(s.durationSec),
      resources: r.party_size ? { partySize: r.party_size } : { staffId: r.staff_id },
    },
    userInformation: { userId: `user-${token}`, givenName: "Ada", familyName: "Lovelace", telephone: "+44 20 7946 0000", email: `${token}@example.com` },
    paymentInformation: { prepaymentStatus: "PREPAYMENT_NOT_PROVIDED" },
  };
}

/** BatchAvailabilityLookup for 100 consecutive slots of one merchant. */
function batchLookup(merchants = MERCHANTS) {
  const m = Math.floor(Math.random() * merchants);
  const first = m * SLOTS_PER_MERCHANT + Math.floor(Math.random() * (SLOTS_PER_MERCHANT - 100));
  const slotTimes = [];
  let merchantId;
  for (let i = first; i < first + 100; i++) {
    const s = slotAt(i);
    merchantId = s.merchantId;
    slotTimes.push({ service_id: s.serviceId, start_sec: String(s.startSec), duration_sec: String(s.durationSec), resource_ids: s.resources });
  }
  return { merchant_id: merchantId, slot_time: slotTimes };
}

function checkAvailability(merchants = MERCHANTS) {
  const s = randomSlot(merchants);
  return { slot: { merchant_id: s.merchantId, service_id: s.serviceId, start_sec: String(s.startSec), duration_sec: String(s.durationSec), resources: s.resources } };
}

/** Runs `call(poster, w)` over HTTP/1.1 keep-alive connections. */
async function overHttp(target, call) {
  const poster = httpPoster(target);
  try {
    return await runLoop({ ...target, call: (w) => call(poster, w) });
  } finally {
    poster.close();
  }
}

const bookingIds = []; // from the REST CreateBooking run, for GetBookingStatus

const scenarios = {
  // Ceilings (their servers are in ceilings.js).
  rawHttp: (t) => overHttp(t, async (p, w) => Boolean((await p.post(w, "/echo", createBookingRest(t.merchants))).booking)),
  connectEchoJson: (t) => overHttp(t, async (p, w) => Boolean((await p.post(w, `${SERVICE_PATH}/CreateBooking`, createBookingCamel(t.merchants))).booking)),
  connectEchoGrpc: (t) => overGrpc(t),

  // The server.
  createBookingRest: (t) =>
    overHttp(t, async (p, w) => {
      const answer = await p.post(w, "/v3/CreateBooking", createBookingRest(t.merchants));
      if (answer.booking && bookingIds.length < 100000) bookingIds.push(answer.booking.booking_id);
      return Boolean(answer.booking);
    }),
  createBookingConnect: (t) => overHttp(t, async (p, w) => Boolean((await p.post(w, `${SERVICE_PATH}/CreateBooking`, createBookingCamel(t.merchants))).booking)),
  createBookingGrpc: (t) => overGrpc(t),
  batchAvailabilityLookup: (t) =>
    overHttp(t, async (p, w) => (await p.post(w, "/v3/BatchAvailabilityLookup", batchLookup(t.merchants))).slot_time_availability?.length === 100),
  checkAvailability: (t) => overHttp(t, async (p, w) => Boolean((await p.post(w, "/v3/CheckAvailability", checkAvailability(t.merchants))).slot)),
  getBookingStatus: (t) =>
    overHttp(t, async (p, w) => {
      const id = bookingIds[Math.floor(Math.random() * bookingIds.length)];
      return Boolean((await p.post(w, "/v3/GetBookingStatus", { booking_id: id })).booking_id);
    }),
  mixed: (t) =>
    overHttp(t, async (p, w) => {
      if (Math.random() < 0.1) return { kind: "CreateBooking", ok: Boolean((await p.post(w, "/v3/CreateBooking", createBookingRest(t.merchants))).booking) };
      const answer = await p.post(w, "/v3/BatchAvailabilityLookup", batchLookup(t.merchants));
      return { kind: "BatchAvailabilityLookup", ok: answer.slot_time_availability?.length === 100 };
    }),
  // Run while an import writes into the server's database (t.until is the import): half the
  // workers call HealthCheck, half CreateBooking. A 503 (the import's final transaction held
  // the database past the server's retries) is an answer, counted as not booked; a 500 is an error.
  duringImport: (t) =>
    overHttp(t, async (p, w) => {
      if (w % 2 === 0) return { kind: "HealthCheck", ok: Boolean(await p.get(w, "/v3/HealthCheck")) };
      try {
        return { kind: "CreateBooking", ok: Boolean((await p.post(w, "/v3/CreateBooking", createBookingRest(t.merchants))).booking) };
      } catch (error) {
        if (/^HTTP 503 /.test(error.message)) return { kind: "CreateBooking", ok: false };
        throw error;
      }
    }),
};

/** CreateBooking over gRPC (the echo's h2Port or the server's single port). */
async function overGrpc(target) {
  const grpc = grpcClients({ port: target.h2Port ?? target.port, connections: target.connections });
  try {
    return await runLoop({
      ...target,
      call: async (w) => Boolean((await grpc.unary(w, "createBooking", grpc.stub.CreateBookingRequest.fromJSON(createBookingCamel(target.merchants)))).booking),
    });
  } finally {
    grpc.close();
  }
}

module.exports = { scenarios };
