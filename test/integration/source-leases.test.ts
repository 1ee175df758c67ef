/**
 * The SourceStore role on both dialects: a lease is granted to one holder, refused to others with
 * who holds it, renewed by its holder only, free once expired (a standby takes it over) or when
 * replaced as dead, released on a clean stop; health is written by the holder only, and a
 * `failed` state survives the release (status shows it after `run` exited 4).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import pg from 'pg';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { needService, PG_URL, tempDir, uniqueName } from '../helpers/services.js';

const pgSkip = await needService('postgres');
const tmp = tempDir();
after(() => tmp.cleanup());

const a = { holder: 'host-a:100:aaaa', host: 'host-a', pid: 100 };
const b = { holder: 'host-b:200:bbbb', host: 'host-b', pid: 200 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function suite(store: Store): Promise<void> {
  const src = 'pipeline:orders';
  assert.deepEqual(await store.acquireSource({ source: src, pipeline: 'orders', holder: a, ttlMs: 400 }), { acquired: true });
  const refused = await store.acquireSource({ source: src, pipeline: 'orders', holder: b, ttlMs: 400 });
  assert.equal(refused.acquired, false);
  if (refused.acquired) return;
  assert.deepEqual({ holder: refused.heldBy.holder, host: refused.heldBy.host, pid: refused.heldBy.pid }, a, 'the refusal names the holder');
  assert.ok(refused.heldBy.heartbeatAt !== null && refused.heldBy.expiresAt !== null);

  // health: the holder writes it, another process cannot
  await store.setSourceState(src, a.holder, { state: 'retrying', since: 1000, error: 'boom', failAfterMs: 5000 });
  await store.setSourceState(src, b.holder, { state: 'running', since: 2000, error: null, failAfterMs: 5000 });
  let [row] = await store.listSources();
  assert.equal(row!.state, 'retrying');
  assert.equal(row!.error, 'boom');
  assert.equal(row!.since, 1000);
  assert.equal(row!.failAfterMs, 5000);
  assert.equal(row!.live, true);
  assert.deepEqual(row!.holder, a);

  // renewal keeps it alive past the first ttl; b's renewal renews nothing
  for (let i = 0; i < 4; i++) {
    await sleep(150);
    assert.deepEqual(await store.renewSources(a.holder, [src], 400), [src]);
  }
  assert.deepEqual(await store.renewSources(b.holder, [src], 400), []);
  assert.equal((await store.acquireSource({ source: src, pipeline: 'orders', holder: b, ttlMs: 400 })).acquired, false, 'still held after 600 ms of heartbeats');

  // a holder that stops heartbeating loses the lease once it expires: the standby takes it
  await sleep(550);
  [row] = await store.listSources();
  assert.equal(row!.live, false, 'expired');
  assert.deepEqual(await store.acquireSource({ source: src, pipeline: 'orders', holder: b, ttlMs: 10_000 }), { acquired: true });
  [row] = await store.listSources();
  assert.equal(row!.state, 'starting', 'a new lease starts over');
  assert.equal(row!.error, null);
  assert.deepEqual(await store.renewSources(a.holder, [src], 400), [], 'the old holder learns it lost the lease');

  // replace: a holder known to be dead is taken over before its lease expires
  assert.deepEqual(await store.acquireSource({ source: src, pipeline: 'orders', holder: a, ttlMs: 10_000, replace: b.holder }), { acquired: true });
  assert.equal((await store.acquireSource({ source: src, pipeline: 'orders', holder: b, ttlMs: 10_000, replace: 'someone-else' })).acquired, false);

  // release: stopped, free at once; a failed state is kept
  await store.releaseSources(a.holder, [src]);
  [row] = await store.listSources();
  assert.equal(row!.state, 'stopped');
  assert.equal(row!.holder, null);
  assert.equal(row!.live, false);
  assert.deepEqual(await store.acquireSource({ source: src, pipeline: 'orders', holder: b, ttlMs: 10_000 }), { acquired: true });
  await store.setSourceState(src, b.holder, { state: 'failed', since: 3000, error: 'no such table: ORDERS', failAfterMs: 5000 });
  await store.releaseSources(b.holder, [src]);
  [row] = await store.listSources();
  assert.equal(row!.state, 'failed', 'failed survives the release');
  assert.equal(row!.since, 3000);
  assert.match(row!.error!, /no such table/);

  await store.probeWrite('test');
}

describe('source leases', () => {
  test('SQLite', async () => {
    const store = await openStore(`sqlite:${path.join(tmp.dir, 'leases.db')}`);
    try {
      await suite(store);
    } finally {
      await store.close();
    }
  });

  test('PostgreSQL (server clock)', { skip: pgSkip }, async () => {
    const schema = uniqueName('hms_leases');
    const store = await openStore(`${PG_URL}?schema=${schema}`);
    try {
      await suite(store);
    } finally {
      await store.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    }
  });
});
