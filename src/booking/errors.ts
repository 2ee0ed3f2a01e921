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
