#!/usr/bin/env node
/**
 * The storm client of test/crash/crash-storm.test.ts: a separate process (plain
 * Node, CommonJS) that keeps ~20 requests in flight against the booking server
 * while the test SIGKILLs and restarts it:
 *
 *   - REST CreateBooking on random slots for random users, ~20% of them replays
 *     of an earlier idempotency token (acknowledged or not) with the same body;
 *   - REST UpdateBooking cancels of bookings it made;
 *   - MerchantService Confirm / Decline (and a few Fail / Cancel) of its pending
 *     asynchronous bookings, over Connect JSON with the merchant's bearer token.
 *
 * Every ACKNOWLEDGED answer (HTTP 200 carrying a booking) is appended to the log
 * as one JSON line and fsync'd before it counts: the log is what a client was
 * promised. Failed requests (connection refused or reset while the server is
 * down, timeouts, 4xx, booking_failure) are not acknowledged; the client keeps
 * going.
 *
 * Operations on one booking (or one token) are never in flight at the same time,
 * so the log's order per booking is the order the server committed them in. A
 * request that timed out (the server may still be working on it) retires its
 * booking and token for good.
 *
 * Environment:
 *   STORM_URL_FILE       file holding the server's current base URL (re-read before every request)
 *   STORM_ACK_LOG        the acknowledgement log (JSON lines, appended)
 *   STORM_SLOTS_FILE     JSON [{merchant_id, service_id, start_sec, duration_sec, party_size, asynchronous}]
 *   STORM_BASIC_AUTH     "user:password" for the BookingService REST paths
 *   STORM_MERCHANT_TOKENS_FILE  JSON {"<merchant_id>": "<bearer token>"}
 *   STORM_CONCURRENCY    requests in flight (default 20)
 *   STORM_SEED           PRNG seed (default: time)
 *   STORM_REQUEST_TIMEOUT_MS    per request (default 10000)
 *
 * SIGTERM (or SIGINT): stops starting requests, lets those in flight finish, prints
 * one line `STORM-STATS {json}` and exits 0.
 */
"use strict";

const fs = require("node:fs");
const { mulberry32 } = require("../support/prng.js");

const env = process.env;
const urlFile = mustEnv("STORM_URL_FILE");
const ackLogPath = mustEnv("STORM_ACK_LOG");
const slots = JSON.parse(fs.readFileSync(mustEnv("STORM_SLOTS_FILE"), "utf8"));
const basicAuth = `Basic ${Buffer.from(mustEnv("STORM_BASIC_AUTH")).toString("base64")}`;
const merchantTokens = JSON.parse(fs.readFileSync(mustEnv("STORM_MERCHANT_TOKENS_FILE"), "utf8"));
const concurrency = Number(env.STORM_CONCURRENCY || 20);
const seed = Number(env.STORM_SEED || Date.now() % 2147483647);
const requestTimeoutMs = Number(env.STORM_REQUEST_TIMEOUT_MS || 10000);
const runId = `${process.pid.toString(36)}-${seed.toString(36)}`;

function mustEnv(name) {
  const value = env[name];
  if (!value) {
    process.stderr.write(`storm-client: ${name} is required\n`);
    process.exit(2);
  }
  return value;
}

// Seeded, so the mix of operations can be replayed.
const random = mulberry32(seed);
const pick = (items) => items[Math.floor(random() * items.length)];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the acknowledgement log -------------------------------------------------

const ackFd = fs.openSync(ackLogPath, "a");
let ackSeq = 0;
/** Appends one acknowledgement and makes it durable; only then does it count. */
function acknowledge(entry) {
  const line = `${JSON.stringify({ seq: ++ackSeq, atMs: Date.now(), ...entry })}\n`;
  fs.writeSync(ackFd, line);
  fs.fsyncSync(ackFd);
  stats.acknowledged++;
  stats.ackByKind[entry.kind] = (stats.ackByKind[entry.kind] || 0) + 1;
}

// ---- what the client knows ---------------------------------------------------

const stats = {
  seed,
  sent: 0,
  acknowledged: 0,
  ackByKind: {},
  connectionErrors: 0,
  timeouts: 0,
  bookingFailures: {},
  httpStatus: {},
  mismatches: [],
};

