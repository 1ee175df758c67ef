/**
 * One suite over both store dialects. Select with HMS_TEST_STORES=sqlite,postgres (default both).
 * SQLite runs on a temp file per test; PostgreSQL in a fresh schema per test (dropped after).
 */
import { before, describe, test } from 'node:test';
import { fingerprint } from '../../src/core/delta.js';
import { STALE_FINGERPRINT } from '../../src/store/store.js';
import { latestVersion } from '../../src/store/migrations/migration.js';
import { SQLITE_MIGRATIONS } from '../../src/store/migrations/sqlite-migrations.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/migrations/postgres-migrations.js';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { ConfigError, NotFoundError, RefusedError, ValidationError } from '../../src/core/errors.js';
import { computeDelta } from '../../src/core/delta.js';
import type { Delta, Job } from '../../src/core/types.js';
import { openStore, parseStoreUrl } from '../../src/store/open-store.js';
import { SqliteBulkWriter } from '../../src/store/sqlite/sqlite-bulk-writer.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { EnqueueInput, Store } from '../../src/store/store.js';
import { needService, PG_URL, tempDir, uniqueName, waitFor } from '../helpers/services.js';

const DIALECTS = (process.env.HMS_TEST_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim()).filter(Boolean) as Array<'sqlite' | 'postgres'>;

function delta(key: string, state: Record<string, unknown> | null, prev: Record<string, unknown> | null = null, ts = Date.now()): Delta {
  const d = computeDelta(key, prev, state, ts);
  assert.ok(d, 'test delta must not be empty');
  return d;
}

function job(key: string, state: Record<string, unknown> | null, extra: Partial<EnqueueInput> = {}): EnqueueInput {
  return { pipeline: 'p1', target: 't1', key, payload: delta(key, state), runAt: Date.now() - 1, maxAttempts: 5, ...extra };
}

/** Opens stores of one dialect in isolation and cleans up after the test. */
class Harness {
  private readonly stores: Store[] = [];
  private readonly cleanups: Array<() => Promise<void> | void> = [];
  url = '';

  constructor(readonly dialect: 'sqlite' | 'postgres') {}

  /** A fresh, empty location (file or schema) for this test. */
  fresh(): string {
    if (this.dialect === 'sqlite') {
      const t = tempDir('hms-store-');
      this.cleanups.push(t.cleanup);
      this.url = `sqlite:${path.join(t.dir, 'nested', 'state.db')}`;
    } else {
      const schema = uniqueName('hms_store_t');
      this.url = `${PG_URL}?schema=${schema}`;
      this.cleanups.unshift(async () => {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      });
    }
    return this.url;
  }

  async open(opts: { migrate?: boolean } = {}): Promise<Store> {
    const s = await openStore(this.url, opts);
    this.stores.push(s);
    return s;
  }

  async dispose(): Promise<void> {
    for (const s of this.stores.splice(0)) await s.close();
    for (const c of this.cleanups.splice(0)) await c();
  }
}

async function withStore(dialect: 'sqlite' | 'postgres', fn: (store: Store, h: Harness) => Promise<void>): Promise<void> {
  const h = new Harness(dialect);
  h.fresh();
  try {
    await fn(await h.open(), h);
  } finally {
    await h.dispose();
  }
}

async function claimAll(store: Store, workerId = 'w1', limit = 100, leaseMs = 30_000): Promise<Job[]> {
  return store.claim({ workerId, limit, leaseMs });
}

