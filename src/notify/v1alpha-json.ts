/** JSON forms of Google's v1alpha Maps Booking API (Timestamp and Duration). */

/** Unix seconds as an RFC 3339 timestamp, e.g. "2027-01-15T19:00:00Z". */
export function timestamp(unixSec: number | bigint): string {
  return new Date(Number(unixSec) * 1000).toISOString().replace(".000Z", "Z");
}

/** Seconds as a protobuf Duration string, e.g. "900s". */
export function duration(seconds: number | bigint): string {
  return `${seconds}s`;
}
