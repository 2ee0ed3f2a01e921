/** How the limiter counts; every field has a default. */
export interface AuthFailureLimiterOptions {
  /** Failures an address may make in a burst before it is answered 429 (default 10). */
  burst?: number;
  /** One failure is forgiven every this many ms (default 6 s: 10 a minute once the burst is spent). */
  refillMs?: number;
  /**
   * Most addresses remembered at once (default 10,000: about 2 MB with IPv6 keys). An
   * attacker spraying from many addresses must not grow the map without
   * limit; past the cap, forgiven addresses go first, then the fullest
   * buckets, least recent first (which hands those a fresh burst: the price
   * of a bounded memory; addresses that spent their burst go last).
   */
  maxAddresses?: number;
  /** The clock, in ms (default Date.now); tests move it by hand. */
  now?: () => number;
}

const defaultAuthFailureLimits = { burst: 10, refillMs: 6_000, maxAddresses: 10_000 } as const;

/**
 * Limits failed authentications per client address, and only failures: each
 * failure takes a token from the address's bucket, which refills slowly. It is
 * asked only after credentials were checked and found wrong, so a caller with
 * valid credentials is never refused or slowed, whoever else fails from its
 * address (behind a proxy, every caller may share one).
 *
 * A bucket is kept as one instant, when all its failures are forgiven (the
 * generic cell rate algorithm): whole milliseconds, so no rounding drifts
 * however many tries are counted, and one number per address.
 */
export class AuthFailureLimiter {
  /** Address → when its failures are all forgiven; in the order of their last counted failure. */
  private readonly forgivenAtMs = new Map<string, number>();
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;

  constructor(options: AuthFailureLimiterOptions = {}) {
    this.burst = options.burst ?? defaultAuthFailureLimits.burst;
    this.refillMs = options.refillMs ?? defaultAuthFailureLimits.refillMs;
    this.maxAddresses = options.maxAddresses ?? defaultAuthFailureLimits.maxAddresses;
    this.now = options.now ?? Date.now;
  }

  /**
   * Counts one failed authentication from the address. Answers `undefined`
   * while the address is within its burst (answer 401), or else the whole
   * seconds until it has a try again (answer 429 with that Retry-After). A
   * refused try takes nothing, so the answer counts down to when the next
   * try will be heard, however often the address knocks meanwhile.
   */
  recordFailure(address: string): number | undefined {
    const nowMs = this.now();
    const forgivenAtMs = Math.max(this.forgivenAtMs.get(address) ?? nowMs, nowMs);
    // With this failure counted, the bucket would hold less than nothing: wait for a token.
    const waitMs = forgivenAtMs + this.refillMs - nowMs - this.burst * this.refillMs;
    if (waitMs > 0) return Math.ceil(waitMs / 1000);
    this.forgivenAtMs.delete(address);
    if (this.forgivenAtMs.size >= this.maxAddresses) this.makeRoom(nowMs);
    this.forgivenAtMs.set(address, forgivenAtMs + this.refillMs);
    return undefined;
  }

  /** Addresses remembered now (the tests check the cap with it). */
  get size(): number {
    return this.forgivenAtMs.size;
  }

  /**
   * Frees at least a tenth of the cap, so the sweep's cost is shared by the
   * many insertions after it: first every address already forgiven (the same
   * as never having failed), then the fullest buckets, least recent first, so
   * the addresses that failed most are the last forgotten.
   */
  private makeRoom(nowMs: number): void {
    const remembered: Array<[address: string, forgivenAtMs: number]> = [];
    for (const [address, forgivenAtMs] of this.forgivenAtMs) {
      if (forgivenAtMs <= nowMs) this.forgivenAtMs.delete(address);
      else remembered.push([address, forgivenAtMs]);
    }
    const excess = this.forgivenAtMs.size - (this.maxAddresses - Math.max(1, Math.floor(this.maxAddresses / 10)));
    if (excess <= 0) return;
    // A stable sort: among equally full buckets, the least recent failure goes first.
    remembered.sort((a, b) => a[1] - b[1]);
    for (const [address] of remembered.slice(0, excess)) this.forgivenAtMs.delete(address);
  }
}
