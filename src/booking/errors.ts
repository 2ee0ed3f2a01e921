/**
 * Request errors the domain raises; the transports turn them into
 * `invalid_argument` / HTTP 400 and `not_found` / HTTP 404. Business outcomes
 * are not errors: they travel in `booking_failure` with HTTP 200.
 */
export class InvalidArgumentError extends Error {
  constructor(
    /** Proto field path, e.g. `slot.start_sec`. */
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = "InvalidArgumentError";
  }
}

export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotFoundError";
  }
}

/** The booking is not in a state that allows the change; nothing was changed. */
export class FailedPreconditionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FailedPreconditionError";
  }
}

/** The caller may not see or change this merchant's bookings; nothing was changed. */
export class PermissionDeniedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermissionDeniedError";
  }
}

/**
 * Another attempt of the same change (Google's retry of a cancellation) is
 * still under way, on this instance or another; nothing was changed. The
 * caller is told to come back (`unavailable` / HTTP 503 with Retry-After),
 * and then gets the first attempt's outcome.
 */
export class AttemptUnderWayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AttemptUnderWayError";
  }
}
