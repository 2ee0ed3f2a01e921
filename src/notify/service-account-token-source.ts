import type { GoogleAuth } from "google-auth-library";
import type { AccessTokenSource } from "./notifier.js";

/** The OAuth scope Google's Maps Booking API requires. */
export const mapsBookingScope = "https://www.googleapis.com/auth/mapsbooking";

/**
 * Access tokens for a Google Cloud service account (the JSON key file named by
 * GOOGLE_APPLICATION_CREDENTIALS), through google-auth-library, which caches
 * each token and refreshes it before it expires.
 */
export class ServiceAccountTokenSource implements AccessTokenSource {
  private readonly auth: GoogleAuth;

  constructor(private readonly keyFile: string) {
    // Loaded only when a service account is configured: the library costs the server ~10 MB of RSS.
    const { GoogleAuth } = require("google-auth-library") as typeof import("google-auth-library");
    this.auth = new GoogleAuth({ keyFile, scopes: [mapsBookingScope] });
  }

  async getAccessToken(): Promise<string> {
    const token = await this.auth.getAccessToken();
    if (!token) throw new Error(`no access token for the service account in ${this.keyFile}`);
    return token;
  }

  describe(): string {
    return `the service account key ${this.keyFile} (GOOGLE_APPLICATION_CREDENTIALS)`;
  }
}
