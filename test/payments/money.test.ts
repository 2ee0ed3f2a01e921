import {
  currencyExponent,
  divideHalfEven,
  microsToMinorUnits,
  minorUnitsToMicros,
  multiplyMicros,
  normalizeCurrency,
  toMinorUnits,
} from "../../src/payments/money";

describe("currencyExponent", () => {
  it.each([
    ["USD", 2], ["EUR", 2], ["usd", 2], ["GBP", 2], ["XYZ", 2],
    ["JPY", 0], ["KRW", 0], ["VND", 0], ["CLP", 0], ["BIF", 0], ["DJF", 0], ["GNF", 0], ["KMF", 0],
    ["MGA", 0], ["PYG", 0], ["RWF", 0], ["UGX", 0], ["VUV", 0], ["XAF", 0], ["XOF", 0], ["XPF", 0], ["ISK", 0],
    ["KWD", 3], ["BHD", 3], ["OMR", 3], ["JOD", 3], ["TND", 3], ["LYD", 3], ["IQD", 3],
    ["CLF", 4],
  ])("%s has exponent %d", (currency, exponent) => {
    expect(currencyExponent(currency)).toBe(exponent);
  });

  it.each(["", "US", "USDX", "U$D", "12A"])("rejects %p", (bad) => {
    expect(() => normalizeCurrency(bad)).toThrow(RangeError);
  });
});

describe("microsToMinorUnits", () => {
  it.each([
    [12_340_000n, "USD", 1234n],
    [1_950_000n, "USD", 195n],
    [5_000_000_000n, "JPY", 5000n],
    [1_234_000n, "KWD", 1234n],
    [1_234_500n, "KWD", 1234n], // 1234.5 fils → even
    [1_235_500n, "KWD", 1236n],
    [0n, "USD", 0n],
  ])("%p micros %s → %p", (micros, currency, minor) => {
    expect(microsToMinorUnits(micros, currency)).toBe(minor);
  });

  it("rounds fractions of a cent half-to-even, as the spec's examples", () => {
    expect(microsToMinorUnits(25_000n, "USD")).toBe(2n); // 2.5 ¢ → 2 ¢
    expect(microsToMinorUnits(35_000n, "USD")).toBe(4n); // 3.5 ¢ → 4 ¢
    expect(microsToMinorUnits(25_100n, "USD")).toBe(3n); // 2.51 ¢ → 3 ¢
    expect(microsToMinorUnits(24_999n, "USD")).toBe(2n);
    expect(microsToMinorUnits(5_000n, "USD")).toBe(0n); // 0.5 ¢ → 0 ¢
    expect(microsToMinorUnits(15_000n, "USD")).toBe(2n); // 1.5 ¢ → 2 ¢
  });

  it("rounds half-to-even for zero-decimal currencies too", () => {
    expect(microsToMinorUnits(2_500_000n, "JPY")).toBe(2n);
    expect(microsToMinorUnits(3_500_000n, "JPY")).toBe(4n);
    expect(microsToMinorUnits(3_499_999n, "JPY")).toBe(3n);
  });

  it("is symmetric for negative amounts", () => {
    expect(microsToMinorUnits(-25_000n, "USD")).toBe(-2n);
    expect(microsToMinorUnits(-35_000n, "USD")).toBe(-4n);
  });

  it("is exact at the ends of int64, where a float would not be", () => {
    const max = (1n << 63n) - 1n; // 9223372036854.775807 USD
    expect(microsToMinorUnits(max, "USD")).toBe(922337203685478n);
    expect(microsToMinorUnits(9_007_199_254_740_993n, "USD")).toBe(900_719_925_474n); // 900719925474.0993 ¢
    expect(microsToMinorUnits(9_007_199_254_745_000n, "USD")).toBe(900_719_925_474n); // .5 → even
    expect(microsToMinorUnits(9_007_199_254_755_000n, "USD")).toBe(900_719_925_476n); // .5 → even
    expect(() => microsToMinorUnits(max + 1n, "USD")).toThrow(RangeError);
  });

  it("agrees with a brute-force half-even on every remainder", () => {
    for (let micros = 0n; micros < 30_000n; micros += 7n) {
      const whole = micros / 10_000n;
      const rest = micros % 10_000n;
      const expected = rest > 5_000n || (rest === 5_000n && whole % 2n === 1n) ? whole + 1n : whole;
      expect(microsToMinorUnits(micros, "EUR")).toBe(expected);
    }
  });

  it("toMinorUnits takes Money", () => {
    expect(toMinorUnits({ micros: 12_345_000n, currency: "usd" })).toBe(1234n); // 1234.5 ¢ → 1234 ¢
    expect(toMinorUnits({ micros: 12_355_000n, currency: "USD" })).toBe(1236n); // 1235.5 ¢ → 1236 ¢
  });
});

describe("minorUnitsToMicros", () => {
  it("is the exact inverse on whole minor units", () => {
    expect(minorUnitsToMicros(1234n, "USD")).toBe(12_340_000n);
    expect(minorUnitsToMicros(5000n, "JPY")).toBe(5_000_000_000n);
    expect(minorUnitsToMicros(1234n, "KWD")).toBe(1_234_000n);
    for (const currency of ["USD", "JPY", "KWD", "CLF"]) {
      expect(microsToMinorUnits(minorUnitsToMicros(987n, currency), currency)).toBe(987n);
    }
  });
});

describe("divideHalfEven", () => {
  it("rounds ties to even", () => {
    expect(divideHalfEven(5n, 2n)).toBe(2n);
    expect(divideHalfEven(7n, 2n)).toBe(4n);
    expect(divideHalfEven(-5n, 2n)).toBe(-2n);
    expect(divideHalfEven(10n, 3n)).toBe(3n);
    expect(divideHalfEven(11n, 3n)).toBe(4n);
    expect(() => divideHalfEven(1n, 0n)).toThrow(RangeError);
  });
});

describe("multiplyMicros", () => {
  it("multiplies exactly", () => {
    expect(multiplyMicros(12_340_000n, 4)).toBe(49_360_000n);
    expect(multiplyMicros(12_340_000n, 4n)).toBe(49_360_000n);
    expect(multiplyMicros(1_950_000n, 0)).toBe(0n);
    expect(multiplyMicros(3_333_333n, 3)).toBe(9_999_999n);
  });

  it("refuses fractional, negative and overflowing counts", () => {
    expect(() => multiplyMicros(1n, 1.5)).toThrow(RangeError);
    expect(() => multiplyMicros(1n, -1)).toThrow(RangeError);
    expect(() => multiplyMicros(1n, Number.NaN)).toThrow(RangeError);
    expect(() => multiplyMicros((1n << 62n), 2)).toThrow(RangeError);
    expect(multiplyMicros((1n << 62n) - 1n, 2)).toBe((1n << 63n) - 2n);
  });
});
