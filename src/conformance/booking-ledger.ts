/**
 * Every booking the checker made on the server, so that the run can cancel
 * them all at the end (unless `--keep`). A booking is noted from the raw
 * answer, before its shape is checked: a booking made by a server whose
 * answer the checker refuses is still a booking to cancel.
 */
export class BookingLedger {
  private readonly made = new Map<string, { cancelled: boolean }>();

  /** Notes a booking the server answered with. */
  add(bookingId: string): void {
    if (!this.made.has(bookingId)) this.made.set(bookingId, { cancelled: false });
  }

  /** Notes that the server confirmed this booking's cancellation. */
  markCancelled(bookingId: string): void {
    const entry = this.made.get(bookingId);
    if (entry) entry.cancelled = true;
  }

  /** Whether a booking with this id was made by this run. */
  has(bookingId: string): boolean {
    return this.made.has(bookingId);
  }

  /** Every booking made, in the order they were made. */
  all(): string[] {
    return [...this.made.keys()];
  }

  /** The bookings not cancelled yet. */
  standing(): string[] {
    return [...this.made].filter(([, entry]) => !entry.cancelled).map(([id]) => id);
  }
}

/** The booking id in a raw CreateBooking / UpdateBooking answer, in whichever spelling the server used. */
export function bookingIdIn(answer: unknown): string | undefined {
  const booking = (answer as { booking?: Record<string, unknown> } | undefined)?.booking;
  const id = booking?.booking_id ?? booking?.bookingId;
  return typeof id === "string" && id !== "" ? id : undefined;
}
