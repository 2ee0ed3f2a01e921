import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importFeeds } from "../../src/inventory/feed-import";
import { chargesAtBooking } from "../../src/payments/payment-amounts";
import { effectivePaymentPolicy } from "../../src/payments/payment-policy";
import { openSqliteStore } from "../../src/store/sqlite-store";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "payment-terms-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const usd = (units: number) => ({ price_micros: String(units * 1_000_000), currency_code: "USD" });
const serviceTerms: Record<string, object> = {
  none: {},
  prepayment: { price: usd(50), prepayment_type: "REQUIRED" },
  deposit: { deposit: { deposit: usd(20) } },
  noShowFee: { no_show_fee: { fee: usd(30) } },
  card: { require_credit_card: "REQUIRE_CREDIT_CARD_ALWAYS" },
  priceOnly: { price: usd(50) },
};
const slotTerms: Record<string, object> = {
  none: {},
  deposit: { deposit: { deposit: usd(10) } },
  noShowFee: { no_show_fee: { fee: usd(15) } },
  card: { require_credit_card: "REQUIRE_CREDIT_CARD_ALWAYS" },
};

test("when a slot or its service has a term that takes money or keeps a card, then the slot is flagged; when neither has, its payment plan is empty", async () => {
  const write = (name: string, body: unknown) => (writeFileSync(join(dir, name), JSON.stringify(body)), join(dir, name));
  const services = Object.entries(serviceTerms).map(([id, terms]) => ({ merchant_id: "m", service_id: id, name: id, ...terms }));
  const slots = services.flatMap((service) =>
    Object.entries(slotTerms).map(([, terms], i) => ({
      merchant_id: "m", service_id: service.service_id, start_sec: 1830000000 + i * 3600, duration_sec: 3600, spots_total: 1, spots_open: 1, ...terms,
    })),
  );
  const store = openSqliteStore(join(dir, "b.db"));
  try {
    await importFeeds(store, [
      write("m.json", { merchant: [{ merchant_id: "m", name: "M" }] }),
      write("s.json", { service: services }),
      write("a.json", { availability: slots }),
    ]);
    let flagged = 0;
    for (const slot of slots) {
      const [record] = await store.read.inventory.findSlots(
        { merchantId: "m", serviceId: slot.service_id, startSec: slot.start_sec, durationSec: 0, staffId: "", roomId: "", partySize: 0 },
        1,
      );
      const policy = effectivePaymentPolicy(await store.read.inventory.feedsOf(record.slotId));
      const charges = chargesAtBooking(policy, { partySize: 1 });
      const planned = Boolean(charges.prepayment || charges.deposit || policy.cardRequired || policy.noShowFee);
      if (planned) expect({ slot, mayTakePayment: record.mayTakePayment }).toEqual({ slot, mayTakePayment: true });
      if (record.mayTakePayment) flagged++;
    }
    // Only the slots without any term, of the services without any (none, priceOnly), skip the policy.
    expect(slots.length - flagged).toBe(2);
  } finally {
    await store.close();
  }
});
