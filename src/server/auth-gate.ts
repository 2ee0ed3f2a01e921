import { Code, ConnectError, createContextKey } from "@connectrpc/connect";
import type { AuthFailureLimiter } from "./auth-failure-limiter.js";

/** The client's address, set by the transport for every RPC (see booking-server.ts). */
export const clientAddressKey = createContextKey("unknown", { description: "client address" });

/**
 * Where every authentication (Google's Basic credentials, merchants' and the
 * admin's bearer tokens) is admitted or refused: a refused attempt is counted
 * against the client's address and logged without the secret, and an address
 * that failed too often is refused before its credentials are looked at.
 */
export class AuthGate {
  constructor(
    private readonly limiter: AuthFailureLimiter,
    private readonly logFailure: (failure: { scheme: string; address: string; limited: boolean }) => void,
  ) {}

  /**
   * Returns what `authenticate` found, or throws `unauthenticated` (with the
   * `challenge` in WWW-Authenticate) or `resource_exhausted` (HTTP 429, with
   * Retry-After) as a ConnectError that every transport can answer.
   */
  admit<T>(address: string, scheme: string, challenge: string, authenticate: () => T | undefined): T {
    if (this.limiter.isLimited(address)) {
      this.logFailure({ scheme, address, limited: true });
      throw new ConnectError(
        "too many failed authentications from this address: retry later",
        Code.ResourceExhausted,
        new Headers({ "Retry-After": String(this.limiter.retryAfterSec()) }),
      );
    }
    const found = authenticate();
    if (found === undefined) {
      this.limiter.recordFailure(address);
      this.logFailure({ scheme, address, limited: false });
      throw new ConnectError("missing or wrong credentials", Code.Unauthenticated, new Headers({ "WWW-Authenticate": challenge }));
    }
    return found;
  }
}
