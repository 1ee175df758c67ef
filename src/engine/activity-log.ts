/**
 * What `run` says about work that succeeds. Per pipeline, at most one `info` line every
 * `everyMs` (default 5 s) while there is activity or a backlog:
 *
 *   INFO  [permits] delivered 120, failed 2, pending 14, lag 1.4s  skipped=0 captured=131 ...
 *
 * `delivered` counts jobs this process wrote to the target since the previous line, `skipped` jobs
 * that needed no write (the target held the version, or no mapped field changed), `failed`
 * attempts that will be retried, `dead` jobs dead-lettered; `pending` and `lag` (age of the
 * oldest pending job) come from the store, so they include other processes' work. A pipeline
 * that is idle with an empty queue logs nothing; a backlog that does not move is repeated once a
 * minute. Every finished job is logged at `debug` (`job delivered`, with id, key, version).
 */
import type { Logger } from '../core/log.js';
import type { Job } from '../core/types.js';
import type { BacklogStats, Store } from '../store/store.js';
import type { EngineEvents, TypedEmitter } from './events.js';

export const DEFAULT_ACTIVITY_EVERY_MS = 5000;
/** A backlog that did not change is logged again after this long. */
const QUIET_REPEAT_MS = 60_000;

interface Counts { captured: number; delivered: number; skipped: number; failed: number; dead: number; maxLatencyMs: number }

const zero = (): Counts => ({ captured: 0, delivered: 0, skipped: 0, failed: 0, dead: 0, maxLatencyMs: 0 });

export interface ActivityLogOptions {
  logger: Logger;
  /** The store is read lazily (the engine opens it in start()). */
  store: () => Store | undefined;
  /** Pipelines this process runs. */
  pipelines: string[];
  everyMs?: number;
}

export interface ActivityLog {
  /** Log what happened since the last line (without reading the store) and stop the timer. */
  stop(): void;
  /** One round now (tests, shutdown). */
  tick(): Promise<void>;
}

/** `1.4s`, `850ms`, `3m12s`. */
export function formatLag(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.floor((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m`;
}

export function startActivityLog(events: TypedEmitter<EngineEvents>, opts: ActivityLogOptions): ActivityLog {
  const everyMs = opts.everyMs ?? DEFAULT_ACTIVITY_EVERY_MS;
  const names = new Set(opts.pipelines);
  const counts = new Map<string, Counts>();
  const last = new Map<string, { at: number; pending: number }>();
  const log = opts.logger;
  const get = (p: string) => {
    let c = counts.get(p);
    if (!c) counts.set(p, (c = zero()));
    return c;
  };
  const jobFields = (job: Job) => ({ pipeline: job.pipeline, jobId: job.id, key: job.key, op: job.payload.op, version: job.version, attempts: job.attempts });

  const onDone: (...a: EngineEvents['job:done']) => void = ({ job, outcome }) => {
    const c = get(job.pipeline);
    if (outcome === 'written') c.delivered++;
    else c.skipped++;
    const latency = Date.now() - job.createdAt;
    if (latency > c.maxLatencyMs) c.maxLatencyMs = latency;
    if (log.isLevelEnabled('debug')) log.debug({ ...jobFields(job), outcome, latencyMs: latency }, outcome === 'written' ? 'job delivered' : `job done without a write (${outcome})`);
  };
  const onRetry: (...a: EngineEvents['job:retry']) => void = ({ job }) => { get(job.pipeline).failed++; };
  const onDead: (...a: EngineEvents['job:dead']) => void = ({ job }) => { get(job.pipeline).dead++; };
  const onBatch: (...a: EngineEvents['source:batch']) => void = ({ pipeline, enqueued, merged }) => { get(pipeline).captured += enqueued + merged; };
  events.on('job:done', onDone);
  events.on('job:retry', onRetry);
  events.on('job:dead', onDead);
  events.on('source:batch', onBatch);

  const line = (pipeline: string, c: Counts, b: BacklogStats | undefined, final: boolean) => {
    const known = b !== undefined || !final;
    const pending = b?.pending ?? 0;
    const lag = b?.oldestPendingAgeMs ?? null;
    const parts = [`delivered ${c.delivered}`, `failed ${c.failed}`];
    if (c.dead) parts.push(`dead ${c.dead}`);
    if (known) parts.push(`pending ${pending}`, `lag ${formatLag(lag)}`);
    log.info({
      pipeline, delivered: c.delivered, skipped: c.skipped, failed: c.failed, dead: c.dead, captured: c.captured,
      ...(known ? { pending, running: b?.running ?? 0, lagMs: lag } : {}),
      ...(c.delivered + c.skipped ? { maxLatencyMs: c.maxLatencyMs } : {}),
      ...(final ? { final: true } : {}),
    }, `${parts.join(', ')}${final ? ' (stopping)' : ''}`);
  };

  let running = false;
  const tick = async (final = false): Promise<void> => {
    if (running && !final) return;
    running = true;
    try {
      const now = Date.now();
      const active = [...counts].filter(([, c]) => c.captured + c.delivered + c.skipped + c.failed + c.dead > 0).map(([p]) => p);
      const backlogKnown = [...last.values()].some((l) => l.pending > 0);
      let backlog = new Map<string, BacklogStats>();
      const store = opts.store();
      if (!final && store && (active.length || backlogKnown)) {
        try {
          backlog = new Map((await store.backlog()).filter((b) => names.has(b.pipeline)).map((b) => [b.pipeline, b]));
        } catch (err) {
          log.debug({ err }, 'could not read the queue backlog for the activity line');
        }
      }
      for (const p of names) {
        const c = counts.get(p) ?? zero();
        const b = backlog.get(p);
        const busy = c.captured + c.delivered + c.skipped + c.failed + c.dead > 0;
        const prev = last.get(p);
        const pending = b?.pending ?? 0;
        const stuck = pending > 0 && (!prev || prev.pending !== pending || now - prev.at >= QUIET_REPEAT_MS);
        if (busy || (!final && stuck)) {
          line(p, c, final ? undefined : b, final);
          last.set(p, { at: now, pending });
        } else if (!final && prev && pending === 0) {
          last.set(p, { ...prev, pending: 0 });
        }
        counts.set(p, zero());
      }
    } finally {
      running = false;
    }
  };

  const timer = setInterval(() => void tick(), everyMs);
  timer.unref();
  return {
    tick: () => tick(),
    stop() {
      clearInterval(timer);
      events.off('job:done', onDone);
      events.off('job:retry', onRetry);
      events.off('job:dead', onDead);
      events.off('source:batch', onBatch);
      void tick(true);
    },
  };
}
