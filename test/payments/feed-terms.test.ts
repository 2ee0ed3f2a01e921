import { chargesAtBooking } from "../../src/payments/payment-amounts.js";
import { bookingPaymentTermFields, hasBookingPaymentTerms, paymentOverrideFields } from "../../src/payments/feed-terms.js";
import { effectivePaymentPolicy } from "../../src/payments/payment-policy.js";
import Database from "better-sqlite3";
import { migrations } from "../../src/store/migrations.js";

/*
 * The payment-term feed fields (bookingPaymentTermFields) are the one list of
 * the fields that let a booking take money or keep a card. These tests tie it
 * to what the payment policy does with each field, to the store's
 * `booking_payment_terms` columns (written with each record; migration 10 computed them for older rows), and to the
 * availability fields the policy reads (paymentOverrideFields, which the
 * importer checks).
 */

const usd = (units: number) => ({ price_micros: String(units * 1_000_000), currency_code: "USD" });
const merchant = { merchant_id: "m", name: "M", payment_option: [{ payment_option_id: "po", price: usd(80) }] };

/** A record with a valid value of each payment-term field (and what else it needs). */
const termSamples: { service: Record<string, object>; availability: Record<string, object> } = {
  service: {
    prepayment_type: { price: usd(50), prepayment_type: "REQUIRED" },
    deposit: { deposit: { deposit: usd(20) } },
    no_show_fee: { no_show_fee: { fee: usd(30) } },
    require_credit_card: { require_credit_card: "REQUIRE_CREDIT_CARD_ALWAYS" },
  },
  availability: {
    deposit: { deposit: { deposit: usd(10) } },
    no_show_fee: { no_show_fee: { fee: usd(15) } },
    require_credit_card: { require_credit_card: "REQUIRE_CREDIT_CARD_ALWAYS" },
  },
};

/** Records with payment fields that are not payment terms: they change the price or the cancellation rules, never charge. */
const nonTermSamples: { service: Record<string, object>; availability: Record<string, object> } = {
  service: {
    none: {},
    price: { price: usd(50) },
    scheduling_rules: {
      price: usd(50),
      scheduling_rules: { min_advance_online_canceling: 3600, cancellation_policy: { refund_conditions: [{ min_duration_before_start_time: "86400s", refund_percent: 50 }] } },
    },
    rules: { rules: { min_advance_online_canceling: 7200 } },
  },
  availability: {
    none: {},
    payment_option_id: { payment_option_id: "po" },
    prepayment: { prepayment: { price_info: { price: usd(40), price_type: "PER_PERSON" } } },
    scheduling_rule_overrides: { scheduling_rule_overrides: { last_online_cancellable_sec: 1830000000 } },
  },
};

/** Whether a booking of the slot takes money or keeps a card at booking. */
function takesPaymentAtBooking(serviceFeed: object, slotFeed: object): boolean {
  const policy = effectivePaymentPolicy({ serviceFeed, slotFeed, merchantFeed: merchant });
  const charges = chargesAtBooking(policy, { partySize: 2 });
  return Boolean(charges.prepayment || charges.deposit || policy.cardRequired || policy.noShowFee);
}

test("the payment-term feed fields are the service's prepayment_type, deposit, no_show_fee and require_credit_card, and the same but prepayment_type on a slot", () => {
  expect(bookingPaymentTermFields).toEqual({
    service: ["prepayment_type", "deposit", "no_show_fee", "require_credit_card"],
    availability: ["deposit", "no_show_fee", "require_credit_card"],
  });
  expect(Object.keys(termSamples.service)).toEqual(bookingPaymentTermFields.service);
  expect(Object.keys(termSamples.availability)).toEqual(bookingPaymentTermFields.availability);
});

test("when a service or a slot has one payment-term field, then a booking of it takes money or keeps a card, and it has booking payment terms", () => {
  for (const field of bookingPaymentTermFields.service) {
    const service = termSamples.service[field];
    expect({ field, takes: takesPaymentAtBooking(service, {}), has: hasBookingPaymentTerms("service", service) }).toEqual({ field, takes: true, has: true });
  }
  for (const field of bookingPaymentTermFields.availability) {
    const slot = termSamples.availability[field];
    expect({ field, takes: takesPaymentAtBooking({ price: usd(50) }, slot), has: hasBookingPaymentTerms("availability", slot) }).toEqual({
      field,
      takes: true,
      has: true,
    });
  }
});

test("when neither a service nor its slot has a payment-term field, then a booking takes no money and keeps no card, whatever their other payment fields", () => {
  for (const [serviceName, service] of Object.entries(nonTermSamples.service)) {
    expect({ serviceName, has: hasBookingPaymentTerms("service", service) }).toEqual({ serviceName, has: false });
    for (const [slotName, slot] of Object.entries(nonTermSamples.availability)) {
      expect({ slotName, has: hasBookingPaymentTerms("availability", slot) }).toEqual({ slotName, has: false });
      expect({ serviceName, slotName, takes: takesPaymentAtBooking(service, slot) }).toEqual({ serviceName, slotName, takes: false });
    }
  }
});

