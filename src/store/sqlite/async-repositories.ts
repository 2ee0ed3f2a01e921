import { storeError } from "./store-errors.js";

/**
 * A repository interface of the contract with its methods synchronous: what
 * the better-sqlite3 classes implement (a statement runs to completion on
 * the calling thread, so there is nothing to wait for).
 */
export type Synchronous<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : T[K];
};

/**
 * Wraps a synchronous repository once into the contract's asynchronous one.
 * Each call runs at once and returns an already-settled promise: awaiting it
 * costs a microtask, not a turn of the event loop, so a unit of work that
 * awaits only repositories still runs from start to commit in one turn.
 *
 * `enter` decides how a call may run, given the object the method was called
 * on: it throws when the call must not run (a unit's repositories used after
 * the unit ended), or returns a promise to wait for first (a plain read while
 * a unit is under way); undefined runs it now.
 * Errors come back in the store's terms (`storeError`).
 */
export function promised<T extends object>(impl: Synchronous<T>, enter: (self: unknown) => Promise<void> | undefined): T {
  const wrapped: Record<string, unknown> = {};
  for (const name of methodNames(impl)) {
    const method = (impl as Record<string, (...args: unknown[]) => unknown>)[name];
    // `apply` with `arguments`: no rest array per call on the hot path (a booking makes a dozen calls).
    const call = (args: ArrayLike<unknown>) => {
      try {
        return Promise.resolve(method.apply(impl, args as unknown[]));
      } catch (error) {
        return Promise.reject(storeError(error));
      }
    };
    wrapped[name] = function (this: unknown) {
      let wait: Promise<void> | undefined;
      try {
        wait = enter(this);
      } catch (error) {
        return Promise.reject(error);
      }
      if (wait === undefined) return call(arguments);
      const args = arguments;
      return wait.then(() => call(args));
    };
  }
  return wrapped as T;
}

/** The methods of a class instance (its prototype chain's, up to Object). */
function methodNames(instance: object): string[] {
  const names = new Set<string>();
  for (let proto = Object.getPrototypeOf(instance); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name !== "constructor" && typeof (instance as Record<string, unknown>)[name] === "function") names.add(name);
    }
  }
  return [...names];
}
