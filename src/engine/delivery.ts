/**
 * The delivery loop: claim a batch of runnable jobs (per-key order is the store's claim rule),
 * map them, hand them to the sink, then ack, retry with backoff, or dead-letter.
 */
import { classifyError, errorMessage, MappingError, RetryableError, ValidationError } from '../core/errors.js';
import { computeBackoff, DEFAULT_BACKOFF } from '../core/backoff.js';
import type { Job } from '../core/types.js';
import type { Logger } from '../core/log.js';
import { isStale, type SinkItem, type SinkResult } from '../connectors/contract.js';
import type { CompleteInput, FailInput, Store } from '../store/store.js';
import type { EngineEvents, TypedEmitter } from './events.js';
import { type Route, toSinkItem } from './route.js';
import { keepTargetRepresentation } from './representation.js';
import { INTENT_TTL_MS } from './echo.js';
import { canonicalKey } from '../core/delta.js';
import type { EchoIntentInput, ShadowPatch } from '../store/store.js';
import { sleep } from '../core/sleep.js';
import { retryWhileStoreDown } from './store-wait.js';

export interface DeliveryDeps {
  store: Store;
  logger: Logger;
  events: TypedEmitter<EngineEvents>;
  routes: Map<string, Route>;
  workerId: string;
}

export interface DeliveryLoopOptions {
  pipelines: string[];
  batchSize: number;
  leaseMs: number;
  /** Longest sleep when idle: several processes sharing a SQLite file see each other's jobs this fast. */
  idlePollMs: number;
  /** Least time between two claims of the pipeline's loops, unless a claim came back full (0 = none). */
  lingerMs?: number;
}

/** Deliver one claimed batch. Exported for tests and for `hms-sync run --once`. */
export async function deliverJobs(deps: DeliveryDeps, jobs: Job[], signal: AbortSignal, lease?: Pick<LeaseHeartbeat, 'release'>): Promise<void> {
  const byPipeline = new Map<string, Job[]>();
  for (const j of jobs) {
    const list = byPipeline.get(j.pipeline) ?? [];
    list.push(j);
    byPipeline.set(j.pipeline, list);
  }
  await Promise.all([...byPipeline].map(([pipeline, list]) => deliverGroup(deps, pipeline, list, signal, lease)));
}