test("when a field is given as null, false, 0 or empty, then it counts as present; a field absent, undefined, nested or only named alike does not", () => {
  for (const value of [null, false, 0, "", [], {}]) {
    expect(hasBookingPaymentTerms("service", { deposit: value })).toBe(true);
    expect(hasBookingPaymentTerms("availability", { require_credit_card: value })).toBe(true);
  }
  expect(hasBookingPaymentTerms("service", { deposit: undefined })).toBe(false);
  expect(hasBookingPaymentTerms("service", { rules: { deposit: { deposit: usd(1) } } })).toBe(false);
  expect(hasBookingPaymentTerms("service", { deposit_type: "PER_PERSON", no_show_fees: {} })).toBe(false);
  expect(hasBookingPaymentTerms("service", Object.create({ deposit: { deposit: usd(1) } }))).toBe(false);
  // prepayment_type is a service's term only: a slot cannot make its service prepaid.
  expect(hasBookingPaymentTerms("availability", { prepayment_type: "REQUIRED" })).toBe(false);
  expect(hasBookingPaymentTerms("service", { prepayment_type: "NOT_SUPPORTED" })).toBe(true);
});

test("when a database from before migration 10 is upgraded, then its booking_payment_terms columns agree with hasBookingPaymentTerms", () => {
  const records: object[] = [
    ...Object.values(termSamples.service),
    ...Object.values(termSamples.availability),
    ...Object.values(nonTermSamples.service),
    ...Object.values(nonTermSamples.availability),
    ...[null, false, 0, "", [], {}].flatMap((value) => [
      { deposit: value },
      { no_show_fee: value },
      { require_credit_card: value },
      { prepayment_type: value },
    ]),
    { deposit: undefined, no_show_fee: undefined },
    { rules: { deposit: { deposit: usd(1) } }, prepayment: { no_show_fee: {} } },
    { deposit_type: "PER_PERSON", no_show_fees: {}, "prepayment-type": "REQUIRED" },
    { price: usd(5), prepayment_type: "OPTIONAL", require_credit_card: "REQUIRE_CREDIT_CARD_CONDITIONAL" },
  ];
  // The schema as migration 9 left it (migration 7's generated columns), with the records in it; then migration 10.
  const db = new Database(":memory:");
  migrations.slice(0, 9).forEach((migration) => db.exec(migration as string));
  try {
    db.prepare("INSERT INTO merchants (merchant_id, feed_json) VALUES ('m', ?)").run(JSON.stringify(merchant));
    const insertService = db.prepare("INSERT INTO services (merchant_id, service_id, feed_json) VALUES ('m', ?, ?)");
    const insertSlot = db.prepare(
      "INSERT INTO slots (merchant_id, service_id, start_sec, duration_sec, spots_total, feed_json) VALUES ('m', 's0', ?, 3600, 1, ?)",
    );
    records.forEach((record, i) => {
      insertService.run(`s${i}`, JSON.stringify(record));
      insertSlot.run(1830000000 + i * 3600, JSON.stringify(record));
    });
    (migrations[9] as (db: Database.Database) => void)(db);
    const services = db.prepare("SELECT booking_payment_terms AS flag FROM services ORDER BY rowid").all() as { flag: number }[];
    const slots = db.prepare("SELECT booking_payment_terms AS flag FROM slots ORDER BY slot_id").all() as { flag: number }[];
    expect(services).toHaveLength(records.length);
    expect(slots).toHaveLength(records.length);
    records.forEach((record, i) => {
      expect({ record, service: services[i].flag === 1, slot: slots[i].flag === 1 }).toEqual({
        record,
        service: hasBookingPaymentTerms("service", record),
        slot: hasBookingPaymentTerms("availability", record),
      });
    });
  } finally {
    db.close();
  }
});

test("the availability fields the payment policy reads are exactly paymentOverrideFields, a superset of the slot's payment-term fields", () => {
  expect(paymentOverrideFields).toEqual(expect.arrayContaining([...bookingPaymentTermFields.availability]));
  const slot = {
    merchant_id: "m",
    service_id: "s",
    start_sec: 1830000000,
    duration_sec: 3600,
    spots_total: 4,
    ...termSamples.availability.deposit,
    ...termSamples.availability.no_show_fee,
    ...termSamples.availability.require_credit_card,
    ...nonTermSamples.availability.payment_option_id,
    ...nonTermSamples.availability.prepayment,
    ...nonTermSamples.availability.scheduling_rule_overrides,
  };
  const read = new Set<string>();
  const watched = new Proxy(slot, {
    get(target, key, receiver) {
      if (typeof key === "string") read.add(key);
      return Reflect.get(target, key, receiver);
    },
  });
  effectivePaymentPolicy({ serviceFeed: { ...termSamples.service.prepayment_type, ...nonTermSamples.service.scheduling_rules }, slotFeed: watched, merchantFeed: merchant });
  expect([...read].sort()).toEqual([...paymentOverrideFields].sort());
});
