import type { Booking, BookingStatus, ConfirmationMode, Lease } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";

/**
 * The storage contract the domain uses, the same for every backend. Nothing
 * here knows SQL: `sqlite/` implements it on better-sqlite3 (one file per
 * repository, put together by `sqlite-store.ts`); a server database
 * implements the same interfaces.
 *
 * Every method returns a Promise. Writes happen only inside a unit of work,
 * `Store.transaction(async (tx) => ...)`, through the repositories on `tx`;
 * plain reads outside a unit go through `Store.read`, which has no write
 * methods at all. Each `*Reads` interface is what `Store.read` offers of a
 * repository; the repository itself (on `tx`) adds the writes.
 *
 * Rules the database can enforce are constraints of the schema, not checks
 * made before a write: a second booking for one idempotency token, a second
 * booking holding a spot of one slot for one user, or a spot taken past the
 * slot's total makes the write reject with `ConstraintViolation`.
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
  /** Whether the record has a term that can take money or keep a card at booking (`hasBookingPaymentTerms`). */
  bookingPaymentTerms: boolean;
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
  /** Whether the record has a term that can take money or keep a card at booking (`hasBookingPaymentTerms`). */
  bookingPaymentTerms: boolean;
}

export interface OfferFeedRecord {
  merchantId: string;
  offerId: string;
  /** Empty when the offer applies to every service of the merchant. */
  serviceId: string;
  feedJson: string;
}

export type UpsertOutcome = "inserted" | "updated" | "unchanged";

/** A merchant's or service's feed record as stored (`serviceId` empty for a merchant). */
export interface StoredFeedRecord {
  merchantId: string;
  serviceId: string;
  feedJson: string;
}

/** A slot's feed record as stored, with its spots as they stand now (`InventoryReads.slotFeedsAfter`). */
export interface SlotFeedState extends SlotKey {
  slotId: number;
  spotsTotal: number;
  spotsOpen: number;
  feedJson: string;
}

/**
 * The slots of one merchant starting in a window (`InventoryReads.slotsInWindow`):
 * an empty string or 0 leaves that part of the key open.
 */
export interface SlotWindowQuery {
  merchantId: string;
  /** Empty: every service of the merchant. */
  serviceId: string;
  /** Slots starting at or after this (seconds)... */
  fromSec: number;
  /** ...and before this. */
  toSec: number;
  durationSec: number;
  staffId: string;
  roomId: string;
  partySize: number;
  /** Keyset paging: only slots after this (start, slot id) position. */
  after: { startSec: number; slotId: number } | undefined;
  limit: number;
}

/** A slot with how its spots are counted: open = total - sold elsewhere - held by bookings - held by leases, never below 0. */
export interface SlotStock extends SlotRecord {
  /** Taken by the merchant's other channels: the total less the spots open last stated, moved by `takeSpotsElsewhere` / `giveBackSpotsElsewhere`. */
  spotsSoldElsewhere: number;
  /** Held by this server's bookings that hold a spot (`BookingRecord.holdsSpot`). */
  spotsHeldByBookings: number;
  /** Held by this server's live leases. */
  spotsHeldByLeases: number;
}