for (const dialect of DIALECTS) {
  describe(`store: ${dialect}`, () => {
    let skip: string | false = false;
    before(async () => {
      if (dialect === 'postgres') skip = await needService('postgres');
    });
    const t = (name: string, fn: (store: Store, h: Harness) => Promise<void>) =>
      test(name, async (ctx) => {
        if (skip) return ctx.skip(skip);
        await withStore(dialect, fn);
      });

    t('migrations record a schema version, are idempotent and safe from several stores at once', async (_store, h) => {
      h.fresh();
      const many = await Promise.all([1, 2, 3, 4].map(() => h.open({ migrate: false })));
      await Promise.all(many.map((s) => s.migrate()));
      const latest = latestVersion(dialect === 'sqlite' ? SQLITE_MIGRATIONS : POSTGRES_MIGRATIONS);
      assert.ok(latest >= 2);
      for (const s of many) assert.equal(await s.schemaVersion(), latest);
      await many[0]!.migrate();
      assert.equal(await many[0]!.schemaVersion(), latest);
      assert.equal((await many[1]!.enqueue([job('a', { v: 1 })])).inserted, 1);
      if (dialect === 'sqlite') assert.ok(existsSync(h.url.slice('sqlite:'.length)), 'the folder of the database file is created');
    });

    t('echo intents: recorded in order, read per reader and key, consumed in a commit, landed, expired', async (store) => {
      const now = Date.now();
      const ids = await store.recordIntents([
        { reader: 'back', key: '1', writer: 'fwd', fields: { STATUS: 'A', FEE: 12 }, state: { ID: '1', STATUS: 'A', FEE: 12 }, at: now },
        { reader: 'back', key: '1', writer: 'fwd2', fields: null, state: null, at: now },
        { reader: 'other', key: '1', writer: 'fwd', fields: { STATUS: 'A' }, state: null, at: now },
        { reader: 'back', key: '2', writer: 'fwd', fields: { STATUS: 'old' }, state: null, at: now - 60_000 },
      ]);
      assert.equal(ids.length, 4);
      assert.ok(ids.every((id, i) => i === 0 || BigInt(id) > BigInt(ids[i - 1]!)), 'ids ascend in insertion order');
      const got = await store.getIntents('back', ['1', '2', 'nope'], now - 1000);
      assert.deepEqual([...got.keys()], ['1'], 'another reader\'s intents and expired ones are not returned');
      assert.deepEqual(got.get('1')!.map((i) => [i.id, i.writer, i.fields, i.landedAt]), [[ids[0], 'fwd', { STATUS: 'A', FEE: 12 }, null], [ids[1], 'fwd2', null, null]]);
      assert.deepEqual(got.get('1')![0]!.state, { ID: '1', STATUS: 'A', FEE: 12 });
      await store.landIntents([ids[0]!], now + 5);
      await store.commit({ jobs: [job('x', { v: 1 })], intents: [{ id: ids[0]!, fields: { FEE: 12 } }, { id: ids[1]!, delete: true }] });
      const after = (await store.getIntents('back', ['1'], 0)).get('1')!;
      assert.deepEqual(after.map((i) => [i.id, i.fields, i.landedAt]), [[ids[0], { FEE: 12 }, now + 5]]);
      assert.equal((await store.getIntents('other', ['1'], 0)).get('1')!.length, 1, 'each reader keeps its own');
      // patchShadow merges into the row as it is now; a doc-less row is marked stale; a missing row stays missing
      await store.commit({ jobs: [], shadow: [{ scope: 'pipeline:back', key: '1', fingerprint: 'f', doc: { ID: '1', STATUS: 'P', OWNER: 'ann' } }, { scope: 'pipeline:back', key: '2', fingerprint: 'g', doc: null }] });
      await store.patchShadow([{ scope: 'pipeline:back', key: '1', fields: { STATUS: 'A' } }, { scope: 'pipeline:back', key: '2', fields: { STATUS: 'A' } }, { scope: 'pipeline:back', key: '3', fields: { STATUS: 'A' } }]);
      const sh = await store.getShadow('pipeline:back', ['1', '2', '3']);
      assert.deepEqual(sh.get('1')!.doc, { ID: '1', STATUS: 'A', OWNER: 'ann' });
      assert.equal(sh.get('1')!.fingerprint, fingerprint({ ID: '1', STATUS: 'A', OWNER: 'ann' }));
      assert.equal(sh.get('2')!.fingerprint, STALE_FINGERPRINT);
      assert.equal(sh.has('3'), false);
      await store.recordIntents([], now - 30_000);
      assert.equal((await store.getIntents('back', ['2'], 0)).size, 0, 'intents older than expireBefore are deleted');
    });

    t('commit writes jobs, shadow rows and the source position in one transaction', async (store) => {
      const r = await store.commit({
        jobs: [job('a', { v: 1 }), job('b', { v: 1 })],
        shadow: [{ scope: 'poll:legacy:brg', key: 'a', fingerprint: 'fa', doc: { v: 1 } }, { scope: 'poll:legacy:brg', key: 'b', fingerprint: 'fb', doc: null }],
        position: { source: 'poll:legacy:brg', position: '42' },
      });
      assert.deepEqual(r, { inserted: 2, merged: 0 });
      assert.equal(await store.getPosition('poll:legacy:brg'), '42');
      assert.equal(await store.getPosition('nope'), null);
      const sh = await store.getShadow('poll:legacy:brg', ['a', 'b', 'c']);
      assert.deepEqual([...sh.keys()].sort(), ['a', 'b']);
      assert.deepEqual(sh.get('a')!.doc, { v: 1 });
      assert.equal(sh.get('b')!.doc, null);
      assert.equal(sh.get('b')!.fingerprint, 'fb');

      // A failure in the middle of a commit (an unserialisable shadow doc) rolls back everything.
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      await assert.rejects(store.commit({
        jobs: [job('c', { v: 1 })],
        shadow: [{ scope: 'poll:legacy:brg', key: 'a', fingerprint: 'fa2', doc: { v: 2 } }, { scope: 'poll:legacy:brg', key: 'x', fingerprint: 'x', doc: circular }],
        position: { source: 'poll:legacy:brg', position: '43' },
      }));
      assert.equal(await store.getPosition('poll:legacy:brg'), '42');
      assert.equal((await store.getShadow('poll:legacy:brg', ['a'])).get('a')!.fingerprint, 'fa');
      assert.equal((await store.listJobs({})).length, 2);

      await store.commit({ jobs: [], shadow: [{ scope: 'poll:legacy:brg', key: 'a', delete: true }], position: { source: 'poll:legacy:brg', position: '44' } });
      assert.equal((await store.getShadow('poll:legacy:brg', ['a'])).size, 0);
      assert.equal(await store.getPosition('poll:legacy:brg'), '44');
    });

    t('bad job input is refused with the field named', async (store) => {
      await assert.rejects(store.enqueue([job('a', { v: 1 }), { ...job('b', { v: 1 }), key: '' }]), (e: unknown) => e instanceof ValidationError && /job input #2: "key"/.test(e.message));
      await assert.rejects(store.enqueue([{ ...job('a', { v: 1 }), maxAttempts: 0 }]), /maxAttempts/);
      assert.equal((await store.listJobs({})).length, 0);
    });

    t('coalescing merges into a pending job: newest state once, version + 1, trailing debounce with a cap', async (store) => {
      const now = Date.now();
      const first = delta('k', { status: 'P', n: 1 });
      await store.enqueue([{ pipeline: 'p1', target: 't1', key: 'k', payload: first, runAt: now + 1000, maxRunAt: now + 3000, maxAttempts: 5 }]);
      const second = delta('k', { status: 'A', n: 1 }, { status: 'P', n: 1 });
      const r = await store.enqueue([{ pipeline: 'p1', target: 't1', key: 'k', payload: second, runAt: now + 2000, maxRunAt: now + 9000, maxAttempts: 5 }]);
      assert.deepEqual(r, { inserted: 0, merged: 1 });
      let [j] = await store.listJobs({});
      assert.equal(j!.version, 2);
      assert.equal(j!.attempts, 0);
      assert.equal(j!.runAt, now + 2000, 'trailing debounce: the later runAt wins');
      assert.equal(j!.payload.op, 'insert');
      assert.deepEqual(j!.payload.state, { status: 'A', n: 1 });
      // A third delta would push past the cap fixed when the job was created (now + 3000).
      await store.enqueue([{ pipeline: 'p1', target: 't1', key: 'k', payload: delta('k', { status: 'B', n: 1 }, { status: 'A', n: 1 }), runAt: now + 5000, maxAttempts: 5 }]);
      [j] = await store.listJobs({});
      assert.equal(j!.runAt, now + 3000, 'capped by maxRunAt');
      assert.equal(j!.version, 3);
      assert.equal((await store.listJobs({})).length, 1);

      // Several deltas for one key in one commit also merge.
      const r2 = await store.enqueue([job('m', { v: 1 }), job('m', { v: 2 }), job('m', { v: 3 })]);
      assert.deepEqual(r2, { inserted: 1, merged: 2 });
      const m = (await store.listJobs({})).find((x) => x.key === 'm')!;
      assert.deepEqual(m.payload.state, { v: 3 });
      assert.equal(m.version, 1, 'a job merged before it was ever written starts at version 1');

      // ... and into an existing pending job: every delta of the commit lands, version + 1 once.
      const r3 = await store.enqueue([job('m', { v: 4, w: 1 }), job('m', { v: 5 })]);
      assert.deepEqual(r3, { inserted: 0, merged: 2 });
      const m2 = (await store.listJobs({})).find((x) => x.key === 'm')!;
      assert.deepEqual(m2.payload.state, { v: 5 });
      assert.equal(m2.version, 2);

      // coalesce: false always inserts.
      assert.deepEqual(await store.enqueue([job('m', { v: 4 }, { coalesce: false })]), { inserted: 1, merged: 0 });
    });

    /**
     * A large commit (a backfill chunk) against tails of every kind. `fresh` new keys around the
     * interesting ones; with `pendingInBatch` the batch also touches keys that have a pending job.
     * On SQLite, 1,000 jobs and more go to the bulk writer thread, which hands a commit with a
     * pending key back to the store's own connection.
     */
    const largeCommit = async (store: Store, fresh: number, pendingInBatch: boolean) => {
      await store.enqueue([job('pend', { v: 1 }), job('7', { v: 1 }), job('q"uote', { v: 1 }), job('run', { v: 1 }), job('dead', { v: 1 }), job('done', { v: 1 })]);
      await store.enqueue([{ ...job('pend', { v: 1 }), pipeline: 'p2' }]);
      const claimed = await claimAll(store);
      const byKey = new Map(claimed.map((c) => [`${c.pipeline}/${c.key}`, c]));
      await store.fail([{ id: byKey.get('p1/dead')!.id, version: byKey.get('p1/dead')!.version, error: 'boom', retryAt: null }]);
      await store.complete([{ id: byKey.get('p1/done')!.id, version: byKey.get('p1/done')!.version }]);
      // Everything but 'run' back to pending so those tails are pending again.
      for (const k of ['p1/pend', 'p1/7', 'p1/q"uote', 'p2/pend']) await store.fail([{ id: byKey.get(k)!.id, version: byKey.get(k)!.version, error: 'retry', retryAt: Date.now() - 1 }]);
      const before = await store.listJobs({ limit: 10_000 });
      const maxIdBefore = Math.max(...before.map((x) => Number(x.id)));
      const bulkBefore = store instanceof SqliteStore ? { ...store.bulkStats } : null;

      // (one key and state with quotes, a backslash and characters beyond ASCII: batches travel as JSON)
      const freshJobs = Array.from({ length: fresh }, (_, i) => (i === 7 ? job('f7 \\ "é🙂"', { i, s: 'a"b\\c\u0001é🙂' }) : job(`f${i}`, { i })));
      const pending: EnqueueInput[] = pendingInBatch
        ? [
            job('pend', { v: 2 }), // merges into the pending tail
            job('7', { v: 2 }), // merges
            job('q"uote', { v: 2 }), // merges
            { ...job('pend', { v: 9 }), target: 't2' }, // another target never merges: new
            { ...job('pend', { v: 3 }), pipeline: 'p2' }, // the other pipeline's pending tail
          ]
        : [];
      const batch: EnqueueInput[] = [
        ...freshJobs.slice(0, 50),
        ...pending.slice(0, 1),
        job('007', { v: 2 }), // a key nobody has ('7' has a pending job): new
        ...pending.slice(1),
        job('run', { v: 2 }), // queued behind the running job
        job('run', { v: 3 }), // ... and merges into that new job
        job('dead', { v: 2 }), // dead tails do not count: new
        job('done', { v: 2 }), // nor done ones: new
        job('nc', { v: 1 }, { coalesce: false }),
        job('nc', { v: 2 }, { coalesce: false }),
        ...freshJobs.slice(50),
        job('f3', { i: 'again' }), // merges into the job inserted earlier in this commit
      ];
      const r = await store.commit({ jobs: batch, position: { source: 'backfill:p1', position: 'c1' } });
      // inserted: fresh + 007 + run + dead + done + 2 x nc (+ pend@t2); merged: run#2, f3 (+ pend, 7, q"uote, p2/pend)
      assert.deepEqual(r, pendingInBatch ? { inserted: fresh + 7, merged: 6 } : { inserted: fresh + 6, merged: 2 });
      assert.equal(await store.getPosition('backfill:p1'), 'c1');
      if (store instanceof SqliteStore && bulkBefore) {
        const big = batch.length >= 1000;
        assert.deepEqual(store.bulkStats, { committed: bulkBefore.committed + (big && !pendingInBatch ? 1 : 0), handedBack: bulkBefore.handedBack + (big && pendingInBatch ? 1 : 0) });
      }

      const after = await store.listJobs({ limit: 10_000 });
      const unfinished = (pipeline: string, key: string) => after.filter((x) => x.pipeline === pipeline && x.key === key && (x.state === 'pending' || x.state === 'running'));
      for (const [k, v] of [['pend', 2], ['7', 2], ['q"uote', 2]] as const) {
        const [only, ...rest] = unfinished('p1', k).filter((x) => x.target === 't1');
        assert.equal(rest.length, 0, `${k}: one unfinished job`);
        assert.ok(Number(only!.id) <= maxIdBefore, `${k}: the existing job`);
        assert.deepEqual(only!.payload.state, { v: pendingInBatch ? v : 1 }, k);
        assert.equal(only!.version, byKey.get(`p1/${k}`)!.version + (pendingInBatch ? 1 : 0), `${k}: version + 1 for the merge`);
      }
      assert.deepEqual(unfinished('p2', 'pend').map((x) => x.payload.state), [{ v: pendingInBatch ? 3 : 1 }]);
      const run = unfinished('p1', 'run');
      assert.deepEqual(run.map((x) => [x.state, x.payload.state]), [['running', { v: 1 }], ['pending', { v: 3 }]]);
      assert.equal(unfinished('p1', '007').length, 1);
      assert.deepEqual(unfinished('p1', 'dead').map((x) => x.payload.state), [{ v: 2 }]);
      assert.deepEqual(unfinished('p1', 'done').map((x) => x.payload.state), [{ v: 2 }]);
      assert.deepEqual(unfinished('p1', 'pend').filter((x) => x.target === 't2').map((x) => x.payload.state), pendingInBatch ? [{ v: 9 }] : []);
      assert.deepEqual(unfinished('p1', 'nc').map((x) => x.payload.state), [{ v: 1 }, { v: 2 }]);
      assert.deepEqual(unfinished('p1', 'f3').map((x) => x.payload.state), [{ i: 'again' }]);
      assert.deepEqual(unfinished('p1', 'f7 \\ "é🙂"').map((x) => x.payload.state), [{ i: 7, s: 'a"b\\c\u0001é🙂' }]);
      // New jobs got ids in input order.
      const newIds = after.filter((x) => Number(x.id) > maxIdBefore).sort((a, b) => Number(a.id) - Number(b.id)).map((x) => `${x.pipeline}/${x.key}/${x.target}`);
      assert.deepEqual(newIds, [
        ...freshJobs.slice(0, 50).map((f) => `p1/${f.key}/t1`),
        'p1/007/t1', ...(pendingInBatch ? ['p1/pend/t2'] : []), 'p1/run/t1', 'p1/dead/t1', 'p1/done/t1', 'p1/nc/t1', 'p1/nc/t1',
        ...freshJobs.slice(50).map((f) => `p1/${f.key}/t1`),
      ]);
      // ... and are claimed in that order, behind the running job of their key.
      const heads = await store.claim({ workerId: 'w9', limit: 10_000, leaseMs: 30_000 });
      assert.ok(!heads.some((x) => x.key === 'run'), 'the queued job of a running key waits');
      assert.ok(heads.some((x) => x.key === 'f3'));
    };

    t('a large commit (a backfill chunk) coalesces exactly as small ones do: pending tails merge, running/dead/done ones do not', async (store) => {
      await largeCommit(store, 150, true);
    });

    t('a commit of thousands of jobs whose keys have a pending job merges into them (SQLite: handed back by the bulk writer)', async (store) => {
      await largeCommit(store, 1500, true);
    });

    t('a commit of thousands of jobs without pending keys (SQLite: on the bulk writer thread): order, in-commit merges, running tails', async (store) => {
      await largeCommit(store, 1500, false);
    });

    if (dialect === 'sqlite') t('a bulk writer thread that cannot open the database hands its commits back (nothing written there)', async (_store, h) => {
      const w = new SqliteBulkWriter({ file: path.join(h.url.slice('sqlite:'.length), 'not-a-dir', 'x.db'), synchronous: 'NORMAL', busyTimeoutMs: 100 });
      assert.equal(w.usable, true);
      assert.deepEqual(await w.commit({ rows: [], probes: [], position: ['s', '1', Date.now()] }), { blocked: true });
      assert.equal(w.usable, false, 'later commits go to the store connection at once');
      assert.deepEqual(await w.commit({ rows: [], probes: [], position: null }), { blocked: true });
      await w.close();
    });

    // SQLite commits (one connection) run in call order; a bulk commit on the worker thread must
    // keep that. (PostgreSQL commits of one store run concurrently on a pool; callers await them.)
    if (dialect === 'sqlite') t('commits stay in call order while a large commit is on the bulk writer thread', async (store) => {
      const big = Array.from({ length: 2000 }, (_, i) => job(`b${i}`, { i }));
      const p1 = store.commit({ jobs: big, position: { source: 's', position: '1' } });
      const p2 = store.commit({ jobs: [job('b7', { i: 'later' }), job('after', { v: 1 })], position: { source: 's', position: '2' } });
      const p3 = store.enqueue([job('b8', { i: 'later' })]);
      assert.deepEqual(await p1, { inserted: 2000, merged: 0 });
      assert.deepEqual(await p2, { inserted: 1, merged: 1 }, 'the second commit merged into a job of the first');
      assert.deepEqual(await p3, { inserted: 0, merged: 1 });
      assert.equal(await store.getPosition('s'), '2');
      const jobs = await store.listJobs({ limit: 10_000 });
      assert.equal(jobs.length, 2001);
      assert.deepEqual(jobs.find((x) => x.key === 'b7')!.payload.state, { i: 'later' });
      assert.deepEqual(jobs.find((x) => x.key === 'b8')!.payload.state, { i: 'later' });
      assert.equal(jobs[jobs.length - 1]!.key, 'after');
    });

    // Two writes waiting for one bulk commit: when it ends, the first of them may start another
    // bulk commit; the second must wait for that one too (it used to run at once, ahead of it).
    if (dialect === 'sqlite') t('a write queued behind two bulk commits runs after both of them', async (store) => {
      const big1 = Array.from({ length: 1500 }, (_, i) => job(`a${i}`, { i }));
      const big2 = [...Array.from({ length: 1500 }, (_, i) => job(`c${i}`, { i })), job('x', { v: 2 })];
      const p1 = store.commit({ jobs: big1, position: { source: 's', position: '1' } });
      const p2 = store.commit({ jobs: big2, position: { source: 's', position: '2' } });
      const p3 = store.commit({ jobs: [job('x', { v: 3 })], position: { source: 's', position: '3' } });
      await Promise.all([p1, p2]);
      assert.deepEqual(await p3, { inserted: 0, merged: 1 }, 'the third commit merged into the job of the second');
      assert.equal(await store.getPosition('s'), '3', 'the position never moves backwards');
      const xs = (await store.listJobs({ limit: 10_000 })).filter((x) => x.key === 'x');
      assert.deepEqual(xs.map((x) => x.payload.state), [{ v: 3 }]);
    });

    t('a delta for a key whose job is running queues a new job behind it', async (store) => {
      await store.enqueue([job('k', { v: 1 })]);
      const [c] = await claimAll(store);
      assert.equal(c!.key, 'k');
      assert.deepEqual(await store.enqueue([job('k', { v: 2 })]), { inserted: 1, merged: 0 });
      assert.deepEqual(await store.enqueue([job('k', { v: 3 })]), { inserted: 0, merged: 1 }, 'merges into the queued one, not the running one');
      assert.deepEqual(await claimAll(store, 'w2'), [], 'the second job waits for the running one');
      await store.complete([{ id: c!.id, version: c!.version }]);
      const [next] = await claimAll(store, 'w2');
      assert.deepEqual(next!.payload.state, { v: 3 });
      assert.equal(next!.version, 2);
      assert.ok(Number(next!.id) > Number(c!.id));
    });

    t('claim keeps per-key FIFO and sets running, lease, worker and attempts', async (store) => {
      await store.enqueue([job('a', { n: 1 }, { coalesce: false }), job('a', { n: 2 }, { coalesce: false }), job('a', { n: 3 }, { coalesce: false }), job('b', { n: 1 }, { coalesce: false })]);
      const before = Date.now();
      const got = await claimAll(store, 'w1', 10, 5000);
      assert.deepEqual(got.map((j) => [j.key, j.payload.state]), [['a', { n: 1 }], ['b', { n: 1 }]]);
      for (const j of got) {
        assert.equal(j.state, 'running');
        assert.equal(j.lockedBy, 'w1');
        assert.equal(j.attempts, 1);
        assert.ok(j.leaseUntil! >= before + 5000 && j.leaseUntil! <= Date.now() + 5000);
      }
      await store.complete(got.map((j) => ({ id: j.id, version: j.version })));
      const seen: unknown[] = [];
      for (let i = 0; i < 2; i++) {
        const js = await claimAll(store);
        assert.equal(js.length, 1);
        seen.push(js[0]!.payload.state);
        await store.complete([{ id: js[0]!.id, version: js[0]!.version }]);
      }
      assert.deepEqual(seen, [{ n: 2 }, { n: 3 }]);
      assert.deepEqual(await claimAll(store), []);
      const done = await store.listJobs({ state: 'done' });
      assert.equal(done.length, 4, 'done jobs are kept until prune');
    });

    t('claim honours limit, runAt and the pipelines filter', async (store) => {
      const future = Date.now() + 60_000;
      await store.enqueue([job('a', { v: 1 }), job('b', { v: 1 }), job('c', { v: 1 }), job('d', { v: 1 }, { runAt: future }), job('e', { v: 1 }, { pipeline: 'p2' })]);
      assert.equal((await store.claim({ workerId: 'w', limit: 2, leaseMs: 1000 })).length, 2);
      assert.deepEqual((await store.claim({ workerId: 'w', limit: 10, leaseMs: 1000, pipelines: ['p2'] })).map((j) => j.key), ['e']);
      assert.deepEqual((await store.claim({ workerId: 'w', limit: 10, leaseMs: 1000 })).map((j) => j.key), ['c']);
      assert.equal(await store.nextRunAt(['p1']) !== null, true);
      assert.deepEqual(await store.claim({ workerId: 'w', limit: 0, leaseMs: 1000 }), []);
    });

    t('a retrying job blocks only its own key and keeps its backoff when a delta merges in', async (store) => {
      await store.enqueue([job('a', { n: 1 }, { coalesce: false }), job('a', { n: 2 }, { coalesce: false }), job('b', { n: 1 })]);
      const first = await claimAll(store);
      const a1 = first.find((j) => j.key === 'a')!;
      const b1 = first.find((j) => j.key === 'b')!;
      const retryAt = Date.now() + 60_000;
      await store.fail([{ id: a1.id, version: a1.version, error: 'HTTP 503 from dashboard', retryAt }]);
      await store.complete([{ id: b1.id, version: b1.version }]);
      await store.enqueue([job('b', { n: 2 }), job('c', { n: 1 })]);
      const next = await claimAll(store);
      assert.deepEqual(next.map((j) => j.key).sort(), ['b', 'c'], 'key a waits for its retry; other keys flow');
      const a1r = (await store.getJob(a1.id))!;
      assert.equal(a1r.state, 'pending');
      assert.equal(a1r.runAt, retryAt);
      assert.equal(a1r.attempts, 1);
      assert.equal(a1r.lastError, 'HTTP 503 from dashboard');
      assert.equal(a1r.lockedBy, null);
      const st = (await store.stats()).find((s) => s.pipeline === 'p1')!;
      assert.equal(st.retrying, 1);
      assert.equal(st.pending, 1, 'a:2 waits behind the retrying job');
      assert.equal(st.running, 2);
      assert.equal(st.lastError, 'HTTP 503 from dashboard');
      assert.equal(await store.nextRunAt(), Math.min(retryAt, ...next.map((j) => j.leaseUntil!)));

      // A delta arriving while a job retries merges into it but keeps its backoff time.
      assert.deepEqual(await store.enqueue([job('a', { n: 9 })]), { inserted: 0, merged: 1 });
      const merged = (await store.getJob(a1.id))!;
      assert.equal(merged.runAt, retryAt);
      assert.equal(merged.attempts, 1);

      // Dead-letter it: the key's next job becomes claimable.
      await assert.doesNotReject(store.fail([{ id: a1.id, version: a1.version, error: 'stale', retryAt: null }]));
      assert.equal((await store.getJob(a1.id))!.state, 'pending', 'fail() on a job that is not running (or with an old version) is ignored');
    });

    t('dead jobs do not block their key', async (store) => {
      await store.enqueue([job('a', { n: 1 }, { coalesce: false }), job('a', { n: 2 }, { coalesce: false })]);
      const [a1] = await claimAll(store);
      await store.fail([{ id: a1!.id, version: a1!.version, error: 'HTTP 422: invalid bridge id', retryAt: null }]);
      const dead = (await store.getJob(a1!.id))!;
      assert.equal(dead.state, 'dead');
      assert.equal(dead.lastError, 'HTTP 422: invalid bridge id');
      const [a2] = await claimAll(store);
      assert.deepEqual(a2!.payload.state, { n: 2 });
      const st = (await store.stats())[0]!;
      assert.equal(st.dead, 1);
      assert.equal(st.running, 1);
    });

    t('complete only touches the claimed version', async (store) => {
      await store.enqueue([job('a', { v: 1 })]);
      const [a] = await claimAll(store);
      await store.complete([{ id: a!.id, version: a!.version + 1 }]);
      assert.equal((await store.getJob(a!.id))!.state, 'running');
      await store.complete([{ id: a!.id, version: a!.version }]);
      assert.equal((await store.getJob(a!.id))!.state, 'done');
    });

    t('an expired lease makes a running job claimable again; extendLease keeps it', async (store) => {
      await store.enqueue([job('a', { v: 1 }), job('b', { v: 1 })]);
      const got = await store.claim({ workerId: 'crashed', limit: 10, leaseMs: 150 });
      assert.equal(got.length, 2);
      const a = got.find((j) => j.key === 'a')!;
      await store.extendLease([a.id], 'crashed', 60_000);
      await store.extendLease([got.find((j) => j.key === 'b')!.id], 'someone-else', 60_000);
      const again = await waitFor(async () => {
        const js = await store.claim({ workerId: 'w2', limit: 10, leaseMs: 30_000 });
        return js.length ? js : null;
      }, { what: 'the expired job to be claimable again' });
      assert.deepEqual(again.map((j) => j.key), ['b']);
      assert.equal(again[0]!.attempts, 2);
      assert.equal(again[0]!.lockedBy, 'w2');
      assert.equal((await store.getJob(a.id))!.lockedBy, 'crashed');

      // The stalled first worker wakes up: its ack and its failure no longer apply to the job w2 holds.
      const b = again[0]!;
      await store.complete([{ id: b.id, version: b.version, workerId: 'someone-else' }]);
      await store.fail([{ id: b.id, version: b.version, error: 'late', retryAt: null, workerId: 'someone-else' }]);
      assert.equal((await store.getJob(b.id))!.state, 'running');
      await store.complete([{ id: b.id, version: b.version, workerId: 'w2' }]);
      assert.equal((await store.getJob(b.id))!.state, 'done');
    });

    t('dead letters: list, show, replay with an edited payload, discard; every action audited', async (store) => {
      await store.enqueue([job('a', { v: 1 }), job('b', { v: 1 }), job('c', { v: 1 })]);
      const got = await claimAll(store);
      await store.fail(got.map((j) => ({ id: j.id, version: j.version, error: `boom ${j.key}`, retryAt: null })));
      const dead = await store.listJobs({ state: 'dead' });
      assert.deepEqual(dead.map((j) => j.key), ['a', 'b', 'c']);
      assert.equal((await store.listJobs({ state: 'dead', limit: 2 })).length, 2);
      assert.equal((await store.listJobs({ state: 'dead', pipeline: 'other' })).length, 0);
      const a = dead[0]!;
      assert.deepEqual(await store.getJob(a.id), a);
      assert.equal(await store.getJob('999999'), null);

      const edited = delta('a', { v: 'fixed' });
      const replayed = await store.replay(a.id, { actor: 'alice', payload: edited });
      assert.equal(replayed.state, 'pending');
      assert.equal(replayed.attempts, 0);
      assert.equal(replayed.version, a.version + 1);
      assert.deepEqual(replayed.payload, edited);
      assert.ok(Math.abs(replayed.runAt - Date.now()) < 5000);
      const b = dead[1]!;
      const replayedB = await store.replay(b.id, { actor: 'alice' });
      assert.deepEqual(replayedB.payload, b.payload);
      await store.discard(dead[2]!.id, { actor: 'bob', reason: 'duplicate record' });
      assert.equal(await store.getJob(dead[2]!.id), null);

      await assert.rejects(store.replay(a.id, { actor: 'alice' }), (e: unknown) => e instanceof ValidationError && /is pending, not dead/.test(e.message));
      await assert.rejects(store.discard(dead[2]!.id, { actor: 'bob' }), NotFoundError);
      await assert.rejects(store.replay('12345678', { actor: 'x' }), NotFoundError);
      await assert.rejects(store.replay('abc', { actor: 'x' }), ValidationError);
      await assert.rejects(store.replay(b.id, { actor: 'x', payload: { op: 'upsert' } as unknown as Delta }), /"op" must be insert, update or delete/);

      await store.audit({ actor: 'carol', action: 'note', jobId: null, details: { why: 'test' } });
      const audit = await store.listAudit();
      assert.deepEqual(audit.map((e) => [e.actor, e.action, e.jobId]), [['carol', 'note', null], ['bob', 'discard', dead[2]!.id], ['alice', 'replay', b.id], ['alice', 'replay', a.id]]);
      assert.equal(audit[1]!.details.reason, 'duplicate record');
      assert.deepEqual(audit[1]!.details.payload, dead[2]!.payload, 'a discarded payload stays readable in the audit log');
      assert.equal(audit[3]!.details.payloadEdited, true);
      assert.equal((await store.listAudit(1)).length, 1);

      const [r] = await claimAll(store);
      assert.deepEqual(r!.payload.state, { v: 'fixed' });
    });

    t('replaying a dead letter is refused when a newer job of its key was delivered since, unless forced', async (store) => {
      // job A of key k dies; a newer job B of k is delivered
      await store.enqueue([job('k', { v: 1 }), job('other', { v: 1 })]);
      const first = await claimAll(store);
      const a = first.find((x) => x.key === 'k')!;
      const other = first.find((x) => x.key === 'other')!;
      await store.fail([{ id: a.id, version: a.version, error: 'boom', retryAt: null }, { id: other.id, version: other.version, error: 'boom', retryAt: null }]);
      await store.enqueue([job('k', { v: 2 })]);
      const [b] = await claimAll(store);
      assert.equal(b!.key, 'k');
      await store.complete([{ id: b!.id, version: b!.version }]);
      const bDone = (await store.getJob(b!.id))!;
      // newer jobs that are only pending, or of another pipeline, do not count
      await store.enqueue([job('k', { v: 3 }), job('other', { v: 2 }, { pipeline: 'p2' })]);
      const [o2] = await store.claim({ workerId: 'w', limit: 10, leaseMs: 30_000, pipelines: ['p2'] });
      await store.complete([{ id: o2!.id, version: o2!.version }]);
      const replayedOther = await store.replay(other.id, { actor: 'alice' });
      assert.equal(replayedOther.state, 'pending', 'a done job of the same key in another pipeline does not block');
      // a job delivered BEFORE the dead letter was created does not block either
      const p3 = { workerId: 'w3', limit: 10, leaseMs: 30_000, pipelines: ['p3'] };
      await store.enqueue([job('m', { v: 1 }, { pipeline: 'p3' })]);
      const [m1] = await store.claim(p3);
      await store.complete([{ id: m1!.id, version: m1!.version }]);
      await store.enqueue([job('m', { v: 2 }, { pipeline: 'p3' })]);
      const [m2] = await store.claim(p3);
      await store.fail([{ id: m2!.id, version: m2!.version, error: 'boom', retryAt: null }]);
      assert.equal((await store.replay(m2!.id, { actor: 'alice' })).state, 'pending');

      await assert.rejects(store.replay(a.id, { actor: 'alice' }), (e: unknown) => {
        assert.ok(e instanceof RefusedError, String(e));
        assert.equal(e.code, 'HMS_ERR_REFUSED');
        assert.match(e.message, new RegExp(`job ${a.id} was not replayed: job ${b!.id}, a newer job of pipeline "p1" key "k"`));
        assert.ok(e.message.includes(`delivered at ${new Date(bDone.updatedAt).toISOString()}`), e.message);
        assert.match(e.message, /--force/);
        assert.deepEqual(e.details, { id: a.id, newerJobId: b!.id, newerTarget: 't1', deliveredAt: bDone.updatedAt });
        return true;
      });
      // an edited payload is refused the same way; nothing changed
      await assert.rejects(store.replay(a.id, { actor: 'alice', payload: delta('k', { v: 'fixed' }) }), RefusedError);
      assert.equal((await store.getJob(a.id))!.state, 'dead');
      assert.ok(!(await store.listAudit()).some((x) => x.jobId === a.id), 'a refused replay is not audited as a replay');

      const forced = await store.replay(a.id, { actor: 'bob', force: true });
      assert.equal(forced.state, 'pending');
      const entry = (await store.listAudit()).find((x) => x.jobId === a.id)!;
      assert.equal(entry.actor, 'bob');
      assert.equal(entry.details.forced, true);
      assert.deepEqual(entry.details.newerDone, { id: b!.id, target: 't1', deliveredAt: bDone.updatedAt });
      // the forced replay goes first for its key (it is the oldest unfinished job), then the pending v3
      const next = await claimAll(store);
      assert.deepEqual(next.filter((x) => x.key === 'k').map((x) => x.id), [a.id]);
    });

    t('stats per pipeline and target', async (store) => {
      assert.deepEqual(await store.stats(), []);
      await store.enqueue([job('a', { v: 1 }), job('b', { v: 1 }), job('c', { v: 1 }, { target: 't2' }), job('d', { v: 1 }, { pipeline: 'p0' })]);
      const [a] = await store.claim({ workerId: 'w', limit: 1, leaseMs: 1000, pipelines: ['p1'] });
      await store.complete([{ id: a!.id, version: a!.version }]);
      const st = await store.stats();
      assert.deepEqual(st.map((s) => [s.pipeline, s.target, s.pending, s.running, s.retrying, s.dead, s.done]), [
        ['p0', 't1', 1, 0, 0, 0, 0], ['p1', 't1', 1, 0, 0, 0, 1], ['p1', 't2', 1, 0, 0, 0, 0]]);
      assert.ok(st[1]!.oldestPendingAgeMs! >= 0);
      assert.equal(st[1]!.lastError, null);
    });

    t('shadow: batched lookups and a bounded, complete stream of a large scope', async (store) => {
      const rows = Array.from({ length: 1234 }, (_, i) => ({ scope: 's1', key: `k${String(i).padStart(5, '0')}`, fingerprint: `f${i}`, doc: { i } }));
      await store.commit({ jobs: [], shadow: [...rows, { scope: 's2', key: 'other', fingerprint: 'o', doc: null }] });
      const got = await store.getShadow('s1', rows.slice(0, 700).map((r) => r.key).concat(['missing']));
      assert.equal(got.size, 700);
      assert.deepEqual(got.get('k00007')!.doc, { i: 7 });
      const seen: string[] = [];
      for await (const r of store.listShadow('s1')) seen.push(r.key);
      assert.deepEqual(seen, rows.map((r) => r.key));
      await store.commit({ jobs: [], shadow: [{ scope: 's1', key: 'k00001', fingerprint: 'x', doc: null }, { scope: 's1', key: 'k00001', delete: true }] });
      assert.equal((await store.getShadow('s1', ['k00001'])).size, 0, 'the last operation on a key in one commit wins');
      const empty: unknown[] = [];
      for await (const r of store.listShadow('none')) empty.push(r);
      assert.equal(empty.length, 0);
    });

    t('onWake fires on enqueue; nextRunAt reports the earliest runnable head', async (store) => {
      assert.equal(await store.nextRunAt(), null);
      let woke = 0;
      const off = store.onWake(() => { woke++; });
      await store.wakeReady?.();
      woke = 0;
      const when = Date.now() + 50_000;
      await store.enqueue([job('a', { v: 1 }, { runAt: when }), job('b', { v: 1 }, { runAt: when + 10 })]);
      await waitFor(() => woke > 0, { what: 'a wake-up after enqueue' });
      assert.equal(await store.nextRunAt(), when);
      assert.equal(await store.nextRunAt(['p2']), null);
      off();
    });

    t('an enqueue through one store wakes the listeners of another store on the same queue', async (store, h) => {
      const other = await h.open();
      let woke = 0;
      const off = other.onWake(() => { woke++; });
      await other.wakeReady?.();
      woke = 0;
      await store.enqueue([job('x', { v: 1 })]);
      await waitFor(() => woke > 0, { what: 'the other store to be woken' });
      off();
    });

    t('prune removes old done jobs only', async (store) => {
      await store.enqueue([job('a', { v: 1 }), job('b', { v: 1 })]);
      const [a] = await store.claim({ workerId: 'w', limit: 1, leaseMs: 1000 });
      await store.complete([{ id: a!.id, version: a!.version }]);
      assert.equal(await store.prune(60_000), 0);
      await waitFor(async () => (await store.prune(1)) === 1, { what: 'prune to remove the done job' });
      assert.equal(await store.getJob(a!.id), null);
      assert.equal((await store.listJobs({})).length, 1);
      await store.enqueue([job('c', { v: 1 })]);
      const ids = (await store.listJobs({})).map((j) => Number(j.id));
      assert.ok(Math.max(...ids) > Number(a!.id), 'ids are never reused');
    });

    t('several stores claiming concurrently: no job claimed twice, per-key order holds', async (store, h) => {
      const KEYS = 40;
      const PER_KEY = 15;
      const inputs: EnqueueInput[] = [];
      for (let n = 0; n < PER_KEY; n++) for (let k = 0; k < KEYS; k++) inputs.push(job(`key${k}`, { n }, { coalesce: false }));
      await store.enqueue(inputs);
      const workers = await Promise.all([1, 2, 3, 4].map(() => h.open()));
      const delivered = new Map<string, number[]>();
      const inFlight = new Set<string>();
      const claimedIds = new Set<string>();
      let violations = 0;
      await Promise.all(workers.map(async (w, wi) => {
        for (let idle = 0; idle < 50;) {
          const jobs = await w.claim({ workerId: `w${wi}`, limit: 7, leaseMs: 60_000 });
          if (!jobs.length) {
            idle++;
            await new Promise((r) => setTimeout(r, 5));
            continue;
          }
          idle = 0;
          for (const j of jobs) {
            if (claimedIds.has(j.id) || inFlight.has(j.key)) violations++;
            claimedIds.add(j.id);
            inFlight.add(j.key);
          }
          await new Promise((r) => setImmediate(r));
          for (const j of jobs) {
            const list = delivered.get(j.key) ?? [];
            list.push((j.payload.state as { n: number }).n);
            delivered.set(j.key, list);
            inFlight.delete(j.key);
          }
          await w.complete(jobs.map((j) => ({ id: j.id, version: j.version })));
        }
      }));
      assert.equal(violations, 0, 'no job claimed twice, no key in flight twice');
      assert.equal(claimedIds.size, KEYS * PER_KEY);
      for (const [, ns] of delivered) assert.deepEqual(ns, Array.from({ length: PER_KEY }, (_, i) => i));
      assert.equal(delivered.size, KEYS);
    });
  });
}

describe('openStore URLs', () => {
  test('refuses unknown schemes and options, naming what is valid', async () => {
    await assert.rejects(openStore('mysql://root@localhost/x'), /unsupported scheme.*sqlite:<file>/);
    await assert.rejects(openStore('sqlite:./x.db?cache=shared'), /unknown option cache=shared/);
    await assert.rejects(openStore('sqlite:'), /names no file/);
  });

  test('postgres URLs: the schema option is taken out of the connection string and checked', async () => {
    const p = parseStoreUrl('postgres://sync:secret@db.example:5432/ops?schema=hms_a&sslmode=disable');
    assert.equal(p.dialect, 'postgres');
    assert.ok(p.dialect === 'postgres' && p.schema === 'hms_a' && !p.connectionString.includes('schema=') && p.connectionString.includes('sslmode=disable'));
    await assert.rejects(openStore('postgres://u@127.0.0.1:1/x?schema=bad-name', { migrate: false }), (e: unknown) => e instanceof ConfigError && /"bad-name" is not valid/.test(e.message));
    assert.deepEqual(parseStoreUrl('./state.db'), { dialect: 'sqlite', file: './state.db' });
    assert.deepEqual(parseStoreUrl('sqlite::memory:'), { dialect: 'sqlite', file: ':memory:' });
  });

  test('sqlite::memory: and a bare path open a working store', async () => {
    const t = tempDir('hms-store-url-');
    try {
      for (const url of ['sqlite::memory:', path.join(t.dir, 'a', 'b.db'), `sqlite:${path.join(t.dir, 'c.db')}?synchronous=full`]) {
        const s = await openStore(url);
        try {
          assert.equal(s.dialect, 'sqlite');
          assert.equal(await s.schemaVersion(), latestVersion(SQLITE_MIGRATIONS));
          assert.equal((await s.enqueue([job('a', { v: 1 })])).inserted, 1);
        } finally {
          await s.close();
        }
      }
      assert.ok(existsSync(path.join(t.dir, 'a', 'b.db')));
    } finally {
      t.cleanup();
    }
  });
});

test('migration 3 moves remembered webhook-ids out of the shadow into the dedupe table (SQLite)', async () => {
  const t = tempDir('hms-store-mig-');
  try {
    const file = path.join(t.dir, 'old.db');
    const { openDatabase } = await import('../../src/store/sqlite/sqlite-driver.js');
    const db = openDatabase(file);
    db.exec('CREATE TABLE hms_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of SQLITE_MIGRATIONS.filter((x) => x.version <= 2)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO hms_migrations VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    }
    db.prepare('INSERT INTO shadow (scope, key, fingerprint, doc, updated_at) VALUES (?, ?, ?, ?, ?)').run('pipeline:hooks', '#webhook-id:msg_1', 'seen', null, 1234);
    db.prepare('INSERT INTO shadow (scope, key, fingerprint, doc, updated_at) VALUES (?, ?, ?, ?, ?)').run('pipeline:hooks', '0123', 'f', '{"a":1}', 1234);
    db.close();
    const s = await openStore(`sqlite:${file}`);
    try {
      assert.equal(await s.schemaVersion(), latestVersion(SQLITE_MIGRATIONS));
      assert.deepEqual([...(await s.seenIds('pipeline:hooks', ['msg_1', 'msg_2']))], ['msg_1']);
      assert.deepEqual([...(await s.getShadow('pipeline:hooks', ['#webhook-id:msg_1', '0123'])).keys()], ['0123']);
      assert.equal(await s.forgetIds('pipeline:hooks', 2000), 1);
    } finally {
      await s.close();
    }
  } finally {
    t.cleanup();
  }
});
