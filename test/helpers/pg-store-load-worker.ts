/**
 * One process of the PostgreSQL store load test (test/integration/postgres-store-deadlock.test.ts):
 * it commits batches of jobs for a small set of keys (capture commits: coalescing into pending
 * jobs, locking each key's newest unfinished job, with shadow rows) and, at the same time,
 * claims, renews and acknowledges jobs (delivery), for `ms` milliseconds; then it drains the queue.
 * It prints one JSON line: what it delivered, how many deadlocks / serialization failures the
 * store retried, and any error a store call returned.
 *
 * Usage: node --import tsx pg-store-load-worker.ts <url> <schema> <name> <ms> <keys>
 */
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { EnqueueInput, ShadowRow } from '../../src/store/store.js';

const [url, schema, name, msArg, keysArg] = process.argv.slice(2) as [string, string, string, string, string];
const ms = Number(msArg);
const keys = Number(keysArg);
const store = new PostgresStore({ connectionString: url, schema, poolSize: 6 });
const delivered: Array<[string, number]> = [];
const errors: string[] = [];
let commits = 0;
const end = Date.now() + ms;

const key = () => `K${Math.floor(Math.random() * keys)}`;

async function committer(): Promise<void> {
  while (Date.now() < end) {
    const now = Date.now();
    const jobs: EnqueueInput[] = [];
    const shadow: ShadowRow[] = [];
    for (let i = 0; i < 20; i++) {
      const k = key();
      const doc = { id: k, by: name, n: commits * 100 + i };
      jobs.push({ pipeline: 'p', target: 't', key: k, payload: { op: 'update', key: k, changed: doc, state: doc, before: null, base: null, fingerprint: `${name}-${commits}-${i}`, sourceTs: now }, runAt: now, maxAttempts: 5 });
      if (i % 2 === 0) shadow.push({ scope: `poll:${name}`, key: k, fingerprint: `${commits}-${i}`, doc });
    }
    try {
      await store.commit({ jobs, shadow, position: { source: `src:${name}`, position: String(commits) } });
      commits++;
    } catch (err) {
      errors.push(`commit: ${(err as Error).message}`);
    }
  }
}

/** Claims, renews and acknowledges until `stop()`; returns how many claims in a row came back empty at the end. */
async function deliverer(worker: string, stop: (emptyInARow: number) => boolean): Promise<void> {
  let empty = 0;
  while (!stop(empty)) {
    try {
      const jobs = await store.claim({ workerId: worker, limit: 20, leaseMs: 30_000, pipelines: ['p'] });
      if (!jobs.length) {
        empty++;
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      empty = 0;
      for (const j of jobs) delivered.push([j.id, j.version]);
      // the heartbeat of a delivery in progress, then the ack (in claim order reversed: the store must not care)
      await store.extendLease(jobs.map((j) => j.id).reverse(), worker, 30_000);
      await store.complete(jobs.reverse().map((j) => ({ id: j.id, version: j.version, workerId: worker })));
    } catch (err) {
      errors.push(`deliver: ${(err as Error).message}`);
    }
  }
}

async function main(): Promise<void> {
  await store.migrate();
  await Promise.all([committer(), committer(), deliverer(`${name}-a`, () => Date.now() >= end), deliverer(`${name}-b`, () => Date.now() >= end)]);
  // drain what is left (the other processes drain too; the claim never hands one job to two)
  const drainUntil = Date.now() + 5000;
  await deliverer(`${name}-drain`, (empty) => empty >= 40 || Date.now() >= drainUntil);
  process.stdout.write(`${JSON.stringify({ name, delivered, commits, conflicts: store.conflicts, errors: errors.slice(0, 20) })}\n`);
  await store.close();
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ name, fatal: String((err as Error)?.stack ?? err) })}\n`);
  process.exit(1);
});
