/**
 * What the PostgreSQL store does beyond the repository contract (which
 * test/store/postgres-contract.test.ts runs): migrations when several
 * instances start together, units re-run after a serialization failure or a
 * deadlock, the schema's own refusals of a raw write, an unreachable server.
 * These tests may use SQL: they check the PostgreSQL schema itself.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import { ConstraintViolation, StoreUnavailableError, type Store } from "../../src/store/repositories.js";
import { schemaVersion } from "../../src/store/postgres/migrations.js";
import { openPostgresStore } from "../../src/store/postgres/postgres-store.js";
import { storeError } from "../../src/store/postgres/store-errors.js";
import { clusterStartTimeoutMs, createTestDatabase, onDatabase, postgresCluster, type TestDatabase } from "../support/postgres-cluster.js";
import { uniqueId } from "../support/rest-helpers.js";
import { usePostgresStore } from "../support/postgres-store-fixture.js";
import { futureStartSec, hour, seedSlots } from "../support/test-server.js";

beforeAll(() => postgresCluster(), clusterStartTimeoutMs);

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** Seeds slots of a merchant of its own, one per hour from `futureStartSec`, and answers their ids. */
async function seedSlotIds(store: Store, count: number, spotsTotal: number): Promise<number[]> {
  const merchantId = uniqueId("merchant");
  const starts = Array.from({ length: count }, (_, index) => futureStartSec + index * hour);
  await seedSlots(store, starts.map((startSec) => ({ merchantId, serviceId: "haircut", startSec, spotsTotal })));
  return Promise.all(
    starts.map(async (startSec) => {
      const [slot] = await store.read.inventory.findSlots(
        { merchantId, serviceId: "haircut", startSec, durationSec: 0, staffId: "", roomId: "", partySize: 0 },
        1,
      );
      return slot.slotId;
    }),
  );
}

