/**
 * Money arithmetic for payments: exact, on bigint micros (millionths of the
 * currency's major unit, as the Maps Booking API's `Price.price_micros`), never
 * on floats.
 *
 * A processor wants the currency's minor units (cents for USD, yen for JPY,
 * fils for KWD), i.e. micros scaled by the currency's ISO 4217 exponent. Micros
 * that fall between two minor units round half-to-even, as the spec says for
 * `price_micros` (2.5 ¢ → 2 ¢, 3.5 ¢ → 4 ¢, 2.51 ¢ → 3 ¢).
 */

/** An amount of money as the API carries it. */
export interface Money {
  /** Millionths of the currency's major unit (1.95 USD = 1_950_000n). */
  readonly micros: bigint;
  /** ISO 4217 code, e.g. "USD" (upper case). */
  readonly currency: string;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const MICROS_EXPONENT = 6;

/** Currencies whose ISO 4217 exponent is 0 (includes every zero-decimal currency Stripe lists). */
const ZERO_DECIMAL = new Set([
  "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF",
  "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
]);
/** Currencies whose ISO 4217 exponent is 3. */
const THREE_DECIMAL = new Set(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]);
/** Currencies whose ISO 4217 exponent is 4 (units of account). */
const FOUR_DECIMAL = new Set(["CLF", "UYW"]);

/**
 * Normalizes and checks an ISO 4217 code: three ASCII letters, returned upper
 * case. Throws RangeError otherwise.
 */
export function normalizeCurrency(currency: string): string {
  if (typeof currency !== "string" || !/^[A-Za-z]{3}$/.test(currency)) {
    throw new RangeError(`invalid currency code ${JSON.stringify(currency)}: expected 3 letters (ISO 4217)`);
  }
  return currency.toUpperCase();
}

/** The currency's ISO 4217 exponent: digits after the decimal point (default 2). */
export function currencyExponent(currency: string): number {
  const code = normalizeCurrency(currency);
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  if (FOUR_DECIMAL.has(code)) return 4;
  return 2;
}

/**
 * Divides exactly, rounding a tie to the even quotient. `divisor` > 0. Works on
 * negative dividends too (rounding is symmetric around zero).
 */
export function divideHalfEven(dividend: bigint, divisor: bigint): bigint {
  if (divisor <= 0n) throw new RangeError("divisor must be positive");
  const negative = dividend < 0n;
  const magnitude = negative ? -dividend : dividend;
  let quotient = magnitude / divisor;
  const twiceRemainder = (magnitude % divisor) * 2n;
  if (twiceRemainder > divisor || (twiceRemainder === divisor && quotient % 2n === 1n)) {
    quotient += 1n;
  }
  return negative ? -quotient : quotient;
}

/**
 * Micros → the currency's minor units, rounding half-to-even.
 * USD 12_340_000n → 1234n; JPY 5_000_000_000n → 5000n; KWD 1_234_000n → 1234n;
 * USD 25_000n (2.5 ¢) → 2n; USD 35_000n (3.5 ¢) → 4n.
 */
export function microsToMinorUnits(micros: bigint, currency: string): bigint {
  checkInt64(micros, "micros");
  const exponent = currencyExponent(currency);
  return divideHalfEven(micros, 10n ** BigInt(MICROS_EXPONENT - exponent));
}

/** The currency's minor units → micros (exact). */
export function minorUnitsToMicros(minorUnits: bigint, currency: string): bigint {
  const exponent = currencyExponent(currency);
  const micros = minorUnits * 10n ** BigInt(MICROS_EXPONENT - exponent);
  checkInt64(micros, "micros");
  return micros;
}

/** Money → the currency's minor units (half-to-even). */
export function toMinorUnits(money: Money): bigint {
  return microsToMinorUnits(money.micros, money.currency);
}

/**
 * A unit price times a count (e.g. a per-person price times the party size),
 * exact; throws RangeError if the count is not a non-negative integer or the
 * product leaves int64.
 */
export function multiplyMicros(price: bigint, count: number | bigint): bigint {
  checkInt64(price, "price");
  if (typeof count === "number" && !Number.isSafeInteger(count)) {
    throw new RangeError(`count must be an integer, got ${count}`);
  }
  const factor = BigInt(count);
  if (factor < 0n) throw new RangeError(`count must not be negative, got ${count}`);
  const product = price * factor;
  checkInt64(product, "price × count");
  return product;
}

function checkInt64(value: bigint, what: string): void {
  if (typeof value !== "bigint") throw new TypeError(`${what} must be a bigint`);
  if (value > INT64_MAX || value < INT64_MIN) throw new RangeError(`${what} out of int64 range: ${value}`);
}
