import { FieldError } from "../feeds/field-error.js";
import { JsonStreamError } from "./json-stream.js";

/**
 * Why an import was refused. `recordIndex` is the 0-based position of the
 * record among the file's records (for the `service_availability` shape,
 * counted across all its `availability` lists); `field` is the record's field
 * as a dotted path (e.g. `resources.party_size`). Both are null when the
 * problem is the file itself (unreadable, invalid JSON, unknown shape).
 */
export class FeedError extends Error {
  readonly file: string;
  readonly recordIndex: number | null;
  readonly field: string | null;
  /** The message without the file / record / field prefix. */
  readonly detail: string;

  constructor(file: string, recordIndex: number | null, field: string | null, detail: string) {
    let where = file;
    if (recordIndex !== null) where += `: record ${recordIndex}`;
    if (field !== null) where += `: field "${field}"`;
    super(`${where}: ${detail}`);
    this.name = "FeedError";
    this.file = file;
    this.recordIndex = recordIndex;
    this.field = field;
    this.detail = detail;
  }
}

/** The `FeedError` of record `index` of `file` for what its checks threw (a `FieldError` names the field). */
export function recordError(file: string, index: number, error: unknown): FeedError {
  if (error instanceof FeedError) return error;
  if (error instanceof FieldError) return new FeedError(file, index, error.field, error.message);
  return new FeedError(file, index, null, `cannot import: ${error instanceof Error ? error.message : String(error)}`);
}

/** The `FeedError` of `file` itself for what stopped reading it (`lastRecord`: the last record read, for a syntax error). */
export function fileError(file: string, error: unknown, lastRecord: number | null): Error {
  if (error instanceof FeedError) return error;
  if (error instanceof JsonStreamError) {
    const context =
      error.reason !== "syntax" ? "" : lastRecord === null ? " (before the first record)" : ` (after record ${lastRecord})`;
    return new FeedError(file, null, null, error.message + context);
  }
  return error instanceof Error ? error : new Error(String(error));
}
