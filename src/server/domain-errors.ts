import { Code, ConnectError } from "@connectrpc/connect";
import {
  AttemptUnderWayError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
} from "../booking/errors.js";
import { StoreBusyError, StoreUnavailableError } from "../store/repositories.js";

const codes = new Map<Function, Code>([
  [InvalidArgumentError, Code.InvalidArgument],
  [NotFoundError, Code.NotFound],
  [FailedPreconditionError, Code.FailedPrecondition],
  [PermissionDeniedError, Code.PermissionDenied],
]);

/**
 * Store errors that mean "the database cannot serve this right now", not a
 * bug: the caller is told to come back (503 / `unavailable` with Retry-After)
 * and nothing was changed. A busy database (a lock held by another process:
 * an import, a backup) clears in moments; one that cannot take writes (a full
 * disk, a read-only file system, an I/O error) needs an operator, so the retry
 * comes later. (The store translates its backend's codes into these.) An
 * earlier attempt of the same change still under way ends in seconds.
 */
const unavailableCauses: ReadonlyArray<{ errorClass: Function; message: string; retryAfterSec: number }> = [
  { errorClass: StoreBusyError, message: "the database is busy: retry in a moment", retryAfterSec: 1 },
  { errorClass: StoreUnavailableError, message: "the database cannot take this request right now: retry later", retryAfterSec: 30 },
  { errorClass: AttemptUnderWayError, message: "an earlier attempt of this change is still under way: retry in a moment", retryAfterSec: 5 },
];

/** What a caller is told of a failure that is not theirs: never the underlying message (paths, SQL, internals). */
const internalMessage = "internal error: the server could not complete the request (the server log has the details)";

/** Rethrows a domain request error as the Connect error every transport understands (see `publicError`). */
export function rethrowAsConnectError(error: unknown): never {
  throw publicError(error);
}

/**
 * The one mapping from anything a handler throws to what the caller sees:
 * domain request errors keep their message under their own code; Connect
 * errors pass through; a database that cannot serve now becomes
 * `unavailable` (HTTP 503) with Retry-After; anything else becomes
 * `internal` with a generic message, a `ConstraintViolation` too (the domain
 * answers the facts the database enforces before they reach the edge). The
 * original error stays as `cause`, for the log.
 */
export function publicError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  const code = error instanceof Error ? codes.get(error.constructor) : undefined;
  if (code !== undefined) return new ConnectError((error as Error).message, code);
  const unavailable = unavailableCauses.find((cause) => error instanceof cause.errorClass);
  if (unavailable) {
    const headers = new Headers({ "Retry-After": String(unavailable.retryAfterSec) });
    return new ConnectError(unavailable.message, Code.Unavailable, headers, undefined, error);
  }
  return new ConnectError(internalMessage, Code.Internal, undefined, undefined, error);
}

/** Whether the caller got a generic answer for this error, so the server log must carry its details. */
export function needsLogging(error: ConnectError): boolean {
  return error.code === Code.Internal || error.code === Code.Unknown || error.code === Code.Unavailable;
}
