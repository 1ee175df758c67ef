/**
 * The capture loop of one pipeline: read batches from the source, turn each change into a
 * delta, drop echoes of our own writes, and commit jobs + shadow rows + source position in
 * ONE store transaction (outbox), then ack the batch to the source.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { computeDelta, cutDepth, DocumentTooDeepError } from '../core/delta.js';
import { filterEcho, INTENT_TTL_MS, MAX_INTENTS } from './echo.js';
import type { ChangeEvent, Delta, Doc } from '../core/types.js';
import type { Logger } from '../core/log.js';
import type { Source, SourceBatch } from '../connectors/contract.js';
import type { EchoIntent, EchoIntentStore, EchoIntentUpdate, EnqueueInput, QueueStore, ShadowDelete, ShadowRow, SourceStore, StateStore } from '../store/store.js';
import type { EngineEvents, TypedEmitter } from './events.js';
import { sleep } from '../core/sleep.js';
import { computeBackoff, type BackoffPolicy } from '../core/backoff.js';
import { errorMessage, HmsError, StoreUnwritableError } from '../core/errors.js';
import { isExpectedError, isPermanentSourceError, type SourceHealthReporter } from './source-supervisor.js';
import { isStoreUnavailable } from './store-wait.js';

export interface CapturePipeline {
  name: string;
  target: string;
  /** Id under which the source's position and shadow rows are kept. */
  sourceId: string;
  source: Source;
  debounceMs: number;
  maxWaitMs: number;
  /** Least time between the starts of two commits (adaptive batching under load; 0 = none). */
  lingerMs?: number;
  maxAttempts: number;
  /**
   * Reader name under which the engine records what it writes into this source's collection
   * (when a reverse pipeline writes there; the pipeline's own name), or null: no echo to suppress.
   */
  echoReader: string | null;
  /** Hooks registered with onChange for this pipeline's collection. */
  hooks: () => Array<(oldDoc: Doc | null, newDoc: Doc | null, event: ChangeEvent) => unknown>;
  /** Where the source's health goes (the engine's SourceMonitor); none in bare tests. */
  monitor?: SourceHealthReporter;
}

const batchJobs = new AsyncLocalStorage<EnqueueInput[]>();

/** Restart delays of a failed source: 0.5-1 s, 1-2 s, ... up to 30 s; a permanent problem up to 5 minutes. */
export const SOURCE_RESTART: BackoffPolicy = Object.freeze({ initialMs: 1000, maxMs: 30_000, factor: 2 });
export const PERMANENT_RESTART: BackoffPolicy = Object.freeze({ initialMs: 1000, maxMs: 300_000, factor: 2 });
/** Half jitter: one source restarts neither in lockstep with others nor much sooner than its step. */
const halfJitter = () => 0.5 + Math.random() / 2;

/** Jobs of the batch whose onChange hooks are running (engine.enqueue joins that commit). */
export function currentBatchJobs(): EnqueueInput[] | undefined {
  return batchJobs.getStore();
}

export interface CaptureDeps {
  store: QueueStore & StateStore & EchoIntentStore & Partial<Pick<SourceStore, 'probeWrite'>>;
  /** The store as operators know it (a file path, a redacted URL), for messages. */
  storeLabel?: string;
  /** Identity written by write probes. */
  workerId?: string;
  logger: Logger;
  events: TypedEmitter<EngineEvents>;
}

/** The delta one change event produces, or null when nothing changed. */
export function deltaForEvent(ev: ChangeEvent): Delta | null {
  const before = ev.before ?? null;
  if (ev.op === 'delete') {
    return computeDelta(ev.key, before, null, ev.ts) ?? { op: 'delete', key: ev.key, changed: {}, state: null, before: null, base: null, fingerprint: '', sourceTs: ev.ts };
  }
  const d = computeDelta(ev.key, before, ev.after ?? null, ev.ts);
  if (d && ev.op === 'update' && !ev.before) d.op = 'update'; // a change stream without the old image
  return d;
}

