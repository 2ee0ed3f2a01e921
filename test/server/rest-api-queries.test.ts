import {
  GetBookingStatusResponseSchema,
  ListBookingsResponseSchema,
  SetMarketingPreferenceResponseSchema,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import {
  at,
  book,
  expectInvalidArgument,
  keysOutsideProto,
  newUser,
  seedMerchant,
  slotJson,
  uniqueId,
  type Json,
} from "../support/rest-helpers";
import { futureStartSec, manualClock, rest, seedSlots, startTestServer, type TestServer } from "../support/test-server";

const ASYNCHRONOUS = 2;

describe("GetBookingStatus", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  test("when the booking is confirmed, then booking_status CONFIRMED and prepayment_status PREPAYMENT_NOT_PROVIDED", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
    const booking = await book(server, slots[0]);
    const response = await rest(server, "GetBookingStatus", { booking_id: booking.booking_id });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      booking_id: booking.booking_id,
      booking_status: "CONFIRMED",
      prepayment_status: "PREPAYMENT_NOT_PROVIDED",
    });
    expect(keysOutsideProto(GetBookingStatusResponseSchema, response.body)).toEqual([]);
  });

  test("when the booking awaits the merchant, then booking_status PENDING_MERCHANT_CONFIRMATION", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), confirmationMode: ASYNCHRONOUS }]);
    const booking = await book(server, slots[0]);
    const response = await rest(server, "GetBookingStatus", { bookingId: booking.booking_id });
    expect(response.body.booking_status).toBe("PENDING_MERCHANT_CONFIRMATION");
  });

  test("when the booking was canceled, then booking_status CANCELED", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
    const booking = await book(server, slots[0]);
    await rest(server, "UpdateBooking", { booking: { booking_id: booking.booking_id, status: "CANCELED" } });
    const response = await rest(server, "GetBookingStatus", { booking_id: booking.booking_id });
    expect(response.body).toMatchObject({ booking_status: "CANCELED", prepayment_status: "PREPAYMENT_NOT_PROVIDED" });
  });

  test("when the booking id is unknown, then 404 not_found", async () => {
    const response = await rest(server, "GetBookingStatus", { booking_id: "no-such-booking" });
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ code: "not_found" });
  });

  test("when booking_id is missing, then 400 naming booking_id", async () => {
    expectInvalidArgument(await rest(server, "GetBookingStatus", {}), "booking_id");
  });
});

describe("ListBookings", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  const list = (userId: string) => rest(server, "ListBookings", { user_id: userId });

  test("when the user has bookings at several merchants, then the future active ones come back, canceled ones left out", async () => {
    const first = await seedMerchant(server, [{ startSec: at(5) }, { startSec: at(6) }]);
    const second = await seedMerchant(server, [{ startSec: at(2), spotsTotal: 2 }]);
    const user = newUser();
    const later = await book(server, first.slots[0], user);
    const canceled = await book(server, first.slots[1], user);
    const earlier = await book(server, second.slots[0], user);
    await book(server, second.slots[0]); // someone else's
    await rest(server, "UpdateBooking", { booking: { booking_id: canceled.booking_id, status: "CANCELED" } });

    const response = await list(user.user_id);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ bookings: [earlier, later] });
    expect(keysOutsideProto(ListBookingsResponseSchema, response.body)).toEqual([]);
  });

  test("when the user id is unknown, then 404 not_found", async () => {
    const response = await list(uniqueId("nobody"));
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ code: "not_found" });
  });

  test("when a known user has no active booking left, then 200 with no bookings", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
    const user = newUser();
    const booking = await book(server, slots[0], user);
    await rest(server, "UpdateBooking", { booking: { booking_id: booking.booking_id, status: "CANCELED" } });
    const response = await list(user.user_id);
    expect(response.status).toBe(200);
    expect(response.body.bookings ?? []).toEqual([]);
  });

  test("when a booking's slot has passed, then it is left out", async () => {
    const clock = manualClock(futureStartSec - 24 * 3600);
    const timed = await startTestServer({ clock });
    try {
      const merchantId = uniqueId("merchant");
      await seedSlots(timed.store, [
        { merchantId, serviceId: "haircut", startSec: futureStartSec },
        { merchantId, serviceId: "haircut", startSec: futureStartSec + 3 * 3600 },
      ]);
      const user = newUser();
      const soon = await book(timed, slotJson({ merchantId, serviceId: "haircut", startSec: futureStartSec }), user);
      const later = await book(timed, slotJson({ merchantId, serviceId: "haircut", startSec: futureStartSec + 3 * 3600 }), user);
      const ids = async () =>
        ((await rest(timed, "ListBookings", { user_id: user.user_id })).body.bookings ?? []).map((b: Json) => b.booking_id);
      expect(await ids()).toEqual([soon.booking_id, later.booking_id]);

      clock.advance(24 * 3600 + 60);
      expect(await ids()).toEqual([later.booking_id]);
    } finally {
      await timed.close();
    }
  });

  test("when user_id is missing, then 400 naming user_id", async () => {
    expectInvalidArgument(await rest(server, "ListBookings", {}), "user_id");
  });
});