async function deliverGroup(deps: DeliveryDeps, pipeline: string, jobs: Job[], signal: AbortSignal, lease?: Pick<LeaseHeartbeat, 'release'>): Promise<void> {
  const route = deps.routes.get(pipeline);
  const now = Date.now();
  const done: CompleteInput[] = [];
  const failures: FailInput[] = [];
  const failed: Array<{ job: Job; error: string; retryAt: number | null }> = [];
  const policy = route?.delivery.backoff ?? DEFAULT_BACKOFF;
  const fail = (job: Job, err: unknown) => {
    const c = classifyError(err);
    // measured from the failure, not from the claim (a sink call may have taken its whole timeout);
    // a peer's Retry-After is honoured up to the policy's cap
    const waitMs = c.retryAfterMs !== undefined ? Math.min(c.retryAfterMs, policy.maxMs) : computeBackoff(job.attempts, policy);
    const retryAt = c.retryable && job.attempts < job.maxAttempts ? Date.now() + waitMs : null;
    const error = c.retryable && retryAt === null ? `gave up after ${job.attempts} attempts: ${c.message}` : c.message;
    failures.push({ id: job.id, version: job.version, error, retryAt, workerId: deps.workerId });
    failed.push({ job, error, retryAt });
  };
  if (!route) {
    for (const job of jobs) fail(job, new MappingError('pipeline', `pipeline "${pipeline}" is not defined in the running configuration; fix the config and replay the job`));
  } else {
    const items: SinkItem[] = [];
    const itemJobs: Job[] = [];
    const skipped: Job[] = [];
    for (const job of jobs) {
      if (job.payload.rejected) {
        fail(job, new ValidationError(`the source could not read this record: ${job.payload.rejected}; fix the payload and replay it (hms-sync dlq replay ${job.id} --edit)`));
        continue;
      }
      try {
        const item = await toSinkItem(route, job);
        if (item) {
          items.push(item);
          itemJobs.push(job);
        } else skipped.push(job);
      } catch (err) {
        fail(job, err);
      }
    }
    if (route.echoReaders.length && items.length) {
      // on a link: write the target's own representation of a value it already holds, and nothing
      // for a change that is only a representation of what it holds (engine/representation.ts)
      const same = await keepTargetRepresentation(deps.store, route, items, readerKey);
      for (const i of [...same].sort((a, b) => b - a)) {
        skipped.push(itemJobs[i]!);
        items.splice(i, 1);
        itemJobs.splice(i, 1);
      }
    }
    for (const job of skipped) done.push({ id: job.id, version: job.version, workerId: deps.workerId });
    // Remember what we are about to write BEFORE writing it, so the watcher of every pipeline that
    // reads this collection back can never see our write without knowing it is ours (an intent
    // whose write then fails is harmless: it only hides a field that shows exactly the value the
    // other side already has).
    let intentIds: string[] = [];
    const readers = route.echoReaders.length;
    if (readers && items.length) {
      const rows: EchoIntentInput[] = [];
      for (const item of items) {
        const d = item.delta;
        for (const reader of route.echoReaders) {
          rows.push({ reader: reader.name, key: readerKey(d.state, reader.key) ?? d.key, writer: pipeline, fields: d.state ? d.changed : null, state: d.state, at: now });
        }
      }
      intentIds = await deps.store.recordIntents(rows, now - INTENT_TTL_MS);
    }
    let results: SinkResult[] = [];
    if (items.length) {
      try {
        results = await callSink(deps, route, items, signal);
        if (results.length !== items.length) throw new Error(`sink returned ${results.length} results for ${items.length} items`);
      } catch (err) {
        results = items.map(() => ({ ok: false, error: err }));
      }
    }
    // the results are recorded next: the heartbeat stops renewing these jobs (an ack racing a
    // renewal must not look like a lost lease)
    lease?.release(jobs.map((j) => j.id));
    const landed: string[] = [];
    const stale = new Map<string, string>();
    results.forEach((r, i) => {
      const job = itemJobs[i]!;
      if (!r.ok) return fail(job, r.error);
      done.push({ id: job.id, version: job.version, workerId: deps.workerId });
      if (isStale(r)) {
        // nothing was written: the target already holds this version or a newer one
        stale.set(job.id, r.reason);
        return;
      }
      for (let k = 0; k < readers; k++) if (intentIds[i * readers + k]) landed.push(intentIds[i * readers + k]!);
    });
    // the watchers' next reads show these writes: older intents on the same fields are superseded
    if (landed.length) {
      await deps.store.landIntents(landed, Date.now());
      try {
        await rememberWritten(deps.store, route, items.filter((_, i) => results[i]?.ok && !isStale(results[i]!)));
      } catch (err) {
        // best effort: without it only an undo made before the next poll can go unseen; the jobs are delivered
        deps.logger.warn({ pipeline, err }, 'could not note the written fields in the reverse pipeline\'s shadow');
      }
    }
    if (done.length) {
      await retryWhileStoreDown(() => deps.store.complete(done), deps.logger, `the delivery of ${done.length} job(s) of pipeline "${pipeline}"`, signal);
      const doneIds = new Set(done.map((d) => d.id));
      for (const job of jobs) {
        if (!doneIds.has(job.id)) continue;
        const reason = stale.get(job.id);
        if (reason !== undefined) deps.logger.info({ pipeline, jobId: job.id, key: job.key, reason }, 'stale write: the target already holds this version or a newer one; nothing written');
        const outcome = skipped.includes(job) ? 'unchanged' : reason !== undefined ? 'stale' : 'written';
        deps.events.emit('job:done', { job, skipped: outcome === 'unchanged', outcome });
      }
    }
  }
  if (failures.length) {
    lease?.release(jobs.map((j) => j.id));
    await retryWhileStoreDown(() => deps.store.fail(failures), deps.logger, `the failed attempts of ${failures.length} job(s) of pipeline "${pipeline}"`, signal);
    for (const f of failed) {
      if (f.retryAt === null) {
        deps.logger.warn({ pipeline, jobId: f.job.id, key: f.job.key, attempts: f.job.attempts, error: f.error }, 'job dead-lettered');
        deps.events.emit('job:dead', { job: f.job, error: f.error });
      } else {
        deps.logger.info({ pipeline, jobId: f.job.id, key: f.job.key, attempts: f.job.attempts, error: f.error, retryAt: new Date(f.retryAt).toISOString() }, 'delivery failed; will retry');
        deps.events.emit('job:retry', { job: f.job, error: f.error, retryAt: f.retryAt });
      }
    }
  }
}

