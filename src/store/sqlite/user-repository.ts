import type { SqliteDatabase } from "../database.js";
import type {
  UserRepository,
} from "../repositories.js";
import type { Synchronous } from "./async-repositories.js";

export class SqliteUserRepository implements Synchronous<UserRepository> {
  private readonly setStmt;
  private readonly getStmt;

  constructor(db: SqliteDatabase) {
    this.setStmt = db.prepare(`
      INSERT INTO users (user_id, receive_marketing, marketing_updated_at_sec) VALUES (?, ?, ?)
      ON CONFLICT (user_id) DO UPDATE SET receive_marketing = excluded.receive_marketing,
        marketing_updated_at_sec = excluded.marketing_updated_at_sec`);
    this.getStmt = db.prepare("SELECT receive_marketing FROM users WHERE user_id = ?").pluck();
  }

  setMarketingPreference(userId: string, receiveMarketing: boolean, nowSec: number): void {
    this.setStmt.run(userId, receiveMarketing ? 1 : 0, nowSec);
  }

  getMarketingPreference(userId: string): boolean | undefined {
    const value = this.getStmt.get(userId) as number | null | undefined;
    return value === undefined || value === null ? undefined : value === 1;
  }
}
