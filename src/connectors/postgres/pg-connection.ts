/**
 * The `postgres` system config, turned into node-postgres settings: pools for queries (with
 * the exact type parsers of pg-types-map.ts) and the replication connection. Also the
 * {@link SqlQueryPort} the shared polling source runs on.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';
import type { SqlQueryPort } from '../sql/sql-query-port.js';
import { quoteIdentAnsi } from '../sql/sql-query-port.js';
import { pgDocTypes } from './pg-types-map.js';

export const postgresSystemSchema = z.strictObject({
  url: z.string().min(1).describe('Connection URL, e.g. postgres://user:password@host:5432/db (libpq-style query parameters allowed).'),
  schema: z.string().min(1).optional().describe('Schema of unqualified table names (sets search_path; default: the server\'s search_path, i.e. public).'),
  ssl: z.union([
    z.boolean(),
    z.strictObject({
      rejectUnauthorized: z.boolean().default(true).describe('Verify the server certificate (default true).'),
      ca: z.string().min(1).optional().describe('Path of a PEM file with the CA certificate(s) to trust.'),
    }),
  ]).optional().describe('TLS: true (verify against the system CAs), or { rejectUnauthorized, ca }.'),
});

export type PostgresSystem = z.input<typeof postgresSystemSchema>;

/** `host:port/db` of a URL, for messages (never the password). */
export function serverLabel(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname || ''}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** node-postgres client settings of a system (TLS, search_path). */
export function clientConfig(cfg: PostgresSystem, baseDir?: string): pg.ClientConfig {
  try {
    new URL(cfg.url);
  } catch {
    throw new ConfigError(`url ${JSON.stringify(cfg.url.replace(/:[^:@/]*@/, ':***@'))} is not a valid PostgreSQL URL; expected postgres://user@host:5432/db`, { path: 'url' });
  }
  const out: pg.ClientConfig = { connectionString: cfg.url };
  if (cfg.ssl === true) out.ssl = true;
  else if (cfg.ssl && typeof cfg.ssl === 'object') {
    let ca: string | undefined;
    if (cfg.ssl.ca) {
      const file = path.resolve(baseDir ?? '.', cfg.ssl.ca);
      try {
        ca = readFileSync(file, 'utf8');
      } catch (err) {
        throw new ConfigError(`ssl.ca file ${JSON.stringify(file)} cannot be read: ${(err as Error).message}`, { path: 'ssl.ca', cause: err });
      }
    }
    out.ssl = { rejectUnauthorized: cfg.ssl.rejectUnauthorized ?? true, ...(ca ? { ca } : {}) };
  }
  if (cfg.schema) out.options = `-c search_path=${quoteIdentAnsi(cfg.schema).replaceAll(' ', '\\ ')}`;
  return out;
}

/** A pool whose rows use the exact doc values of pg-types-map.ts. */
export function createPool(cfg: PostgresSystem, opts: { max?: number; baseDir?: string } = {}): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(cfg, opts.baseDir), max: opts.max ?? 4, types: pgDocTypes, idleTimeoutMillis: 30_000 } as pg.PoolConfig);
  pool.on('error', () => {}); // an idle client that dies is dropped; the next query reconnects
  return pool;
}

/** The shared polling source's port over a pool. */
export function poolQueryPort(pool: pg.Pool): SqlQueryPort & { close(): Promise<void> } {
  return {
    dialect: 'postgres',
    quoteIdent: quoteIdentAnsi,
    placeholder: (n) => `$${n}`,
    async query(sql, params) {
      const r = await pool.query(sql, params);
      return r.rows as Record<string, unknown>[];
    },
    async close() {
      await pool.end();
    },
  };
}