/**
 * A polling reader's shadow is the last state it saw. Once our write is acknowledged the row holds
 * what we wrote, so the written fields go into that shadow: a person who sets a field back before
 * the next poll is then seen as a change (the poll would otherwise find the row equal to its old
 * shadow and never report the edit). The store merges them into the row as it is now, so a
 * capture commit of the same row in between is not reverted.
 */
async function rememberWritten(store: Store, route: Route, items: SinkItem[]): Promise<void> {
  const patches: ShadowPatch[] = [];
  for (const reader of route.echoReaders) {
    for (const item of items) {
      if (!item.delta.state) continue; // a delete: the reader sees the row gone
      patches.push({ scope: reader.scope, key: readerKey(item.delta.state, reader.key) ?? item.delta.key, fields: item.delta.changed });
    }
  }
  await store.patchShadow(patches);
}

/** The key as a reader's source computes it from the written state (null when a key field is not in it). */
function readerKey(state: Record<string, unknown> | null, fields: string[]): string | null {
  if (!state) return null;
  try {
    return canonicalKey(state, fields);
  } catch {
    return null;
  }
}

/**
 * One sink call with the pipeline's time limit. At the limit the call's own signal is aborted
 * (every sink cancels what it has in flight: the HTTP request, the SQL statement and its
 * transaction, the file write) and this waits until the call has really ENDED before the batch
 * is recorded as failed: a key's next attempt is claimed only once an earlier attempt can no
 * longer land after it. The claimed jobs' leases are renewed by the heartbeat meanwhile; a sink
 * that does not stop is reported every time limit until it does.
 */
async function callSink(deps: DeliveryDeps, route: Route, items: SinkItem[], signal: AbortSignal): Promise<SinkResult[]> {
  const ms = route.delivery.timeoutMs;
  const what = `sink of pipeline "${route.pipeline}" (${route.target}/${route.collection})`;
  const call = new AbortController();
  const onOuter = () => call.abort(signal.reason);
  if (signal.aborted) onOuter();
  else signal.addEventListener('abort', onOuter, { once: true });
  const started = Date.now();
  let p: Promise<SinkResult[]>;
  try {
    p = route.sink.write(items, call.signal);
  } catch (err) {
    p = Promise.reject(err); // a plug-in sink that throws instead of rejecting
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    if (!ms || ms <= 0) return await p;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
    const first = await Promise.race([p.then(() => 'settled' as const, () => 'settled' as const), timedOut]);
    if (first === 'settled') return await p;
    const err = new RetryableError(`${what} did not answer within ${ms} ms (delivery.timeout); the call was cancelled and the batch will be retried`, { details: { pipeline: route.pipeline, timeoutMs: ms } });
    call.abort(err);
    // wait for the abandoned call to end: until then it may still land, so its keys stay claimed
    let warned = 0;
    for (;;) {
      const late = await Promise.race([p.then(() => 'settled' as const, () => 'settled' as const), new Promise<'waiting'>((resolve) => { timer = setTimeout(() => resolve('waiting'), ms); })]);
      if (late === 'settled') break;
      warned++;
      deps.logger.warn({ pipeline: route.pipeline, jobs: items.length, waitedMs: Date.now() - started }, `${what} has not stopped ${Date.now() - started - ms} ms after it was cancelled; its keys wait for it (their leases are renewed)`);
    }
    if (warned) deps.logger.info({ pipeline: route.pipeline, waitedMs: Date.now() - started }, `${what} stopped after it was cancelled`);
    throw err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onOuter);
  }
}

