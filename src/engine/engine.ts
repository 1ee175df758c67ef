/**
 * The engine: for each enabled pipeline a capture loop (source -> deltas -> store) and
 * delivery loops (store -> sink), sharing one store. Graceful stop: sources stop first,
 * batches in hand finish, then sinks and the store close.
 */
import { withSnapshot } from './snapshot.js';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import path from 'node:path';
import { hostname } from 'node:os';
import type { ResolvedConfig, ResolvedPipeline } from '../config/schema.js';
import { compileMapping } from '../core/mapping.js';
import { canonicalKey, computeDelta } from '../core/delta.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import type { ChangeEvent, Delta, Doc } from '../core/types.js';
import { createLogger, type Logger } from '../core/log.js';
import { getConnector } from '../connectors/registry.js';
import type { Sink, Source, SourceState } from '../connectors/contract.js';
import type { Store } from '../store/store.js';
import { ensureDir, openStore } from '../store/open-store.js';
import { scheduledPipelines, startReconcileSchedule, type ReconcileScheduler, type ScheduleClock } from '../reconcile/schedule.js';
import { type CapturePipeline, currentBatchJobs, runCapture } from './capture.js';
import { leaseLoop, liveEngines, SOURCE_LEASE_MS, SourceMonitor, thisHolder } from './source-supervisor.js';
import { redactUrl } from '../core/log.js';
import { errorMessage } from '../core/errors.js';
import { runDelivery, WakeGroup, type DeliveryDeps } from './delivery.js';
import { type EngineEvents, TypedEmitter } from './events.js';
import { identityMapping, type Route } from './route.js';

export interface EngineOptions {
  config: ResolvedConfig;
  /** An open store; when omitted the engine opens `config.store` and closes it on stop. */
  store?: Store;
  logger?: Logger;
  /** Only these pipelines (default: every enabled pipeline). */
  pipelines?: string[];
  /** Run capture loops (sources). Default true. */
  capture?: boolean;
  /** Run delivery loops (workers). Default true. */
  deliver?: boolean;
  workerId?: string;
  /** Longest idle sleep of a worker (ms); default 1000. */
  idlePollMs?: number;
  /** Run the pipelines' `reconcile.schedule`s (default: when capture runs). */
  schedule?: boolean;
  /** The clock schedules run on (tests inject one). */
  clock?: ScheduleClock;
  /**
   * Report a source that cannot start as `source:fatal` (a permanent problem before it ever read;
   * on SQLite, a source another process reads) instead of only retrying it. `hms-sync run` sets
   * it unless `--keep-going`. Default false.
   */
  failFast?: boolean;
  /** Lease of a source (ms): another process may take over this long after our last heartbeat. Default 15 s. */
  sourceLeaseMs?: number;
}

export type ChangeHook = (oldDoc: Doc | null, newDoc: Doc | null, event: ChangeEvent) => unknown;

export class Engine extends TypedEmitter<EngineEvents> {
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  readonly workerId: string;
  store!: Store;
  private ownsStore = false;
  private scheduler: ReconcileScheduler | null = null;
  private readonly opts: EngineOptions;
  private readonly routes = new Map<string, Route>();
  private readonly captures: CapturePipeline[] = [];
  private readonly sources: Source[] = [];
  private readonly sinks: Sink[] = [];
  private readonly hooks = new Map<string, ChangeHook[]>();
  private captureAbort = unboundedAbort();
  private deliveryAbort = unboundedAbort();
  private sinkAbort = unboundedAbort();
  private loops: Promise<void>[] = [];
  private readonly monitors = new Map<string, SourceMonitor>();
  /** Sources whose lease this engine holds, with the controller that stops reading each. */
  private readonly held = new Map<string, AbortController>();
  /** Every source this engine held at some time (released on stop). */
  private readonly everHeld = new Set<string>();
  private heartbeat: NodeJS.Timeout | null = null;
  private state: 'new' | 'started' | 'stopping' | 'stopped' = 'new';
  /**
   * Jobs of this process per pipeline and outcome since start (`written`, `stale`: the sink wrote
   * nothing because the target held a newer version, `unchanged`: no mapped field changed).
   */
  readonly outcomes = new Map<string, { written: number; stale: number; unchanged: number }>();

