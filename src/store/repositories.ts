import type { Booking, BookingStatus, ConfirmationMode, Lease } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";

/**
 * The storage seams the domain uses. Nothing here knows SQL: `sqlite/`
 * implements them on better-sqlite3, one file per repository, and
 * `sqlite-store.ts` puts them together. Methods are synchronous: every use case
 * runs inside `Store.transaction`, which makes its reads and writes one atomic
 * step (SQLite serializes writers, so parallel requests can never both take
 * the last spot).
 */

/** Identity of a slot as the feeds and Google's requests give it. */
export interface SlotKey {
  merchantId: string;
  serviceId: string;
  startSec: number;
  durationSec: number;
  staffId: string;
  roomId: string;
  partySize: number;
}

/** A search for slots: an empty string or 0 leaves that part of the key open. */
export type SlotQuery = SlotKey;

export interface SlotRecord extends SlotKey {
  slotId: number;
  availabilityTag: string;
  spotsTotal: number;
  /** Spots still bookable right now. */
  spotsOpen: number;
  confirmationMode: ConfirmationMode;
  /** CheckAvailabilityResponse.DurationRequirement number from the feed. */
  durationRequirement: number;
  /**
   * False when neither the slot's nor its service's feed record has a term
   * that can take money or keep a card at booking (deposit, no-show fee,
   * card requirement, service prepayment): its payment plan is certainly
   * empty. True means: ask the payment policy.
   */
  mayTakePayment: boolean;
}

/** A slot as an availability lookup sees it: its key, its open spots and how it confirms. */
export type SlotAvailability = SlotKey & Pick<SlotRecord, "spotsOpen" | "confirmationMode">;

/** A slot as an availability feed states it. */
export interface SlotFeedRecord extends SlotKey {
  availabilityTag: string;
  spotsTotal: number;
  spotsOpen: number;
  confirmationMode: ConfirmationMode;
  durationRequirement: number;
  feedJson: string;
}

export interface MerchantFeedRecord {
  merchantId: string;
  name: string;
  feedJson: string;
}

export interface ServiceFeedRecord {
  merchantId: string;
  serviceId: string;
  name: string;
  priceMicros: bigint | null;
  currencyCode: string | null;
  feedJson: string;
}

export interface OfferFeedRecord {
  merchantId: string;
  offerId: string;
  /** Empty when the offer applies to every service of the merchant. */
  serviceId: string;
  feedJson: string;
}

export type UpsertOutcome = "inserted" | "updated" | "unchanged";

export interface InventoryRepository {
  upsertMerchant(merchant: MerchantFeedRecord): UpsertOutcome;
  upsertService(service: ServiceFeedRecord): UpsertOutcome;
  upsertSlot(slot: SlotFeedRecord): UpsertOutcome;
  upsertOffer(offer: OfferFeedRecord): UpsertOutcome;
  hasMerchant(merchantId: string): boolean;
  hasService(merchantId: string, serviceId: string): boolean;
  /** Whether the merchant has this offer for this service (or for all its services). */
  hasOffer(merchantId: string, serviceId: string, offerId: string): boolean;
  /** Slots matching the query, those with open spots first. */
  findSlots(query: SlotQuery, limit: number): SlotRecord[];
  /** Every slot of a service starting in [fromSec, toSec], by start: only what an availability answer needs. */
  slotsStartingBetween(merchantId: string, serviceId: string, fromSec: number, toSec: number): SlotAvailability[];
  getSlot(slotId: number): SlotRecord | undefined;
  /** The feed records (JSON text) a slot's payment policy is made from. */
  feedsOf(slotId: number): { merchantFeed: string; serviceFeed: string; slotFeed: string };
  /** The merchant's and the service's feed records (JSON text). */
  serviceFeeds(merchantId: string, serviceId: string): { merchantFeed: string; serviceFeed: string } | undefined;
  /** Takes one open spot; false (and nothing changed) when none is open. */
  takeSpot(slotId: number): boolean;
  /** Gives back a spot taken by `takeSpot`. */
  releaseSpot(slotId: number): void;
}

/**
 * A feed import's records, kept apart from the live inventory (which no
 * query of the server sees) until `apply` writes them all at once: an import
 * holds the database's write lock only for that one short transaction, and
 * one that fails or is killed before it leaves the live inventory untouched.
 *
 * Each `stage*` returns what the record would change in the live inventory
 * as the records staged before it left it, the way an upsert would have.
 */