/** Every token sent: token -> { body, bookingId? (once acknowledged) }. */
const tokens = new Map();
const tokenList = [];
/** Bookings acknowledged: id -> { token, merchantId, asynchronous, status }. */
const bookings = new Map();
/** Tokens and booking ids with a request in flight. */
const busy = new Set();
/** Tokens and booking ids whose request timed out: never touched again. */
const retired = new Set();
let nextToken = 0;

const free = (...keys) => keys.every((key) => key && !busy.has(key) && !retired.has(key));
const holding = (status) => status === "CONFIRMED" || status === "PENDING_MERCHANT_CONFIRMATION";

function learn(bookingId, token, booking, slot) {
  const known = bookings.get(bookingId);
  if (known) known.status = booking.status;
  else {
    bookings.set(bookingId, {
      token,
      merchantId: booking.slot ? booking.slot.merchant_id : slot.merchant_id,
      status: booking.status,
    });
  }
}

// ---- one request -------------------------------------------------------------

let baseUrl = "";
function currentBaseUrl() {
  try {
    baseUrl = fs.readFileSync(urlFile, "utf8").trim() || baseUrl;
  } catch {
    // keep the last one
  }
  return baseUrl;
}

/**
 * POSTs JSON; answers { status, body } or { error: "connection" | "timeout" }.
 * Connection errors mean the server was down or died with the request: it either
 * committed before dying or not at all, and nothing else will happen to it.
 */
