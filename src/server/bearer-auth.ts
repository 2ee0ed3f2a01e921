import { createContextKey, type Interceptor } from "@connectrpc/connect";
import { clientAddressKey, type AuthGate } from "./auth-gate.js";
import { timingSafeEqual } from "node:crypto";
import type { MerchantCaller } from "../booking/merchant-decisions.js";
import { digest } from "./basic-auth.js";

/** MerchantService credentials: one bearer token per merchant, and an optional admin token. */
export interface MerchantAuth {
  /** merchant id → token */
  merchantTokens: Map<string, string>;
  /** May act for any merchant. */
  adminToken?: string;
}

export const bearerAuthChallenge = 'Bearer realm="merchant-service"';

/**
 * Resolves an `Authorization: Bearer <token>` header to the caller, or
 * `undefined`. Every configured token is compared, in constant time, on its
 * sha256 digest (so neither content nor length leaks through timing).
 */
export function bearerAuthenticator(auth: MerchantAuth): (authorization: string | null | undefined) => MerchantCaller | undefined {
  const entries: Array<{ digest: Buffer; caller: MerchantCaller }> = [];
  for (const [merchantId, token] of auth.merchantTokens) {
    if (token) entries.push({ digest: digest(token), caller: { kind: "merchant", merchantId } });
  }
  if (auth.adminToken) entries.push({ digest: digest(auth.adminToken), caller: { kind: "admin" } });

  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    const presented = digest(match ? match[1] : "");
    let found: MerchantCaller | undefined;
    // No early exit: every token is compared, whichever matches.
    for (const entry of entries) {
      if (timingSafeEqual(presented, entry.digest) && match !== null) found ??= entry.caller;
    }
    return found;
  };
}

/** Checks `Authorization: Bearer <token>` against one token, in constant time. */
export function bearerTokenVerifier(token: string): (authorization: string | null | undefined) => boolean {
  const authenticate = bearerAuthenticator({ merchantTokens: new Map(), adminToken: token });
  return (authorization) => authenticate(authorization) !== undefined;
}

/** The authenticated caller of a MerchantService call, for the handlers (`context.values.get`). */
export const merchantCallerKey = createContextKey<MerchantCaller | undefined>(undefined, {
  description: "authenticated MerchantService caller",
});

/** Authenticates MerchantService and AdminService calls (header/metadata `authorization`) and records the caller. */
export function bearerAuthInterceptor(
  authenticate: (authorization: string | null) => MerchantCaller | undefined,
  gate: AuthGate,
): Interceptor {
  return (next) => async (req) => {
    const address = req.contextValues.get(clientAddressKey);
    const caller = gate.admit(address, "Bearer", bearerAuthChallenge, () => authenticate(req.header.get("authorization")));
    req.contextValues.set(merchantCallerKey, caller);
    return next(req);
  };
}
