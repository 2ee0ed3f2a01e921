import { createHash, timingSafeEqual } from "node:crypto";

/** Credentials Google presents with every call (HTTP Basic). */
export interface BasicCredentials {
  username: string;
  password: string;
}

export const basicAuthChallenge = 'Basic realm="booking-server", charset="UTF-8"';

/**
 * Checks an `Authorization` header against the configured credentials in
 * constant time: both sides are hashed first, so neither the content nor the
 * length of the secret leaks through timing.
 */
export function basicAuthVerifier(credentials: BasicCredentials): (authorization: string | null | undefined) => boolean {
  const expected = digest(`${credentials.username}:${credentials.password}`);
  return (authorization) => {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? "");
    const presented = match ? Buffer.from(match[1], "base64").toString("utf8") : "";
    // Always compare, even without a usable header, so failures take the same time.
    return timingSafeEqual(digest(presented), expected) && match !== null;
  };
}

/** A fixed-length digest of a secret, so comparisons take the same time whatever its length. */
export function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
