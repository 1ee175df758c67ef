import { existsSync } from 'node:fs';
import path from 'node:path';
import { userInfo } from 'node:os';
import { ConfigError } from '../core/errors.js';
import { loadConfig } from '../config/load-config.js';
import type { ResolvedConfig } from '../config/schema.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { loadPluginsFromFile } from './plugins.js';

export const DEFAULT_CONFIG_FILES = ['hms-sync.yaml', 'hms-sync.yml'];

/** The config file a command works on: the argument, $HMS_SYNC_CONFIG, or ./hms-sync.yaml. */
export function resolveConfigFile(arg?: string): string {
  if (arg) return path.resolve(arg);
  if (process.env.HMS_SYNC_CONFIG) return path.resolve(process.env.HMS_SYNC_CONFIG);
  for (const f of DEFAULT_CONFIG_FILES) if (existsSync(f)) return path.resolve(f);
  throw new ConfigError(`no configuration file given and none found (looked for ${DEFAULT_CONFIG_FILES.join(', ')} in ${process.cwd()}); pass one, e.g. \`hms-sync run examples/bridge/hms-sync.yaml\`, or try \`hms-sync demo\``);
}

/** Load plug-ins named by the config, then the config itself (strictly validated). */
export async function loadConfigArg(arg?: string): Promise<ResolvedConfig> {
  const file = resolveConfigFile(arg);
  await loadPluginsFromFile(file);
  return loadConfig(file);
}

/**
 * Open the store for an operator command: --store wins, else the config's store.
 * Commands that only read state need no valid systems, so a config is optional when --store is given.
 */
export async function openStoreFor(opts: { store?: string; config?: string }): Promise<Store> {
  const url = opts.store ?? (await loadConfigArg(opts.config)).store;
  const store = await openStore(url);
  await store.migrate();
  return store;
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
