import { existsSync } from 'node:fs';
import path from 'node:path';
import { userInfo } from 'node:os';
import { ConfigError, errorMessage, HmsError, NotConnectedError, NotFoundError } from '../core/errors.js';
import { redactUrl } from '../core/log.js';
import { loadConfig } from '../config/load-config.js';
import type { ResolvedConfig } from '../config/schema.js';
import { openStore, parseStoreUrl } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { EXIT } from './exit-codes.js';
import { loadPluginsFromFile } from '../config/plugins.js';
import { loadStoreConfig } from '../config/store-config.js';

export const DEFAULT_CONFIG_FILES = ['hms-sync.yaml', 'hms-sync.yml'];

/** The config file a command works on: the argument, $HMS_SYNC_CONFIG, or ./hms-sync.yaml. */
export function resolveConfigFile(arg?: string): string {
  if (arg) return path.resolve(arg);
  if (process.env.HMS_SYNC_CONFIG) return path.resolve(process.env.HMS_SYNC_CONFIG);
  for (const f of DEFAULT_CONFIG_FILES) if (existsSync(f)) return path.resolve(f);
  throw new ConfigError(`no configuration file given and none found (looked for ${DEFAULT_CONFIG_FILES.join(', ')} in ${process.cwd()}); pass one, e.g. \`hms-sync run my-config.yaml\`, set $HMS_SYNC_CONFIG, or try \`hms-sync demo\` (it writes a config to .hms-sync/demo/demo.yaml)`);
}

/** Load plug-ins named by the config, then the config itself (strictly validated). */
export async function loadConfigArg(arg?: string): Promise<ResolvedConfig> {
  const file = resolveConfigFile(arg);
  await loadPluginsFromFile(file);
  return loadConfig(file);
}

/**
 * Open the store for an operator command: --store wins, else the config's store.
 * Operator commands need only the store: the config is read for `store:` alone (its
 * `${env:...}` references are the only ones resolved), so an unset delivery secret or a
 * system that does not validate does not stop `status`, `jobs`, `dlq` or `prune`.
 */
export async function openStoreFor(opts: { store?: string; config?: string }): Promise<Store> {
  const url = opts.store ?? (await loadStoreConfig(resolveConfigFile(opts.config))).store;
  const where = opts.store ? '--store' : 'the config\'s `store:`';
  const parsed = parseStoreUrl(url);
  // Reading commands never create a store: a mistyped path would otherwise report an empty queue.
  if (parsed.dialect === 'sqlite' && parsed.file !== ':memory:' && !existsSync(parsed.file)) {
    throw new NotFoundError(`no state store at ${path.resolve(parsed.file)}: nothing has run with it yet (check ${where}; \`hms-sync run\` creates it)`);
  }
  try {
    return await openStore(url);
  } catch (err) {
    if (err instanceof HmsError) throw err;
    throw new NotConnectedError(`cannot open the state store ${redactUrl(url)} (from ${where}): ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Run an operator command on the store; a store that cannot be reached is reported in one line
 * with exit code 4 (not as an internal error).
 */
export async function withStore<T>(opts: { store?: string; config?: string }, setCode: (code: number) => void, fn: (store: Store) => Promise<T>): Promise<T | undefined> {
  let store: Store;
  try {
    store = await openStoreFor(opts);
  } catch (err) {
    if (!(err instanceof NotConnectedError)) throw err;
    process.stderr.write(`hms-sync: ${err.message}\n`);
    setCode(EXIT.UNREACHABLE);
    return undefined;
  }
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function actor(): string {
  try {
    return process.env.HMS_SYNC_ACTOR ?? userInfo().username;
  } catch {
    return 'unknown';
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A plain aligned table for terminals. */
export function printTable(rows: Array<Record<string, unknown>>, columns: string[]): void {
  const cells = rows.map((r) => columns.map((c) => fmt(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${line(columns)}\n`);
  for (const row of cells) process.stdout.write(`${line(row)}\n`);
}

/**
 * Text for a table cell of at most `max` characters: cut at the last space before the limit
 * (never in the middle of a word, unless one word is longer than the cell) and marked with `…`.
 * `null` stays `null` (printed as `-`).
 */
export function shorten(text: string | null | undefined, max: number): string | null {
  if (text === null || text === undefined || text === '') return null;
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return flat;
  const room = flat.slice(0, max - 1);
  const space = room.lastIndexOf(' ');
  const cut = space >= max / 2 ? room.slice(0, space) : room;
  return `${cut.replace(/[\s,;:.-]+$/, '')}…`;
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function formatAge(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.floor((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m`;
}
