/**
 * The same two measurements with graphile-worker 0.17 and pg-boss 10, each in its own schema
 * of the same database, with their documented bulk-insert and worker APIs and default tuning.
 */
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import PgBoss from 'pg-boss';
import { latencyResult, round, steadyRate, type LatencyResult, type ThroughputResult } from './queue-bench-ours.js';

const silent = new Logger(() => () => undefined);

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`peer did not finish within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * graphile-worker: addJobs in chunks, then a runner with `concurrency` until every job ran.
 * With `perKey`, each key is a graphile queue (queue_name): jobs of one queue run one at a time, in order.
 */
export async function graphileThroughput(url: string, schema: string, opts: { jobs: number; keys: number; concurrency: number; perKey: boolean }): Promise<ThroughputResult> {
  const utils = await makeWorkerUtils({ connectionString: url, schema, logger: silent });
  try {
    await utils.migrate();
    const t0 = performance.now();
    for (let i = 0; i < opts.jobs; i += 1000) {
      const specs = [];
      for (let n = i; n < Math.min(opts.jobs, i + 1000); n++) {
        const key = `k${n % opts.keys}`;
        specs.push({ identifier: 'noop', payload: { key, seq: Math.floor(n / opts.keys) }, ...(opts.perKey ? { queueName: key } : {}) });
      }
      await utils.addJobs(specs);
    }
    const t1 = performance.now();
    let delivered = 0;
    let violations = 0;
    const last = new Map<string, number>();
    const runner = await run({
      connectionString: url, schema, concurrency: opts.concurrency, noHandleSignals: true, logger: silent, pollInterval: 1000,
      taskList: {
        noop: async (p) => {
          const { key, seq } = p as { key: string; seq: number };
          if ((last.get(key) ?? -1) !== seq - 1) violations++;
          last.set(key, seq);
          delivered++;
        },
      },
    });
    await waitUntil(() => delivered >= opts.jobs, 300_000);
    const t2 = performance.now();
    await runner.stop();
    return { jobs: opts.jobs, keys: opts.keys, enqueuePerSec: round(opts.jobs / ((t1 - t0) / 1000), 0), processPerSec: round(opts.jobs / ((t2 - t1) / 1000), 0), totalPerSec: round(opts.jobs / ((t2 - t0) / 1000), 0), orderKept: opts.perKey ? violations === 0 : null };
  } finally {
    await utils.release();
  }
}

/** graphile-worker at a steady rate: addJob / addJobs per producer tick (it wakes its workers with LISTEN/NOTIFY). */
export async function graphileLatency(url: string, schema: string, opts: { rate: number; seconds: number; concurrency: number }): Promise<LatencyResult> {
  const utils = await makeWorkerUtils({ connectionString: url, schema, logger: silent });
  const lat: number[] = [];
  const total = Math.round(opts.rate * opts.seconds);
  const runner = await run({
    connectionString: url, schema, concurrency: opts.concurrency, noHandleSignals: true, logger: silent,
    taskList: { noop: async (p) => { lat.push(performance.now() - (p as { t: number }).t); } },
  });
  try {
    await steadyRate(opts.rate, total, (ids) => {
      const t = performance.now();
      return ids.length === 1 ? utils.addJob('noop', { t, i: ids[0] }) : utils.addJobs(ids.map((i) => ({ identifier: 'noop', payload: { t, i } })));
    });
    await waitUntil(() => lat.length >= total, 30_000).catch(() => undefined);
    return latencyResult(lat, opts.rate, opts.seconds);
  } finally {
    await runner.stop();
    await utils.release();
  }
}

async function startBoss(url: string, schema: string): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: url, schema, supervise: false, schedule: false, max: 10 });
  boss.on('error', () => undefined);
  await boss.start();
  await boss.createQueue('noop');
  return boss;
}

/** pg-boss: insert() in chunks, then `workers` work() loops fetching `batch` jobs each (its fastest documented mode). */
export async function pgBossThroughput(url: string, schema: string, opts: { jobs: number; keys: number; workers: number; batch: number }): Promise<ThroughputResult> {
  const boss = await startBoss(url, schema);
  try {
    const t0 = performance.now();
    for (let i = 0; i < opts.jobs; i += 1000) {
      const rows = [];
      for (let n = i; n < Math.min(opts.jobs, i + 1000); n++) rows.push({ name: 'noop', data: { key: `k${n % opts.keys}`, seq: Math.floor(n / opts.keys) } });
      await boss.insert(rows);
    }
    const t1 = performance.now();
    let delivered = 0;
    for (let w = 0; w < opts.workers; w++) {
      await boss.work('noop', { batchSize: opts.batch, pollingIntervalSeconds: 0.5 }, async (jobs) => { delivered += jobs.length; });
    }
    await waitUntil(() => delivered >= opts.jobs, 300_000);
    const t2 = performance.now();
    return { jobs: opts.jobs, keys: opts.keys, enqueuePerSec: round(opts.jobs / ((t1 - t0) / 1000), 0), processPerSec: round(opts.jobs / ((t2 - t1) / 1000), 0), totalPerSec: round(opts.jobs / ((t2 - t0) / 1000), 0), orderKept: null };
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 2000 });
  }
}

/** pg-boss at a steady rate: send / insert per producer tick; workers poll (its minimum interval is 0.5 s; no LISTEN/NOTIFY). */
export async function pgBossLatency(url: string, schema: string, opts: { rate: number; seconds: number; workers: number; batch: number }): Promise<LatencyResult> {
  const boss = await startBoss(url, schema);
  const lat: number[] = [];
  const total = Math.round(opts.rate * opts.seconds);
  try {
    for (let w = 0; w < opts.workers; w++) {
      await boss.work('noop', { batchSize: opts.batch, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        const now = performance.now();
        for (const j of jobs) lat.push(now - (j.data as { t: number }).t);
      });
    }
    await steadyRate(opts.rate, total, (ids) => {
      const t = performance.now();
      return ids.length === 1 ? boss.send('noop', { t, i: ids[0] }) : boss.insert(ids.map((i) => ({ name: 'noop', data: { t, i } })));
    });
    await waitUntil(() => lat.length >= total, 30_000).catch(() => undefined);
    return latencyResult(lat, opts.rate, opts.seconds);
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 2000 });
  }
}
