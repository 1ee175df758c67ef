/**
 * Open a store from a URL: `sqlite:./path/state.db`, `sqlite::memory:`, a bare file path, or
 * `postgres://user@host/db?schema=name` (default schema `hms_sync`). Migrations run unless
 * `migrate: false`.
 * @example const store = await openStore('sqlite:./.hms-sync/state.db');
 */
import { ConfigError } from '../core/errors.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  /** SQLite: `NORMAL` (default) or `FULL`; also settable as `?synchronous=full` in the URL. */
  synchronous?: 'NORMAL' | 'FULL';
  /** SQLite: busy timeout in ms (default 5000). */
  busyTimeoutMs?: number;
  /** PostgreSQL: pool size (default 10). */
  poolSize?: number;
  /** PostgreSQL: schema (overrides `?schema=` in the URL; default `hms_sync`). */
  schema?: string;
}

/** The default store URL: an SQLite file under ./.hms-sync. */
export const DEFAULT_STORE_URL = 'sqlite:./.hms-sync/state.db';

/** Parse a store URL into a dialect and its settings (exported for `validate`). */
export function parseStoreUrl(url: string): { dialect: 'sqlite'; file: string; synchronous?: 'NORMAL' | 'FULL' } | { dialect: 'postgres'; connectionString: string; schema?: string } {
  if (typeof url !== 'string' || url.trim() === '') throw new ConfigError(`store URL ${JSON.stringify(url)} is empty; use sqlite:./.hms-sync/state.db, sqlite::memory: or postgres://user@host/db`);
  if (/^postgres(ql)?:\/\//i.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ConfigError(`store URL is not a valid postgres:// URL (${url.replace(/:\/\/([^:/@]+):[^@]*@/, '://$1:***@')}); expected postgres://user:password@host:5432/database`);
    }
    const schema = u.searchParams.get('schema') ?? undefined;
    u.searchParams.delete('schema');
    return { dialect: 'postgres', connectionString: u.toString(), schema };
  }
  let rest = url;
  if (/^sqlite:/i.test(rest)) rest = rest.slice('sqlite:'.length);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) throw new ConfigError(`store URL ${JSON.stringify(url)} has an unsupported scheme; use sqlite:<file>, sqlite::memory: or postgres://...`);
  if (rest.startsWith('//')) rest = rest.slice(2);
  let synchronous: 'NORMAL' | 'FULL' | undefined;
  const q = rest.indexOf('?');
  if (q >= 0) {
    const params = new URLSearchParams(rest.slice(q + 1));
    rest = rest.slice(0, q);
    for (const [k, v] of params) {
      if (k === 'synchronous' && /^(normal|full)$/i.test(v)) synchronous = v.toUpperCase() as 'NORMAL' | 'FULL';
      else throw new ConfigError(`store URL ${JSON.stringify(url)}: unknown option ${k}=${v}; the SQLite store accepts synchronous=normal|full`);
    }
  }
  if (rest === '') throw new ConfigError(`store URL ${JSON.stringify(url)} names no file; use sqlite:./.hms-sync/state.db or sqlite::memory:`);
  return { dialect: 'sqlite', file: rest, ...(synchronous ? { synchronous } : {}) };
}

/** Open (and by default migrate) the store a URL names. */
export async function openStore(url: string = DEFAULT_STORE_URL, opts: OpenStoreOptions = {}): Promise<Store> {
  const parsed = parseStoreUrl(url);
  let store: Store;
  if (parsed.dialect === 'sqlite') {
    const { SqliteStore } = await import('./sqlite/sqlite-store.js');
    store = new SqliteStore({ file: parsed.file, synchronous: opts.synchronous ?? parsed.synchronous, busyTimeoutMs: opts.busyTimeoutMs });
  } else {
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    store = new PostgresStore({ connectionString: parsed.connectionString, schema: opts.schema ?? parsed.schema, poolSize: opts.poolSize });
  }
  if (opts.migrate !== false) {
    try {
      await store.migrate();
    } catch (e) {
      await store.close().catch(() => undefined);
      throw e;
    }
  }
  return store;
}