export interface InventoryReads {
  hasMerchant(merchantId: string): Promise<boolean>;
  hasService(merchantId: string, serviceId: string): Promise<boolean>;
  /** Whether the merchant has this offer for this service (or for all its services). */
  hasOffer(merchantId: string, serviceId: string, offerId: string): Promise<boolean>;
  /** How many merchants, services and slots the inventory has (what a feed export writes). */
  inventoryCounts(): Promise<{ merchants: number; services: number; slots: number }>;
  /**
   * A page of the merchants' feed records, by merchant id: those after
   * `afterMerchantId` ("" for the first page), at most `limit`.
   */
  merchantFeedsAfter(afterMerchantId: string, limit: number): Promise<StoredFeedRecord[]>;
  /** A page of the services' feed records, by (merchant id, service id), after `after` (undefined for the first page). */
  serviceFeedsAfter(after: { merchantId: string; serviceId: string } | undefined, limit: number): Promise<StoredFeedRecord[]>;
  /**
   * A page of the slots, by slot id after `afterSlotId` (0 for the first
   * page), each with its feed record and its spots as they stand now:
   * `spotsOpen` is what `findSlots` reports, the spots this server and the
   * merchant's other channels took already subtracted.
   */
  slotFeedsAfter(afterSlotId: number, limit: number): Promise<SlotFeedState[]>;
  /** Slots matching the query, those with open spots first. */
  findSlots(query: SlotQuery, limit: number): Promise<SlotRecord[]>;
  /** Every slot of a service starting in [fromSec, toSec], by start: only what an availability answer needs. */
  slotsStartingBetween(merchantId: string, serviceId: string, fromSec: number, toSec: number): Promise<SlotAvailability[]>;
  getSlot(slotId: number): Promise<SlotRecord | undefined>;
  /** The feed records (JSON text) a slot's payment policy is made from. */
  feedsOf(slotId: number): Promise<{ merchantFeed: string; serviceFeed: string; slotFeed: string }>;
  /** The merchant's and the service's feed records (JSON text). */
  serviceFeeds(merchantId: string, serviceId: string): Promise<{ merchantFeed: string; serviceFeed: string } | undefined>;
  /**
   * The slots matching the query, with their spot counts, by (start, slot
   * id), at most `limit` (the inventory API's reads and changes of a window).
   */
  slotsInWindow(query: SlotWindowQuery): Promise<SlotStock[]>;
}

export interface InventoryRepository extends InventoryReads {
  upsertMerchant(merchant: MerchantFeedRecord): Promise<UpsertOutcome>;
  upsertService(service: ServiceFeedRecord): Promise<UpsertOutcome>;
  upsertSlot(slot: SlotFeedRecord): Promise<UpsertOutcome>;
  upsertOffer(offer: OfferFeedRecord): Promise<UpsertOutcome>;
  /**
   * Takes one open spot, with one conditional write; false (and nothing
   * changed) when none is open. A spot is never taken past the slot's total:
   * the schema refuses it (`ConstraintViolation` "spots_within_total").
   */
  takeSpot(slotId: number): Promise<boolean>;
  /** Gives back a spot taken by `takeSpot` (never below zero). */
  releaseSpot(slotId: number): Promise<void>;
  /**
   * Locks the slots until the unit ends, in slot id order. A unit that
   * writes two slots (a reschedule) calls it before writing either, so two
   * units writing the same two slots in opposite roles take them in one
   * order and never deadlock. The fixed lock order of units: slots (by id),
   * then the lease or booking rows that refer to them.
   */
  lockSlots(slotIds: readonly number[]): Promise<void>;
  /**
   * The merchant's other channels take `count` spots (a walk-in, a phone
   * booking), with one conditional write: false, and nothing changed, when
   * fewer than `count` are open. Never past the total: the schema refuses
   * it (`ConstraintViolation` "spots_within_total"), as for `takeSpot`. The
   * slot's stated feed record is left as it was.
   */
  takeSpotsElsewhere(slotId: number, count: number): Promise<boolean>;
  /**
   * Gives back `count` spots taken elsewhere (a walk-in's cancellation), with
   * one conditional write: false, and nothing changed, when fewer than
   * `count` were taken elsewhere (open spots never exceed the total).
   */
  giveBackSpotsElsewhere(slotId: number, count: number): Promise<boolean>;
  /**
   * States the slot with no spot open, as a feed record with `spots_open: 0`
   * would (every spot not held here is sold elsewhere, and the stored feed
   * record says `spots_open: 0`): spots held here stay held, and one given
   * back later does not reopen the slot. False when it had been stated
   * closed already (nothing changed).
   */
  closeSlot(slotId: number): Promise<boolean>;
  /**
   * Takes the slot out of the inventory: deleted when no booking or lease
   * refers to it ("deleted"); otherwise kept for them with no spots (total
   * 0, nothing sold elsewhere, the stored feed record saying so), so it is
   * never bookable again while the spots held stay held ("kept").
   */
  removeSlot(slotId: number): Promise<"deleted" | "kept">;
}

/** One record of a feed import, as `FeedStaging.stage` takes it. */
export type StagedFeedRecord =
  | { kind: "merchant"; record: MerchantFeedRecord }
  | { kind: "service"; record: ServiceFeedRecord }
  | { kind: "offer"; record: OfferFeedRecord }
  | { kind: "slot"; record: SlotFeedRecord };