  constructor(opts: EngineOptions) {
    super();
    this.opts = opts;
    this.config = opts.config;
    this.logger = opts.logger ?? createLogger({ level: opts.config.logLevel });
    this.workerId = opts.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.on('error' as never, () => {}); // background errors are reported through typed events and logs
    this.on('job:done', ({ job, outcome }) => {
      let c = this.outcomes.get(job.pipeline);
      if (!c) this.outcomes.set(job.pipeline, (c = { written: 0, stale: 0, unchanged: 0 }));
      c[outcome]++;
    });
  }

  /** Register a hook run for every change seen on `collection` (or `system/collection`), before it is queued. */
  onChange(collection: string, hook: ChangeHook): () => void {
    const list = this.hooks.get(collection) ?? [];
    list.push(hook);
    this.hooks.set(collection, list);
    return () => list.splice(list.indexOf(hook), 1);
  }

  private selected(): ResolvedPipeline[] {
    const all = Object.values(this.config.pipelines);
    if (this.opts.pipelines?.length) {
      for (const n of this.opts.pipelines) if (!this.config.pipelines[n]) throw new NotFoundError(`pipeline "${n}" is not defined; defined pipelines are: ${Object.keys(this.config.pipelines).join(', ') || '(none)'}`);
      return all.filter((p) => this.opts.pipelines!.includes(p.name));
    }
    return all.filter((p) => p.enabled);
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new ValidationError(`engine already ${this.state}`);
    this.state = 'started';
    liveEngines.add(this.workerId);
    this.noteCreated(ensureDir(this.config.stateDir, 'the state folder (stateDir)'), 'the state folder (stateDir)');
    if (this.opts.store) this.store = this.opts.store;
    else {
      this.store = await openStore(this.config.store, { onMkdir: (dirs) => this.noteCreated(dirs, 'the SQLite state store') });
      this.ownsStore = true;
    }
    await this.store.migrate();
    if (this.config.server?.enabled) this.logger.warn('server.enabled is set, but the HTTP API and dashboard are not built yet: nothing is served');
    const pipelines = this.selected();
    // links: pipelines whose source is another pipeline's target and whose target is its source
    // (in the whole config: the reverse direction may run in another process)
    const enabled = Object.values(this.config.pipelines).filter((p) => p.enabled);
    // the pipelines that read each (from, to) direction back: readers of what a route writes
    const readersOf = (into: Endpoint, from: Endpoint) => enabled.filter((q) => linkId(q.from, q.to) === linkId(into, from)).map((q) => ({ name: q.name, key: q.key, scope: `pipeline:${q.name}` }));
    const writes = new Set(enabled.map((q) => linkId(q.from, q.to)));
    for (const p of pipelines) {
      const toSys = this.config.systems[p.to.system]!;
      const connector = getConnector(toSys.driver);
      if (this.opts.deliver !== false) {
        const sink = await connector.createSink!({
          system: p.to.system, systemConfig: toSys.config, collection: p.to.collection, options: p.to.options,
          keyFields: p.targetKey, logger: this.logger.child({ pipeline: p.name, role: 'sink' }), workDir: this.workDir(p.name, 'sink'), baseDir: this.baseDir,
        });
        this.sinks.push(sink);
        this.routes.set(p.name, {
          pipeline: p.name, target: p.to.system, collection: p.to.collection, key: p.key, targetKey: p.targetKey,
          mapping: p.map ? compileMapping(p.map, { pipeline: p.name }) : identityMapping,
          sink, delivery: p.delivery,
          echoReaders: readersOf(p.to, p.from),
        });
      }
      if (this.opts.capture !== false) {
        const fromSys = this.config.systems[p.from.system]!;
        const sourceId = `pipeline:${p.name}`;
        const state = this.sourceState(sourceId, { system: p.from.system, collection: p.from.collection });
        const monitor = new SourceMonitor({
          pipeline: p.name, sourceId, system: p.from.system, collection: p.from.collection, holder: this.workerId,
          store: this.store, logger: this.logger, events: this, failAfterMs: this.config.sourceFailAfterMs ?? 300_000,
          onFatal: this.opts.failFast ? (error) => this.emit('source:fatal', { pipeline: p.name, error }) : undefined,
        });
        this.monitors.set(p.name, monitor);
        const source = await getConnector(fromSys.driver).createSource!({
          system: p.from.system, systemConfig: fromSys.config, collection: p.from.collection, options: p.from.options,
          keyFields: p.key, state, logger: this.logger.child({ pipeline: p.name, role: 'source' }), workDir: this.workDir(p.name, 'source'), baseDir: this.baseDir,
          health: { ok: () => monitor.ok(), failed: (err) => monitor.failed(err) },
        });
        this.sources.push(source);
        this.captures.push({
          name: p.name, target: p.to.system, sourceId, source,
          debounceMs: p.debounceMs, maxWaitMs: p.maxWaitMs, lingerMs: p.lingerMs, maxAttempts: p.delivery.maxAttempts,
          echoReader: writes.has(linkId(p.to, p.from)) ? p.name : null,
          hooks: this.hooksFor(p.from.system, p.from.collection),
          monitor,
        });
      }
    }
    // PostgreSQL: LISTEN is in place before the first job can be committed, so no wake-up is missed
    await this.store.wakeReady?.();
    const deps = { store: this.store, logger: this.logger, events: this, storeLabel: storeLabel(this.config.store), workerId: this.workerId };
    const holder = thisHolder(this.workerId);
    const ttlMs = this.opts.sourceLeaseMs ?? SOURCE_LEASE_MS;
    for (const c of this.captures) {
      const monitor = this.monitors.get(c.name)!;
      const loop = leaseLoop({
        pipeline: c.name, sourceId: c.sourceId, store: this.store, holder, logger: this.logger, events: this, ttlMs,
        onRefused: this.opts.failFast && this.store.dialect === 'sqlite' ? (error) => this.emit('source:fatal', { pipeline: c.name, error }) : undefined,
      }, (signal) => {
        monitor.reset();
        return runCapture(c, deps, signal);
      }, (sourceId, ac) => {
        if (ac) {
          this.held.set(sourceId, ac);
          this.everHeld.add(sourceId);
        } else this.held.delete(sourceId);
      }, this.captureAbort.signal);
      this.loops.push(this.guard(loop, c.name));
    }
    if (this.captures.length) this.startHeartbeat(ttlMs);
    if (this.opts.deliver !== false) this.startWorkers(pipelines);
    if ((this.opts.schedule ?? this.opts.capture !== false) && scheduledPipelines(this.config).length) {
      this.scheduler = startReconcileSchedule({ config: this.config, store: this.store, logger: this.logger.child({ role: 'reconcile' }), clock: this.opts.clock, only: pipelines.map((p) => p.name), onRun: (r) => this.emit('reconcile:run', r) });
    }
    this.logger.info({ pipelines: pipelines.map((p) => p.name), store: this.store.dialect, workerId: this.workerId }, 'engine started');
    this.emit('engine:started');
  }

