/**
 * Benchmark drivers for our own store (either dialect): a minimal worker loop (claim a batch,
 * no-op delivery, ack the batch), a bulk throughput run and a steady-rate latency run.
 */
import type { Delta } from '../src/core/types.js';
import type { EnqueueInput, Store } from '../src/store/store.js';

export interface ThroughputResult {
  jobs: number;
  keys: number;
  enqueuePerSec: number;
  processPerSec: number;
  totalPerSec: number;
  /** Per-key order held (null when the system does not promise it). */
  orderKept: boolean | null;
  /**
   * Jobs processed (claim + ack) per CPU-second used by this process: a figure the machine's load
   * does not distort. Meaningful for SQLite, where all the work is in this process.
   */
  processPerCpuSec?: number;
}

export interface LatencyResult {
  rate: number;
  seconds: number;
  delivered: number;
  p50: number;
  p99: number;
  max: number;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function payload(key: string, seq: number, ts: number): Delta {
  return { op: 'update', key, changed: { seq }, state: { seq }, base: null, fingerprint: String(seq), sourceTs: ts };
}

/** One worker loop: claims until `stop()` says so; sleeps on wake-ups (never more than `idleMs`). */
async function workerLoop(store: Store, id: string, batch: number, onJob: (key: string, seq: number) => void, shouldStop: () => boolean, idleMs: number): Promise<void> {
  let woken = false;
  let wakeUp: (() => void) | null = null;
  const off = store.onWake(() => {
    woken = true;
    wakeUp?.();
  });
  try {
    while (!shouldStop()) {
      woken = false;
      const jobs = await store.claim({ workerId: id, limit: batch, leaseMs: 60_000 });
      if (jobs.length) {
        for (const j of jobs) onJob(j.key, (j.payload.state as { seq: number }).seq); // no-op delivery
        await store.complete(jobs.map((j) => ({ id: j.id, version: j.version })));
        continue;
      }
      if (woken) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { wakeUp = null; resolve(); }, idleMs);
        wakeUp = () => { clearTimeout(t); wakeUp = null; resolve(); };
      });
    }
  } finally {
    off();
  }
}

/** Enqueue `jobs` jobs over `keys` keys (no coalescing: every job is delivered), then drain them with `workers` loops. */
export async function ourThroughput(store: Store, opts: { jobs: number; keys: number; workers: number; batch: number; enqueueBatch: number }): Promise<ThroughputResult> {
  const now = Date.now();
  const t0 = performance.now();
  for (let i = 0; i < opts.jobs; i += opts.enqueueBatch) {
    const chunk: EnqueueInput[] = [];
    for (let n = i; n < Math.min(opts.jobs, i + opts.enqueueBatch); n++) {
      const key = `k${n % opts.keys}`;
      chunk.push({ pipeline: 'bench', target: 'noop', key, payload: payload(key, Math.floor(n / opts.keys), now), runAt: now, maxAttempts: 20, coalesce: false });
    }
    await store.enqueue(chunk);
  }
  const t1 = performance.now();
  const cpu0 = process.cpuUsage();
  const last = new Map<string, number>();
  let delivered = 0;
  let violations = 0;
  const done = () => delivered >= opts.jobs;
  await Promise.all(Array.from({ length: opts.workers }, (_, w) => workerLoop(store, `bench-${w}`, opts.batch, (key, seq) => {
    if ((last.get(key) ?? -1) !== seq - 1) violations++;
    last.set(key, seq);
    delivered++;
  }, done, 50)));
  const t2 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  return {
    processPerCpuSec: round(opts.jobs / ((cpu.user + cpu.system) / 1e6), 0),
    jobs: opts.jobs,
    keys: opts.keys,
    enqueuePerSec: round(opts.jobs / ((t1 - t0) / 1000), 0),
    processPerSec: round(opts.jobs / ((t2 - t1) / 1000), 0),
    totalPerSec: round(opts.jobs / ((t2 - t0) / 1000), 0),
    orderKept: violations === 0,
  };
}

/**
 * Steady producer: `rate` jobs/s for `seconds`, one commit per producer tick (see steadyRate),
 * each job on its own key; latency = delivery time - time the job fell due and was handed to enqueue.
 */
export async function ourLatency(store: Store, opts: { rate: number; seconds: number; workers: number; batch: number }): Promise<LatencyResult> {
  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  const total = Math.round(opts.rate * opts.seconds);
  let producing = true;
  await store.wakeReady?.();
  const workers = Array.from({ length: opts.workers }, (_, w) => workerLoop(store, `lat-${w}`, opts.batch, (key) => {
    const t = sentAt.get(key);
    if (t !== undefined) lat.push(performance.now() - t);
  }, () => !producing && lat.length >= total, 1000));
  await steadyRate(opts.rate, total, async (ids) => {
    const now = performance.now();
    await store.enqueue(ids.map((i) => {
      const key = `L${i}`;
      sentAt.set(key, now);
      return { pipeline: 'bench', target: 'noop', key, payload: payload(key, 0, Date.now()), runAt: Date.now(), maxAttempts: 20 };
    }));
  });
  producing = false;
  await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 15_000))]);
  return latencyResult(lat, opts.rate, opts.seconds);
}

export function latencyResult(lat: number[], rate: number, seconds: number): LatencyResult {
  const s = [...lat].sort((a, b) => a - b);
  return { rate, seconds, delivered: s.length, p50: round(percentile(s, 50)), p99: round(percentile(s, 99)), max: round(s[s.length - 1] ?? NaN) };
}

/**
 * A steady producer: jobs 0..total-1 fall due at `rate` per second on a fixed schedule; every
 * ~1 ms tick hands the jobs due by then to `send` as one batch (as a source watcher commits what
 * it saw since its last commit), without waiting for earlier batches to finish.
 */
export async function steadyRate(rate: number, total: number, send: (ids: number[]) => Promise<unknown>): Promise<void> {
  const start = performance.now();
  const inflight = new Set<Promise<unknown>>();
  let i = 0;
  while (i < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    if (due > i) {
      const ids: number[] = [];
      for (; i < due; i++) ids.push(i);
      const p = send(ids).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
}
