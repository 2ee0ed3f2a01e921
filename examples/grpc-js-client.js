#!/usr/bin/env node
// BookingService over gRPC with @grpc/grpc-js and the ts-proto stubs of
// gen/grpc/ (compiled into dist/gen/ by `make run` or `npm run build`):
// HealthCheck, a BatchAvailabilityLookup of the next week's dinners for two at
// the demo restaurant, and a CreateBooking of the first free one.
//
//   export B=http://127.0.0.1:8080 AUTH=demo:...   # the line `make run` prints
//   node examples/grpc-js-client.js
//
// Every request is built with the message's `fromPartial`. ts-proto's encoders
// expect every field present: they write a field unless it equals its default
// ("0" for an int64 here, forceLong=string), so a plain object without, say,
// `durationSec` has `undefined !== "0"`, and the writer fails with "Cannot
// convert undefined to a BigInt". `fromPartial` fills in every missing field
// (and nested message) with its default; the TypeScript types (DeepPartial)
// then check what is given.
"use strict";
const { credentials, Metadata, status: grpcStatus } = require("@grpc/grpc-js");
const { serverFromEnvironment, merchantId, dinnerSlotTimes, newBooking, firstFreeSlot, reportBooking, fail, requireBuilt } = require("./client-inputs.js");
const stubs = requireBuilt("dist/gen/grpc/ext/maps/booking/partner/v3/booking_service.js");
const { BookingServiceClient, HealthCheckRequest, BatchAvailabilityLookupRequest, CreateBookingRequest } = stubs;

const deadlineMs = 5000;

async function main() {
  const { baseUrl, authorization } = serverFromEnvironment();
  // grpc-js takes host:port; h2c for http://, TLS for https://.
  const channel = baseUrl.protocol === "https:" ? credentials.createSsl() : credentials.createInsecure();
  const client = new BookingServiceClient(baseUrl.host, channel);
  const metadata = new Metadata();
  metadata.set("authorization", authorization);
  const call = (method, request) =>
    new Promise((resolve, reject) =>
      client[method](request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
        if (!error) return resolve(response);
        reject(new Error(`${method} failed: ${grpcStatus[error.code] ?? error.code} ${error.details}`));
      }),
    );
  try {
    const health = await call("healthCheck", HealthCheckRequest.fromPartial({}));
    console.log(`HealthCheck: ${health.status}`);

    const lookup = await call(
      "batchAvailabilityLookup",
      BatchAvailabilityLookupRequest.fromPartial({
        merchantId,
        slotTime: dinnerSlotTimes().map((t) => ({
          serviceId: t.serviceId,
          startSec: String(t.startSec), // int64 fields are decimal strings in these stubs
          durationSec: String(t.durationSec),
          resourceIds: { partySize: t.partySize },
        })),
      }),
    );
    const slot = firstFreeSlot(lookup.slotTimeAvailability);
    const booked = await call("createBooking", CreateBookingRequest.fromPartial({ ...newBooking(), slot }));
    reportBooking(booked, stubs.bookingStatusToJSON, stubs.bookingFailure_CauseToJSON);
  } finally {
    client.close();
  }
}

main().catch((error) => fail(error.message));
