import { fromEnv, settings } from "../config/settings.js";
import type { Store } from "../store/repositories.js";
import type { PaymentProcessor } from "./payment-processor.js";
import { SandboxProcessor } from "./sandbox-processor.js";

export class PaymentConfigError extends Error {}

/**
 * PAYMENT_PROCESSOR selects the processor: `sandbox` (default; moves no money,
 * keeps its ledger in `store`, the server's own) or `stripe` (STRIPE_SECRET_KEY;
 * STRIPE_API_URL points the SDK elsewhere, e.g. at a stand-in). The three
 * are in `settings` (src/config/settings.ts) with the server's other settings.
 */
export function paymentProcessorFromEnv(
  env: Record<string, string | undefined>,
  store: Store,
): { processor: PaymentProcessor; description: string } {
  const kind = fromEnv(env, settings.paymentProcessor) || settings.paymentProcessor.default;
  if (kind === "sandbox") {
    return {
      processor: new SandboxProcessor(store),
      description: "the sandbox processor (no money moves; tokens containing 'decline' or 'cardtype' are refused)",
    };
  }
  if (kind === "stripe") {
    const secretKey = fromEnv(env, settings.stripeSecretKey);
    if (!secretKey) throw new PaymentConfigError("PAYMENT_PROCESSOR=stripe needs STRIPE_SECRET_KEY");
    const apiUrl = fromEnv(env, settings.stripeApiUrl);
    const url = apiUrl ? new URL(apiUrl) : undefined;
    // Loaded only when chosen: the Stripe SDK costs the server ~15 MB of RSS.
    const { StripeProcessor } = require("./stripe-processor.js") as typeof import("./stripe-processor.js");
    return {
      processor: new StripeProcessor({
        secretKey,
        host: url?.hostname,
        port: url?.port ? Number(url.port) : undefined,
        protocol: url ? (url.protocol.replace(":", "") as "http" | "https") : undefined,
      }),
      description: `Stripe${url ? ` at ${url.origin}` : ""}`,
    };
  }
  throw new PaymentConfigError(`PAYMENT_PROCESSOR must be "sandbox" or "stripe", not ${JSON.stringify(kind)}`);
}
