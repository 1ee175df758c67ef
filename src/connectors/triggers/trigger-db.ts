/**
 * The database handle trigger capture needs on each dialect: queries, statements without
 * rows, identifier quoting and placeholders. Opened from a system config by driver.
 */
import path from 'node:path';
import { ConfigError } from '../../core/errors.js';
import type { SqlQueryPort } from '../sql/sql-query-port.js';
import { quoteIdentAnsi } from '../sql/sql-query-port.js';
import { fromMariadbPool, openMariadbPool, type MariadbSystem } from '../mariadb/mariadb-port.js';
import { openSqlite } from '../sqlite/sqlite-query-port.js';
import { createPool, type PostgresSystem } from '../postgres/pg-connection.js';

export type TriggerDialect = 'postgres' | 'mariadb' | 'sqlite';

export interface TriggerDb extends SqlQueryPort {
  readonly dialect: TriggerDialect;
  exec(sql: string, params?: unknown[]): Promise<void>;
  /** Run statements in one transaction (DDL on PostgreSQL and SQLite is transactional; not on MariaDB). */
  transaction(statements: string[]): Promise<void>;
  close(): Promise<void>;
}

/** The dialect of a driver name, or null when trigger capture does not support it. */
export function triggerDialect(driver: string): TriggerDialect | null {
  if (driver === 'postgres' || driver === 'postgresql' || driver === 'pg') return 'postgres';
  if (driver === 'mariadb' || driver === 'mysql') return 'mariadb';
  if (driver === 'sqlite') return 'sqlite';
  return null;
}

function sqliteDb(file: string): TriggerDb {
  const db = openSqlite(file, { readonly: false, busyTimeoutMs: 5000 });
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
    quoteIdent: quoteIdentAnsi,
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

function postgresDb(cfg: Record<string, unknown>, baseDir?: string): TriggerDb {
  // the postgres connector's own pool settings (url, schema, TLS...)
  const pool = createPool(cfg as PostgresSystem, { max: 2, baseDir });
  return {
    dialect: 'postgres',
    quoteIdent: quoteIdentAnsi,
    placeholder: (i) => `$${i}`,
    async query(sql, params) {
      return (await pool.query(sql, params)).rows as Record<string, unknown>[];
    },
    async exec(sql, params = []) {
      await pool.query(sql, params);
    },
    async transaction(statements) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        for (const s of statements) await c.query(s);
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        c.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}

function mariadbDb(cfg: MariadbSystem): TriggerDb {
  const port = fromMariadbPool(openMariadbPool(cfg, { connectionLimit: 2 }));
  return {
    dialect: 'mariadb',
    quoteIdent: port.quoteIdent,
    query: port.query,
    async exec(sql, params = []) {
      await port.exec(sql, params);
    },
    async transaction(statements) {
      for (const s of statements) await port.exec(s); // DDL commits implicitly on MariaDB
    },
    close: port.close,
  };
}

/** Open the trigger database of a system (its `driver` and system config). */
export function openTriggerDb(driver: string, cfg: Record<string, unknown>, baseDir?: string): TriggerDb {
  const dialect = triggerDialect(driver);
  // relative SQLite paths resolve like the sqlite connector's: against the config file's folder
  if (dialect === 'sqlite') return sqliteDb(path.resolve(baseDir ?? process.cwd(), String(cfg.path)));
  if (dialect === 'postgres') return postgresDb(cfg, baseDir);
  if (dialect === 'mariadb') return mariadbDb(cfg as MariadbSystem);
  throw new ConfigError(`trigger-based capture is not available for driver "${driver}"; it works with postgres, mariadb (mysql) and sqlite`);
}
