#!/usr/bin/env node
// BookingService with a Connect client: @connectrpc/connect-node and the
// protobuf-es descriptors of gen/es/ (compiled into dist/gen/ by `make run` or
// `npm run build`), over the Connect protocol on HTTP/1.1: HealthCheck, a
// BatchAvailabilityLookup of the next week's dinners for two at the demo
// restaurant, and a CreateBooking of the first free one.
//
//   export B=http://127.0.0.1:8080 AUTH=demo:...   # the line `make run` prints
//   node examples/connect-client.js
//
// Requests are plain objects here: protobuf-es fills in every field they leave
// out (int64 fields are bigint). createGrpcTransport (HTTP/2) or
// createGrpcWebTransport would serve as well: the server speaks all three.
"use strict";
const { Code, ConnectError, createClient } = require("@connectrpc/connect");
const { createConnectTransport } = require("@connectrpc/connect-node");
const { serverFromEnvironment, merchantId, dinnerSlotTimes, newBooking, firstFreeSlot, reportBooking, fail, requireBuilt } = require("./client-inputs.js");
const { BookingService, BookingStatus, BookingFailure_Cause } = requireBuilt("dist/gen/es/ext/maps/booking/partner/v3/booking_service_pb.js");

async function main() {
  const { baseUrl, authorization } = serverFromEnvironment();
  const transport = createConnectTransport({
    baseUrl: baseUrl.href,
    httpVersion: "1.1",
    // Google's Basic credentials on every call.
    interceptors: [(next) => (request) => (request.header.set("Authorization", authorization), next(request))],
  });
  const client = createClient(BookingService, transport);
  const call = (method, request) =>
    client[method](request, { timeoutMs: 5000 }).catch((error) => {
      if (!(error instanceof ConnectError)) throw error;
      throw new Error(`${method} failed: ${Code[error.code]} ${error.rawMessage}`);
    });

  const health = await call("healthCheck", {});
  console.log(`HealthCheck: ${health.status}`);

  const lookup = await call("batchAvailabilityLookup", {
    merchantId,
    slotTime: dinnerSlotTimes().map((t) => ({
      serviceId: t.serviceId,
      startSec: BigInt(t.startSec),
      durationSec: BigInt(t.durationSec),
      resourceIds: { partySize: t.partySize },
    })),
  });
  const slot = firstFreeSlot(lookup.slotTimeAvailability);
  const booked = await call("createBooking", { ...newBooking(), slot });
  reportBooking(booked, (status) => BookingStatus[status], (cause) => BookingFailure_Cause[cause]);
}

main().catch((error) => fail(error.message));
