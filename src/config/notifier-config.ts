import { NotifierConfigError, StaticTokenSource, type AccessTokenSource, type NotifierConfig } from "../notify/notifier.js";
import { ServiceAccountTokenSource } from "../notify/service-account-token-source.js";
import { positiveCountFrom } from "../config.js";
import { fromEnv, settings } from "./settings.js";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads NOTIFICATION_API_URL, NOTIFICATION_PARTNER_ID, NOTIFICATION_CLAIM_LEASE_SEC and the credentials:
 * NOTIFICATION_BEARER_TOKEN (a static token, for stand-ins) wins over
 * GOOGLE_APPLICATION_CREDENTIALS (a service-account key file). Every value is
 * trimmed; blank is unset. Throws NotifierConfigError (parseServeConfig makes
 * it a ConfigError).
 */
export function notifierConfigFromEnv(env: Env): NotifierConfig {
  const rawUrl = fromEnv(env, settings.notificationApiUrl)?.trim() || settings.notificationApiUrl.default;
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new NotifierConfigError(`NOTIFICATION_API_URL is not a URL: ${JSON.stringify(rawUrl)}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new NotifierConfigError(`NOTIFICATION_API_URL must be http(s): ${JSON.stringify(rawUrl)}`);
  }
  const baseUrl = url.toString().replace(/\/+$/, "");
  const partnerId = fromEnv(env, settings.notificationPartnerId)?.trim() || undefined;
  const bearer = fromEnv(env, settings.notificationBearerToken)?.trim() || undefined;
  const keyFile = fromEnv(env, settings.googleApplicationCredentials)?.trim() || undefined;

  let tokenSource: AccessTokenSource | undefined;
  if (bearer) {
    tokenSource = new StaticTokenSource(bearer);
  } else if (keyFile) {
    tokenSource = new ServiceAccountTokenSource(keyFile);
  }
  if (partnerId && !tokenSource) {
    throw new NotifierConfigError(
      "NOTIFICATION_PARTNER_ID is set but no credentials are: set GOOGLE_APPLICATION_CREDENTIALS " +
        "(service-account key file) or NOTIFICATION_BEARER_TOKEN",
    );
  }
  const claimLeaseSec = fromEnv(env, settings.notificationClaimLeaseSec)?.trim() || undefined;
  const claimLeaseMs = claimLeaseSec === undefined ? undefined : 1000 * positiveCountFrom(claimLeaseSec, "NOTIFICATION_CLAIM_LEASE_SEC", "seconds");
  return { baseUrl, partnerId, tokenSource, claimLeaseMs };
}
