/**
 * Short leases renewed by a heartbeat (issue 11 item 12), with real `hms-sync run` processes on
 * one PostgreSQL store and a real HTTP receiver:
 * - a process SIGKILLed while its deliveries hang has its keys delivered by another process
 *   within the DEFAULT lease (10 s) plus the claim's check interval (docs/config.md);
 * - a delivery slower than the lease (lease 1 s, each request answered after 3.5 s) is never
 *   taken over by the other process while its heartbeat renews the lease: every key is sent once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import pg from 'pg';
import { RunChild } from '../helpers/cli.js';
import { needService, PG_URL, tempDir, uniqueName, waitFor } from '../helpers/services.js';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { openStore } from '../../src/store/open-store.js';
import { computeDelta } from '../../src/core/delta.js';
import type { Store } from '../../src/store/store.js';

const skip = await needService('postgres');
const closers: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const c of closers.reverse()) {
    try { await c(); } catch { /* best effort */ }
  }
});

/** The documented recovery time after a crash: delivery.lease (default 10 s) + up to 1 s for the next claim to look, + slack for a loaded machine. */
const DEFAULT_LEASE_MS = 10_000;
const SLACK_MS = 2500;

interface Got { key: string; at: number }

/** A receiver whose `answer` decides, per request, after how long it answers (null: never). */
async function receiver(answer: (key: string) => number | null) {
  const got: Got[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
      got.push({ key, at: Date.now() });
      const ms = answer(key);
      if (ms === null) return; // hangs until the client goes away
      setTimeout(() => { if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{}'); }, ms);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
  return { got, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function setup(delivery: string, url: string): Promise<{ config: string; store: Store; schema: string }> {
  const tmp = tempDir();
  closers.push(tmp.cleanup);
  const schema = uniqueName('lease');
  const storeUrl = `${PG_URL}?schema=${schema}`;
  const src = path.join(tmp.dir, 'src.db');
  const db = openDatabase(src);
  db.exec('CREATE TABLE items (id TEXT PRIMARY KEY, val TEXT)');
  db.close();
  const config = path.join(tmp.dir, 'hms-sync.yaml');
  writeFileSync(config, `store: "${storeUrl}"
stateDir: ${tmp.dir}/state
systems:
  legacy: { driver: sqlite, path: ${src} }
  web: { driver: http, url: "${url}", timeout: 60s }
pipelines:
  items:
    from: { system: legacy, collection: items, poll: 1s }
    to: { system: web, collection: items, path: "/items/{key}", body: state }
    key: id
    delivery: ${delivery}
`);
  const store = await openStore(storeUrl);
  await store.migrate();
  closers.push(async () => {
    await store.close();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });
  return { config, store, schema };
}

/** Jobs for keys K0..K(n-1), as a capture commit would queue them. */
async function enqueue(store: Store, n: number): Promise<string[]> {
  const now = Date.now();
  const keys = Array.from({ length: n }, (_, i) => `K${i}`);
  await store.enqueue(keys.map((key) => ({ pipeline: 'items', target: 'web', key, payload: computeDelta(key, null, { id: key, val: 'v1' }, now)!, runAt: now, maxAttempts: 10 })));
  return keys;
}

function child(config: string): RunChild {
  const c = new RunChild(config);
  closers.push(() => c.kill());
  return c;
}

test('after SIGKILL of a delivering process, another process delivers its in-flight keys within the default lease', { skip, timeout: 60_000 }, async () => {
  let killedAt = Infinity;
  // requests before the kill hang (the process is killed mid-delivery); after it they are answered
  const r = await receiver(() => (Date.now() < killedAt ? null : 0));
  const { config, store } = await setup('{ timeout: 30s }', r.url);
  const a = child(config);
  await waitFor(() => a.started, { timeoutMs: 20_000, what: `the first process to start (stderr: ${a.stderr})` });
  const keys = await enqueue(store, 5);
  await waitFor(() => keys.every((k) => r.got.some((g) => g.key === k)), { timeoutMs: 10_000, what: 'the first process to send every key' });
  const b = child(config);
  await waitFor(() => b.started, { timeoutMs: 20_000, what: `the second process to start (stderr: ${b.stderr})` });
  // the first process has renewed its leases meanwhile: its jobs are still running, not taken over
  assert.equal(r.got.length, keys.length, 'nothing was sent twice while the first process lived');
  killedAt = Date.now();
  await a.kill();
  await waitFor(async () => (await store.stats())[0]?.done === keys.length, { timeoutMs: DEFAULT_LEASE_MS + 15_000, what: `the second process to deliver the keys (stderr: ${b.stderr})` });
  const resent = r.got.filter((g) => g.at >= killedAt);
  assert.deepEqual(resent.map((g) => g.key).sort(), [...keys].sort(), 'each in-flight key was delivered again, once');
  const took = Math.max(...resent.map((g) => g.at)) - killedAt;
  assert.ok(took <= DEFAULT_LEASE_MS + SLACK_MS, `picked up ${took} ms after the kill (documented: at most delivery.lease = ${DEFAULT_LEASE_MS} ms + about 1 s)`);
  assert.ok(took >= DEFAULT_LEASE_MS - 4000, `not before the lease could expire (${took} ms): the dead process's leases were renewed up to the kill`);
  assert.equal(await b.terminate(), 0);
});

test('a delivery slower than the lease is not taken over by another process while its heartbeat renews the lease', { skip, timeout: 60_000 }, async () => {
  const ANSWER_MS = 3500;
  const r = await receiver(() => ANSWER_MS);
  const { config, store } = await setup('{ lease: 1s, timeout: 20s, batchSize: 2 }', r.url);
  const a = child(config);
  const b = child(config);
  await waitFor(() => a.started && b.started, { timeoutMs: 25_000, what: `both processes to start (stderr: ${a.stderr} / ${b.stderr})` });
  const keys = await enqueue(store, 6);
  await waitFor(async () => (await store.stats())[0]?.done === keys.length, { timeoutMs: 30_000, what: `every key to be delivered (stderr: ${a.stderr} / ${b.stderr})` });
  const perKey = new Map<string, number>();
  for (const g of r.got) perKey.set(g.key, (perKey.get(g.key) ?? 0) + 1);
  assert.deepEqual([...perKey].sort(), keys.map((k) => [k, 1]).sort(), `every key was sent exactly once (each answer took ${ANSWER_MS} ms, 3.5 x the lease)`);
  const jobs = await store.listJobs({});
  assert.deepEqual(jobs.map((j) => j.attempts), keys.map(() => 1), 'every job was claimed once');
  assert.equal(await a.terminate(), 0);
  assert.equal(await b.terminate(), 0);
});

test('a worker that stalled past its lease learns it at the next heartbeat: the delivery of the batch is aborted', async () => {
  const { LeaseHeartbeat } = await import('../../src/engine/delivery.js');
  const { silentLogger } = await import('../../src/core/log.js');
  const store = await openStore('sqlite::memory:');
  closers.push(() => store.close());
  await store.migrate();
  await enqueue(store, 1);
  const [job] = await store.claim({ workerId: 'stalled', limit: 1, leaseMs: 100 });
  assert.ok(job);
  await waitFor(() => Date.now() > job.leaseUntil! + 10);
  const [taken] = await store.claim({ workerId: 'other', limit: 1, leaseMs: 30_000 });
  assert.equal(taken?.id, job.id, 'the expired job was claimed by another worker');
  const hb = new LeaseHeartbeat({ store, logger: silentLogger(), workerId: 'stalled' }, [job.id], 300, new AbortController().signal);
  try {
    await waitFor(() => hb.signal.aborted, { timeoutMs: 3000, what: 'the heartbeat to notice the lost lease' });
    assert.match(String((hb.signal.reason as Error).message), /lost the lease of 1 of 1 claimed jobs/);
    assert.equal((await store.getJob(job.id))?.lockedBy, 'other', 'the other worker still holds it');
  } finally {
    await hb.stop();
  }
  // a heartbeat of jobs still held renews them and never aborts
  const ok = new LeaseHeartbeat({ store, logger: silentLogger(), workerId: 'other' }, [job.id], 300, new AbortController().signal);
  const before = (await store.getJob(job.id))!.leaseUntil!;
  await waitFor(async () => (await store.getJob(job.id))!.leaseUntil! !== before, { timeoutMs: 3000, what: 'a renewal' });
  assert.equal(ok.signal.aborted, false);
  await ok.stop();
});
