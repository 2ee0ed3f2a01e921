"use strict";
// The limits the server is compared with, each run in its own process:
//   node bench/ceilings.js raw PORT            a node:http server that parses and re-serializes the JSON body
//   node bench/ceilings.js connect PORT H2PORT a bare connect-node echo of BookingService.CreateBooking
//                                              (HTTP/1.1 Connect JSON on PORT, h2c gRPC on H2PORT)
//   node bench/ceilings.js sqlite DB SECONDS   the server's booking transaction in a loop (WAL, synchronous=FULL)
const http = require("node:http");
const http2 = require("node:http2");

function rawServer(port) {
  http
    .createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        let request;
        try {
          request = JSON.parse(Buffer.concat(chunks).toString());
        } catch {
          res.writeHead(400).end();
          return;
        }
        const body = JSON.stringify({
          booking: { booking_id: "echo", slot: request.slot, user_information: request.user_information, status: "CONFIRMED" },
        });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
      });
    })
    .listen(port, "127.0.0.1", () => console.log("ready"));
}

function connectEchoServer(port, h2Port) {
  const { connectNodeAdapter } = require("@connectrpc/connect-node");
  const pb = require("../dist/gen/es/ext/maps/booking/partner/v3/booking_service_pb.js");
  const adapter = connectNodeAdapter({
    routes: (router) =>
      router.service(pb.BookingService, {
        healthCheck: () => ({}),
        createBooking: (req) => ({
          booking: { bookingId: "echo", slot: req.slot, userInformation: req.userInformation, status: pb.BookingStatus.CONFIRMED },
        }),
      }),
  });
  let ready = 0;
  const up = () => ++ready === 2 && console.log("ready");
  http.createServer(adapter).listen(port, "127.0.0.1", up);
  http2.createServer(adapter).listen(h2Port, "127.0.0.1", up);
}

/**
 * What createBooking does inside its transaction, on the store the server
 * uses: token lookup, slot search, duplicate check, take a spot, insert the
 * booking, record the token, queue the availability notification.
 */
async function sqliteLoop(dbPath, seconds) {
  const { create } = require("@bufbuild/protobuf");
  const pb = require("../dist/gen/es/ext/maps/booking/partner/v3/booking_service_pb.js");
  const { openSqliteStore } = require("../dist/src/store/sqlite-store.js");
  const { sameUserKeys } = require("../dist/src/store/repositories.js");
  const { queueAvailabilityReplace } = require("../dist/src/notify/availability-notification.js");
  const { slotAt, MERCHANTS, SLOTS_PER_MERCHANT } = require("./generate-feeds.js");
  const store = openSqliteStore(dbPath);
  const now = Math.floor(Date.now() / 1000);
  let ops = 0;
  let booked = 0;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const s = slotAt((ops * 7919) % (MERCHANTS * SLOTS_PER_MERCHANT));
    const token = `sqlite-bench-${process.pid}-${ops}`;
    const user = create(pb.UserInformationSchema, { userId: `u-${token}`, email: `${token}@example.com`, givenName: "Ada" });
    // One unit at a time, each waiting for its own commit and fsync: the fsync-per-commit ceiling.
    await store.transaction(async (tx) => {
      if ((await tx.idempotency.findBookingId(token)) !== undefined) return;
      const query = {
        merchantId: s.merchantId, serviceId: s.serviceId, startSec: s.startSec, durationSec: s.durationSec,
        staffId: s.resources.staff_id ?? "", roomId: "", partySize: s.resources.party_size ?? 0,
      };
      const candidates = await tx.inventory.findSlots(query, 50);
      const identity = sameUserKeys(user);
      for (const c of candidates) if (await tx.bookings.findActiveOnSlotForUser(c.slotId, identity)) return;
      const slot = candidates.find((c) => c.spotsOpen > 0);
      if (!slot || !(await tx.inventory.takeSpot(slot.slotId))) return;
      const booking = create(pb.BookingSchema, {
        bookingId: token, userInformation: user, status: pb.BookingStatus.CONFIRMED,
        slot: { merchantId: slot.merchantId, serviceId: slot.serviceId, startSec: BigInt(slot.startSec), durationSec: BigInt(slot.durationSec) },
        paymentInformation: {},
      });
      await tx.bookings.insert({ booking, slotId: slot.slotId, holdsSpot: true, createdAtSec: now, additionalRequest: "", decideBySec: 0 }, now);
      await tx.idempotency.record(token, booking.bookingId, now);
      await queueAvailabilityReplace(tx.outbox, slot, now);
      booked++;
    });
    ops++;
  }
  await store.close();
  console.log(JSON.stringify({ ops_per_s: Math.round(ops / seconds), ops, booked }));
}

const [mode, a, b] = process.argv.slice(2);
if (mode === "raw") rawServer(Number(a));
else if (mode === "connect") connectEchoServer(Number(a), Number(b));
else if (mode === "sqlite") {
  sqliteLoop(a, Number(b)).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
else {
  console.error("usage: node bench/ceilings.js raw PORT | connect PORT H2PORT | sqlite DB SECONDS");
  process.exit(2);
}
