/**
 * The error every reader of Google's feed JSON throws for a bad field, shared
 * by the inventory's record validation (src/inventory/feed-records.ts) and the
 * payment terms (src/payments/feed-terms.ts), so that neither imports the
 * other. The feed importer turns it into a `FeedError` naming the file and
 * the record index.
 */

/**
 * A bad field of one feed record. `field` is the dotted path inside the record
 * (e.g. `resources.party_size`), or null when the record itself is bad.
 */
export class FieldError extends Error {
  constructor(
    readonly field: string | null,
    message: string,
  ) {
    super(message);
    this.name = "FieldError";
  }
}

/** A short rendering of a bad value for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (value !== null && typeof value === "object") return "an object";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
