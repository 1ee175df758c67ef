/** The SQLite handle of trigger capture (../triggers/trigger-db.ts). */
import path from 'node:path';
import type { TriggerDb } from '../triggers/trigger-db.js';
import { sqliteDialect } from './sqlite-dialect.js';
import { openSqlite } from './sqlite-query-port.js';

/** Open the trigger handle of a SQLite system (relative paths against the config file's folder). */
export function openSqliteTriggerDb(cfg: { path: string }, baseDir?: string): TriggerDb {
  const db = openSqlite(path.resolve(baseDir ?? process.cwd(), String(cfg.path)), { readonly: false, busyTimeoutMs: 5000 });
  const cache = new Map<string, ReturnType<typeof db.prepare>>();
  const stmt = (sql: string) => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      if (cache.size > 100) cache.clear();
      cache.set(sql, s);
    }
    return s;
  };
  return {
    dialect: 'sqlite',
    sql: sqliteDialect,
    quoteIdent: sqliteDialect.quoteIdent,
    async query(sql, params) {
      const s = stmt(sql);
      s.safeIntegers(true);
      return (s as unknown as { all(...a: unknown[]): unknown[] }).all(...params) as Record<string, unknown>[];
    },
    async exec(sql, params = []) {
      (stmt(sql) as unknown as { run(...a: unknown[]): unknown }).run(...params);
    },
    async transaction(statements) {
      db.transaction(() => { for (const s of statements) db.exec(s); }).immediate();
    },
    async close() {
      cache.clear();
      if (db.open) db.close();
    },
  };
}
