/**
 * High availability: two `booking-server serve` processes on a PostgreSQL
 * primary with a synchronous streaming standby; during a booking storm the
 * primary dies (`pg_ctl stop -m immediate`), the standby is promoted and the
 * instances are started again on its address. Everything a client was told
 * is booked is on the new primary (a commit waited for the standby's flush:
 * PostgreSQL manual, 27.2.8 "Synchronous Replication"), nothing is
 * overbooked, and the notifications pending at the failover are delivered
 * from the new primary. docs/postgres-failover.md says how a deployment
 * moves the address instead of restarting.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  acknowledged,
  acknowledgedButMissing,
  bookingCountsOfTokens,
  bookingsByToken,
  bookingStorm,
  createBookingAttempt,
  hangMs,
  importSlots,
  overbookedSlots,
  retryUnanswered,
  serveOn,
  slotStarts,
  tally,
  waitUntil,
} from "../support/booking-instances";
import { GoogleStandIn } from "../support/google-stand-in";
import { onDatabase, type OwnCluster, requireSynchronousStandby, type StandbyCluster, startOwnCluster, startStandby } from "../support/postgres-cluster";
import { killHard, killIfRunning, type ServerProcess } from "../support/server-process";
import { authHeader } from "../support/test-server";

const partner = "20001414";
const slots = 20;
const starts = slotStarts(slots);
const startOf = (token: string) => starts[Number(token.slice(token.lastIndexOf("-") + 1)) % slots];

let dir = "";
let primary: OwnCluster | undefined;
let standby: StandbyCluster | undefined;
let google: GoogleStandIn | undefined;
const servers: ServerProcess[] = [];

afterAll(async () => {
  for (const server of servers) await killIfRunning(server);
  await google?.close();
  standby?.remove();
  primary?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("when the primary dies during a booking storm and its synchronous standby is promoted, then every acknowledged booking is on the new primary, nothing is overbooked, and the pending notifications are delivered", async () => {
  dir = mkdtempSync(join(tmpdir(), "booking-pg-failover-"));
  google = new GoogleStandIn();
  await google.listen();
  const notifierEnv = { NOTIFICATION_API_URL: google.baseUrl, NOTIFICATION_PARTNER_ID: partner, NOTIFICATION_BEARER_TOKEN: "failover-bearer" };

  primary = await startOwnCluster();
  standby = await startStandby(primary, "booking_standby");
  await requireSynchronousStandby(primary, standby);
  const primaryUrl = `${primary.serverUrl}/postgres`;
  const replication = await onDatabase<{ application_name: string; state: string; sync_state: string }>(
    primaryUrl,
    "SELECT application_name, state, sync_state FROM pg_stat_replication",
  );
  expect(replication).toEqual([{ application_name: "booking_standby", state: "streaming", sync_state: "sync" }]);

  importSlots(dir, primaryUrl, starts, 6);
  servers.push(...(await Promise.all([serveOn(primaryUrl, notifierEnv), serveOn(primaryUrl, notifierEnv)])));
  const storm = bookingStorm({ servers, starts, concurrency: 8, duplicateEvery: 5, prefix: "failover" });
  await waitUntil(() => storm.attempts.filter(acknowledged).length >= 30, "30 bookings on the primary");
  // From now on Google never answers: the delivery under way when the primary dies was claimed and is still pending.
  google.policy = () => "hang";
  await waitUntil(() => google!.requests.some((request) => request.answer === "hang"), "a notification under way");

  primary.stop();
  const failedAtMs = Date.now();
  // No primary: the storm's requests are answered 503 and neither instance says it is ready.
  await waitUntil(() => storm.attempts.some((attempt) => attempt.startedAtMs > failedAtMs && attempt.status === 503), "a 503 while no primary takes writes", hangMs);
  for (const server of servers) expect((await fetch(`${server.baseUrl}/readyz`, { signal: AbortSignal.timeout(hangMs) })).status).toBe(503);
  standby.promote();
  const attempts = await storm.stop();
  const newUrl = `${standby.serverUrl}/postgres`;
  const [{ in_recovery: inRecovery }] = await onDatabase<{ in_recovery: boolean }>(newUrl, "SELECT pg_is_in_recovery() AS in_recovery");
  expect(inRecovery).toBe(false);

  // Nothing acknowledged is lost, nothing overbooked: before any instance touches the new primary.
  expect(await acknowledgedButMissing(newUrl, attempts)).toEqual([]);
  expect(await overbookedSlots(newUrl)).toEqual([]);
  const pending = await onDatabase<{ id: string }>(newUrl, "SELECT id FROM notification_outbox WHERE state = 'pending' ORDER BY id");
  expect(pending.length).toBeGreaterThan(0);

  // The instances, restarted on the new primary's address (docs/postgres-failover.md: how a deployment moves the address instead).
  for (const server of servers.splice(0)) await killHard(server);
  google.healthy();
  const acceptedBefore = google.accepted().length;
  servers.push(...(await Promise.all([serveOn(newUrl, notifierEnv), serveOn(newUrl, notifierEnv)])));
  const servingAgainMs = Date.now() - failedAtMs;

  const stillPending = async () =>
    (await onDatabase<{ id: string }>(newUrl, "SELECT id FROM notification_outbox WHERE id = ANY($1) AND state <> 'delivered'", [pending.map((row) => row.id)])).length;
  await waitUntil(async () => (await stillPending()) === 0, "the notifications pending at the failover delivered");
  const deliveredAfter = google.accepted().slice(acceptedBefore);
  expect(deliveredAfter.some((request) => request.method === "POST" && request.path.endsWith("/availability:replace"))).toBe(true);

  // A client that got no answer sends its token again, to either instance: at most one booking each.
  const retries = await retryUnanswered(attempts, servers, 0, startOf);
  const tokens = retries.map((retry) => retry.token);
  const [counts, stored] = await Promise.all([bookingCountsOfTokens(newUrl, tokens), bookingsByToken(newUrl, tokens)]);
  for (const retry of retries) {
    expect({ token: retry.token, bookings: counts.get(retry.token), id: stored.get(retry.token) }).toEqual(
      acknowledged(retry) ? { token: retry.token, bookings: 1, id: retry.bookingId } : { token: retry.token, bookings: 0, id: undefined },
    );
  }
  // Both instances book on the new primary (two more spots at a slot the storm may have filled), and HealthCheck passes.
  await onDatabase(newUrl, "UPDATE slots SET spots_total = spots_total + 2 WHERE start_sec = $1", [starts[0]]);
  for (const instance of [0, 1]) {
    expect(acknowledged(await createBookingAttempt(servers, instance, `after-failover-${instance}`, starts[0]))).toBe(true);
    const health = await fetch(`${servers[instance].baseUrl}/v3/HealthCheck`, { headers: { Authorization: authHeader } });
    expect(health.status).toBe(200);
  }
  expect(await overbookedSlots(newUrl)).toEqual([]);

  console.log(
    `failover: storm ${JSON.stringify(tally(attempts))}; ${pending.length} notification(s) pending at the failover, delivered by the new instances; ` +
      `${retries.length} unanswered tokens retried: ${JSON.stringify(tally(retries))}; primary killed to both instances listening on the new one: ${servingAgainMs} ms`,
  );
}, 180_000);
