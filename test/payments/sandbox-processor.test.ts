import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PaymentDeclinedError, paymentIdempotencyKey } from "../../src/payments/payment-processor";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import type { Store } from "../../src/store/repositories";
import { openSqliteStore } from "../../src/store/sqlite-store";

/**
 * What only the sandbox does: its ledger (rows, minor units, the SQLite file),
 * its per-merchant stored cards and currency checks. What every processor must
 * do alike is in processor-contract.test.ts.
 */

describe("SandboxProcessor", () => {
  let dir: string;
  let dbPath: string;
  let store: Store;
  let now: number;
  let sandbox: SandboxProcessor;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "sandbox-processor-"));
    dbPath = join(dir, "booking.db");
    store = openSqliteStore(dbPath);
    now = 1_800_000_000;
    sandbox = new SandboxProcessor(store, { nowSec: () => now });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const usd = (micros: bigint) => ({ micros, currency: "USD" });

  function charge(bookingId: string, micros: bigint, token = "tok_ok", operation: "prepayment" | "deposit" = "prepayment") {
    return sandbox.charge({
      idempotencyKey: paymentIdempotencyKey(bookingId, operation),
      bookingId,
      merchantId: "m1",
      amount: usd(micros),
      token,
      description: "dinner for 2",
    });
  }

  async function declined(promise: Promise<unknown>): Promise<PaymentDeclinedError> {
    try {
      await promise;
    } catch (error) {
      expect(error).toBeInstanceOf(PaymentDeclinedError);
      return error as PaymentDeclinedError;
    }
    throw new Error("expected a PaymentDeclinedError");
  }

  it("charges once per idempotency key and records the exact amount", async () => {
    const first = await charge("b1", 12_345_000n);
    expect(first.transactionId).toMatch(/^sbx_ch_[0-9a-f]{24}$/);
    const again = await charge("b1", 12_345_000n);
    expect(again).toEqual(first);

    const ledger = await sandbox.ledgerFor("b1");
    expect(ledger).toEqual([
      {
        id: expect.any(Number),
        idempotencyKey: "booking/b1/prepayment",
        bookingId: "b1",
        merchantId: "m1",
        operation: "charge",
        amount: { micros: 12_345_000n, currency: "USD" },
        amountMinor: 1234n, // 1234.5 ¢ → 1234 ¢ (half-to-even)
        transactionId: first.transactionId,
        refersTo: null,
        description: "dinner for 2",
        createdAtSec: 1_800_000_000,
      },
    ]);
  });

  it("survives a restart: the ledger is in the SQLite file", async () => {
    const { transactionId } = await charge("b1", 1_000_000n);
    await store.close();
    store = openSqliteStore(dbPath);
    sandbox = new SandboxProcessor(store);
    expect(await charge("b1", 1_000_000n)).toEqual({ transactionId });
    expect(await sandbox.ledgerFor("b1")).toHaveLength(1);
  });

  it("gives unique transaction ids", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await charge(`b${i}`, 1_000_000n)).transactionId);
    expect(ids.size).toBe(50);
  });

  it("declines tokens containing 'decline' and rejects 'cardtype' as American Express, writing nothing", async () => {
    const declinedError = await declined(charge("b1", 1_000_000n, '{"id":"tok_decline"}'));
    expect(declinedError.reason).toBe("card_declined");
    expect(declinedError.outcomeUnknown).toBe(false);

    const typeError = await declined(charge("b2", 1_000_000n, "cardtype-amex"));
    expect(typeError.reason).toBe("card_type_rejected");
    expect(typeError.rejectedCardType).toBe("AMERICAN_EXPRESS");

    expect((await declined(charge("b3", 1_000_000n, ""))).reason).toBe("invalid_token");
    expect((await declined(charge("b3", 1_000_000n, "   "))).reason).toBe("invalid_token");
    const db = new Database(dbPath, { readonly: true });
    const count = db.prepare("SELECT COUNT(*) AS n FROM payment_ledger").get() as { n: number };
    db.close();
    expect(count.n).toBe(0);
  });

  it("stores a card without charging, then charges a no-show fee on it once", async () => {
    const { paymentMethodRef } = await sandbox.storeCard({
      idempotencyKey: paymentIdempotencyKey("b1", "store_card"),
      bookingId: "b1",
      merchantId: "m1",
      token: "gpay-token",
    });
    expect(paymentMethodRef).toMatch(/^sbx_pm_/);
    expect(
      await sandbox.storeCard({ idempotencyKey: paymentIdempotencyKey("b1", "store_card"), bookingId: "b1", merchantId: "m1", token: "gpay-token" }),
    ).toEqual({ paymentMethodRef });

    const fee = {
      idempotencyKey: paymentIdempotencyKey("b1", "no_show_fee"),
      bookingId: "b1",
      merchantId: "m1",
      paymentMethodRef,
      amount: { micros: 5_000_000_000n, currency: "JPY" },
      description: "no-show fee",
    };
    const { transactionId } = await sandbox.chargeStored(fee);
    expect(await sandbox.chargeStored(fee)).toEqual({ transactionId });

    const ledger = await sandbox.ledgerFor("b1");
    expect(ledger.map((e) => [e.operation, e.amount, e.amountMinor, e.refersTo])).toEqual([
      ["store_card", null, null, null],
      ["charge_stored", { micros: 5_000_000_000n, currency: "JPY" }, 5000n, paymentMethodRef],
    ]);
  });

  it("refuses a stored charge on an unknown method or another merchant's", async () => {
    const { paymentMethodRef } = await sandbox.storeCard({ idempotencyKey: "k1", bookingId: "b1", merchantId: "m1", token: "t" });
    const base = { bookingId: "b1", amount: usd(1_000_000n), description: "" };
    expect((await declined(sandbox.chargeStored({ ...base, idempotencyKey: "k2", merchantId: "m1", paymentMethodRef: "sbx_pm_nope" }))).reason).toBe("invalid_token");
    expect((await declined(sandbox.chargeStored({ ...base, idempotencyKey: "k3", merchantId: "m2", paymentMethodRef }))).reason).toBe("invalid_token");
  });

  it("refunds in parts, never beyond the charge, once per key", async () => {
    const { transactionId } = await charge("b1", 10_000_000n, "tok", "deposit");
    const part = await sandbox.refund({ idempotencyKey: paymentIdempotencyKey("b1", "refund/1"), transactionId, amount: usd(4_000_000n) });
    expect(part.refundId).toMatch(/^sbx_re_/);
    expect(await sandbox.refund({ idempotencyKey: paymentIdempotencyKey("b1", "refund/1"), transactionId, amount: usd(4_000_000n) })).toEqual(part);

    const tooMuch = await declined(sandbox.refund({ idempotencyKey: paymentIdempotencyKey("b1", "refund/2"), transactionId, amount: usd(6_000_001n) }));
    expect(tooMuch.reason).toBe("processor_error");
    expect((await declined(sandbox.refund({ idempotencyKey: "other", transactionId, amount: { micros: 1n, currency: "EUR" } }))).reason).toBe("processor_error");

    // No amount: what is left.
    const rest = await sandbox.refund({ idempotencyKey: paymentIdempotencyKey("b1", "refund/2"), transactionId });
    expect(await sandbox.refund({ idempotencyKey: paymentIdempotencyKey("b1", "refund/2"), transactionId })).toEqual(rest);
    expect((await declined(sandbox.refund({ idempotencyKey: paymentIdempotencyKey("b1", "refund/3"), transactionId }))).reason).toBe("processor_error");

    expect((await sandbox.ledgerFor("b1")).map((e) => [e.operation, e.amount?.micros, e.refersTo])).toEqual([
      ["charge", 10_000_000n, null],
      ["refund", 4_000_000n, transactionId],
      ["refund", 6_000_000n, transactionId],
    ]);
    expect((await sandbox.entryForKey("booking/b1/refund/2"))?.transactionId).toBe(rest.refundId);
  });

  it("keys are booking/<id>/<operation>", () => {
    expect(paymentIdempotencyKey("abc", "prepayment")).toBe("booking/abc/prepayment");
    expect(paymentIdempotencyKey("abc", "refund/2")).toBe("booking/abc/refund/2");
    expect(() => paymentIdempotencyKey("", "deposit")).toThrow(RangeError);
  });
});
