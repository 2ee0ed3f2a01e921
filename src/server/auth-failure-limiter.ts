/**
 * Limits failed authentications per client address: each failure takes a
 * token from the address's bucket, which refills slowly; with the bucket
 * empty, the address is answered 429 before its credentials are even looked
 * at, so guessing passwords gets nowhere. Successes cost nothing.
 */
export class AuthFailureLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedMs: number }>();

  constructor(
    /** Failures allowed in a burst (default 10). */
    private readonly burst = 10,
    /** One failure is forgiven every this many ms (default 6 s: 10 a minute). */
    private readonly refillMs = 6_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the address has failed too often to be heard now. */
  isLimited(address: string): boolean {
    const bucket = this.refill(address);
    return bucket !== undefined && bucket.tokens < 1;
  }

  recordFailure(address: string): void {
    const bucket = this.refill(address) ?? { tokens: this.burst, updatedMs: this.now() };
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.buckets.set(address, bucket);
  }

  /** Seconds until the address may try again (for Retry-After). */
  retryAfterSec(): number {
    return Math.ceil(this.refillMs / 1000);
  }

  private refill(address: string) {
    const bucket = this.buckets.get(address);
    if (!bucket) return undefined;
    const now = this.now();
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.updatedMs) / this.refillMs);
    bucket.updatedMs = now;
    // A full bucket is the same as none: forget the address, so the map stays small.
    if (bucket.tokens >= this.burst) {
      this.buckets.delete(address);
      return undefined;
    }
    return bucket;
  }
}
