import { StagingError, type FeedStaging, type SlotFeedRecord, type StagedFeedRecord, type Store, type UpsertOutcome } from "../store/repositories.js";
import { FieldError } from "../feeds/field-error.js";
import { paymentOverrideFields } from "../payments/feed-terms.js";
import { effectivePaymentPolicy } from "../payments/payment-policy.js";
import { recordError } from "./feed-error.js";
import type { Counts, ImportReport } from "./feed-import.js";
import { merchantFromFeed, offerFromFeed, serviceFromFeed, slotsFromFeed } from "./feed-records.js";

/** What a feed file holds, by its top-level key. */
export type FeedKind = "merchant" | "service" | "offer" | "availability";

/** A record read and parsed, waiting in its chunk to be checked against the store and staged. */
export interface ReadRecord {
  /** Its position among the file's records (`RecordPosition.index`). */
  index: number;
  staged: StagedFeedRecord;
  /** The record as read, kept only where a check still needs it: a service's, a slot's overriding payment terms. */
  raw?: unknown;
}

/**
 * Parses single records (`parserFor`, synchronous: what the stream's callback
 * runs) and then, a chunk at a time, checks what needs the store (that what
 * they refer to exists; a slot's payment overrides against its service),
 * stages them and counts what they change (`importChunk`).
 */
export class RecordImporter {
  /** Merchants / services known to exist (in the store, or in a feed of this import): the store is asked once for each. */
  private readonly merchants = new Set<string>();
  private readonly services = new Set<string>();
  /** The feeds of services whose slots override payment terms, as the import leaves them (the longest kept goes first). */
  private readonly serviceFeeds = new Map<string, { merchantFeed: string; serviceFeed: string }>();

  /** The availability format of each service this import gives slots of, and the first record that gave it. */
  private readonly availabilityFormats = new Map<string, { recurring: boolean; file: string; index: number }>();

  /** The report's counts for each kind of staged record. */
  private readonly counts: Readonly<Record<StagedFeedRecord["kind"], Counts>>;

  constructor(
    private readonly store: Store,
    private readonly staging: FeedStaging,
    report: ImportReport,
  ) {
    this.counts = { merchant: report.merchants, service: report.services, offer: report.offers, slot: report.slots };
  }

  /**
   * Parses one record of `file` (of `kind`) into what it stages, added to
   * `into` (an availability record with a recurrence makes several slots);
   * throws when it is malformed.
   */
  parserFor(file: string, kind: FeedKind): (record: unknown, index: number, into: ReadRecord[]) => void {
    switch (kind) {
      case "merchant":
        return (record, index, into) => void into.push({ index, staged: { kind: "merchant", record: merchantFromFeed(record) } });
      case "service":
        return (record, index, into) => void into.push({ index, staged: { kind: "service", record: serviceFromFeed(record) }, raw: record });
      case "offer":
        return (record, index, into) => void into.push({ index, staged: { kind: "offer", record: offerFromFeed(record) } });
      case "availability":
        return (record, index, into) => {
          const { slots, recurring } = slotsFromFeed(record);
          this.requireOneFormat(slots[0], recurring, file, index);
          // The overrides are the record's: checked once, with its first slot.
          const overridesTerms = paymentOverrideFields.some((field) => field in (record as object));
          slots.forEach((slot, i) => into.push({ index, staged: { kind: "slot", record: slot }, raw: overridesTerms && i === 0 ? record : undefined }));
        };
    }
  }

  /**
   * Refuses a service whose availability this import gives both as slots
   * with spots and as recurrences: Google reads one format per integration
   * ("Structuring availability in feeds": choose one, and stick with it), and
   * slots of both would overlap without a rule for which one counts.
   */
  private requireOneFormat(slot: SlotFeedRecord, recurring: boolean, file: string, index: number): void {
    const key = serviceKey(slot.merchantId, slot.serviceId);
    const first = this.availabilityFormats.get(key);
    if (first === undefined) {
      this.availabilityFormats.set(key, { recurring, file, index });
      return;
    }
    if (first.recurring === recurring) return;
    const where = first.file === file ? `record ${first.index}` : `record ${first.index} of ${first.file}`;
    throw new FieldError(
      "recurrence",
      `service ${JSON.stringify(slot.serviceId)} of merchant ${JSON.stringify(slot.merchantId)} mixes formats: ` +
        `${where} gives its slots ${first.recurring ? "with a recurrence" : "one by one with their spots"}, this one ` +
        `${recurring ? "with a recurrence" : "one by one with its spots"}; give a service's availability in one format`,
    );
  }

