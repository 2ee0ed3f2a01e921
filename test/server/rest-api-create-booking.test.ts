import { CreateBookingResponseSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import {
  at,
  book,
  bookingRequest,
  countAvailable,
  createBooking,
  expectBookingFailure,
  expectInvalidArgument,
  keysOutsideProto,
  newUser,
  seedMerchant,
  uniqueId,
  type Json,
} from "../support/rest-helpers";
import { rest, startTestServer, type TestServer } from "../support/test-server";

const SYNCHRONOUS = 1;
const ASYNCHRONOUS = 2;

describe("CreateBooking", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  describe("request encodings", () => {
    test("when the body is snake_case with int64 as strings and enums as names, then the slot is booked", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
      const response = await rest(server, "CreateBooking", {
        slot: { ...slots[0], confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS" },
        user_information: newUser(),
        idempotency_token: uniqueId("token"),
        payment_information: { prepayment_status: "PREPAYMENT_NOT_PROVIDED" },
      });
      expect(response.status).toBe(200);
      expect(response.body.booking.status).toBe("CONFIRMED");
      expect(await countAvailable(server, slots[0])).toBe(1);
    });

    test("when the body is lowerCamelCase, then it is understood and answered in snake_case", async () => {
      const { merchantId, slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
      const userId = uniqueId("user");
      const response = await rest(server, "CreateBooking", {
        slot: { merchantId, serviceId: "haircut", startSec: String(at(1)), durationSec: "3600" },
        userInformation: { userId, givenName: "Ada", familyName: "Lovelace", telephone: "+1555", email: `${userId}@x.org` },
        idempotencyToken: uniqueId("token"),
        paymentInformation: { prepaymentStatus: "PREPAYMENT_NOT_PROVIDED" },
      });
      expect(response.status).toBe(200);
      expect(response.body.booking.status).toBe("CONFIRMED");
      expect(response.body.booking.user_information).toEqual({
        user_id: userId,
        given_name: "Ada",
        family_name: "Lovelace",
        telephone: "+1555",
        email: `${userId}@x.org`,
      });
      expect(await countAvailable(server, slots[0])).toBe(1);
    });

    test("when int64 fields are JSON numbers, then they are read like strings and answered as strings", async () => {
      const { merchantId } = await seedMerchant(server, [{ startSec: at(1) }]);
      const slot = { merchant_id: merchantId, service_id: "haircut", start_sec: at(1), duration_sec: 3600 };
      const response = await createBooking(server, slot);
      expect(response.status).toBe(200);
      expect(response.body.booking.slot.start_sec).toBe(String(at(1)));
      expect(response.body.booking.slot.duration_sec).toBe("3600");
    });

    test("when enums are given as numbers, then they are read like their names", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), partySize: 2, confirmationMode: SYNCHRONOUS }]);
      const response = await createBooking(server, { ...slots[0], confirmation_mode: 1 }, newUser(), uniqueId("token"), {
        payment_information: { prepayment_status: 2 },
      });
      expect(response.status).toBe(200);
      expect(response.body.booking.status).toBe("CONFIRMED");
      expect(response.body.booking.slot.confirmation_mode).toBe("CONFIRMATION_MODE_SYNCHRONOUS");
      expect(response.body.booking.slot.resources).toEqual({ party_size: 2 });
      expect(response.body.booking.payment_information.prepayment_status).toBe("PREPAYMENT_NOT_PROVIDED");
    });

    test("when a request is Google-shaped at generous real sizes (200-character name, 1 KiB request, 2 KiB payment token), then it books", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
      const user = {
        ...newUser(),
        given_name: "Ä".repeat(200),
        family_name: "de la Cruz-Fernández y Montenegro",
        telephone: "+44 20 7946 0000 ext. 1234",
        address: { country: "GB", locality: "London", postal_code: "SW1A 1AA", street_address: "10 Downing Street, Westminster" },
        language_code: "en-GB",
      };
      const paymentToken = JSON.stringify({ signature: "s".repeat(600), protocolVersion: "ECv2", signedMessage: "m".repeat(1400) });
      expect(paymentToken.length).toBeGreaterThan(2048);
      const response = await rest(server, "CreateBooking", {
        ...bookingRequest(slots[0], user),
        additional_request: "Window seat, please; one guest uses a wheelchair. ".repeat(21),
        payment_information: { prepayment_status: "PREPAYMENT_NOT_PROVIDED" },
        payment_processing_parameters: {
          unparsed_payment_method_token: paymentToken,
          tokenization_config: { tokenization_parameter: { gateway: "stripe", "stripe:version": "2018-10-31" } },
        },
      });
      expect(response.status).toBe(200);
      expect(response.body.booking.status).toBe("CONFIRMED");
      expect(response.body.booking.user_information.given_name).toBe(user.given_name);
    });

    test("when unknown fields appear at any level, then they are ignored (forward compatibility)", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
      const user = newUser();
      const response = await rest(server, "CreateBooking", {
        ...bookingRequest({ ...slots[0], future_slot_field: "x" }, { ...user, loyalty_tier: "gold" }),
        future_top_level_field: { nested: [1, 2, { deeper: "NOT_AN_ENUM" }] },
        payment_information: { prepayment_status: "PREPAYMENT_NOT_PROVIDED", future_payment_field: 7 },
      });
      expect(response.status).toBe(200);
      expect(response.body.booking.status).toBe("CONFIRMED");
      expect(response.body.booking.user_information).toEqual(user);
      expect(keysOutsideProto(CreateBookingResponseSchema, response.body)).toEqual([]);
    });
  });

  describe("answers", () => {
    test("when a synchronous slot is booked, then the answer uses proto field names, int64 strings and enum names only", async () => {
      const { merchantId, slots } = await seedMerchant(server, [{ startSec: at(1), confirmationMode: SYNCHRONOUS }]);
      const user = newUser();
      const response = await createBooking(server, slots[0], user);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        booking: {
          booking_id: expect.stringMatching(/.+/),
          slot: {
            merchant_id: merchantId,
            service_id: "haircut",
            start_sec: String(at(1)),
            duration_sec: "3600",
            confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS",
          },
          user_information: user,
          status: "CONFIRMED",
          payment_information: { prepayment_status: "PREPAYMENT_NOT_PROVIDED" },
        },
      });
      expect(keysOutsideProto(CreateBookingResponseSchema, response.body)).toEqual([]);
    });

    test("when two bookings are made, then their booking ids differ", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
      const first = await book(server, slots[0]);
      const second = await book(server, slots[0]);
      expect(first.booking_id).not.toBe(second.booking_id);
    });

    test("when the slot is asynchronous, then the booking is PENDING_MERCHANT_CONFIRMATION with the asynchronous mode", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2, confirmationMode: ASYNCHRONOUS }]);
      const response = await createBooking(server, { ...slots[0], confirmation_mode: "CONFIRMATION_MODE_ASYNCHRONOUS" });
      expect(response.status).toBe(200);
      expect(response.body.booking.status).toBe("PENDING_MERCHANT_CONFIRMATION");
      expect(response.body.booking.slot.confirmation_mode).toBe("CONFIRMATION_MODE_ASYNCHRONOUS");
      expect(await countAvailable(server, slots[0])).toBe(1);
    });
  });

  describe("business failures", () => {
    test("when the slot is not in inventory, then HTTP 200 with only booking_failure SLOT_UNAVAILABLE", async () => {
      const { merchantId } = await seedMerchant(server, [{ startSec: at(1) }]);
      const user = newUser();
      const unknown = { merchant_id: merchantId, service_id: "haircut", start_sec: String(at(7)), duration_sec: "3600" };
      expectBookingFailure(await createBooking(server, unknown, user), "SLOT_UNAVAILABLE");
      expectBookingFailure(
        await createBooking(server, { ...unknown, merchant_id: uniqueId("no-such-merchant") }, user),
        "SLOT_UNAVAILABLE",
      );
      expect((await rest(server, "ListBookings", { user_id: user.user_id })).status).toBe(404);
    });

    test("when the slot has no open spot, then SLOT_UNAVAILABLE", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2, spotsOpen: 0 }]);
      expectBookingFailure(await createBooking(server, slots[0]), "SLOT_UNAVAILABLE");
    });

    test("when another user took the last spot, then SLOT_UNAVAILABLE and the count stays 0", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
      await book(server, slots[0]);
      expectBookingFailure(await createBooking(server, slots[0]), "SLOT_UNAVAILABLE");
      expect(await countAvailable(server, slots[0])).toBe(0);
    });

    test("when the slot has already started, then SLOT_UNAVAILABLE", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: Math.floor(Date.now() / 1000) - 600 }]);
      expectBookingFailure(await createBooking(server, slots[0]), "SLOT_UNAVAILABLE");
    });

    test("when the offer_id is unknown, then OFFER_UNAVAILABLE and no spot is taken", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
      const response = await createBooking(server, slots[0], newUser(), uniqueId("token"), { offer_id: "no-such-offer" });
      expectBookingFailure(response, "OFFER_UNAVAILABLE");
      expect(await countAvailable(server, slots[0])).toBe(2);
    });

    test("when the offer_id is an offer of the merchant, then booking.offer_info.offer_id echoes it", async () => {
      const { merchantId, slots } = await seedMerchant(server, [{ startSec: at(1) }]);
      await server.store.transaction(async (tx) => {
        await tx.inventory.upsertOffer({ merchantId, offerId: "spring-10", serviceId: "", feedJson: "{}" });
      });
      const response = await createBooking(server, slots[0], newUser(), uniqueId("token"), { offer_id: "spring-10" });
      expect(response.status).toBe(200);
      expect(response.body.booking.status).toBe("CONFIRMED");
      expect(response.body.booking.offer_info).toEqual({ offer_id: "spring-10" });
    });
  });

  describe("idempotency and duplicates", () => {
    test("when the same token is replayed, then the same booking comes back and no second spot is taken", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 3 }]);
      const body = bookingRequest(slots[0], newUser());
      const first = await rest(server, "CreateBooking", body);
      const replay = await rest(server, "CreateBooking", body);
      expect(replay.status).toBe(200);
      expect(replay.body.booking.booking_id).toBe(first.body.booking.booking_id);
      expect(replay.body).toEqual(first.body);
      expect(await countAvailable(server, slots[0])).toBe(2);
    });

    test("when a new token comes for the same user email and slot, then OVERLAPPING_RESERVATION and no spot is taken", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 3 }]);
      const user = newUser();
      await book(server, slots[0], user);
      const sameEmail = { ...user, user_id: uniqueId("other-id"), email: user.email.toUpperCase() };
      expectBookingFailure(await createBooking(server, slots[0], sameEmail), "OVERLAPPING_RESERVATION");
      const sameUserId = { ...user, email: "another@example.com" };
      expectBookingFailure(await createBooking(server, slots[0], sameUserId), "OVERLAPPING_RESERVATION");
      expect(await countAvailable(server, slots[0])).toBe(2);
    });

    test("when a failed attempt is retried with the same token after a spot frees up, then it succeeds", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
      const holder = await book(server, slots[0]);
      const retried = bookingRequest(slots[0], newUser());
      expectBookingFailure(await rest(server, "CreateBooking", retried), "SLOT_UNAVAILABLE");

      const canceled = await rest(server, "UpdateBooking", { booking: { booking_id: holder.booking_id, status: "CANCELED" } });
      expect(canceled.body.booking.status).toBe("CANCELED");

      const retry = await rest(server, "CreateBooking", retried);
      expect(retry.status).toBe(200);
      expect(retry.body.booking.status).toBe("CONFIRMED");
      expect(await countAvailable(server, slots[0])).toBe(0);
    });
  });

  describe("malformed requests", () => {
    type Sent = { body?: unknown; raw?: string; contentType?: string };
    const without = (object: Json, key: string): Json => Object.fromEntries(Object.entries(object).filter(([k]) => k !== key));
    const cases: Array<[string, (valid: Json) => Sent, string | RegExp]> = [
      ["the body is not valid JSON", () => ({ raw: '{"slot": {' }), /^malformed JSON/],
      ["the body is empty", () => ({ raw: "" }), /^request body is empty/],
      ["the body is a JSON array", (valid) => ({ body: [valid] }), "request body"],
      ["slot is missing", (valid) => ({ body: without(valid, "slot") }), "slot"],
      ["slot.start_sec is missing", (valid) => ({ body: { ...valid, slot: without(valid.slot, "start_sec") } }), "slot.start_sec"],
      ["slot.merchant_id is missing", (valid) => ({ body: { ...valid, slot: without(valid.slot, "merchant_id") } }), "slot.merchant_id"],
      ["idempotency_token is missing", (valid) => ({ body: without(valid, "idempotency_token") }), "idempotency_token"],
      ["user_information is missing", (valid) => ({ body: without(valid, "user_information") }), "user_information"],
      [
        "user_information.user_id is missing",
        (valid) => ({ body: { ...valid, user_information: without(valid.user_information, "user_id") } }),
        "user_information.user_id",
      ],
      ['start_sec is "abc"', (valid) => ({ body: { ...valid, slot: { ...valid.slot, start_sec: "abc" } } }), "slot.start_sec"],
      ["start_sec is a fraction", (valid) => ({ body: { ...valid, slot: { ...valid.slot, start_sec: 1.5 } } }), "slot.start_sec"],
      [
        'party_size is "x"',
        (valid) => ({ body: { ...valid, slot: { ...valid.slot, resources: { party_size: "x" } } } }),
        "slot.resources.party_size",
      ],
      ["slot is the number 5", (valid) => ({ body: { ...valid, slot: 5 } }), "slot"],
      [
        "user_information.email is a number",
        (valid) => ({ body: { ...valid, user_information: { ...valid.user_information, email: 7 } } }),
        "user_information.email",
      ],
      [
        'confirmation_mode is the unknown name "NOPE"',
        (valid) => ({ body: { ...valid, slot: { ...valid.slot, confirmation_mode: "NOPE" } } }),
        "slot.confirmation_mode",
      ],
      ["start_sec is negative", (valid) => ({ body: { ...valid, slot: { ...valid.slot, start_sec: "-3600" } } }), "slot.start_sec"],
      ['start_sec is hex "0x6b5328a0"', (valid) => ({ body: { ...valid, slot: { ...valid.slot, start_sec: "0x6b5328a0" } } }), "slot.start_sec"],
      ['duration_sec is octal with spaces " 0o5214 "', (valid) => ({ body: { ...valid, slot: { ...valid.slot, duration_sec: " 0o5214 " } } }), "slot.duration_sec"],
      [
        "user_information.given_name is 100 KB",
        (valid) => ({ body: { ...valid, user_information: { ...valid.user_information, given_name: "x".repeat(102400) } } }),
        "user_information.given_name",
      ],
      ["the content type is text/plain", (valid) => ({ body: valid, contentType: "text/plain" }), /content-type/],
    ];

    test.each(cases)("when %s, then 400 invalid_argument naming it and nothing changes", async (_, malform, field) => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
      const user = newUser();
      const valid = bookingRequest(slots[0], user);
      const sent = malform(valid);

      expectInvalidArgument(await rest(server, "CreateBooking", sent.body, sent), field);

      expect(await countAvailable(server, slots[0])).toBe(1);
      expect((await rest(server, "ListBookings", { user_id: user.user_id })).status).toBe(404);
      // The token was not used up: the well-formed request books the slot as a first attempt.
      const booked = await rest(server, "CreateBooking", valid);
      expect(booked.body.booking.status).toBe("CONFIRMED");
      const listed = await rest(server, "ListBookings", { user_id: user.user_id });
      expect(listed.body.bookings.map((booking: Json) => booking.booking_id)).toEqual([booked.body.booking.booking_id]);
      expect(await countAvailable(server, slots[0])).toBe(0);
    });
  });
});