describe("SetMarketingPreference", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  test("when a user opts in, then the preference is stored and echoed", async () => {
    const user = newUser();
    const response = await rest(server, "SetMarketingPreference", { user_information: user, user_to_receive_marketing: true });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ user_information: user, user_to_receive_marketing: true });
    expect(keysOutsideProto(SetMarketingPreferenceResponseSchema, response.body)).toEqual([]);
    expect(await server.store.read.users.getMarketingPreference(user.user_id)).toBe(true);
  });

  test("when the user opts out later, then the stored preference becomes false", async () => {
    const user = newUser();
    await rest(server, "SetMarketingPreference", { user_information: user, user_to_receive_marketing: true });
    const response = await rest(server, "SetMarketingPreference", { userInformation: user, userToReceiveMarketing: false });
    expect(response.status).toBe(200);
    expect(response.body.user_to_receive_marketing ?? false).toBe(false);
    expect(await server.store.read.users.getMarketingPreference(user.user_id)).toBe(false);
  });

  test("when each user sets a preference, then it is stored per user", async () => {
    const yes = newUser();
    const no = newUser();
    await rest(server, "SetMarketingPreference", { user_information: yes, user_to_receive_marketing: true });
    await rest(server, "SetMarketingPreference", { user_information: no, user_to_receive_marketing: false });
    expect(await server.store.read.users.getMarketingPreference(yes.user_id)).toBe(true);
    expect(await server.store.read.users.getMarketingPreference(no.user_id)).toBe(false);
    expect(await server.store.read.users.getMarketingPreference(uniqueId("never-asked"))).toBeUndefined();
  });

  test("when a user is known only by a preference, then ListBookings answers 200 with no bookings", async () => {
    const user = newUser();
    await rest(server, "SetMarketingPreference", { user_information: user, user_to_receive_marketing: true });
    const response = await rest(server, "ListBookings", { user_id: user.user_id });
    expect(response.status).toBe(200);
    expect(response.body.bookings ?? []).toEqual([]);
  });

  test("when user_information is missing, then 400 naming user_information", async () => {
    expectInvalidArgument(
      await rest(server, "SetMarketingPreference", { user_to_receive_marketing: true }),
      "user_information",
    );
  });

  test("when user_information.user_id is missing, then 400 naming it", async () => {
    const { user_id: _, ...withoutId } = newUser();
    expectInvalidArgument(
      await rest(server, "SetMarketingPreference", { user_information: withoutId, user_to_receive_marketing: true }),
      "user_information.user_id",
    );
  });

  test("when user_to_receive_marketing is not a boolean, then 400 naming it", async () => {
    const user = newUser();
    expectInvalidArgument(
      await rest(server, "SetMarketingPreference", { user_information: user, user_to_receive_marketing: "yes" }),
      "user_to_receive_marketing",
    );
    expect(await server.store.read.users.getMarketingPreference(user.user_id)).toBeUndefined();
  });
});