  /** Renew the leases this engine holds every third of their time; a lease lost since stops that source. */
  private startHeartbeat(ttlMs: number): void {
    let problem: string | null = null;
    let busy = false;
    let lastRenewed = Date.now();
    this.heartbeat = setInterval(() => {
      if (!this.held.size) lastRenewed = Date.now(); // nothing held: the next lease taken counts from now
      if (busy || !this.held.size) return;
      busy = true;
      const ids = [...this.held.keys()];
      this.store.renewSources(this.workerId, ids, ttlMs).then((kept) => {
        problem = null;
        lastRenewed = Date.now();
        const keep = new Set(kept);
        for (const id of ids) {
          if (keep.has(id)) continue;
          const ac = this.held.get(id);
          if (!ac) continue; // released meanwhile
          this.logger.error({ source: id }, `lost the lease of source ${id} (another process took it over after this one missed heartbeats); this process stops reading it and waits as a standby`);
          ac.abort();
        }
      }, (e: unknown) => {
        const msg = errorMessage(e);
        if (msg !== problem) this.logger.warn({ error: msg }, `could not renew the source leases in the store: ${msg}`);
        problem = msg;
        // about to expire: stop reading before another process may take the sources over (each
        // lease loop takes its lease again as soon as the store answers, if nobody else has)
        if (Date.now() - lastRenewed >= ttlMs - Math.floor(ttlMs / 3)) {
          this.logger.error({ sources: ids }, `the source leases could not be renewed for ${Math.round((Date.now() - lastRenewed) / 1000)} s: stopping reading ${ids.join(', ')} until the store answers, so that two processes never read one source`);
          for (const id of ids) this.held.get(id)?.abort();
        }
      }).finally(() => { busy = false; });
    }, Math.max(50, Math.floor(ttlMs / 3)));
    this.heartbeat.unref();
  }

