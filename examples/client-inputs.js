// What the example clients (grpc-js-client.js, connect-client.js) ask the
// server, kept in one place so the two differ only in how their library asks:
// the server and credentials from the environment `make run` prints, the demo
// dinners to look up, and the guest to book them for.
"use strict";
const { randomUUID } = require("node:crypto");

/**
 * The server (`B`) and Google's Basic pair (`AUTH`, `user:password`) from the
 * environment: the line `make run` prints, pasted into the shell.
 * @returns {{ baseUrl: URL, authorization: string }}
 */
function serverFromEnvironment() {
  const { B: base, AUTH: auth } = process.env;
  if (!base || !auth) {
    fail("set B and AUTH first: paste the `export B=... AUTH=...` line `make run` prints");
  }
  let baseUrl;
  try {
    baseUrl = new URL(base);
  } catch {
    fail(`B is not a URL: ${JSON.stringify(base)} (e.g. http://127.0.0.1:8080)`);
  }
  if (!auth.includes(":")) fail("AUTH must be user:password");
  return { baseUrl, authorization: `Basic ${Buffer.from(auth).toString("base64")}` };
}

const merchantId = "demo-restaurant";
const dinnerDurationSec = 7200;

/**
 * Dinner for two at the demo restaurant at 18:00 and 19:00 UTC (the hours it
 * confirms at once) on each of the next `days` days from tomorrow, as plain
 * numbers: each client turns them into its library's messages.
 */
function dinnerSlotTimes(nowMs = Date.now(), days = 7) {
  const tomorrow = Math.floor(nowMs / 86_400_000) * 86_400 + 86_400;
  const times = [];
  for (let day = 0; day < days; day++) {
    for (const hour of [18, 19]) {
      times.push({ serviceId: "dinner", startSec: tomorrow + day * 86_400 + hour * 3600, durationSec: dinnerDurationSec, partySize: 2 });
    }
  }
  return times;
}

/**
 * What each run books with: a token of its own (the same token again would
 * return the booking already made for it) and a guest of its own, by user id and
 * e-mail (one guest's second dinner at the same time would be an
 * OVERLAPPING_RESERVATION).
 */
function newBooking() {
  const id = randomUUID();
  return {
    idempotencyToken: `example-${id}`,
    userInformation: {
      userId: `example-user-${id}`,
      givenName: "Ada",
      familyName: "Lovelace",
      telephone: "+44 20 7946 0000",
      email: `ada+${id.slice(0, 8)}@example.com`,
    },
  };
}

const isoTime = (startSec) => new Date(Number(startSec) * 1000).toISOString();

/**
 * The slot to book from a BatchAvailabilityLookup's answers: the first
 * available one (the lookup's slot time with its merchant, `resource_ids` as
 * a slot's `resources`), in the library's own int64 type as the answer has it.
 * Prints how many were free; none ends the example.
 */
function firstFreeSlot(answers) {
  const free = answers.filter((answer) => answer.available);
  console.log(`BatchAvailabilityLookup: ${free.length} of ${answers.length} dinners for 2 available`);
  if (free.length === 0) fail("no dinner for 2 is free in the next 7 days: nothing to book");
  const { serviceId, startSec, durationSec, resourceIds } = free[0].slotTime;
  return { merchantId, serviceId, startSec, durationSec, resources: resourceIds };
}

/** Prints a CreateBooking answer (enums named by the library's own functions); a booking failure ends the example. */
function reportBooking({ booking, bookingFailure }, statusName, causeName) {
  if (bookingFailure) fail(`CreateBooking: not booked: ${causeName(bookingFailure.cause)}`);
  console.log(`CreateBooking: ${booking.bookingId} ${statusName(booking.status)} for ${isoTime(booking.slot.startSec)}`);
}

/** A module compiled into dist/ (a path from the repository's root), with a sentence when dist/ is not built yet. */
function requireBuilt(path) {
  try {
    return require(`../${path}`);
  } catch (error) {
    if (error.code !== "MODULE_NOT_FOUND") throw error;
    return fail("dist/ is not built: run `make run` (or `npm run build`) first");
  }
}

/** Ends the example with a sentence on stderr and exit status 1. */
function fail(sentence) {
  console.error(sentence);
  process.exit(1);
}

module.exports = { serverFromEnvironment, merchantId, dinnerSlotTimes, newBooking, firstFreeSlot, reportBooking, fail, requireBuilt };
