/** The merchant's time zone the panel's service day is counted in, from its feed record. */
import { timeZoneOf } from "../../src/booking/merchant-booking-page";

test("when the feed names a time zone, then that one", () => {
  expect(timeZoneOf({ time_zone: "America/New_York", geo: { address: { country: "IT" } } })).toBe("America/New_York");
});

test("when the feed names none, then the only zone of its address's country (the demo restaurant: Italy)", () => {
  expect(timeZoneOf({ geo: { address: { country: "IT" } } })).toBe("Europe/Rome");
});

test("when the country has several zones, the zone is unknown, or nothing tells, then none (the panel uses the browser's)", () => {
  expect(timeZoneOf({ geo: { address: { country: "US" } } })).toBe("");
  expect(timeZoneOf({ time_zone: "Mars/Olympus_Mons" })).toBe("");
  expect(timeZoneOf({})).toBe("");
});