  /** A background loop never rejects into the void: a failure is logged and reported as an event. */
  private guard(loop: Promise<void>, pipeline: string): Promise<void> {
    return loop.catch((err: unknown) => {
      const error = err instanceof Error ? err : new Error(String(err));
      this.logger.error({ err: error, pipeline }, 'a pipeline loop stopped unexpectedly');
      this.emit('worker:error', { pipeline, error });
    });
  }

  private startWorkers(pipelines: ResolvedPipeline[]): void {
    const deps: DeliveryDeps = { store: this.store, logger: this.logger, events: this, routes: this.routes, workerId: this.workerId };
    for (const p of pipelines) {
      const group = new WakeGroup(this.store);
      const loops: Array<Promise<void>> = [];
      for (let i = 0; i < p.delivery.concurrency; i++) {
        loops.push(this.guard(runDelivery(deps, {
          pipelines: [p.name], batchSize: p.delivery.batchSize,
          leaseMs: p.delivery.leaseMs, idlePollMs: this.opts.idlePollMs ?? 1000, lingerMs: p.lingerMs, group,
        }, this.deliveryAbort.signal, this.sinkAbort.signal), p.name));
      }
      this.loops.push(Promise.all(loops).then(() => group.close()));
    }
  }

  /** The hooks for a source collection, looked up per batch so hooks added after start() run too. */
  private hooksFor(system: string, collection: string): () => ChangeHook[] {
    return () => [...(this.hooks.get(collection) ?? []), ...(this.hooks.get(`${system}/${collection}`) ?? [])];
  }

  /** Relative paths in system configs resolve against the config file's folder. */
  get baseDir(): string {
    return this.config.baseDir ?? (this.config.file ? path.dirname(path.resolve(this.config.file)) : process.cwd());
  }

  private workDir(pipeline: string, role: string): string {
    const dir = path.join(this.config.stateDir, 'work', pipeline.replace(/[^A-Za-z0-9_.-]/g, '_'), role);
    ensureDir(dir, `the work folder of pipeline "${pipeline}"`);
    return dir;
  }

  /** Say so when a folder is created outside the config's folder (a state folder or store path the operator may not expect). */
  private noteCreated(dirs: string[], what: string): void {
    const base = this.baseDir + path.sep;
    const outside = dirs.filter((d) => !(d + path.sep).startsWith(base));
    if (outside.length) this.logger.warn({ created: outside, configFolder: this.baseDir }, `created ${outside[0]} for ${what}, outside the config's folder ${this.baseDir}`);
    else if (dirs.length) this.logger.info({ created: dirs }, `created ${dirs[0]} for ${what}`);
  }

  private sourceState(scope: string, ctx: { system: string; collection: string }): SourceState {
    const store = () => this.store;
    return {
      ...withSnapshot({ scope, getPosition: () => store().getPosition(scope), getShadow: (keys) => store().getShadow(scope, keys), listShadow: () => store().listShadow(scope) }, ctx),
      seenIds: (ids) => store().seenIds(scope, ids),
      forgetIds: (before) => store().forgetIds(scope, before),
    };
  }

