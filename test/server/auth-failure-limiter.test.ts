/**
 * The failed-authentication limiter on a clock the test moves: a burst of
 * failures, then Retry-After counting down to the next try it will hear, and a
 * bounded number of remembered addresses however many spray at it.
 */
import { AuthFailureLimiter } from "../../src/server/auth-failure-limiter";

function limiterAt(options: { burst?: number; refillMs?: number; maxAddresses?: number } = {}) {
  let nowMs = 1_000_000;
  const limiter = new AuthFailureLimiter({ ...options, now: () => nowMs });
  return { limiter, advance: (ms: number) => void (nowMs += ms) };
}

test("when an address fails its burst, then the next failure gets the seconds until a token is back, counting down", () => {
  const { limiter, advance } = limiterAt({ burst: 3, refillMs: 6_000 });
  for (let i = 0; i < 3; i++) expect(limiter.recordFailure("192.0.2.1")).toBeUndefined();
  expect(limiter.recordFailure("192.0.2.1")).toBe(6);
  advance(2_500);
  expect(limiter.recordFailure("192.0.2.1")).toBe(4);
  advance(3_000);
  expect(limiter.recordFailure("192.0.2.1")).toBe(1);
  advance(500);
  // A token is back: this failure is heard (401), the next one waits a whole refill again.
  expect(limiter.recordFailure("192.0.2.1")).toBeUndefined();
  expect(limiter.recordFailure("192.0.2.1")).toBe(6);
});

test("when a limited address keeps knocking, then its refused tries take nothing and it is heard once a token is back", () => {
  const { limiter, advance } = limiterAt({ burst: 2, refillMs: 1_000 });
  limiter.recordFailure("192.0.2.1");
  limiter.recordFailure("192.0.2.1");
  for (let i = 0; i < 9; i++) {
    advance(100);
    expect(limiter.recordFailure("192.0.2.1")).toBe(1);
  }
  advance(100);
  expect(limiter.recordFailure("192.0.2.1")).toBeUndefined();
});

test("when one address is limited, then another is not", () => {
  const { limiter } = limiterAt({ burst: 1 });
  expect(limiter.recordFailure("192.0.2.1")).toBeUndefined();
  expect(limiter.recordFailure("192.0.2.1")).toBeGreaterThanOrEqual(1);
  expect(limiter.recordFailure("192.0.2.2")).toBeUndefined();
});

test("when an address has been forgiven its whole burst, then it gets a whole burst again", () => {
  const { limiter, advance } = limiterAt({ burst: 2, refillMs: 1_000 });
  limiter.recordFailure("192.0.2.1");
  limiter.recordFailure("192.0.2.1");
  advance(2_000);
  expect(limiter.recordFailure("192.0.2.1")).toBeUndefined();
  expect(limiter.recordFailure("192.0.2.1")).toBeUndefined();
  expect(limiter.recordFailure("192.0.2.1")).toBe(1);
});

test("when 100,000 addresses fail once each, then at most the cap is remembered, and addresses that spent their burst stay limited", () => {
  const { limiter, advance } = limiterAt({ burst: 3, refillMs: 3_600_000, maxAddresses: 1_000 });
  for (let i = 0; i < 3; i++) limiter.recordFailure("192.0.2.1");
  expect(limiter.recordFailure("192.0.2.1")).toBe(3_600);
  let largest = 0;
  let limited = 0;
  for (let i = 0; i < 100_000; i++) {
    advance(1);
    if (limiter.recordFailure(`spray-${i}`) !== undefined) limited++;
    largest = Math.max(largest, limiter.size);
  }
  console.log(`100,000 sprayed addresses, cap 1,000: at most ${largest} remembered`);
  expect(limited).toBe(0);
  expect(largest).toBeLessThanOrEqual(1_000);
  // The fullest buckets went first: the address that spent its burst is still limited.
  expect(limiter.recordFailure("192.0.2.1")).toBe(3_600 - 100);
});

test("when the map is full of forgiven addresses, then they are dropped before anyone else", () => {
  const { limiter, advance } = limiterAt({ burst: 2, refillMs: 1_000, maxAddresses: 10 });
  for (let i = 0; i < 9; i++) limiter.recordFailure(`old-${i}`);
  advance(1_000); // the old ones are forgiven
  limiter.recordFailure("recent");
  limiter.recordFailure("recent");
  limiter.recordFailure("newcomer");
  expect(limiter.size).toBe(2);
  expect(limiter.recordFailure("recent")).toBe(1);
});
