/**
 * Lease expiry is decided from the database: a server gives back the spot of
 * a lease it never saw (taken through another server on the same file, or
 * before a restart) once the lease has expired.
 */
import { at, countAvailable, seedMerchant, uniqueId } from "../support/rest-helpers";
import { futureStartSec, manualClock, rest, startTestServer, type TestServer } from "../support/test-server";

const clock = manualClock(futureStartSec - 7 * 24 * 3600);
let first: TestServer;
let second: TestServer;
beforeAll(async () => {
  first = await startTestServer({ clock, maxLeaseSec: 60 });
  // A second server on the same database file (as after a restart, or beside it during a rolling deploy).
  second = await startTestServer({ clock, maxLeaseSec: 60, dir: first.dir });
});
afterAll(async () => {
  await second.close();
  await first.close();
});

test("when a lease taken through one server expires, then the other server, which had already looked for expired leases, gives its spot back", async () => {
  const { slots } = seedMerchant(first, [{ startSec: at(1), spotsTotal: 1 }]);
  // The first server looks (and finds nothing to expire) before the lease exists.
  expect(await countAvailable(first, slots[0])).toBe(1);
  const lease = await rest(second, "CreateLease", { lease: { slot: slots[0], user_reference: uniqueId("ref") } });
  expect(lease.body.lease.lease_id).toBeTruthy();
  expect(await countAvailable(first, slots[0])).toBe(0);

  clock.advance(61);
  expect(await countAvailable(first, slots[0])).toBe(1);
});