export async function commitBatch(p: CapturePipeline, deps: CaptureDeps, batch: SourceBatch): Promise<void> {
  const now = Date.now();
  const jobs: EnqueueInput[] = [];
  const shadow: Array<ShadowRow | ShadowDelete> = [...(batch.shadow ?? [])];
  let suppressed = 0;
  let partial = 0;
  const intents = p.echoReader && batch.events.length
    ? await deps.store.getIntents(p.echoReader, [...new Set(batch.events.map((e) => e.key))], now - INTENT_TTL_MS)
    : new Map<string, EchoIntent[]>();
  const intentUpdates = new Map<string, EchoIntentUpdate>();
  const hooks = p.hooks();
  const rejected = [...(batch.rejected ?? [])];
  for (const ev of batch.events) {
    if (ev.rejected !== undefined) {
      rejected.push({ key: ev.key, record: ev.after ?? {}, error: ev.rejected });
      continue;
    }
    let delta: Delta | null;
    try {
      delta = deltaForEvent(ev);
    } catch (err) {
      // one record hms-sync cannot read (nested too deep) is dead-lettered; the others go on
      if (!(err instanceof DocumentTooDeepError)) throw err;
      rejected.push({ key: ev.key, record: (cutDepth(ev.after ?? ev.before ?? {}) ?? {}) as Doc, error: `record ${JSON.stringify(ev.key)}: ${err.message}` });
      continue;
    }
    deps.events.emit('change', { pipeline: p.name, event: ev });
    // jobs enqueued by onChange hooks join this commit, after the event's own job
    const hookJobs: EnqueueInput[] = [];
    for (const hook of hooks) await batchJobs.run(hookJobs, () => hook(ev.before ?? null, ev.op === 'delete' ? null : ev.after ?? null, ev));
    const live = intents.get(ev.key);
    if (live?.length) {
      // only the fields we wrote, with the values we wrote, are our echo; the rest flows on
      const r = filterEcho(ev, delta, live.slice(-MAX_INTENTS));
      if (delta && !r.delta) suppressed++;
      else if (r.suppressed.length) partial++;
      delta = r.delta;
      for (const u of r.updates) intentUpdates.set(u.id, u);
      intents.set(ev.key, r.remaining);
    }
    if (delta) {
      jobs.push({
        pipeline: p.name,
        target: p.target,
        key: ev.key,
        payload: delta,
        runAt: now + p.debounceMs,
        maxRunAt: now + Math.max(p.debounceMs, p.maxWaitMs),
        maxAttempts: p.maxAttempts,
      });
    }
    jobs.push(...hookJobs);
  }
  for (const bad of rejected) {
    jobs.push({
      pipeline: p.name,
      target: p.target,
      key: bad.key,
      payload: { op: 'insert', key: bad.key, changed: bad.record, state: bad.record, before: null, base: null, fingerprint: '', sourceTs: now, rejected: bad.error },
      runAt: now,
      maxRunAt: now,
      maxAttempts: p.maxAttempts,
      coalesce: false,
    });
  }
  let r: { inserted: number; merged: number };
  try {
    r = await deps.store.commit({
      jobs,
      shadow,
      position: batch.position !== undefined ? { source: p.sourceId, position: batch.position } : undefined,
      intents: intentUpdates.size ? [...intentUpdates.values()] : undefined,
      remember: batch.remember?.length ? batch.remember.map((id) => ({ scope: p.sourceId, id, at: now })) : undefined,
    });
  } catch (err) {
    if (!isStoreUnavailable(err)) throw err;
    // the store, not the source, failed: capture waits for the store instead of backing off
    throw new StoreUnwritableError(`the state store ${deps.storeLabel ?? ''}${deps.storeLabel ? ' ' : ''}cannot take the changes of pipeline "${p.name}": ${errorMessage(err)}`, { cause: err });
  }
  if (batch.ack) await batch.ack();
  deps.events.emit('source:batch', { pipeline: p.name, events: batch.events.length, enqueued: r.inserted, merged: r.merged, suppressed, partial, position: batch.position });
}