export interface FeedStaging {
  stageMerchant(merchant: MerchantFeedRecord): UpsertOutcome;
  stageService(service: ServiceFeedRecord): UpsertOutcome;
  stageOffer(offer: OfferFeedRecord): UpsertOutcome;
  stageSlot(slot: SlotFeedRecord): UpsertOutcome;
  /** The merchant's and the service's feed records (JSON text) as the import would leave them. */
  serviceFeeds(merchantId: string, serviceId: string): { merchantFeed: string; serviceFeed: string } | undefined;
  /**
   * Runs `work` (some `stage*` calls) as one transaction: far faster than one
   * per record, and it takes no lock on the live inventory. Keep chunks short
   * (a few thousand records): the chunk's snapshot of the live tables delays
   * checkpoints, and the chunk holds the event loop.
   */
  chunk<T>(work: () => T): T;
  /**
   * Writes everything staged into the live inventory in one transaction and
   * resolves, once that is durable, with how long it held the database's
   * write lock (ms). Rejects with SQLITE_BUSY when the lock cannot be had
   * within the store's busy timeout.
   */
  apply(): Promise<{ lockHeldMs: number }>;
  /** Drops what was staged (after `apply`, or instead of it). */
  discard(): void;
}

export interface BookingRecord {
  booking: Booking;
  slotId: number;
  /** True while the booking occupies a spot of its slot (active statuses). */
  holdsSpot: boolean;
  createdAtSec: number;
  /** The user's special request for the merchant (not part of Google's Booking). */
  additionalRequest: string;
}

export interface BookingRepository {
  insert(record: BookingRecord, nowSec: number): void;
  /** Rewrites the stored booking (status, slot, ...) and whether it holds a spot. */
  update(record: BookingRecord, nowSec: number): void;
  get(bookingId: string): BookingRecord | undefined;
  /** Active booking of this user (same email, case-insensitive, or same user id) on a slot. */
  findActiveOnSlotForUser(slotId: number, email: string, userId: string): BookingRecord | undefined;
  /**
   * Bookings in `status` whose decision is due at `nowSec`: created at least
   * `decideWithinSec` ago, or whose slot has started; oldest first.
   */
  listDecisionsDue(status: BookingStatus, nowSec: number, decideWithinSec: number, limit: number): BookingRecord[];
  /** A merchant's bookings matching the query, ordered by (slot start, booking id). */
  listForMerchant(query: MerchantBookingQuery): BookingRecord[];
  /** The user's bookings starting at or after `fromSec`, earliest first. */
  listForUser(userId: string, fromSec: number): BookingRecord[];
  hasUser(userId: string): boolean;
}

/** A page of a merchant's bookings (MerchantService.ListBookings). */
export interface MerchantBookingQuery {
  merchantId: string;
  /** Empty: every status. */
  statuses: BookingStatus[];
  /** Slot start at or after this (seconds); 0 for no lower bound. */
  startSecFrom: number;
  /** Slot start before this (seconds); undefined for no upper bound. */
  startSecBefore: number | undefined;
  /** Keyset paging: only bookings after this (start_sec, booking_id) position. */
  after: { startSec: number; bookingId: string } | undefined;
  limit: number;
}

export interface IdempotencyRepository {
  findBookingId(token: string): string | undefined;
  record(token: string, bookingId: string, nowSec: number): void;
}

export interface LeaseRecord {
  lease: Lease;
  slotId: number;
  state: "held" | "consumed" | "expired";
}

export interface LeaseRepository {
  insert(record: LeaseRecord, nowSec: number): void;
  get(leaseId: string): LeaseRecord | undefined;
  findByUserReference(userReference: string): LeaseRecord | undefined;
  setState(leaseId: string, state: LeaseRecord["state"]): void;
  /** Held leases whose expiry is at or before `nowSec`. */
  listExpired(nowSec: number): LeaseRecord[];
  /** Earliest expiry among held leases, if any is held. */
  earliestHeldExpirySec(): number | undefined;
}

export interface UserRepository {
  setMarketingPreference(userId: string, receiveMarketing: boolean, nowSec: number): void;
  getMarketingPreference(userId: string): boolean | undefined;
}

/**
 * `booking_patch`: a bookings.patch of one booking (queued per booking id).
 * `availability_replace`: an availability:replace of some start times of one
 * service (queued per service, see `src/notify/availability-notification.ts`).
 */
export type OutboxKind = "booking_patch" | "availability_replace";

/** A notification to write into the outbox (see `src/notify/booking-notification.ts`). */
export interface OutboxEntryInput {
  /** Entries of one queue are sent in order: a booking patch's queue is its booking id. */
  queueKey: string;
  kind: OutboxKind;
  /** Comma-separated camelCase FieldMask paths, e.g. "status". */
  updateMask: string;
  /** The JSON body (camelCase), without the partner-specific `name`. */
  payloadJson: string;
  /** Extra query parameters (e.g. `bookingFailure.cause`) as a JSON object of strings. */
  queryJson: string;
}

export type OutboxState = "pending" | "delivered" | "dead";

export interface OutboxEntry extends OutboxEntryInput {
  id: number;
  state: OutboxState;
  attempts: number;
  nextAttemptAtMs: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAtSec: number;
  deliveredAtSec: number | null;
}

