/**
 * Open a store from a URL: `sqlite:./path/state.db`, `sqlite::memory:`, a bare file path, or
 * `postgres://user@host/db?schema=name` (default schema `hms_sync`). Migrations run unless
 * `migrate: false`.
 * @example const store = await openStore('sqlite:./.hms-sync/state.db');
 */
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, errorMessage, HmsError, NotConnectedError, StoreError } from '../core/errors.js';
import { redactUrl } from '../core/log.js';
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
  /** SQLite: told of the folders created for the store file (so the caller can say so). */
  onMkdir?: (dirs: string[]) => void;
}

/**
 * Create a folder and its missing parents one level at a time, and say in one line what is in
 * the way: a parent that is a regular file, a file system that refuses folders (`/proc`), no
 * permission. Returns the folders created, outermost first. (A recursive mkdirSync can spin on
 * `/proc`, and names neither the path nor the problem.)
 * @param what what the folder is for, e.g. "the folder of the SQLite store"
 */
export function ensureDir(dir: string, what: string): string[] {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  for (let cur = abs; ;) {
    let isDir: boolean;
    try {
      isDir = statSync(cur).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        missing.push(cur);
        const up = path.dirname(cur);
        if (up === cur) break;
        cur = up;
        continue;
      }
      if (code === 'ENOTDIR') {
        let file = path.dirname(cur);
        while (path.dirname(file) !== file && !statSync(file, { throwIfNoEntry: false })) file = path.dirname(file);
        throw new StoreError(`cannot create ${what} ${abs}: ${file} is a file, not a folder`, { cause: e });
      }
      throw new StoreError(`cannot create ${what} ${abs}: ${cur}: ${errorMessage(e)}`, { cause: e });
    }
    if (!isDir) throw new StoreError(`cannot create ${what} ${abs}: ${cur} is a file, not a folder`);
    break;
  }
  const created: string[] = [];
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
      created.push(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(d, { throwIfNoEntry: false })?.isDirectory()) continue;
      const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied'
        : code === 'EROFS' ? 'read-only file system'
          : code === 'ENOENT' ? `the file system of ${path.dirname(d)} does not allow creating folders there`
            : errorMessage(e);
      throw new StoreError(`cannot create ${what} ${abs}: mkdir ${d}: ${why}`, { cause: e });
    }
  }
  return created;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', '57P03', '08001', '08006', '28P01', '28000', '3D000']);

/** One line for a store that failed to open: unreachable (exit 4 as NotConnectedError) or refusing (StoreError), with where it is. */
function storeOpenError(url: string, parsed: ReturnType<typeof parseStoreUrl>, e: unknown): HmsError {
  if (e instanceof HmsError) return e;
  const msg = errorMessage(e);
  if (parsed.dialect === 'postgres') {
    const code = (e as { code?: unknown }).code;
    const u = (() => { try { return new URL(parsed.connectionString); } catch { return null; } })();
    const where = u ? `${u.hostname}:${u.port || 5432}${u.pathname}` : redactUrl(url);
    if (typeof code === 'string' && CONNECT_CODES.has(code)) return new NotConnectedError(`cannot open the state store ${redactUrl(url)} (PostgreSQL at ${where} cannot be reached): ${msg}`, { cause: e });
    return new StoreError(`the PostgreSQL state store at ${where} failed: ${msg}`, { cause: e });
  }
  const file = path.resolve(parsed.file);
  let why = '';
  if (/SQLITE_(CANTOPEN|READONLY)/.test(msg)) {
    // say which: a read-only file system, a folder or file without write permission
    try {
      accessSync(path.dirname(file), constants.W_OK);
      if (existsSync(file)) accessSync(file, constants.W_OK);
    } catch (a) {
      const code = (a as NodeJS.ErrnoException).code;
      why = code === 'EROFS' ? ` (the file system of ${path.dirname(file)} is read-only)` : code === 'EACCES' || code === 'EPERM' ? ` (no permission to write ${(a as NodeJS.ErrnoException).path ?? file})` : '';
    }
  }
  return new StoreError(`cannot use the SQLite state store ${file}: ${msg}${why}`, { cause: e });
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
    if (parsed.file !== ':memory:') {
      const created = ensureDir(path.dirname(path.resolve(parsed.file)), 'the folder of the SQLite state store');
      if (created.length) opts.onMkdir?.(created);
    }
    try {
      store = new SqliteStore({ file: parsed.file, synchronous: opts.synchronous ?? parsed.synchronous, busyTimeoutMs: opts.busyTimeoutMs });
    } catch (e) {
      throw storeOpenError(url, parsed, e);
    }
  } else {
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    store = new PostgresStore({ connectionString: parsed.connectionString, schema: opts.schema ?? parsed.schema, poolSize: opts.poolSize });
  }
  if (opts.migrate !== false) {
    try {
      await store.migrate();
    } catch (e) {
      await store.close().catch(() => undefined);
      throw storeOpenError(url, parsed, e);
    }
  }
  return store;
}