/**
 * Renews the leases of a claimed batch every `leaseMs / 3` while it is being delivered, so the
 * lease can be short (a crashed worker's keys move on soon) while a slow delivery is never taken
 * over. When the store says a job is no longer ours (its lease expired, e.g. the process stalled,
 * and another worker claimed it), the batch's sink call is aborted.
 */
export class LeaseHeartbeat {
  private readonly ac = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  /** The jobs still renewed; `released` counts the calls that removed some. */
  private readonly held: Set<string>;
  private released = 0;
  /** Aborted when a lease was lost (or the outer signal aborted). */
  readonly signal: AbortSignal;

  constructor(private readonly deps: Pick<DeliveryDeps, 'store' | 'logger' | 'workerId'>, ids: string[], private readonly leaseMs: number, outer: AbortSignal) {
    this.signal = AbortSignal.any([outer, this.ac.signal]);
    this.held = new Set(ids);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.beat().finally(() => this.schedule());
    }, Math.max(50, Math.floor(this.leaseMs / 3)));
  }

  private async beat(): Promise<void> {
    const ids = [...this.held];
    if (!ids.length) return;
    const generation = this.released;
    try {
      const held = await this.deps.store.extendLease(ids, this.deps.workerId, this.leaseMs);
      // fewer held than asked for, while none of them was acknowledged meanwhile: a lease expired
      if (typeof held === 'number' && held < ids.length && !this.stopped && generation === this.released) {
        const err = new RetryableError(`lost the lease of ${ids.length - held} of ${ids.length} claimed jobs (the process stalled past delivery.lease; another worker may hold them now); the delivery was cancelled`);
        this.deps.logger.warn({ jobs: ids, held }, err.message);
        this.ac.abort(err);
      }
    } catch (err) {
      this.deps.logger.warn({ err: errorMessage(err), jobs: ids.length }, 'could not renew the lease of the jobs being delivered; retrying at the next heartbeat');
    }
  }

  /** Stop renewing these jobs (their results are about to be recorded). */
  release(ids: string[]): void {
    for (const id of ids) this.held.delete(id);
    this.released++;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

/**
 * The delivery loops of one pipeline share one subscription to the store's wake-ups and wake ONE
 * idle loop per wake-up (a loop that claims a full batch brings in the next), so a commit of a
 * few jobs costs one claim, not one per loop (most of them empty).
 */
export class WakeGroup {
  private readonly idle: Array<() => void> = [];
  private missed = false;
  private nextClaimAt = 0;
  private readonly unsubscribe: () => void;

  constructor(store: Pick<Store, 'onWake'>) {
    this.unsubscribe = store.onWake(() => this.wakeOne());
  }

  /** Wake one idle loop, or remember the wake-up for the next loop that looks. */
  wakeOne(): void {
    const w = this.idle.shift();
    if (w) w();
    else this.missed = true;
  }

  /** Whether a wake-up arrived while no loop was idle (and forget it: the caller is about to claim). */
  takeMissed(): boolean {
    const m = this.missed;
    this.missed = false;
    return m;
  }

  /** Wait until woken, `ms` passed or the signal aborted. */
  park(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      // aborted while claiming or delivering: an abort listener added now would never fire
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        const i = this.idle.indexOf(done);
        if (i >= 0) this.idle.splice(i, 1);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.idle.push(done);
    });
  }

  /**
   * Reserve the next claim slot: claims of the group are at least `lingerMs` apart, so under load
   * each takes more jobs; returns how long to wait for the slot (0 after a quiet spell).
   */
  reserveClaim(lingerMs: number): number {
    const now = Date.now();
    const at = Math.max(now, this.nextClaimAt);
    this.nextClaimAt = at + lingerMs;
    return at - now;
  }

  close(): void {
    this.unsubscribe();
    for (const w of this.idle.splice(0)) w();
  }
}

