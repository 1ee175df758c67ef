/**
 * The seeds' API, made real:
 *
 * ```ts
import { onChange, enqueue, makeDiff, start } from 'hms-sync';
 * onChange('permits', async (oldDoc, newDoc) => {
 *   const diff = makeDiff(oldDoc, newDoc);   // tiny delta
 *   await enqueue('county-cobol', diff);     // add to queue (key taken from the change)
 * });
 * await start('hms-sync.yaml');
 *
 * const north = await Connector.open({ name: 'mainframe_calendar', driver: 'sqlite', url: './legacy.db' });
 * for await (const change of north.stream({ table: 'INSPECTIONS', key: 'BRG_ID' })) console.log(change.after);
 * ```
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { configError, parseConfig } from './config/load-config.js';
import type { ResolvedConfig } from './config/schema.js';
import { ConfigError, ValidationError } from './core/errors.js';
import { silentLogger, type Logger } from './core/log.js';
import type { ChangeEvent, Delta, Doc } from './core/types.js';
import { getConnector } from './connectors/registry.js';
import type { Source } from './connectors/contract.js';
import { openStore } from './store/open-store.js';
import { sourceStateFor } from './engine/snapshot.js';
import type { Store } from './store/store.js';
import { createEngine, type ChangeHook, type Engine, type EngineOptions } from './engine/engine.js';
import { loadPluginsFromFile } from './config/plugins.js';

const currentChange = new AsyncLocalStorage<ChangeEvent>();
let defaultEngine: Engine | null = null;
const pendingHooks: Array<[string, ChangeHook]> = [];

/**
 * Run `handler(oldDoc, newDoc)` for every change the running engine sees on `collection`
 * (a collection name, or `system/collection`). Hooks registered before `start()` are kept.
 */
export function onChange(collection: string, handler: ChangeHook): () => void {
  const wrapped: ChangeHook = (o, n, ev) => currentChange.run(ev, () => handler(o, n, ev));
  if (defaultEngine) return defaultEngine.onChange(collection, wrapped);
  const entry: [string, ChangeHook] = [collection, wrapped];
  pendingHooks.push(entry);
  return () => pendingHooks.splice(pendingHooks.indexOf(entry), 1);
}

/**
 * Queue a delta for `target` (a pipeline name or the system a pipeline delivers to).
 * Inside an onChange handler the key (and delete) comes from the change being handled;
 * otherwise pass `{ key }` or include the pipeline's key fields in the object.
 */
export async function enqueue(target: string, delta: Doc | Delta, opts: { key?: string; op?: 'insert' | 'update' | 'delete' } = {}): Promise<{ inserted: number; merged: number }> {
  if (!defaultEngine) throw new ValidationError('enqueue() needs a running engine: call `await start(config)` first');
  const ev = currentChange.getStore();
  return defaultEngine.enqueue(target, delta, { key: opts.key ?? ev?.key, op: opts.op ?? (ev?.op === 'delete' ? 'delete' : undefined) });
}

/** Start the default engine from a config file (default ./hms-sync.yaml) or a resolved config. */
export async function start(config: string | ResolvedConfig = 'hms-sync.yaml', opts: Omit<EngineOptions, 'config'> = {}): Promise<Engine> {
  if (defaultEngine) throw new ValidationError('the default engine is already running; call stop() first');
  let resolved: ResolvedConfig;
  if (typeof config === 'string') {
    const file = path.resolve(config);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read the configuration file ${file}: ${(err as Error).message}`, { file, cause: err });
    }
    await loadPluginsFromFile(file);
    const r = parseConfig(text, { file, env: process.env });
    if (!r.config) throw configError(r.issues);
    resolved = r.config;
  } else resolved = config;
  const engine = createEngine({ ...opts, config: resolved });
  for (const [c, h] of pendingHooks.splice(0)) engine.onChange(c, h);
  defaultEngine = engine;
  try {
    await engine.start();
  } catch (err) {
    defaultEngine = null;
    throw err;
  }
  return engine;
}

/** Stop the default engine gracefully. */
export async function stop(): Promise<void> {
  const e = defaultEngine;
  defaultEngine = null;
  if (e) await e.stop();
}

export interface ConnectorOpenOptions {
  name: string;
  driver: string;
  url?: string;
  /** Where the connector keeps its shadow and position (default: in memory, forgotten on exit). */
  state?: string;
  logger?: Logger;
  /** Any other system settings of the driver. */
  [setting: string]: unknown;
}

export interface StreamOptions {
  table: string;
  /** Key fields (default `id`). */
  key?: string | string[];
  /** Driver-specific source options (poll interval...). */
  [option: string]: unknown;
}

/** A connector used on its own, without a pipeline (the seeds' `Connector.open`). */
export class Connector {
  private readonly open: Source[] = [];
  private constructor(readonly name: string, readonly driver: string, private readonly systemConfig: unknown, private readonly store: Store, private readonly logger: Logger) {}

  static async open(opts: ConnectorOpenOptions): Promise<Connector> {
    const { name, driver, url, state, logger, ...rest } = opts;
    const d = getConnector(driver);
    const base = url === undefined ? {} : d.fromUrl ? (d.fromUrl(url) as Record<string, unknown>) : { url };
    const parsed = d.systemSchema.safeParse({ ...base, ...rest });
    if (!parsed.success) throw new ConfigError(`Connector.open(${name}): ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    const store = await openStore(state ?? 'sqlite::memory:');
    await store.migrate();
    return new Connector(name, driver, parsed.data, store, logger ?? silentLogger());
  }

  /** Yields each change (insert, update, delete) of `table` until `signal` aborts or `close()`. */
  async *stream(opts: StreamOptions, signal?: AbortSignal): AsyncGenerator<ChangeEvent> {
    const { table, key = 'id', ...sourceOpts } = opts;
    const d = getConnector(this.driver);
    if (!d.createSource) throw new ValidationError(`driver "${this.driver}" cannot be a source`);
    let options: unknown = sourceOpts;
    if (d.sourceSchema) {
      const parsed = d.sourceSchema.safeParse(sourceOpts);
      if (!parsed.success) throw new ConfigError(`${this.name}.stream(${table}): ${parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ')}`);
      options = parsed.data;
    }
    const scope = `connector:${this.name}:${table}`;
    const store = this.store;
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const source = await d.createSource({
      system: this.name, systemConfig: this.systemConfig, collection: table, options, keyFields: Array.isArray(key) ? key : [key],
      state: sourceStateFor(store, scope, { system: this.name, collection: table }),
      logger: this.logger, workDir: path.resolve('.hms-sync', 'connectors', this.name), baseDir: process.cwd(),
    });
    this.open.push(source);
    try {
      for await (const batch of source.stream(ac.signal)) {
        for (const ev of batch.events) yield ev;
        await store.commit({ jobs: [], shadow: batch.shadow, position: batch.position !== undefined ? { source: scope, position: batch.position } : undefined, remember: batch.remember?.map((id) => ({ scope, id, at: Date.now() })) });
        if (batch.ack) await batch.ack();
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      ac.abort();
      await source.close();
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.open.map((s) => s.close()));
    await this.store.close();
  }
}
