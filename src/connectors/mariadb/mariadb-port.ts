/**
 * mysql2 behind the {@link SqlQueryPort} for MariaDB and MySQL: a small pool, exact types
 * (DECIMAL as strings, BIGINT as a number when safe and a decimal string otherwise,
 * DATETIME/TIMESTAMP as ISO-8601 UTC strings, DATE as `yyyy-mm-dd`), identifiers quoted with
 * backticks. The session time zone is UTC so TIMESTAMP values read the same on every client.
 */
import mysql from 'mysql2/promise';
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';
import type { SqlQueryPort } from '../sql/sql-query-port.js';
import { parseJsonColumn } from './mariadb-json.js';

export const mariadbSystemSchema = z.strictObject({
  url: z.string().min(1).optional().describe('Connection URL: mysql://user:password@host:3306/database (or mariadb://...).'),
  host: z.string().min(1).optional().describe('Host name (default 127.0.0.1) when no url is given.'),
  port: z.number().int().min(1).max(65535).optional().describe('TCP port (default 3306).'),
  user: z.string().min(1).optional().describe('User name (default root).'),
  password: z.string().optional().describe('Password; use ${ENV_VAR} substitution rather than a literal.'),
  database: z.string().min(1).optional().describe('Database (schema) name.'),
  socketPath: z.string().min(1).optional().describe('Unix socket path instead of host/port.'),
  poolSize: z.number().int().min(1).max(100).default(4).describe('Connections in the pool (default 4).'),
  serverId: z.number().int().min(1).max(4294967295).optional().describe('Replica server id used by the binlog source (default: derived from the pipeline name).'),
});

export type MariadbSystem = z.input<typeof mariadbSystemSchema>;

/** Connection settings (host, port, user, password, database) of a system config. */
export function connectionOptions(cfg: MariadbSystem): { host?: string; port?: number; user: string; password?: string; database?: string; socketPath?: string } {
  let fromUrl: Partial<ReturnType<typeof connectionOptions>> = {};
  if (cfg.url) {
    let u: URL;
    try {
      u = new URL(cfg.url);
    } catch {
      throw new ConfigError(`the MariaDB url ${JSON.stringify(cfg.url.replace(/:[^:@/]*@/, ':***@'))} is not a valid URL; expected mysql://user:password@host:3306/database`, { path: 'url' });
    }
    if (!['mysql:', 'mariadb:'].includes(u.protocol)) throw new ConfigError(`the MariaDB url must start with mysql:// or mariadb://, not ${JSON.stringify(u.protocol + '//')}`, { path: 'url' });
    fromUrl = {
      host: u.hostname || undefined,
      port: u.port ? Number(u.port) : undefined,
      user: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      database: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : undefined,
    };
  }
  const out = {
    host: cfg.host ?? fromUrl.host ?? '127.0.0.1',
    port: cfg.port ?? fromUrl.port ?? 3306,
    user: cfg.user ?? fromUrl.user ?? 'root',
    password: cfg.password ?? fromUrl.password,
    database: cfg.database ?? fromUrl.database,
    socketPath: cfg.socketPath,
  };
  return out;
}

/** Quote one identifier with backticks (embedded backticks doubled; NUL refused). */
export function quoteIdentMariadb(name: string): string {
  if (name.includes('\u0000')) throw new TypeError(`identifier ${JSON.stringify(name)} contains a NUL character`);
  return `\`${name.replaceAll('`', '``')}\``;
}

/** A string literal safe whatever sql_mode says about backslashes. */
export function quoteLiteralMariadb(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** `2024-01-02 03:04:05.123456` -> `2024-01-02T03:04:05.123456Z` (zero dates become null). */
export function mariadbDateTimeToIso(s: string | null): string | null {
  if (s === null) return null;
  if (s.startsWith('0000-00-00')) return null;
  return `${s.replace(' ', 'T')}Z`;
}

interface FieldLike { type: string; extendedFormat?: string; string(): string | null }

function typeCast(field: FieldLike, next: () => unknown): unknown {
  if (field.type === 'DATETIME' || field.type === 'TIMESTAMP' || field.type === 'DATETIME2' || field.type === 'TIMESTAMP2') return mariadbDateTimeToIso(field.string());
  if (field.type === 'DATE' || field.type === 'NEWDATE') {
    const s = field.string();
    return s === null || s.startsWith('0000-00-00') ? null : s;
  }
  if (field.type === 'JSON' || field.extendedFormat === 'json') {
    const s = field.string();
    return s === null ? null : parseJsonColumn(s);
  }
  return next();
}

export type MariadbPool = mysql.Pool;

/** Open a pool with the exact-type settings above. */
export function openMariadbPool(cfg: MariadbSystem, opts: { connectionLimit?: number } = {}): mysql.Pool {
  const c = connectionOptions(cfg);
  return mysql.createPool({
    ...c,
    connectionLimit: opts.connectionLimit ?? cfg.poolSize ?? 4,
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: false,
    dateStrings: true,
    timezone: 'Z',
    typeCast: typeCast as never,
    multipleStatements: false,
    // affectedRows 0 for an upsert that changed nothing: how the sink sees a fenced (skipped) write
    flags: ['-FOUND_ROWS'],
    connectTimeout: 10_000,
  });
}

/** A port with `exec` for statements that return no rows. */
export interface MariadbQueryPort extends SqlQueryPort {
  exec(sql: string, params?: unknown[]): Promise<{ affectedRows: number }>;
  close(): Promise<void>;
  readonly pool: mysql.Pool;
}

/** A {@link SqlQueryPort} over a mysql2 pool (each connection's time zone set to UTC). */
export function fromMariadbPool(pool: mysql.Pool): MariadbQueryPort {
  pool.on('connection', (conn) => {
    (conn as unknown as { query(sql: string): void }).query("SET time_zone = '+00:00'");
  });
  return {
    dialect: 'mariadb',
    pool,
    quoteIdent: quoteIdentMariadb,
    async query(sql, params) {
      const [rows] = await pool.query(sql, params);
      return rows as Record<string, unknown>[];
    },
    async exec(sql, params = []) {
      const [r] = await pool.query(sql, params);
      return { affectedRows: (r as { affectedRows?: number }).affectedRows ?? 0 };
    },
    async close() {
      await pool.end();
    },
  };
}
