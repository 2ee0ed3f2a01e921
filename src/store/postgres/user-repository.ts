import type { UserRepository } from "../repositories.js";
import type { Queryable } from "./queryable.js";

export class PostgresUserRepository implements UserRepository {
  constructor(private readonly db: Queryable) {}

  async setMarketingPreference(userId: string, receiveMarketing: boolean, nowSec: number): Promise<void> {
    await this.db.query(
      `INSERT INTO users (user_id, receive_marketing, marketing_updated_at_sec) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET receive_marketing = excluded.receive_marketing,
         marketing_updated_at_sec = excluded.marketing_updated_at_sec`,
      [userId, receiveMarketing, nowSec],
    );
  }

  async getMarketingPreference(userId: string): Promise<boolean | undefined> {
    const [row] = await this.db.query<{ receive_marketing: boolean | null }>("SELECT receive_marketing FROM users WHERE user_id = $1", [userId]);
    return row?.receive_marketing ?? undefined;
  }
}