/** A merchant or service record an import writes, with its feed JSON before (null: it is new) and after. */
export interface AppliedRecordChange {
  merchantId: string;
  /** Empty for a merchant. */
  serviceId: string;
  beforeFeedJson: string | null;
  afterFeedJson: string;
}

/** What `FeedStaging.apply` changes in the live inventory (only records that differ from the live ones). */
export interface AppliedFeedChanges {
  /** In the order they were first staged. */
  merchants: AppliedRecordChange[];
  services: AppliedRecordChange[];
  /** Each start time of a service at which the import adds or changes a slot, once, by service then start. */
  slotStarts: Pick<SlotKey, "merchantId" | "serviceId" | "startSec">[];
}

/** A staged record the store refused; `index` is its position in the `stage` call. */
export class StagingError extends Error {
  constructor(
    readonly index: number,
    readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * A feed import's records, kept apart from the live inventory (which no
 * query of the server sees) until `apply` writes them all at once: an import
 * holds the database's write lock only for that one short transaction, and
 * one that fails or is killed before it leaves the live inventory untouched.
 * One staging at a time per store.
 */
export interface FeedStaging {
  /**
   * Stages `records` in order, as one transaction (far faster than one per
   * record, and it takes no lock on the live inventory; keep calls to a few
   * thousand records). Resolves with what each record would change in the
   * live inventory as the records staged before it left it, the way an
   * upsert would have; rejects with a `StagingError` naming the record the
   * store refused (nothing of that call is staged then).
   */
  stage(records: readonly StagedFeedRecord[]): Promise<UpsertOutcome[]>;
  /** The merchant's and the service's feed records (JSON text) as the import would leave them. */
  serviceFeeds(merchantId: string, serviceId: string): Promise<{ merchantFeed: string; serviceFeed: string } | undefined>;
  /**
   * Writes everything staged into the live inventory in one transaction and
   * resolves, once that is durable, with how long it held the database's
   * write lock (ms). Rejects with a `StoreBusyError` when the lock cannot be
   * had in time.
   *
   * `queueUpdates`, when given, runs inside that transaction with what it
   * changes and the outbox, to queue the notifications Google needs: they
   * commit with the import, or neither does. It awaits only the outbox.
   */
  apply(queueUpdates?: (changes: AppliedFeedChanges, outbox: OutboxRepository) => Promise<void>): Promise<{ lockHeldMs: number }>;
  /** Drops what was staged (after `apply`, or instead of it). */
  discard(): Promise<void>;
}

export interface BookingRecord {
  booking: Booking;
  slotId: number;
  /** True while the booking occupies a spot of its slot (active statuses). */
  holdsSpot: boolean;
  createdAtSec: number;
  /** The user's special request for the merchant (not part of Google's Booking). */
  additionalRequest: string;
  /**
   * When a request awaiting the merchant is declined unanswered
   * (`decisionDeadlineSec` in src/booking/context.ts); 0 for a
   * booking that awaits no decision.
   */
  decideBySec: number;
}

export interface BookingReads {
  get(bookingId: string): Promise<BookingRecord | undefined>;
  /** A booking holding a spot of the slot for this user (`sameUserKeys`). */
  findActiveOnSlotForUser(slotId: number, user: UserIdentity): Promise<BookingRecord | undefined>;
  /** Bookings in `status` whose `decideBySec` is at or before `nowSec`, oldest first. */
  listDecisionsDue(status: BookingStatus, nowSec: number, limit: number): Promise<BookingRecord[]>;
  /** A merchant's bookings matching the query, ordered by (slot start, booking id). */
  listForMerchant(query: MerchantBookingQuery): Promise<BookingRecord[]>;
  /** The user's bookings starting at or after `fromSec`, earliest first. */
  listForUser(userId: string, fromSec: number): Promise<BookingRecord[]>;
  hasUser(userId: string): Promise<boolean>;
}

export interface BookingRepository extends BookingReads {
  /**
   * Rejects with `ConstraintViolation` "one_holding_booking_per_user_and_slot"
   * when the booking holds a spot of a slot where the same user already holds one.
   */
  insert(record: BookingRecord, nowSec: number): Promise<void>;
  /** Rewrites the stored booking (status, slot, ...) and whether it holds a spot (same constraint as `insert`). */
  update(record: BookingRecord, nowSec: number): Promise<void>;
  /**
   * Claims Google's cancellation of the booking until `untilMs`, with one
   * conditional write: false, and nothing changed, while another attempt's
   * claim is live (until its `untilMs`, after `nowMs`). A cancellation moves
   * money outside any unit (the processor is remote), so a retry of it, on
   * this instance or another, must wait for the first attempt: else it
   * would find the booking canceled by that attempt and refund the late fee
   * the merchant is owed. A claim outlives a process that died holding it
   * until `untilMs`.
   */
  claimCancellation(bookingId: string, nowMs: number, untilMs: number): Promise<boolean>;
  /** Ends the claim `claimCancellation` made until `untilMs` (not a later one of another attempt). */
  releaseCancellation(bookingId: string, untilMs: number): Promise<void>;
}

/**
 * Who a booking's user is, for the rule that one user holds at most one
 * booking per slot: the same user id, or the same email address compared
 * without case. The one place that rule is written; every backend stores
 * and compares these keys.
 */
export interface UserIdentity {
  userId: string;
  emailKey: string;
}

export function sameUserKeys(user: { userId?: string; email?: string } | undefined): UserIdentity {
  return { userId: user?.userId ?? "", emailKey: (user?.email ?? "").toLowerCase() };
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

export interface IdempotencyReads {
  findBookingId(token: string): Promise<string | undefined>;
}

export interface IdempotencyRepository extends IdempotencyReads {
  /**
   * Holds the token until the unit ends, then looks it up: a concurrent unit
   * holding the same token is waited for, so the look-up sees the booking it
   * committed. A unit that books for a token calls this first: under read
   * committed two requests with one token would otherwise both miss the
   * look-up, and the second, having waited for the first's spot, would answer
   * SLOT_UNAVAILABLE instead of the first's booking. (The token's unique
   * constraint still refuses a second booking; this makes the answer right.)
   */
  lockToken(token: string): Promise<string | undefined>;
  /** Rejects with `ConstraintViolation` "one_booking_per_idempotency_token" when the token has a booking already. */
  record(token: string, bookingId: string, nowSec: number): Promise<void>;
}

export interface LeaseRecord {
  lease: Lease;
  slotId: number;
  state: "held" | "consumed" | "expired";
}

export interface LeaseReads {
  get(leaseId: string): Promise<LeaseRecord | undefined>;
  findByUserReference(userReference: string): Promise<LeaseRecord | undefined>;
  /** Held leases whose expiry is at or before `nowSec`. */
  listExpired(nowSec: number): Promise<LeaseRecord[]>;
  /** Earliest expiry among held leases, if any is held. */
  earliestHeldExpirySec(): Promise<number | undefined>;
}

export interface LeaseRepository extends LeaseReads {
  insert(record: LeaseRecord, nowSec: number): Promise<void>;
  /**
   * Ends a held lease (consumed by a booking, or expired), with one
   * conditional write: false, and nothing changed, when it is no longer held
   * (another unit consumed or expired it first), so its spot is never handed
   * on twice.
   */
  endHold(leaseId: string, state: Exclude<LeaseRecord["state"], "held">): Promise<boolean>;
}

export interface UserReads {
  getMarketingPreference(userId: string): Promise<boolean | undefined>;
}

export interface UserRepository extends UserReads {
  setMarketingPreference(userId: string, receiveMarketing: boolean, nowSec: number): Promise<void>;
}

/**
 * `booking_patch`: a bookings.patch of one booking (queued per booking id).
 * `availability_replace`: an availability:replace of some start times of one
 * service (queued per service, see `src/notify/availability-notification.ts`).
 * `merchant_update` / `service_update`: a create or patch of a merchant or a
 * service in Google's inventory (queued per merchant, its services after it,
 * see `src/notify/inventory-notification.ts`).
 */
export type OutboxKind = "booking_patch" | "availability_replace" | "merchant_update" | "service_update";

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
  /** Until when a notifier's claim holds the entry (`claim`); null when unclaimed. */
  claimedUntilMs: number | null;
}

export interface OutboxDepth {
  pending: number;
  /** Age in seconds of the oldest pending entry (0 when none is pending). */
  oldestPendingAgeSec: number;
  dead: number;
}

export interface OutboxReads {
  /**
   * Entries due at `nowMs`: per queue only its OLDEST pending entry (a later
   * notification waits until the earlier one is delivered or dead), oldest
   * first, and not while a live claim holds it (`claim`): another instance
   * is sending it.
   */
  nextDue(nowMs: number, limit: number): Promise<OutboxEntry[]>;
  get(id: number): Promise<OutboxEntry | undefined>;
  /**
   * The id of the newest pending entry of this queue and kind never tried
   * yet (attempts 0), into which a new change may merge. In a unit, the
   * entry stays mergeable until the unit ends: a `claim` racing the merge
   * either waits for (or skips) the merging unit, or commits first, and then
   * the merge no longer finds the entry and queues a new one. (PostgreSQL:
   * the row is locked by this same statement, which keeps `attempts = 0` in
   * its WHERE; a read committed unit that waited for a claim's commit
   * re-evaluates that condition on the claimed row and passes it over,
   * manual 13.2.1. SQLite: one writer at a time.) Either way no change goes
   * into a payload already built for sending.
   */
  findUnsentId(queueKey: string, kind: OutboxKind): Promise<number | undefined>;
  /** The start times of the `availability_replace` entry `id`, earliest first. */
  startSecsOf(id: number): Promise<number[]>;
  /** Dead entries with an id above `afterId` (default 0), oldest first. */
  listDead(limit: number, afterId?: number): Promise<OutboxEntry[]>;
  depth(nowSec: number): Promise<OutboxDepth>;
  /**
   * When the earliest queue head can next be claimed: its `next_attempt_at_ms`,
   * or its claim's expiry when that is later (an instance lost mid-delivery
   * leaves a claim that only expires); undefined when nothing is pending.
   */
  earliestPendingAtMs(): Promise<number | undefined>;
}

export interface OutboxRepository extends OutboxReads {
  /**
   * Queues a notification, in the unit that makes the change it reports:
   * both commit, or neither does. Returns the entry id.
   */
  enqueue(entry: OutboxEntryInput, nowSec: number): Promise<number>;
  /** Adds a start time to the `availability_replace` entry `id` (once; an entry `findUnsentId` named). */
  addStartSec(id: number, startSec: number): Promise<void>;
  /**
   * Claims the entry for one attempt about to be sent, with one conditional
   * write: only while it is pending, the oldest pending entry of its queue,
   * due at `nowMs` and not held by a live claim (none, or one expired by
   * `nowMs`). It then holds the entry until `claimedUntilMs` (nobody else
   * claims it, `nextDue` leaves it out), counts the attempt (from then on
   * `findUnsentId` no longer names it, so nothing merges into a payload
   * already in flight) and answers the entry as claimed. Undefined, and
   * nothing changed, when the entry does not qualify or another unit holds
   * it right now (another instance claiming it, a change merging into it):
   * claimers never wait for each other. Two units claiming one entry at
   * once get it once, under either isolation; the claim commits before the
   * request is sent, so it outlives the process that made it until it
   * expires (at least once delivery).
   */
  claim(id: number, nowMs: number, claimedUntilMs: number): Promise<OutboxEntry | undefined>;
  /*
   * Google's answer to an attempt, recorded by `markDelivered`, `scheduleRetry`
   * or `markDead`, each of which clears the claim. `claimedUntilMs` is the
   * claim the answer is for (`claim`'s; null for an entry nobody claimed): the
   * write is made only while that claim still holds the entry, so a delivery
   * that overran its lease, whose entry another instance has claimed since,
   * records nothing and leaves the queue to that instance (its answer decides
   * when the queue's next entry may go, and so the order Google sees).
   */
  /** Records Google's acceptance. */
  markDelivered(id: number, nowSec: number, status: number, claimedUntilMs: number | null): Promise<void>;
  /** Schedules the next attempt after a failed one. */
  scheduleRetry(id: number, nextAttemptAtMs: number, status: number | null, error: string, claimedUntilMs: number | null): Promise<void>;
  /** Gives up on the entry, keeping Google's answer. */
  markDead(id: number, status: number | null, responseBody: string, claimedUntilMs: number | null): Promise<void>;
  /** Puts a dead entry back in the queue, due now; false when `id` is not dead. */
  requeue(id: number, nowMs: number): Promise<boolean>;
  /**
   * Brings every pending entry due after `latestMs` forward to `latestMs`
   * (a retry scheduled absurdly far ahead); returns them as they were.
   */
  clampRetriesAfter(latestMs: number): Promise<OutboxEntry[]>;
  /**
   * Ends every claim; answers how many there were. Only for a store no other
   * instance shares (`Store.sharedByInstances` false), at start: a claim
   * there can only be this process's previous run's, which died sending,
   * and its entry is then sent again at once instead of after the lease.
   */
  releaseClaims(): Promise<number>;
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

export interface PaymentRecordReads {
  forBooking(bookingId: string): Promise<PaymentRecord[]>;
  /**
   * Booking ids with payment records whose booking was never committed (the
   * process died between a charge and its commit; only records started
   * before `startedBeforeSec`, so that a booking under way can be kept out),
   * is in one of `owed.all`, has a refund started and not finished (owed),
   * or has a late-cancel fee whose charge was cut short and is in one of
   * `owed.lateFeeCutShort`.
   */
  bookingIdsToReconcile(owed: { all: BookingStatus[]; lateFeeCutShort: BookingStatus[] }, startedBeforeSec: number): Promise<string[]>;
}

export interface PaymentRecordRepository extends PaymentRecordReads {
  /** Notes a processor call about to be made (once per idempotency key). */
  start(record: Omit<PaymentRecord, "state" | "transactionId">, nowSec: number): Promise<void>;
  /** Notes what the processor answered. */
  complete(idempotencyKey: string, transactionId: string, nowSec: number): Promise<void>;
}

/**
 * One money movement in the sandbox payment processor's ledger (migration 4):
 * what `SandboxProcessor` keeps in place of a real processor's records.
 */
export interface PaymentLedgerEntry {
  id: number;
  /** The caller's idempotency key: one entry per key. */
  idempotencyKey: string;
  bookingId: string | null;
  merchantId: string;
  operation: "charge" | "store_card" | "charge_stored" | "refund";
  /** Null for `store_card`. */
  amountMicros: bigint | null;
  currency: string | null;
  /** The amount in the currency's minor units, as a processor would be asked for. */
  amountMinor: bigint | null;
  /** Charge / refund / stored payment method id; unique. */
  transactionId: string;
  /** A refund's charge; a stored-card charge's payment method ref. */
  refersTo: string | null;
  description: string;
  createdAtSec: number;
}

export interface PaymentLedgerReads {
  findByIdempotencyKey(idempotencyKey: string): Promise<PaymentLedgerEntry | undefined>;
  findByTransactionId(transactionId: string): Promise<PaymentLedgerEntry | undefined>;
  /** Every entry of a booking, oldest first. */
  forBooking(bookingId: string): Promise<PaymentLedgerEntry[]>;
  /** The sum of the refunds of charge `transactionId`, in micros (0n when none). */
  refundedMicros(transactionId: string): Promise<bigint>;
}

export interface PaymentLedgerRepository extends PaymentLedgerReads {
  /** Rejects when an entry has the key or the transaction id already. */
  insert(entry: Omit<PaymentLedgerEntry, "id">): Promise<void>;
}

/** The repositories a unit of work writes through (`Store.transaction`). */
export interface Repositories {
  inventory: InventoryRepository;
  bookings: BookingRepository;
  idempotency: IdempotencyRepository;
  leases: LeaseRepository;
  users: UserRepository;
  outbox: OutboxRepository;
  payments: PaymentRecordRepository;
  ledger: PaymentLedgerRepository;
}

/** What `Store.read` offers: the read methods of every repository. */
export interface ReadRepositories {
  inventory: InventoryReads;
  bookings: BookingReads;
  idempotency: IdempotencyReads;
  leases: LeaseReads;
  users: UserReads;
  outbox: OutboxReads;
  payments: PaymentRecordReads;
  ledger: PaymentLedgerReads;
}

export interface TransactionOptions {
  /**
   * The unit may share its transaction's commit (and its fsync) with other
   * units arriving at the same time (group commit, for the hot write paths:
   * CreateBooking). It still takes effect alone or not at all, and its
   * promise settles only once it is durable. A backend without group commit
   * runs it as an ordinary transaction.
   */
  batch?: boolean;
  /**
   * "serializable" (the default): see `Store.transaction`.
   *
   * "read committed": the unit is written to stay correct when each of its
   * statements sees what was committed before that statement ran. Every
   * decision it makes rests on a conditional write (`takeSpot`, `endHold`),
   * a constraint (`ConstraintViolation`) or a lock it takes first
   * (`lockToken`), never on a value read earlier in the unit staying as it
   * was. A server database then runs it without the serializable checks (no
   * refusals of units whose rows never met); SQLite runs every unit alone
   * anyway.
   */
  isolation?: "serializable" | "read committed";
}

/**
 * A unit of work: reaches the database only through `tx`, and only while its
 * promise is pending (a handle kept after the unit ends must not be used).
 * It may be run more than once (a backend re-runs it after a serialization
 * failure or a deadlock, SQLite after another process held the lock), so it
 * has no effect outside the database: payments, HTTP calls and wake-ups
 * happen after the unit, from what it returned. It awaits only the
 * repositories: on SQLite a whole batch of units then runs in one turn of
 * the event loop.
 */
export type UnitOfWork<T> = (tx: Repositories) => Promise<T>;

export interface Store {
  /**
   * Runs `work` as one atomic unit: all of its writes commit, or none do; the
   * promise settles once the commit is durable (or with the unit's error,
   * nothing of it written).
   *
   * Isolation: serializable, unless `options.isolation` says the unit needs
   * less. Every backend must give a unit the guarantee that
   * what it read does not change under it before it commits (SQLite: one
   * writer at a time, the write lock taken at BEGIN IMMEDIATE; a server
   * database: SERIALIZABLE, or the row locks and constraints that make the
   * same outcome, re-running the unit after a serialization failure).
   * Units must not nest: a unit that calls `transaction` or `read` waits for itself.
   */
  transaction<T>(work: UnitOfWork<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Plain reads outside any unit: each call sees committed data (read
   * committed; two calls may see different states). On SQLite a read waits
   * while a unit is under way, so it never sees a unit's uncommitted writes.
   */
  read: ReadRepositories;
  /** Starts staging a feed import (see `FeedStaging`); call `discard` on it when done. */
  stageFeeds(): Promise<FeedStaging>;
  /**
   * Whether the store takes writes now (proved by a committed write), is the
   * database it opened and has its schema up to date; the reason when not.
   */
  readiness(): Promise<{ ready: true } | { ready: false; reason: string }>;
  // --- Several instances on one database (docs/several-instances.md) ---
  /**
   * Whether other server instances may run units on this database at the
   * same time as this process. False on SQLite: `serve` holds its file
   * alone (src/store/sqlite/serving-lock.ts; the other commands make no
   * payments and take no spots). True on PostgreSQL, which several `serve`
   * instances may share. When true, nothing may be taken for work a crash
   * left behind just because this process has nothing under way: another
   * instance may be in the middle of it (see `abandonedPaymentsBeforeSec`).
   */
  readonly sharedByInstances: boolean;
  // --- end of several instances ---
  /** Writes a consistent copy of the whole database to `path` while the store stays in use. */
  backup(path: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A write the schema refused because it would break one of the facts the
 * database enforces (see the constraint names on the repository methods).
 */
export class ConstraintViolation extends Error {
  constructor(
    readonly constraint: "one_booking_per_idempotency_token" | "one_holding_booking_per_user_and_slot" | "spots_within_total",
    options?: { cause?: unknown },
  ) {
    super(`the database refused the write: ${constraint}`, options);
  }
}

/**
 * How long a unit keeps trying while the database refuses it for someone
 * else (SQLite: another process's import or backup holds the write lock;
 * PostgreSQL: serialization failures and deadlocks) before it fails with
 * `StoreBusyError`: long enough to outlast an import's final transaction of
 * a few hundred thousand slots, short enough to answer well before a
 * caller's deadline.
 */
export const busyRetryWindowMs = 2_000;

/**
 * The store cannot take the write now because the database is locked by
 * someone else (another process's import or backup; a server database under
 * lock contention) and stayed so for longer than the store waits: the caller
 * may retry soon. `code` is the backend's own code, for logs.
 */
export class StoreBusyError extends Error {
  constructor(
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`the database is busy (${code}): try again shortly`, options);
  }
}

/**
 * The store's database cannot take writes at all for now (full disk,
 * read-only file system, I/O error, unreachable server); `code` is the
 * backend's own code, for logs and readiness.
 */
export class StoreUnavailableError extends Error {
  constructor(
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`the database cannot take writes (${code})`, options);
  }
}
