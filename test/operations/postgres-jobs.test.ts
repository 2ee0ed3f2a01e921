/**
 * The background jobs of two instances on one PostgreSQL database at once:
 * two BookingContexts, each on a store of its own (its own pool, as two
 * `serve` processes have), on one test database, running the same job at the
 * same moment. Each job is safe to run twice (docs/several-instances.md):
 * what it does, it does once.
 */
import { create } from "@bufbuild/protobuf";
import { BookingStatus, ConfirmationMode, CreateLeaseRequestSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { applyDecisionWindow, declineOverdueRequests } from "../../src/booking/auto-decline";
import { createBookingContext, type BookingContext } from "../../src/booking/context";
import { createBooking } from "../../src/booking/create-booking";
import { createLease, releaseExpiredLeases } from "../../src/booking/leases";
import { notePaymentStarted } from "../../src/booking/payment-records";
import { bookingUnderWayLongestSec } from "../../src/booking/reconcile-payments";
import { paymentIdempotencyKey } from "../../src/payments/payment-processor";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import { backgroundJobs } from "../../src/server/background-jobs";
import { openPostgresStore } from "../../src/store/postgres/postgres-store";
import type { Store } from "../../src/store/repositories";
import { bookingRequest, outboxEntries, sequentialIds, slotOf, spotsOpen, userOf } from "../support/booking-fixtures";
import { clusterStartTimeoutMs, createTestDatabase, type TestDatabase } from "../support/postgres-cluster";
import { futureStartSec, hour, manualClock, seedSlots } from "../support/test-server";

const merchantId = "salon";
const serviceId = "haircut";
/** Bookings, leases or payments per test: enough for the two instances' units to meet on many of them. */
const count = 12;

let database: TestDatabase;
let stores: Store[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
}, clusterStartTimeoutMs);
afterAll(() => database?.drop());
beforeEach(async () => {
  await database.empty();
  stores = [await openPostgresStore(database.url), await openPostgresStore(database.url)];
});
afterEach(async () => {
  await Promise.all(stores.map((store) => store.close()));
});

interface Instance {
  ctx: BookingContext;
  sandbox: SandboxProcessor;
  failures: string[];
}

/** Two instances on the one database, on one clock, each with its own ids and its own sandbox processor over the shared ledger. */
function twoInstances(clock: ReturnType<typeof manualClock>, decideWithinSec = 3 * hour): Instance[] {
  return stores.map((store, index) => {
    const failures: string[] = [];
    const sandbox = new SandboxProcessor(store, clock);
    const ctx = createBookingContext({
      store,
      clock,
      newId: sequentialIds(`instance${index}`),
      decideWithinSec,
      payments: sandbox,
      reportJobFailure: (job, error) => void failures.push(`${job}: ${(error as Error).message}`),
    });
    return { ctx, sandbox, failures };
  });
}

const starts = Array.from({ length: count }, (_, index) => futureStartSec + index * hour);

test("when two instances decline the same overdue requests at once, then each is declined once: one PATCH queued, its spot back once", async () => {
  const clock = manualClock(futureStartSec - 7 * 24 * hour);
  const [first, second] = twoInstances(clock);
  const seeds = starts.map((startSec) => ({ merchantId, serviceId, startSec, spotsTotal: 2, confirmationMode: ConfirmationMode.ASYNCHRONOUS }));
  await seedSlots(stores[0], seeds);
  const bookingIds: string[] = [];
  for (const [index, seed] of seeds.entries()) {
    const response = await createBooking(first.ctx, bookingRequest(slotOf(seed), userOf(`user-${index}`), `token-${index}`));
    expect(response.booking?.status).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
    bookingIds.push(response.booking!.bookingId);
  }
  clock.advance(3 * hour);

  const [declinedByFirst, declinedBySecond] = await Promise.all([declineOverdueRequests(first.ctx), declineOverdueRequests(second.ctx)]);

  expect([...declinedByFirst, ...declinedBySecond].sort()).toEqual([...bookingIds].sort());
  for (const bookingId of bookingIds) {
    expect((await stores[1].read.bookings.get(bookingId))?.booking.status).toBe(BookingStatus.DECLINED_BY_MERCHANT);
  }
  const patches = (await outboxEntries(stores[0])).filter((entry) => entry.kind === "booking_patch");
  expect(patches.map((entry) => entry.queueKey).sort()).toEqual([...bookingIds].sort());
  expect(patches.every((entry) => entry.updateMask === "status")).toBe(true);
  for (const startSec of starts) expect(await spotsOpen(stores[0], merchantId, serviceId, startSec)).toBe(2);
  expect([...first.failures, ...second.failures]).toEqual([]);
});

test("when two instances with one window apply it at once, then each waiting request is moved once, to that window", async () => {
  const clock = manualClock(futureStartSec - 7 * 24 * hour);
  const [madeWithLongWindow] = twoInstances(clock, 24 * hour);
  const seeds = starts.map((startSec) => ({ merchantId, serviceId, startSec, confirmationMode: ConfirmationMode.ASYNCHRONOUS }));
  await seedSlots(stores[0], seeds);
  const bookingIds: string[] = [];
  for (const [index, seed] of seeds.entries()) {
    const response = await createBooking(madeWithLongWindow.ctx, bookingRequest(slotOf(seed), userOf(`user-${index}`), `token-${index}`));
    bookingIds.push(response.booking!.bookingId);
  }
  const madeAtSec = clock.nowSec();
  const [first, second] = twoInstances(clock, 3 * hour);

  const moved = await Promise.all([applyDecisionWindow(first.ctx), applyDecisionWindow(second.ctx)]);

  expect(moved[0] + moved[1]).toBe(count);
  for (const bookingId of bookingIds) expect((await stores[0].read.bookings.get(bookingId))?.decideBySec).toBe(madeAtSec + 3 * hour);
});

