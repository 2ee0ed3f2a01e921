import { createHash, timingSafeEqual } from "node:crypto";

/** Credentials Google presents with every call (HTTP Basic). */
export interface BasicCredentials {
  username: string;
  password: string;
}

export const basicAuthChallenge = 'Basic realm="booking-server", charset="UTF-8"';

/**
 * Checks `Authorization: Basic ...` headers against the accepted credentials.
 * Several may be accepted at once, so Google's six-monthly rotation needs no
 * downtime; `replace` swaps the set (e.g. on SIGHUP). Every accepted pair is
 * compared, in constant time, on digests: neither the content nor the length
 * of a secret leaks through timing.
 */
export class BasicAuthVerifier {
  private digests: Buffer[] = [];

  constructor(credentials: readonly BasicCredentials[]) {
    this.replace(credentials);
  }

  replace(credentials: readonly BasicCredentials[]): void {
    if (credentials.length === 0) throw new Error("at least one credential is required");
    this.digests = credentials.map(({ username, password }) => digest(`${username}:${password}`));
  }

  allows(authorization: string | null | undefined): boolean {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? "");
    const presented = digest(match ? Buffer.from(match[1], "base64").toString("utf8") : "");
    let allowed = false;
    // No early exit: every accepted pair is compared, even without a usable header.
    for (const expected of this.digests) allowed = timingSafeEqual(presented, expected) || allowed;
    return allowed && match !== null;
  }
}

/** A fixed-length digest of a secret, so comparisons take the same time whatever its length. */
export function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
