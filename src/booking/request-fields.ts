import { InvalidArgumentError } from "./errors.js";

/** Reads a required message field, naming it when it is absent. */
export function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new InvalidArgumentError(field, "is required");
  return value;
}

export function requiredString(value: string, field: string): string {
  if (value === "") throw new InvalidArgumentError(field, "is required");
  return value;
}

/**
 * An int64 time or duration as a JS number: Unix seconds fit exactly, while
 * anything past Number.MAX_SAFE_INTEGER or negative is a malformed request.
 */
export function seconds(value: bigint, field: string, { positive }: { positive: boolean }): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidArgumentError(field, `must be between 0 and ${Number.MAX_SAFE_INTEGER}, got ${value}`);
  }
  if (positive && value === 0n) throw new InvalidArgumentError(field, "is required and must be positive");
  return Number(value);
}

export function nonNegative(value: number, field: string): number {
  if (value < 0) throw new InvalidArgumentError(field, `must not be negative, got ${value}`);
  return value;
}
