/**
 * Every setting of the server, once: its flag (if any), its environment
 * variable (if any), its default and one line of doc. The parsers
 * (src/config.ts, src/config/notifier-config.ts,
 * src/payments/processor-from-env.ts) read flags and variables only through
 * this table, and README.md's configuration table is its rendering
 * (`settingsTable()`, checked by test/cli/config-table.test.ts).
 *
 * Flags win over the environment, which wins over the default.
 */

export interface Setting {
  /** Environment variable, if the setting has one. */
  readonly env?: string;
  /** Flag of `serve` (`--db` is also taken by import, backup and payments), if the setting has one. */
  readonly flag?: `--${string}`;
  /** The flag is a switch (takes no value), and the variable turns the setting on with `1`. */
  readonly switch?: true;
  /** The value the parser takes when neither flag nor variable gives one. */
  readonly default?: string;
  /** The default in words, where there is no one value (computed, none, required). */
  readonly defaultDoc?: string;
  /** One line for README.md: what it does and the values it takes. */
  readonly doc: string;
  readonly group: SettingGroup;
}

export type SettingGroup = "listen" | "database" | "auth" | "merchants" | "notifications" | "metrics" | "payments" | "logging";

export const settings = {
  port: {
    flag: "--port",
    env: "PORT",
    default: "8080",
    doc: "port for every protocol",
    group: "listen",
  },
  host: {
    flag: "--host",
    env: "HOST",
    default: "0.0.0.0",
    doc: "address to listen on",
    group: "listen",
  },
  tlsCert: {
    flag: "--tls-cert",
    env: "TLS_CERT_FILE",
    defaultDoc: "plaintext",
    doc: "certificate (PEM) to serve HTTPS with (ALPN h2 and http/1.1); needs the key too",
    group: "listen",
  },
  tlsKey: {
    flag: "--tls-key",
    env: "TLS_KEY_FILE",
    defaultDoc: "plaintext",
    doc: "private key (PEM) of that certificate",
    group: "listen",
  },
  tlsClientCa: {
    flag: "--tls-client-ca",
    env: "TLS_CLIENT_CA_FILE",
    defaultDoc: "none",
    doc: "require client certificates from this CA (mutual TLS; needs the certificate and key)",
    group: "listen",
  },
  maxConnections: {
    flag: "--max-connections",
    env: "MAX_CONNECTIONS",
    defaultDoc: "descriptor limit − 256",
    doc:
      "connections open at once (every protocol); past it a new connection is closed at once, and the refusals are " +
      "logged at most every 10 s. The default is the soft `RLIMIT_NOFILE` (`/proc/self/limits`) less 256 descriptors " +
      "kept for the database, WAL, logs and the notifier's connections to Google (never under half the limit; 4096 " +
      "where the limit cannot be read)",
    group: "listen",
  },
  trustedProxies: {
    env: "TRUSTED_PROXIES",
    defaultDoc: "none",
    doc:
      "comma-separated addresses/CIDRs (`127.0.0.1,10.0.0.0/8,::1,fd00::/8`) of your reverse proxies: from them, the " +
      "client is the right-most untrusted `X-Forwarded-For` (or `Forwarded: for=`) entry; from anyone else those " +
      "headers are ignored",
    group: "listen",
  },
  db: {
    flag: "--db",
    env: "BOOKING_DB",
    default: "./data/booking.db",
    doc: "SQLite file (migrated at start), for every command; one `serve` per file (a second exits naming the first)",
    group: "database",
  },
  createDb: {
    flag: "--create-db",
    env: "BOOKING_DB_CREATE",
    switch: true,
    defaultDoc: "off",
    doc:
      "`1`: let `serve` create the database when the file is missing (otherwise a missing file is refused: after a " +
      "restart it means the data is elsewhere, and an empty database would hide every booking). `import` creates one " +
      "and says so",
    group: "database",
  },
  databaseUrl: {
    env: "BOOKING_DATABASE_URL",
    defaultDoc: "none: SQLite",
    doc:
      "`postgres://user:password@host:port/db`: PostgreSQL instead of the SQLite file, for every command (migrated at " +
      "start; several `serve` instances may share it). A secret: never printed or logged (or `BOOKING_DATABASE_URL_FILE`)",
    group: "database",
  },
  databaseUrlFile: {
    env: "BOOKING_DATABASE_URL_FILE",
    defaultDoc: "none",
    doc: "a file holding that URL, instead of `BOOKING_DATABASE_URL`",
    group: "database",
  },
  databasePoolSize: {
    env: "BOOKING_DATABASE_POOL_SIZE",
    default: "10",
    doc:
      "PostgreSQL: most connections one process opens (a unit of work holds one from BEGIN to COMMIT). Keep the sum " +
      "over every instance and command below the server's `max_connections` (behind pgbouncer: below its " +
      "`max_client_conn`, docs/pgbouncer.md)",
    group: "database",
  },
  authUsername: {
    env: "BOOKING_AUTH_USERNAME",
    defaultDoc: "required",
    doc: "HTTP Basic user Google presents",
    group: "auth",
  },
  authPassword: {
    env: "BOOKING_AUTH_PASSWORD",
    defaultDoc: "required",
    doc: "its password (or `BOOKING_AUTH_PASSWORD_FILE`)",
    group: "auth",
  },
  authPasswordFile: {
    env: "BOOKING_AUTH_PASSWORD_FILE",
    defaultDoc: "none",
    doc: "a file holding the password, instead of `BOOKING_AUTH_PASSWORD`",
    group: "auth",
  },
  authCredentialsFile: {
    env: "BOOKING_AUTH_CREDENTIALS_FILE",
    defaultDoc: "none",
    doc: "more accepted Basic pairs, `username:password` per line; reloaded on SIGHUP",
    group: "auth",
  },
  insecureNoAuth: {
    flag: "--insecure-no-auth",
    switch: true,
    defaultDoc: "off",
    doc: "serve without authentication (local use only)",
    group: "auth",
  },
  merchantTokensFile: {
    env: "MERCHANT_TOKENS_FILE",
    defaultDoc: "MerchantService off",
    doc: 'JSON `{"<merchant_id>": "<token>", ...}`: merchants\' bearer tokens',
    group: "merchants",
  },
  adminToken: {
    env: "ADMIN_TOKEN",
    defaultDoc: "none",
    doc: "bearer token that may act for any merchant and call AdminService",
    group: "merchants",
  },
  autoDeclineAfterSec: {
    flag: "--auto-decline-after-sec",
    env: "AUTO_DECLINE_AFTER_SEC",
    default: "86400",
    doc: "seconds a merchant has to answer an asynchronous request (always before the slot starts)",
    group: "merchants",
  },
  notificationApiUrl: {
    env: "NOTIFICATION_API_URL",
    default: "https://mapsbooking.googleapis.com",
    doc: "Google's Maps Booking API (a stand-in for tests)",
    group: "notifications",
  },
  notificationPartnerId: {
    env: "NOTIFICATION_PARTNER_ID",
    defaultDoc: "none: notifications wait in the outbox",
    doc: "your Actions Center partner id",
    group: "notifications",
  },
  googleApplicationCredentials: {
    env: "GOOGLE_APPLICATION_CREDENTIALS",
    defaultDoc: "required with a partner id",
    doc: "service-account key file (scope `https://www.googleapis.com/auth/mapsbooking`)",
    group: "notifications",
  },
  notificationBearerToken: {
    env: "NOTIFICATION_BEARER_TOKEN",
    defaultDoc: "none",
    doc: "a static token instead of the service account (stand-ins, tests); wins over the key file",
    group: "notifications",
  },
  notificationClaimLeaseSec: {
    env: "NOTIFICATION_CLAIM_LEASE_SEC",
    defaultDoc: "`30` (three request timeouts)",
    doc:
      "seconds an instance's claim holds a notification it is sending: one lost mid-delivery leaves the claim to expire, " +
      "then any instance (or it, restarted) sends the notification again. Each request to Google is given up after a third of it (at most 10 s)",
    group: "notifications",
  },
  metricsToken: {
    env: "METRICS_TOKEN",
    defaultDoc: "`/metrics` not served",
    doc: "serve `/metrics` on the serving port behind `Authorization: Bearer <token>`",
    group: "metrics",
  },
  metricsPort: {
    env: "METRICS_PORT",
    defaultDoc: "none",
    doc: "serve `/metrics` without credentials on a listener of its own, on this port",
    group: "metrics",
  },
  metricsHost: {
    env: "METRICS_HOST",
    default: "127.0.0.1",
    doc: "address of that listener",
    group: "metrics",
  },
  metricsPublic: {
    env: "METRICS_PUBLIC",
    defaultDoc: "off",
    doc: "`1`: serve `/metrics` to anyone on the serving port (only where nobody else can reach it); `0` or empty: off",
    group: "metrics",
  },
  paymentProcessor: {
    env: "PAYMENT_PROCESSOR",
    default: "sandbox",
    doc: "`sandbox` (no money moves; its ledger is kept in the booking database) or `stripe`",
    group: "payments",
  },
  stripeSecretKey: {
    env: "STRIPE_SECRET_KEY",
    defaultDoc: "required with `stripe`",
    doc: "Stripe secret key, with `PAYMENT_PROCESSOR=stripe`",
    group: "payments",
  },
  stripeApiUrl: {
    env: "STRIPE_API_URL",
    defaultDoc: "Stripe's",
    doc: "point the Stripe SDK elsewhere (a stand-in)",
    group: "payments",
  },
  logLevel: {
    env: "LOG_LEVEL",
    default: "info",
    doc: "pino log level (`trace`, `debug`, `info`, `warn`, `error`, `fatal` or `silent`)",
    group: "logging",
  },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof settings;

type Env = Readonly<Record<string, string | undefined>>;

/** What parseArgs returns as `values`. */
export type FlagValues = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

/** The value of a setting's environment variable, as given (`undefined` when unset; no default). */
export function fromEnv(env: Env, setting: { readonly env: string }): string | undefined {
  return env[setting.env];
}

/** parseArgs `options` for these settings' flags: a string each, or a switch that defaults to off. */
export function flagOptions(
  flagged: readonly Setting[],
): Record<string, { type: "string" } | { type: "boolean"; default: false }> {
  return Object.fromEntries(
    flagged.flatMap((setting) =>
      setting.flag ? [[flagKey(setting.flag), setting.switch ? { type: "boolean", default: false } : { type: "string" }]] : [],
    ),
  );
}

/** The flags of `serve`: every setting that has one. */
export const serveFlagOptions = flagOptions(Object.values(settings));

/** A flag's value from parseArgs' `values` (`undefined` when not given). */
export function fromFlag(values: FlagValues, setting: { readonly flag: string }): string | undefined {
  const value = values[flagKey(setting.flag)];
  return typeof value === "string" ? value : undefined;
}

/** Whether a switch was given. */
export function switchGiven(values: FlagValues, setting: { readonly flag: string; readonly switch: true }): boolean {
  return values[flagKey(setting.flag)] === true;
}

function flagKey(flag: string): string {
  return flag.replace(/^--/, "");
}

/** The table's columns, as README.md shows them. */
export const settingsTableHeader = ["flag", "environment", "default", "meaning"] as const;

/** One setting as a row of README.md's table: flag, variable, default, doc. */
export function settingRow(setting: Setting): [flag: string, env: string, defaultValue: string, doc: string] {
  const code = (text: string | undefined) => (text ? `\`${text}\`` : "");
  return [code(setting.flag), code(setting.env), setting.default !== undefined ? code(setting.default) : (setting.defaultDoc ?? ""), setting.doc];
}

/** README.md's configuration table (Markdown), one row per setting in the order above. */
export function settingsTable(): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(settingsTableHeader),
    line(settingsTableHeader.map(() => "---")),
    ...Object.values(settings).map((setting: Setting) => line(settingRow(setting))),
  ].join("\n");
}
