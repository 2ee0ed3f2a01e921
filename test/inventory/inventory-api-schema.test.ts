/**
 * The SQLite schema's backstop behind AdjustSpots' conditional write
 * (migration 12, trigger slots_sold_elsewhere_within_total): a raw UPDATE
 * that sells spots elsewhere past what this server holds is refused, while a
 * restatement of the slot (a feed record, ReplaceAvailability, a close) may
 * leave it over its total, as migration 9 lets a feed do. The storage
 * contract has no call that reaches the trigger, so this test uses SQL.
 */
import { openDatabase, type SqliteDatabase } from "../../src/store/database";

let db: SqliteDatabase;
beforeEach(() => {
  db = openDatabase(":memory:");
  db.exec(`INSERT INTO merchants (merchant_id, feed_json) VALUES ('m', '{}');
    INSERT INTO services (merchant_id, service_id, feed_json) VALUES ('m', 's', '{}');
    INSERT INTO slots (slot_id, merchant_id, service_id, start_sec, duration_sec, spots_total, spots_held, feed_json)
      VALUES (1, 'm', 's', 1800000000, 3600, 4, 2, '{"spots_open":4}')`);
});
afterEach(() => db.close());

const soldElsewhere = () => db.prepare("SELECT spots_sold_elsewhere FROM slots WHERE slot_id = 1").pluck().get();

test("when a write sells spots elsewhere past what this server holds, the slot's record unchanged, then the schema refuses it", () => {
  expect(() => db.exec("UPDATE slots SET spots_sold_elsewhere = 3 WHERE slot_id = 1")).toThrow(/spots_within_total/);
  expect(soldElsewhere()).toBe(0);
  db.exec("UPDATE slots SET spots_sold_elsewhere = 2 WHERE slot_id = 1");
  expect(soldElsewhere()).toBe(2);
});

test("when the slot is restated with fewer spots open than this server holds, then the schema lets it be over its total", () => {
  db.exec(`UPDATE slots SET spots_sold_elsewhere = 3, feed_json = '{"spots_open":1}' WHERE slot_id = 1`);
  expect(soldElsewhere()).toBe(3);
  db.exec("UPDATE slots SET spots_sold_elsewhere = 0 WHERE slot_id = 1");
  // A close: every spot sold elsewhere, whatever is held.
  db.exec("UPDATE slots SET spots_sold_elsewhere = spots_total WHERE slot_id = 1");
  expect(soldElsewhere()).toBe(4);
});
