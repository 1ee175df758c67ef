/** The PostgreSQL handle of trigger capture (../triggers/trigger-db.ts). */
import type { TriggerDb } from '../triggers/trigger-db.js';
import { createPool, type PostgresSystem } from './pg-connection.js';
import { postgresDialect } from './postgres-dialect.js';

/** Open the trigger handle of a PostgreSQL system (the connector's own pool settings: url, schema, TLS). */
export function openPostgresTriggerDb(cfg: PostgresSystem, baseDir?: string): TriggerDb {
  const pool = createPool(cfg, { max: 2, baseDir });
  return {
    dialect: 'postgres',
    sql: postgresDialect,
    quoteIdent: postgresDialect.quoteIdent,
    placeholder: postgresDialect.placeholder,
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