  /**
   * Queue a delta for a pipeline's target directly (the seeds' `enqueue(target, diff)`).
   * `target` is a pipeline name, or a system name when exactly one pipeline delivers to it.
   * A plain object is treated as an upsert of those fields; the key comes from `opts.key`
   * or the pipeline's key fields in the object.
   */
  async enqueue(target: string, delta: Doc | Delta, opts: { key?: string; op?: 'insert' | 'update' | 'delete' } = {}): Promise<{ inserted: number; merged: number }> {
    const p = this.resolveTarget(target);
    const now = Date.now();
    let payload: Delta;
    if (isDelta(delta)) payload = delta;
    else {
      const key = opts.key ?? canonicalKey(delta, p.key);
      const op = opts.op ?? 'update';
      payload = op === 'delete'
        ? { op, key, changed: {}, state: null, before: null, base: null, fingerprint: '', sourceTs: now }
        : { ...computeDelta(key, null, delta, now)!, op, partial: true };
    }
    const job = { pipeline: p.name, target: p.to.system, key: payload.key, payload, runAt: now + p.debounceMs, maxRunAt: now + Math.max(p.debounceMs, p.maxWaitMs), maxAttempts: p.delivery.maxAttempts };
    // inside an onChange hook: join the batch being committed (same transaction as the source position)
    const batch = currentBatchJobs();
    if (batch) {
      batch.push(job);
      return { inserted: 0, merged: 0 };
    }
    return this.store.enqueue([job]);
  }

  private resolveTarget(target: string): ResolvedPipeline {
    const byName = this.config.pipelines[target];
    if (byName) return byName;
    const to = Object.values(this.config.pipelines).filter((p) => p.to.system === target || `${p.to.system}/${p.to.collection}` === target);
    if (to.length === 1) return to[0]!;
    if (to.length > 1) throw new ValidationError(`target "${target}" is delivered to by several pipelines (${to.map((p) => p.name).join(', ')}); name the pipeline instead`);
    throw new NotFoundError(`no pipeline delivers to "${target}"; pipelines are: ${Object.keys(this.config.pipelines).join(', ') || '(none)'}`);
  }

  /** Stop sources, let batches in hand finish (up to `graceMs`), close sinks and the store. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.state !== 'started') return;
    this.state = 'stopping';
    await this.scheduler?.stop();
    this.captureAbort.abort();
    this.deliveryAbort.abort();
    const hard = setTimeout(() => this.sinkAbort.abort(), graceMs);
    await Promise.allSettled(this.loops);
    clearTimeout(hard);
    if (this.heartbeat) clearInterval(this.heartbeat);
    await Promise.allSettled([...this.monitors.values()].map((m) => m.flush()));
    if (this.everHeld.size) {
      await this.store.releaseSources(this.workerId, [...this.everHeld]).catch((e: unknown) => this.logger.warn({ error: errorMessage(e) }, `could not release the source leases: ${errorMessage(e)}`));
    }
    await Promise.allSettled([...this.sources.map((s) => s.close()), ...this.sinks.map((s) => s.close())]);
    if (this.ownsStore) await this.store.close();
    liveEngines.delete(this.workerId);
    this.state = 'stopped';
    this.logger.info('engine stopped');
    this.emit('engine:stopped');
  }
}

interface Endpoint { system: string; collection: string }

function linkId(from: Endpoint, to: Endpoint): string {
  return JSON.stringify([from.system, from.collection, to.system, to.collection]);
}

function isDelta(x: Doc | Delta): x is Delta {
  return typeof (x as Delta).op === 'string' && typeof (x as Delta).key === 'string' && 'changed' in x && 'state' in x;
}

/** The store as an operator knows it: the file of an SQLite store, a PostgreSQL URL without its password. */
export function storeLabel(url: string): string {
  return /^sqlite:/i.test(url) ? url.slice('sqlite:'.length) : redactUrl(url);
}

/** Create (not start) an engine. */
export function createEngine(opts: EngineOptions): Engine {
  return new Engine(opts);
}

/** An AbortController whose signal many loops and in-flight requests listen to at once (no MaxListeners warning). */
function unboundedAbort(): AbortController {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  return ac;
}