async function post(path, body, authorization) {
  stats.sent++;
  try {
    const response = await fetch(`${currentBaseUrl()}${path}`, {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const text = await response.text();
    stats.httpStatus[response.status] = (stats.httpStatus[response.status] || 0) + 1;
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, body: parsed };
  } catch (error) {
    if (error && (error.name === "TimeoutError" || error.name === "AbortError")) {
      stats.timeouts++;
      return { error: "timeout" };
    }
    stats.connectionErrors++;
    return { error: "connection" };
  }
}

function noteFailure(body) {
  const cause = body && body.booking_failure ? body.booking_failure.cause || "UNSPECIFIED" : "no booking";
  stats.bookingFailures[cause] = (stats.bookingFailures[cause] || 0) + 1;
}

// ---- the operations ----------------------------------------------------------

async function createNew() {
  const slot = pick(slots);
  const token = `storm-${runId}-${++nextToken}`;
  const user = `user-${Math.floor(random() * 400)}`;
  const body = {
    idempotency_token: token,
    slot: {
      merchant_id: slot.merchant_id,
      service_id: slot.service_id,
      start_sec: String(slot.start_sec),
      duration_sec: String(slot.duration_sec),
      ...(slot.party_size ? { resources: { party_size: slot.party_size } } : {}),
    },
    user_information: {
      user_id: user,
      given_name: "Storm",
      family_name: user,
      telephone: "+1 555 0100",
      email: `${user}@example.com`,
    },
    payment_information: { prepayment_status: "PREPAYMENT_NOT_PROVIDED" },
  };
  tokens.set(token, { body, bookingId: undefined });
  tokenList.push(token);
  await sendCreate("create", token, slot);
}

async function replay() {
  const token = pick(tokenList);
  const known = tokens.get(token);
  if (!free(token) || (known.bookingId && !free(known.bookingId))) return createNew();
  await sendCreate("replay", token, known.body.slot);
}

async function sendCreate(kind, token, slot) {
  const known = tokens.get(token);
  const locked = [token, known.bookingId].filter(Boolean);
  for (const key of locked) busy.add(key);
  try {
    const answer = await post("/v3/CreateBooking", known.body, basicAuth);
    if (answer.error === "timeout") {
      for (const key of locked) retired.add(key);
      return;
    }
    if (answer.error) return;
    const booking = answer.status === 200 && answer.body && answer.body.booking;
    if (!booking || !booking.booking_id) return noteFailure(answer.body);
    const bookingId = booking.booking_id;
    if (known.bookingId && known.bookingId !== bookingId) {
      stats.mismatches.push({ token, acknowledgedBefore: known.bookingId, now: bookingId });
    }
    // Logged even when it contradicts an earlier acknowledgement: the checker reports it.
    acknowledge({ kind, token, bookingId, status: booking.status });
    known.bookingId = known.bookingId || bookingId;
    learn(bookingId, token, booking, slot);
  } finally {
    for (const key of locked) busy.delete(key);
  }
}

/** A known booking that holds a spot and has nothing in flight, optionally only pending ones. */
function candidate(pendingOnly) {
  const choices = [];
  for (const [bookingId, known] of bookings) {
    if (!free(bookingId, known.token)) continue;
    if (pendingOnly ? known.status === "PENDING_MERCHANT_CONFIRMATION" : holding(known.status)) {
      choices.push(bookingId);
    }
  }
  return choices.length > 0 ? pick(choices) : undefined;
}

async function cancel() {
  const bookingId = candidate(false);
  if (!bookingId) return createNew();
  const known = bookings.get(bookingId);
  const locked = [bookingId, known.token];
  for (const key of locked) busy.add(key);
  try {
    const answer = await post(
      "/v3/UpdateBooking",
      { booking: { booking_id: bookingId, status: "CANCELED" } },
      basicAuth,
    );
    if (answer.error === "timeout") {
      for (const key of locked) retired.add(key);
      return;
    }
    if (answer.error) return;
    const booking = answer.status === 200 && answer.body && answer.body.booking;
    if (!booking || booking.booking_id !== bookingId) {
      const cause = answer.body && answer.body.booking_failure && answer.body.booking_failure.cause;
      // Already canceled (an earlier cancel committed before a kill, unacknowledged): stop trying.
      if (cause === "BOOKING_ALREADY_CANCELLED" || cause === "BOOKING_NOT_CANCELLABLE") known.status = "UNKNOWN";
      return noteFailure(answer.body);
    }
    acknowledge({ kind: "cancel", token: known.token, bookingId, status: booking.status });
    known.status = booking.status;
  } finally {
    for (const key of locked) busy.delete(key);
  }
}

const merchantMethods = [
  { kind: "confirm", method: "ConfirmBooking", weight: 0.45 },
  { kind: "decline", method: "DeclineBooking", weight: 0.35 },
  { kind: "fail", method: "FailBooking", weight: 0.1 },
  { kind: "merchant-cancel", method: "CancelBooking", weight: 0.1 },
];

async function merchantDecision() {
  const bookingId = candidate(true);
  if (!bookingId) return createNew();
  const known = bookings.get(bookingId);
  let roll = random();
  const choice = merchantMethods.find((m) => (roll -= m.weight) < 0) || merchantMethods[0];
  const request = { bookingId };
  if (choice.kind === "fail") Object.assign(request, { cause: "SLOT_UNAVAILABLE", description: "storm" });
  const locked = [bookingId, known.token];
  for (const key of locked) busy.add(key);
  try {
    const answer = await post(
      `/partner.merchant.v1.MerchantService/${choice.method}`,
      request,
      `Bearer ${merchantTokens[known.merchantId]}`,
    );
    if (answer.error === "timeout") {
      for (const key of locked) retired.add(key);
      return;
    }
    if (answer.error) return;
    const booking = answer.status === 200 && answer.body && answer.body.booking;
    if (!booking || booking.bookingId !== bookingId) {
      // failed_precondition: a decision committed before a kill, unacknowledged. Learn it by a replay later.
      if (answer.status !== 200) known.status = "UNKNOWN";
      return noteFailure(answer.body);
    }
    acknowledge({ kind: choice.kind, merchant: true, token: known.token, bookingId, status: booking.status });
    known.status = booking.status;
  } finally {
    for (const key of locked) busy.delete(key);
  }
}

// ---- the storm ---------------------------------------------------------------

let stopping = false;

async function worker() {
  while (!stopping) {
    const roll = random();
    const errorsBefore = stats.connectionErrors;
    if (roll < 0.2 && tokenList.length > 0) await replay();
    else if (roll < 0.38) await cancel();
    else if (roll < 0.55) await merchantDecision();
    else await createNew();
    // The server is down: do not spin; the test restarts it within a second or two.
    if (stats.connectionErrors > errorsBefore) await sleep(20 + random() * 30);
  }
}

async function main() {
  const workers = [];
  for (let i = 0; i < concurrency; i++) workers.push(worker());
  await Promise.all(workers);
  fs.closeSync(ackFd);
  const { mismatches, ...rest } = stats;
  process.stdout.write(`STORM-STATS ${JSON.stringify({ ...rest, mismatches: mismatches.slice(0, 20) })}\n`, () =>
    process.exit(0),
  );
}

const stop = () => {
  stopping = true;
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

main().catch((error) => {
  process.stderr.write(`storm-client: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
