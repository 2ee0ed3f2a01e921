import type { ConformanceTest } from "./check.js";
import { availabilityTest } from "./checks/availability-checks.js";
import { bookingTest } from "./checks/booking-checks.js";
import { burstTest } from "./checks/burst-checks.js";
import { checkAvailabilityTest } from "./checks/check-availability-checks.js";
import { healthTest } from "./checks/health-checks.js";
import { listBookingsTest } from "./checks/list-bookings-checks.js";
import { reschedulingTest } from "./checks/rescheduling-checks.js";

/** Every test, in the order `--all` (or any selection) runs them. */
export const conformanceTests: readonly ConformanceTest[] = [
  healthTest,
  availabilityTest,
  checkAvailabilityTest,
  bookingTest,
  listBookingsTest,
  reschedulingTest,
  burstTest,
];
