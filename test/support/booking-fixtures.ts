/**
 * Fixtures for the use-case tests of test/booking/: a real SQLite store on a
 * temp file, a BookingContext on a manual clock with deterministic ids, the
 * request messages the use cases take, and what the store's outbox then holds.
 * No server and no HTTP: the use cases are called in process.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBookingRequestSchema,
  SlotSchema,
  UserInformationSchema,
  type CreateBookingRequest,
  type Slot,
  type UserInformation,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { createBookingContext, type BookingContext } from "../../src/booking/context.js";
import type { PaymentProcessor } from "../../src/payments/payment-processor.js";
import type { OutboxEntry, Store } from "../../src/store/repositories.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { futureStartSec, hour, manualClock, type SlotSeed } from "./test-server.js";

export type ManualClock = ReturnType<typeof manualClock>;

export interface BookingWorld {
  store: Store;
  ctx: BookingContext;
  clock: ManualClock;
  /** How many times the use cases woke the notifier (`notificationQueued`). */
  wakeUps(): number;
  /** What the use cases reported through `reportJobFailure`. */
  jobFailures: Array<{ job: string; error: unknown }>;
  /** Closes the store and removes its temp dir. */
  close(): Promise<void>;
}

export interface BookingWorldOptions {
  /** The clock's start; a week before `futureStartSec` unless told. */
  nowSec?: number;
  decideWithinSec?: number;
  maxLeaseSec?: number;
  /** Builds the payment processor on the world's store and clock (none unless given). */
  payments?: (store: Store, clock: ManualClock) => PaymentProcessor;
}

/** Ids "<prefix>-1", "<prefix>-2", ... in the order they are asked for. */
export function sequentialIds(prefix: string): () => string {
  let next = 0;
  return () => `${prefix}-${++next}`;
}

/** A fresh SQLite store on a temp file and a booking context over it. */
export function openBookingWorld(options: BookingWorldOptions = {}): BookingWorld {
  const dir = mkdtempSync(join(tmpdir(), "booking-use-case-"));
  const store = openSqliteStore(join(dir, "booking.db"));
  const clock = manualClock(options.nowSec ?? futureStartSec - 7 * 24 * hour);
  let wakeUps = 0;
  const jobFailures: BookingWorld["jobFailures"] = [];
  const ctx = createBookingContext({
    store,
    clock,
    newId: sequentialIds("id"),
    maxLeaseSec: options.maxLeaseSec,
    decideWithinSec: options.decideWithinSec,
    payments: options.payments?.(store, clock),
    notificationQueued: () => void (wakeUps += 1),
    reportJobFailure: (job, error) => void jobFailures.push({ job, error }),
  });
  return {
    store,
    ctx,
    clock,
    wakeUps: () => wakeUps,
    jobFailures,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The Slot message Google sends for a seeded slot (duration 3600 s unless the seed says otherwise). */
export function slotOf(seed: Pick<SlotSeed, "merchantId" | "serviceId" | "startSec" | "durationSec" | "partySize">): Slot {
  return create(SlotSchema, {
    merchantId: seed.merchantId,
    serviceId: seed.serviceId,
    startSec: BigInt(seed.startSec),
    durationSec: BigInt(seed.durationSec ?? 3600),
    resources: seed.partySize ? { partySize: seed.partySize } : undefined,
  });
}

/** A user as Google sends one; the email is `<userId>@example.com` unless told. */
export function userOf(userId: string, email = `${userId}@example.com`): UserInformation {
  return create(UserInformationSchema, { userId, givenName: "Ada", familyName: "Lovelace", telephone: "+15550100", email });
}

/** A CreateBookingRequest for `slot` by `user` under `token`, with any other fields given in `extra`. */
export function bookingRequest(
  slot: Slot,
  user: UserInformation,
  token: string,
  extra: Omit<MessageInitShape<typeof CreateBookingRequestSchema>, "$typeName" | "slot" | "userInformation" | "idempotencyToken"> = {},
): CreateBookingRequest {
  return create(CreateBookingRequestSchema, { slot, userInformation: user, idempotencyToken: token, ...extra });
}

/** An outbox entry as Google would be told it: the JSON parsed, and the start times of an availability update. */
export interface QueuedNotification {
  id: number;
  kind: OutboxEntry["kind"];
  queueKey: string;
  updateMask: string;
  payload: Record<string, unknown>;
  query: Record<string, string>;
  /** For `availability_replace`: the start times to replace, earliest first. */
  startSecs?: number[];
}

/** Every outbox entry the store holds, in the order queued (ids count up from 1 in a fresh database). */
export async function outboxEntries(store: Store): Promise<OutboxEntry[]> {
  const entries: OutboxEntry[] = [];
  for (let id = 1; ; id += 1) {
    const entry = await store.read.outbox.get(id);
    if (!entry) return entries;
    entries.push(entry);
  }
}

/**
 * The notifications queued since the last call, as Google would get them;
 * each is then marked delivered (claimed first, as the notifier does), so a
 * later change queues an entry of its own instead of merging into these.
 */
export async function takeQueuedNotifications(store: Store, nowSec: number): Promise<QueuedNotification[]> {
  const pending = (await outboxEntries(store)).filter((entry) => entry.state === "pending");
  const taken: QueuedNotification[] = [];
  for (const entry of pending) {
    taken.push({
      id: entry.id,
      kind: entry.kind,
      queueKey: entry.queueKey,
      updateMask: entry.updateMask,
      payload: JSON.parse(entry.payloadJson) as Record<string, unknown>,
      query: JSON.parse(entry.queryJson) as Record<string, string>,
      ...(entry.kind === "availability_replace" ? { startSecs: await store.read.outbox.startSecsOf(entry.id) } : {}),
    });
  }
  await store.transaction(async (tx) => {
    for (const entry of pending) {
      const claimed = await tx.outbox.claim(entry.id, nowSec * 1000, nowSec * 1000);
      await tx.outbox.markDelivered(entry.id, nowSec, 200, claimed?.claimedUntilMs ?? null);
    }
  });
  return taken;
}

/** The availability update queued for a service's start times, as `takeQueuedNotifications` gives it. */
export function availabilityUpdate(merchantId: string, serviceId: string, startSecs: number[]): Partial<QueuedNotification> {
  return { kind: "availability_replace", queueKey: `availability/${merchantId}/${serviceId}`, startSecs };
}

/** Open spots of the slot at `startSec` of a service, as the store holds them. */
export async function spotsOpen(store: Store, merchantId: string, serviceId: string, startSec: number): Promise<number> {
  const [slot] = await store.read.inventory.findSlots(
    { merchantId, serviceId, startSec, durationSec: 0, staffId: "", roomId: "", partySize: 0 },
    1,
  );
  if (!slot) throw new Error(`no slot of ${merchantId}/${serviceId} at ${startSec}`);
  return slot.spotsOpen;
}