export interface OutboxDepth {
  pending: number;
  /** Age in seconds of the oldest pending entry (0 when none is pending). */
  oldestPendingAgeSec: number;
  dead: number;
}

export interface OutboxRepository {
  /**
   * Queues a notification. Call inside `Store.transaction`, together with the
   * change it reports: both commit, or neither does. Returns the entry id.
   */
  enqueue(entry: OutboxEntryInput, nowSec: number): number;
  /**
   * Entries due at `nowMs`: per queue only its OLDEST pending entry (a later
   * notification waits until the earlier one is delivered or dead), oldest first.
   */
  nextDue(nowMs: number, limit: number): OutboxEntry[];
  get(id: number): OutboxEntry | undefined;
  /** The newest pending entry of this queue and kind never tried yet, into which a new change may merge. */
  findUnsent(queueKey: string, kind: OutboxKind): OutboxEntry | undefined;
  /** Adds a start time to the `availability_replace` entry `id` (once; an entry `findUnsent` returned). */
  addStartSec(id: number, startSec: number): void;
  /** The start times of the `availability_replace` entry `id`, earliest first. */
  startSecsOf(id: number): number[];
  /**
   * Counts an attempt about to be sent. From then on `findUnsent` no longer
   * returns the entry, so nothing merges into a payload already in flight.
   */
  claim(id: number): void;
  markDelivered(id: number, nowSec: number, status: number): void;
  /** Schedules the next attempt after a failed one. */
  scheduleRetry(id: number, nextAttemptAtMs: number, status: number | null, error: string): void;
  /** Gives up on the entry, keeping Google's answer. */
  markDead(id: number, status: number | null, responseBody: string): void;
  /** Dead entries with an id above `afterId` (default 0), oldest first. */
  listDead(limit: number, afterId?: number): OutboxEntry[];
  /** Puts a dead entry back in the queue, due now; false when `id` is not dead. */
  requeue(id: number, nowMs: number): boolean;
  depth(nowSec: number): OutboxDepth;
  /** Earliest `next_attempt_at_ms` among pending entries, if any. */
  earliestPendingAtMs(): number | undefined;
}

/** One processor call made for a booking (see migration 5). */
export interface PaymentRecord {
  bookingId: string;
  merchantId: string;
  /** "prepayment", "deposit", "store_card", "refund", "refund/2", ... */
  operation: string;
  idempotencyKey: string;
  state: "started" | "done";
  /** The charge or refund id, or the stored card's reference. */
  transactionId: string | null;
  amountMicros: bigint | null;
  currency: string | null;
}

export interface PaymentRecordRepository {
  /** Notes a processor call about to be made (once per idempotency key). */
  start(record: Omit<PaymentRecord, "state" | "transactionId">, nowSec: number): void;
  /** Notes what the processor answered. */
  complete(idempotencyKey: string, transactionId: string, nowSec: number): void;
  forBooking(bookingId: string): PaymentRecord[];
  /**
   * Booking ids with payment records whose booking was never committed (the
   * process died between a charge and its commit; only records started
   * before `startedBeforeSec`, so that a booking under way can be kept out),
   * is in one of `owed.all`, has a refund started and not finished (owed),
   * or has a late-cancel fee whose charge was cut short and is in one of
   * `owed.lateFeeCutShort`.
   */
  bookingIdsToReconcile(owed: { all: BookingStatus[]; lateFeeCutShort: BookingStatus[] }, startedBeforeSec: number): string[];
}

export interface Repositories {
  inventory: InventoryRepository;
  bookings: BookingRepository;
  idempotency: IdempotencyRepository;
  leases: LeaseRepository;
  users: UserRepository;
  outbox: OutboxRepository;
  payments: PaymentRecordRepository;
}

export interface Store extends Repositories {
  /** Runs `work` as one atomic step: all of its writes commit, or none do. */
  transaction<T>(work: () => T): T;
  /**
   * Like `transaction`, but `work` may share its commit (and its fsync) with
   * other work arriving at the same time; it still takes effect alone or not
   * at all, and the promise settles only once it is durable. For the hot
   * write paths (CreateBooking).
   */
  groupTransaction<T>(work: () => T): Promise<T>;
  /**
   * Starts staging a feed import (see `FeedStaging`); call `discard` on it
   * when done. One staging at a time per store.
   */
  stageFeeds(): FeedStaging;
  /**
   * Whether the store takes writes now (proved by a committed write), is the
   * database it opened and has its schema up to date; the reason when not.
   */
  readiness(): Promise<{ ready: true } | { ready: false; reason: string }>;
  /** Writes a consistent copy of the whole database to `path` while the store stays in use. */
  backup(path: string): Promise<void>;
  close(): void;
}