describe("PostgreSQL store: migrations", () => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase();
  });
  afterEach(() => database.drop());

  test("when four instances open one fresh database at once, then each migration is applied once and every instance works", async () => {
    const stores = await Promise.all([1, 2, 3, 4].map(() => openPostgresStore(database.url, { poolSize: 2 })));
    try {
      const applied = await onDatabase<{ version: number }>(database.url, "SELECT version FROM schema_migrations ORDER BY version");
      expect(applied.map((row) => row.version)).toEqual(Array.from({ length: schemaVersion }, (_, index) => index + 1));
      const [slotId] = await seedSlotIds(stores[0], 1, 4);
      expect(await Promise.all(stores.map((store) => store.transaction((tx) => tx.inventory.takeSpot(slotId))))).toEqual([true, true, true, true]);
      expect(await Promise.all(stores.map((store) => store.readiness()))).toEqual(Array(4).fill({ ready: true }));
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  test("when the database was migrated by newer code, then opening it refuses to start and changes nothing", async () => {
    await (await openPostgresStore(database.url)).close();
    await onDatabase(database.url, "INSERT INTO schema_migrations (version) VALUES ($1)", [schemaVersion + 1]);
    await expect(openPostgresStore(database.url)).rejects.toThrow(`database schema version ${schemaVersion + 1} is newer than this server (${schemaVersion}); refusing to start`);
    expect(await onDatabase(database.url, "SELECT count(*)::int AS n FROM schema_migrations")).toEqual([{ n: schemaVersion + 1 }]);
  });
});

describe("PostgreSQL store", () => {
  const suite = usePostgresStore();

  test("when two units each read the slot the other takes a spot of (write skew), then one is refused by a serialization failure, run again, and both commit", async () => {
    const [first, second] = await seedSlotIds(suite.store, 2, 5);
    const bothRead = [deferred(), deferred()];
    let runs = 0;
    const unit = (read: number, take: number, index: number) =>
      suite.store.transaction(async (tx) => {
        runs++;
        await tx.inventory.getSlot(read);
        bothRead[index].resolve();
        // Only the first run waits for the other: a re-run goes straight on.
        if (runs <= 2) await bothRead[1 - index].promise;
        return tx.inventory.takeSpot(take);
      });
    expect(await Promise.all([unit(first, second, 0), unit(second, first, 1)])).toEqual([true, true]);
    expect(runs).toBe(3);
    expect((await suite.store.read.inventory.getSlot(first))!.spotsOpen).toBe(4);
    expect((await suite.store.read.inventory.getSlot(second))!.spotsOpen).toBe(4);
  });

  test("when two units take spots of two slots in opposite orders (a deadlock), then the unit PostgreSQL refuses is run again and both commit", async () => {
    const [first, second] = await seedSlotIds(suite.store, 2, 5);
    const bothTookOne = [deferred(), deferred()];
    let runs = 0;
    const unit = (order: [number, number], index: number) =>
      suite.store.transaction(async (tx) => {
        runs++;
        await tx.inventory.takeSpot(order[0]);
        bothTookOne[index].resolve();
        if (runs <= 2) await bothTookOne[1 - index].promise;
        return tx.inventory.takeSpot(order[1]);
      });
    expect(await Promise.all([unit([first, second], 0), unit([second, first], 1)])).toEqual([true, true]);
    // At least the refused unit's re-run; that re-run may itself be refused once more (40001) when it
    // reaches the slot the other unit wrote after its snapshot was taken.
    expect(runs).toBeGreaterThanOrEqual(3);
    expect((await suite.store.read.inventory.getSlot(first))!.spotsOpen).toBe(3);
    expect((await suite.store.read.inventory.getSlot(second))!.spotsOpen).toBe(3);
  });

  test("when two read committed units that would deadlock lock both slots first (lockSlots, as a reschedule does), then the second waits for the first and neither is run again", async () => {
    const [first, second] = await seedSlotIds(suite.store, 2, 5);
    const firstLocked = deferred();
    let runs = 0;
    const readCommitted = { isolation: "read committed" } as const;
    const firstUnit = suite.store.transaction(async (tx) => {
      runs++;
      await tx.inventory.lockSlots([first, second]);
      const tookFirst = await tx.inventory.takeSpot(first);
      firstLocked.resolve();
      // Long enough for the second unit to reach its lock: without lockSlots it would take `second` meanwhile, then wait for `first`.
      await new Promise((resolve) => setTimeout(resolve, 200));
      return tookFirst && tx.inventory.takeSpot(second);
    }, readCommitted);
    await firstLocked.promise;
    const secondUnit = suite.store.transaction(async (tx) => {
      runs++;
      await tx.inventory.lockSlots([second, first]);
      return (await tx.inventory.takeSpot(second)) && tx.inventory.takeSpot(first);
    }, readCommitted);
    expect(await Promise.all([firstUnit, secondUnit])).toEqual([true, true]);
    expect(runs).toBe(2);
    expect((await suite.store.read.inventory.getSlot(first))!.spotsOpen).toBe(3);
    expect((await suite.store.read.inventory.getSlot(second))!.spotsOpen).toBe(3);
  });

  test("when a raw UPDATE takes a spot past the slot's total or counts below zero, then the schema refuses it, the first as ConstraintViolation spots_within_total", async () => {
    const [slotId] = await seedSlotIds(suite.store, 1, 2);
    const refusal = (text: string) => onDatabase(suite.database.url, text, [slotId]).then(() => undefined, storeError);
    const pastTotal = await refusal("UPDATE slots SET spots_held = 3 WHERE slot_id = $1");
    expect(pastTotal).toBeInstanceOf(ConstraintViolation);
    expect(pastTotal).toMatchObject({ constraint: "spots_within_total" });
    expect(await refusal("UPDATE slots SET spots_held = -1 WHERE slot_id = $1")).toMatchObject({ constraint: "spots_held_not_negative" });
    expect((await suite.store.read.inventory.getSlot(slotId))!.spotsOpen).toBe(2);
  });

  test("when a unit catches a refused statement's error and goes on, then the unit is refused with that error and nothing of it is written", async () => {
    const [slotId] = await seedSlotIds(suite.store, 1, 2);
    const token = uniqueId("token");
    const unit = suite.store.transaction(async (tx) => {
      await tx.inventory.takeSpot(slotId);
      // No booking of that id: the foreign key refuses the record, and PostgreSQL aborts the transaction.
      await tx.idempotency.record(token, uniqueId("no-such-booking"), 1).catch(() => undefined);
      return "went on";
    });
    await expect(unit).rejects.toMatchObject({ code: "23503" });
    expect((await suite.store.read.inventory.getSlot(slotId))!.spotsOpen).toBe(2);
    expect(await suite.store.read.idempotency.findBookingId(token)).toBeUndefined();
  });

  test("when a PostgreSQL store is asked for a backup, then it refuses and names pg_dump and base backups", async () => {
    await expect(suite.store.backup("/tmp/never-written.db")).rejects.toThrow(/pg_dump.*pg_basebackup/);
  });
});

/** A TCP relay to the cluster that can be cut (every connection dropped, nothing accepted) and restored on the same port. */
class CuttableRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, "127.0.0.1");
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

describe("PostgreSQL store: an unreachable server", () => {
  test("when the server cannot be reached, then units and reads fail quickly with StoreUnavailableError and readiness says so; once it is back, the store works again by itself", async () => {
    const database = await createTestDatabase();
    const { port } = await postgresCluster();
    const relay = new CuttableRelay(port);
    await relay.start();
    const url = new URL(database.url);
    url.port = String(relay.port);
    const store = await openPostgresStore(url.toString(), { connectTimeoutMs: 1_000, onConnectionError: () => {} });
    try {
      const [slotId] = await seedSlotIds(store, 1, 3);
      await relay.cut();

      // Not a hang: a connection refused fails at once, a silent server after connectTimeoutMs.
      const unit = await store.transaction((tx) => tx.inventory.takeSpot(slotId)).catch((error: unknown) => error);
      const read = await store.read.inventory.getSlot(slotId).catch((error: unknown) => error);
      expect(unit).toBeInstanceOf(StoreUnavailableError);
      expect(read).toBeInstanceOf(StoreUnavailableError);
      expect(await store.readiness()).toMatchObject({ ready: false, reason: expect.stringMatching(/^the database does not take writes/) });

      await relay.start();
      expect(await store.transaction((tx) => tx.inventory.takeSpot(slotId))).toBe(true);
      expect((await store.read.inventory.getSlot(slotId))!.spotsOpen).toBe(2);
      expect(await store.readiness()).toEqual({ ready: true });
    } finally {
      await store.close();
      await relay.cut();
      await database.drop();
    }
  });
});