/** How often a store that cannot write is probed (capture resumes within this of it writing again). */
export const STORE_PROBE_MS = 250;

/**
 * Runs until the signal aborts; a failing source is restarted with backoff, never crashing the
 * process. A permanent problem (a configuration the server refuses, such as wal_level = replica
 * for logical replication) is retried too, since an operator may fix it without restarting us,
 * but slowly (up to every 5 minutes) and logged in full only when it first appears or changes.
 * A store that cannot write (full disk, read-only) is not the source's fault: no backoff; the
 * store is probed every {@link STORE_PROBE_MS} and the source restarts as soon as it writes.
 */
export async function runCapture(p: CapturePipeline, deps: CaptureDeps, signal: AbortSignal): Promise<void> {
  let failures = 0;
  let lastMessage: string | null = null;
  let repeats = 0;
  while (!signal.aborted) {
    let permanent = false;
    try {
      p.monitor?.streaming();
      for await (const batch of p.source.stream(signal)) {
        const started = Date.now();
        await commitBatch(p, deps, batch);
        p.monitor?.ok();
        failures = 0;
        lastMessage = null;
        if (signal.aborted) break;
        // linger: while we wait, the source gathers what arrives into the next batch; after a
        // quiet spell longer than the linger the next change is committed at once
        const rest = started + (p.lingerMs ?? 0) - Date.now();
        if (rest > 0) await sleep(rest, signal);
      }
    } catch (err) {
      if (signal.aborted) break;
      if (err instanceof StoreUnwritableError && deps.store.probeWrite) {
        await waitForStore(p, deps, err, signal);
        continue;
      }
      failures++;
      const error = err instanceof Error ? err : new Error(String(err));
      permanent = isPermanentSourceError(error);
      p.monitor?.failed(error);
      // expected errors (ours, or a driver's coded error) are one line; anything else keeps its stack
      const logged = isExpectedError(error) ? { error: error instanceof HmsError ? error.message : errorMessage(error), code: (error as { code?: unknown }).code } : { err: error };
      if (error.message !== lastMessage) {
        lastMessage = error.message;
        repeats = 0;
        deps.logger.error({ pipeline: p.name, ...logged, failures }, `${permanent ? 'source cannot start until this is fixed; retrying now and then' : 'source failed; restarting it'}: ${error instanceof HmsError ? error.message : errorMessage(error)}`);
      } else {
        repeats++;
        deps.logger.warn({ pipeline: p.name, failures, repeats }, `source still failing with the same error: ${error.message.slice(0, 120)}${error.message.length > 120 ? '...' : ''}`);
      }
      deps.events.emit('source:error', { pipeline: p.name, error });
    }
    if (signal.aborted) break;
    await sleep(computeBackoff(failures, permanent ? PERMANENT_RESTART : SOURCE_RESTART, halfJitter), signal);
  }
}

/**
 * After a commit failed because the store cannot write: probe it every {@link STORE_PROBE_MS}
 * until a write lands (or the signal aborts), then the caller restarts the source at once.
 */
async function waitForStore(p: CapturePipeline, deps: CaptureDeps, err: StoreUnwritableError, signal: AbortSignal): Promise<void> {
  deps.logger.error({ pipeline: p.name, error: err.message }, `${err.message}; capture waits and resumes as soon as the store can write`);
  deps.events.emit('store:unwritable', { pipeline: p.name, error: err.message });
  const started = Date.now();
  while (!signal.aborted) {
    await sleep(STORE_PROBE_MS, signal);
    if (signal.aborted) return;
    const ok = await deps.store.probeWrite!(deps.workerId ?? 'capture').then(() => true, () => false);
    if (ok) {
      deps.logger.info({ pipeline: p.name, waitedMs: Date.now() - started }, `the state store ${deps.storeLabel ?? ''}${deps.storeLabel ? ' ' : ''}can write again; pipeline "${p.name}" resumes`);
      deps.events.emit('store:writable', { pipeline: p.name });
      return;
    }
  }
}
