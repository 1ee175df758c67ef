/**
 * The part of a config file the operator commands (`status`, `jobs`, `dlq`, `prune`) need: the
 * state store. Only `store:` has its `${env:NAME}` references resolved, so an unset delivery
 * secret (`${env:CRM_TOKEN}` in a system) does not stop an operator from looking at the queue;
 * `run` and `validate` load the whole file and still report every unset variable.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { redactUrl } from '../core/log.js';
import { protectEnvRefs, substituteEnvInDocument, type Env } from './env.js';

/** The default of `store:` (see schema.ts). */
export const DEFAULT_STORE = 'sqlite:./.hms-sync/state.db';

export interface StoreConfig {
  /** Absolute path of the config file. */
  file: string;
  /** `sqlite:/abs/path.db`, `sqlite::memory:` or a postgres URL. */
  store: string;
}

/**
 * Read a config file for its store only. YAML syntax errors and a bad `store:` are ConfigErrors
 * (exit 3) with file and line; the rest of the file is not validated here.
 */
export async function loadStoreConfig(file: string, env: Env = process.env): Promise<StoreConfig> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ConfigError(code === 'ENOENT' ? `config file ${abs} not found` : `cannot read config file ${abs}: ${(e as Error).message}`, { file: abs, cause: e });
  }
  const lineCounter = new LineCounter();
  const prot = protectEnvRefs(text);
  const doc = parseDocument(prot.text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0].line;
    throw new ConfigError(`${abs}:${line ?? '?'}:${e.linePos?.[0].col ?? '?'} YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, { file: abs, line });
  }
  const { problems } = substituteEnvInDocument(doc, env, prot.placeholders, { only: (p) => p[0] === 'store' });
  const node = doc.get('store', true) as { range?: [number, number, number] } | undefined;
  const line = node?.range ? lineCounter.linePos(node.range[0]).line : undefined;
  const where = `${abs}:${line ?? 1}`;
  if (problems.length) throw new ConfigError(`${where} store: ${problems.map((p) => p.message).join('; ')}`, { file: abs, line, path: 'store' });
  const raw = doc.get('store') as unknown;
  const store = raw === undefined || raw === null ? DEFAULT_STORE : raw;
  if (typeof store !== 'string' || !/^(sqlite:|postgres(ql)?:\/\/)/.test(store)) {
    const shown = typeof store === 'string' ? JSON.stringify(redactUrl(store)) : `a ${typeof store}`;
    throw new ConfigError(`${where} store: unknown store ${shown}; use sqlite:<path> (e.g. sqlite:./.hms-sync/state.db) or a postgres:// URL`, { file: abs, line, path: 'store' });
  }
  return { file: abs, store: resolveSqliteStore(store, path.dirname(abs)) };
}

/** `sqlite:<relative path>` is relative to the config file's folder (as `run` resolves it). */
export function resolveSqliteStore(store: string, baseDir: string): string {
  if (!store.startsWith('sqlite:') || /^sqlite::memory:?$/.test(store)) return store;
  return `sqlite:${path.resolve(baseDir, store.slice('sqlite:'.length))}`;
}