/**
 * Claims and delivers until the signal aborts; finishes the batch in hand before returning.
 * Loops of the same pipeline should share a {@link WakeGroup} (`group`); without one the loop
 * has its own.
 */
export async function runDelivery(deps: DeliveryDeps, opts: DeliveryLoopOptions & { group?: WakeGroup }, signal: AbortSignal, sinkSignal: AbortSignal): Promise<void> {
  const group = opts.group ?? new WakeGroup(deps.store);
  let lastFull = false;
  // a store that fails every claim (down, full) is logged once per distinct error, not every second
  let claimError: string | null = null;
  let claimFailures = 0;
  try {
    while (!signal.aborted) {
      let jobs: Job[];
      if (opts.lingerMs && !lastFull) {
        const wait = group.reserveClaim(opts.lingerMs);
        if (wait > 0) await sleep(wait, signal);
        if (signal.aborted) break;
      }
      try {
        group.takeMissed(); // this claim sees everything committed before it
        jobs = await deps.store.claim({ workerId: deps.workerId, limit: opts.batchSize, leaseMs: opts.leaseMs, pipelines: opts.pipelines });
        if (claimError !== null) {
          deps.logger.info({ pipelines: opts.pipelines, failures: claimFailures }, `claims work again after ${claimFailures} failed attempt(s)`);
          claimError = null;
          claimFailures = 0;
        }
      } catch (err) {
        const message = errorMessage(err);
        claimFailures++;
        if (message !== claimError) deps.logger.error({ pipelines: opts.pipelines, error: message }, `claiming jobs from the store failed; retrying every second: ${message}`);
        else deps.logger.debug({ pipelines: opts.pipelines, failures: claimFailures }, 'claim still failing');
        claimError = message;
        deps.events.emit('worker:error', { pipeline: opts.pipelines.join(','), error: err instanceof Error ? err : new Error(errorMessage(err)) });
        await sleep(1000, signal);
        continue;
      }
      const full = jobs.length >= opts.batchSize;
      lastFull = full;
      if (full) group.wakeOne(); // more may be waiting: bring another loop in
      if (jobs.length) {
        const heartbeat = new LeaseHeartbeat(deps, jobs.map((j) => j.id), opts.leaseMs, sinkSignal);
        try {
          await deliverJobs(deps, jobs, heartbeat.signal, heartbeat);
        } catch (err) {
          // the store failed while recording results (locked, connection lost): the claimed jobs
          // stay running until their lease expires and are delivered again then
          deps.logger.error({ err, pipelines: opts.pipelines }, 'recording delivery results failed; the jobs will be retried when their lease expires');
          deps.events.emit('worker:error', { pipeline: opts.pipelines.join(','), error: err instanceof Error ? err : new Error(errorMessage(err)) });
          await sleep(1000, signal);
          continue;
        } finally {
          await heartbeat.stop();
        }
        if (full) continue;
      }
      if (group.takeMissed()) continue;
      // nothing announced: the next job's time (a retry, a debounce, or the next job of a key
      // whose head was just completed) decides how long to wait
      const next = await deps.store.nextRunAt(opts.pipelines).catch(() => null);
      const waitMs = next === null ? opts.idlePollMs : Math.min(opts.idlePollMs, Math.max(0, next - Date.now()));
      if (waitMs <= 0 || group.takeMissed()) continue;
      await group.park(waitMs, signal);
    }
  } finally {
    if (!opts.group) group.close();
  }
}