test("when two instances start together and both reconcile the same half-moved payments, then each charge is refunded once", async () => {
  const clock = manualClock(futureStartSec - 7 * 24 * hour);
  const [first, second] = twoInstances(clock);
  await seedSlots(stores[0], [{ merchantId, serviceId, startSec: futureStartSec }]);
  // What a process killed between the charge and the booking leaves: the processor took the money, the record
  // says the call started, no booking was committed.
  const bookingIds = starts.map((_, index) => `paid-${index}`);
  const amount = { micros: 50_000_000n, currency: "USD" };
  for (const bookingId of bookingIds) {
    const idempotencyKey = paymentIdempotencyKey(bookingId, "prepayment");
    await notePaymentStarted(first.ctx, { bookingId, merchantId, operation: "prepayment", idempotencyKey, amountMicros: amount.micros, currency: amount.currency });
    await first.sandbox.charge({ idempotencyKey, bookingId, merchantId, amount, token: '{"id":"tok_visa"}', description: "prepayment" });
  }
  // Both instances start once no process can still be making those bookings.
  clock.advance(bookingUnderWayLongestSec + 1);
  const jobs = [first, second].map(({ ctx }) => backgroundJobs(ctx, { autoDeclineCheckMs: 60_000, onReconciled: () => {} }));

  await Promise.all(jobs.map((job) => job.start()));
  await Promise.all(jobs.map((job) => job.stop()));

  for (const bookingId of bookingIds) {
    const ledger = await second.sandbox.ledgerFor(bookingId);
    expect(ledger.map((entry) => [entry.operation, entry.amount])).toEqual([
      ["charge", amount],
      ["refund", amount],
    ]);
    const records = await stores[1].read.payments.forBooking(bookingId);
    expect(records.map((record) => [record.operation, record.state])).toEqual([
      ["prepayment", "done"],
      ["refund/prepayment", "done"],
    ]);
  }
  expect([...first.failures, ...second.failures]).toEqual([]);
});

test("when a half-moved payment is younger than a booking can take, then an instance starting leaves it (another may be making that booking), and refunds it once it is older", async () => {
  const clock = manualClock(futureStartSec - 7 * 24 * hour);
  const [making, starting] = twoInstances(clock);
  await seedSlots(stores[0], [{ merchantId, serviceId, startSec: futureStartSec }]);
  const bookingId = "paid-under-way";
  const idempotencyKey = paymentIdempotencyKey(bookingId, "prepayment");
  const amount = { micros: 50_000_000n, currency: "USD" };
  await notePaymentStarted(making.ctx, { bookingId, merchantId, operation: "prepayment", idempotencyKey, amountMicros: amount.micros, currency: amount.currency });
  await making.sandbox.charge({ idempotencyKey, bookingId, merchantId, amount, token: '{"id":"tok_visa"}', description: "prepayment" });
  clock.advance(60);
  const reconciled: string[][] = [];
  const jobs = backgroundJobs(starting.ctx, {
    autoDeclineCheckMs: 60_000,
    reconcileAgainMs: 50,
    onReconciled: (outcome) => void reconciled.push(outcome.refunded),
  });

  await jobs.start();
  expect((await starting.sandbox.ledgerFor(bookingId)).map((entry) => entry.operation)).toEqual(["charge"]);
  clock.advance(bookingUnderWayLongestSec);
  const deadline = Date.now() + 20_000;
  while (reconciled.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await jobs.stop();

  expect(reconciled).toEqual([[bookingId]]);
  expect((await starting.sandbox.ledgerFor(bookingId)).map((entry) => entry.operation)).toEqual(["charge", "refund"]);
  expect(starting.failures).toEqual([]);
});

test("when two instances release the same expired leases at once, then the slot's open spots come back by exactly the leases' count", async () => {
  const clock = manualClock(futureStartSec - 7 * 24 * hour);
  const [first, second] = twoInstances(clock);
  const seed = { merchantId, serviceId, startSec: futureStartSec, spotsTotal: count + 3 };
  await seedSlots(stores[0], [seed]);
  for (let index = 0; index < count; index++) {
    const expiry = BigInt(clock.nowSec() + 60);
    const response = await createLease(
      first.ctx,
      create(CreateLeaseRequestSchema, { lease: { userReference: `lease-${index}`, slot: slotOf(seed), leaseExpirationTimeSec: expiry } }),
    );
    expect(response.lease).toBeDefined();
  }
  expect(await spotsOpen(stores[0], merchantId, serviceId, futureStartSec)).toBe(3);
  clock.advance(61);

  // Every request of either instance releases expired leases before it works: several at once on each.
  await Promise.all([first, second].flatMap(({ ctx }) => Array.from({ length: 4 }, () => releaseExpiredLeases(ctx, clock.nowSec()))));

  expect(await spotsOpen(stores[1], merchantId, serviceId, futureStartSec)).toBe(count + 3);
  for (let index = 0; index < count; index++) {
    expect((await stores[1].read.leases.findByUserReference(`lease-${index}`))?.state).toBe("expired");
  }
});
