import { Code, ConnectError, createContextKey } from "@connectrpc/connect";
import type { AuthFailureLimiter } from "./auth-failure-limiter.js";

/**
 * The client's address, set by the transport for every RPC (see booking-server.ts):
 * the socket peer, or what a trusted proxy says the client is (client-address.ts).
 */
export const clientAddressKey = createContextKey("unknown", { description: "client address" });

/** A refused authentication, as it is logged: never with the secret. */
export interface AuthFailure {
  /** "Basic" or "Bearer". */
  scheme: string;
  /** The client's address (behind a trusted proxy, the one the proxy names). */
  address: string;
  /** Whether the address was past its burst (answered 429 rather than 401). */
  limited: boolean;
}

/**
 * Where every authentication (Google's Basic credentials, merchants' and the
 * admin's bearer tokens) is admitted or refused. Credentials are always
 * checked first, so valid ones are answered whatever else happened from
 * their address; a refused attempt is counted against the client's address
 * and logged without the secret, and past the burst answered 429.
 */
export class AuthGate {
  constructor(
    private readonly limiter: AuthFailureLimiter,
    private readonly logFailure: (failure: AuthFailure) => void,
  ) {}

  /**
   * Returns what `authenticate` found, or throws `unauthenticated` (with the
   * `challenge` in WWW-Authenticate) within the address's burst, or
   * `resource_exhausted` (HTTP 429, with Retry-After: when the address may try
   * again) past it, as a ConnectError that every transport can answer.
   */
  admit<T>(address: string, scheme: string, challenge: string, authenticate: () => T | undefined): T {
    const found = authenticate();
    if (found !== undefined) return found;
    const retryAfterSec = this.limiter.recordFailure(address);
    this.logFailure({ scheme, address, limited: retryAfterSec !== undefined });
    if (retryAfterSec !== undefined) {
      throw new ConnectError(
        "too many failed authentications from this address: retry later",
        Code.ResourceExhausted,
        new Headers({ "Retry-After": String(retryAfterSec) }),
      );
    }
    throw new ConnectError("missing or wrong credentials", Code.Unauthenticated, new Headers({ "WWW-Authenticate": challenge }));
  }
}