  /**
   * Checks `records` in order, then (when `stage`) stages them in one
   * `FeedStaging.stage` call and counts what they change. Rejects with the
   * first bad record's `FeedError`.
   */
  async importChunk(file: string, records: readonly ReadRecord[], stage: boolean): Promise<void> {
    for (const read of records) {
      try {
        await this.check(read);
      } catch (error) {
        throw recordError(file, read.index, error);
      }
    }
    if (!stage || records.length === 0) return;
    let outcomes: UpsertOutcome[];
    try {
      outcomes = await this.staging.stage(records.map((read) => read.staged));
    } catch (error) {
      // The store's index is the record's place in this chunk.
      if (error instanceof StagingError && error.index < records.length) throw recordError(file, records[error.index].index, error.cause);
      throw error;
    }
    records.forEach((read, i) => this.count(read.staged, outcomes[i]));
  }

  /** The checks of one parsed record that may need the store, in the order they were always made. */
  private async check({ staged, raw }: ReadRecord): Promise<void> {
    switch (staged.kind) {
      case "merchant":
        this.merchants.add(staged.record.merchantId);
        return;
      case "service": {
        const { merchantId, serviceId } = staged.record;
        await this.requireMerchant(merchantId);
        // Payment terms are checked now, so a bad one fails the import, not a booking.
        effectivePaymentPolicy({ serviceFeed: raw, slotFeed: {}, merchantFeed: {} });
        this.services.add(serviceKey(merchantId, serviceId));
        return;
      }
      case "offer": {
        const { merchantId, serviceId } = staged.record;
        await this.requireMerchant(merchantId);
        if (serviceId !== "") await this.requireService(merchantId, serviceId);
        return;
      }
      case "slot": {
        const { merchantId, serviceId } = staged.record;
        await this.requireService(merchantId, serviceId);
        if (raw !== undefined) effectivePaymentPolicy({ ...(await this.feedsOf(merchantId, serviceId)), slotFeed: raw });
        return;
      }
    }
  }

  private async requireMerchant(merchantId: string): Promise<void> {
    if (this.merchants.has(merchantId)) return;
    if (!(await this.store.read.inventory.hasMerchant(merchantId))) {
      throw new FieldError(
        "merchant_id",
        `unknown merchant ${JSON.stringify(merchantId)}: neither in the database nor in a merchant feed of this import`,
      );
    }
    this.merchants.add(merchantId);
  }

  private async requireService(merchantId: string, serviceId: string): Promise<void> {
    const key = serviceKey(merchantId, serviceId);
    if (this.services.has(key)) return;
    await this.requireMerchant(merchantId);
    if (!(await this.store.read.inventory.hasService(merchantId, serviceId))) {
      throw new FieldError(
        "service_id",
        `unknown service ${JSON.stringify(serviceId)} of merchant ${JSON.stringify(merchantId)}: ` +
          "neither in the database nor in a service feed of this import",
      );
    }
    this.services.add(key);
  }

  /** A service's and its merchant's feeds as the import leaves them: asked of the staging once per service (of the last `serviceFeedsKept`). */
  private async feedsOf(merchantId: string, serviceId: string): Promise<{ merchantFeed: string; serviceFeed: string }> {
    const key = serviceKey(merchantId, serviceId);
    let feeds = this.serviceFeeds.get(key);
    if (feeds === undefined) {
      // Services are staged with their file, before any availability file is read.
      feeds = (await this.staging.serviceFeeds(merchantId, serviceId))!;
      if (this.serviceFeeds.size >= serviceFeedsKept) this.serviceFeeds.delete(this.serviceFeeds.keys().next().value!);
      this.serviceFeeds.set(key, feeds);
    }
    return feeds;
  }

  private count(staged: StagedFeedRecord, outcome: UpsertOutcome): void {
    this.counts[staged.kind][outcome]++;
  }
}

/**
 * How many services' feeds an import keeps for the payment-override checks:
 * availability feeds list a service's slots together, so a few suffice, and
 * memory stays bounded whatever the number of services.
 */
const serviceFeedsKept = 256;

const serviceKey = (merchantId: string, serviceId: string) => `${merchantId}\u0000${serviceId}`;

