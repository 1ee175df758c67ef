/**
 * A SQLite connection (../../store/sqlite/sqlite-driver.ts) behind the {@link SqlQueryPort}: statements cached by text, integers read as
 * BigInt (so 64-bit legacy ids stay exact; the poll source turns safe ones back into numbers).
 */
import { openDatabase, type SqliteDatabase } from '../../store/sqlite/sqlite-driver.js';
import type { SqlQueryPort } from '../sql/sql-query-port.js';
import { quoteIdentAnsi } from '../sql/sql-query-port.js';

/** The subset of a {@link SqliteDatabase} the port uses. */
export interface BetterSqlite3Like {
  prepare(sql: string): { all(...params: unknown[]): unknown[]; safeIntegers(on?: boolean): unknown; reader: boolean };
  close(): unknown;
  readonly open: boolean;
}

export interface SqliteSystemConfig {
  path: string;
  readonly?: boolean;
  busyTimeout?: number | string;
}

/** Open a SQLite file; `fileMustExist` so a missing legacy file is an error, not a new empty database. */
export function openSqlite(path: string, opts: { readonly: boolean; busyTimeoutMs: number; fileMustExist?: boolean }): SqliteDatabase {
  const db = openDatabase(path, { readonly: opts.readonly, fileMustExist: opts.fileMustExist ?? true, timeout: opts.busyTimeoutMs });
  return db;
}

/** A {@link SqlQueryPort} over an open SQLite database. */
export function fromBetterSqlite3(db: BetterSqlite3Like): SqlQueryPort & { close(): Promise<void> } {
  const cache = new Map<string, ReturnType<BetterSqlite3Like['prepare']>>();
  return {
    dialect: 'sqlite',
    quoteIdent: quoteIdentAnsi,
    async query(sql, params) {
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = db.prepare(sql);
        stmt.safeIntegers(true);
        if (cache.size > 100) cache.clear();
        cache.set(sql, stmt);
      }
      return stmt.all(...params) as Record<string, unknown>[];
    },
    async close() {
      cache.clear();
      if (db.open) db.close();
    },
  };
}
