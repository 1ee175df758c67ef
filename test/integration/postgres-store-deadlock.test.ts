/**
 * Several processes on one PostgreSQL store never deadlock (issue 11 item 6). Four child
 * processes each commit batches of jobs for the same 40 keys (the capture commit locks each key's
 * newest unfinished job) while they claim, renew and acknowledge jobs (the ack locks the claimed
 * jobs). Every statement that waits for job row locks takes them in id order, so:
 * - PostgreSQL reports no deadlock in the test's own database (pg_stat_database.deadlocks, with
 *   deadlock_timeout lowered so one would be found fast) and no store call had to retry one;
 * - every job is delivered exactly once (no ack lost, so nothing is delivered again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { needService, PG_URL, uniqueName } from '../helpers/services.js';

const PROCESSES = 4;
const LOAD_MS = 6000;
const KEYS = 40;
const skip = await needService('postgres');

interface WorkerReport { name: string; delivered: Array<[string, number]>; commits: number; conflicts: { deadlock: number; serialization: number }; errors: string[]; fatal?: string }

function runWorker(url: string, schema: string, name: string): Promise<WorkerReport> {
  const script = path.resolve('test/helpers/pg-store-load-worker.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script, url, schema, name, String(LOAD_MS), String(KEYS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), LOAD_MS + 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(line) as WorkerReport;
        if (r.fatal || code !== 0) return reject(new Error(`worker ${name} failed (exit ${code}): ${r.fatal ?? ''}\n${err}`));
        resolve(r);
      } catch {
        reject(new Error(`worker ${name} printed no report (exit ${code}): ${out}\n${err}`));
      }
    });
  });
}

async function deadlocks(admin: pg.Client, db: string): Promise<number> {
  await admin.query('SELECT pg_stat_clear_snapshot()');
  return Number((await admin.query<{ n: string }>('SELECT deadlocks AS n FROM pg_stat_database WHERE datname = $1', [db])).rows[0]?.n ?? 0);
}

test(`${PROCESSES} processes committing and acknowledging jobs of the same keys on one PostgreSQL store: no deadlock, no job delivered twice`, { skip, timeout: 90_000 }, async () => {
  // a database of its own: its deadlock counter sees only this test
  const db = uniqueName('hms_dl');
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  try {
    await admin.query(`ALTER DATABASE ${db} SET deadlock_timeout = '50ms'`);
    const u = new URL(PG_URL);
    u.pathname = `/${db}`;
    const url = u.toString();
    const schema = 'hms_sync';
    const before = await deadlocks(admin, db);
    const reports = await Promise.all(Array.from({ length: PROCESSES }, (_, i) => runWorker(url, schema, `w${i}`)));
    // statistics reach pg_stat_database when a backend ends or within a second
    await new Promise((r) => setTimeout(r, 1200));
    const after = await deadlocks(admin, db);
    const errors = reports.flatMap((r) => r.errors.map((e) => `${r.name}: ${e}`));
    assert.deepEqual(errors, [], 'no store call failed');
    const retried = reports.reduce((n, r) => n + r.conflicts.deadlock, 0);
    assert.equal(retried, 0, `no store call hit a deadlock (retried ${retried})`);
    assert.equal(after - before, 0, `PostgreSQL detected no deadlock in database ${db}`);
    const commits = reports.reduce((n, r) => n + r.commits, 0);
    assert.ok(commits >= PROCESSES * 10, `under load: ${commits} commits`);

    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const jobs = (await c.query<{ id: string; version: number; state: string }>(`SELECT id::text, version, state FROM ${schema}.jobs`)).rows;
      assert.deepEqual(jobs.filter((j) => j.state !== 'done').map((j) => j.state), [], 'every job was delivered');
      const delivered = reports.flatMap((r) => r.delivered.map(([id, v]) => `${id}@${v}`));
      const seen = new Set<string>();
      const twice = delivered.filter((d) => (seen.has(d) ? true : (seen.add(d), false)));
      assert.deepEqual(twice, [], 'no job (version) was delivered twice');
      assert.deepEqual([...seen].sort(), jobs.map((j) => `${j.id}@${j.version}`).sort(), 'every done job was delivered exactly once, in the version that was acknowledged');
      assert.ok(jobs.length > 100, `enough jobs to matter: ${jobs.length}`);
    } finally {
      await c.end();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
});

test('a store statement aborted by a deadlock or serialization failure is run again; one that keeps failing is an HMS_ERR_STORE naming the SQLSTATE', { skip, timeout: 30_000 }, async () => {
  const { PostgresStore } = await import('../../src/store/postgres/postgres-store.js');
  const { computeDelta } = await import('../../src/core/delta.js');
  const schema = uniqueName('dlretry');
  const store = new PostgresStore({ connectionString: PG_URL, schema, poolSize: 2 });
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await store.migrate();
    // PostgreSQL itself aborts the ack: a trigger raises the deadlock / serialization SQLSTATE for
    // the first `failures` acks after a reset (counted by a sequence: the abort does not undo it)
    await admin.query(`CREATE TABLE ${schema}.chaos (failures int, code text)`);
    await admin.query(`INSERT INTO ${schema}.chaos VALUES (0, '40P01')`);
    await admin.query(`CREATE SEQUENCE ${schema}.chaos_n`);
    await admin.query(`CREATE FUNCTION ${schema}.chaos() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE c ${schema}.chaos; BEGIN
        SELECT * INTO c FROM ${schema}.chaos;
        IF nextval('${schema}.chaos_n') <= c.failures THEN RAISE EXCEPTION 'injected %', c.code USING ERRCODE = c.code; END IF;
        RETURN NEW; END $$`);
    const inject = async (failures: number, code: string) => {
      await admin.query(`UPDATE ${schema}.chaos SET failures = $1, code = $2`, [failures, code]);
      await admin.query(`SELECT setval('${schema}.chaos_n', 1, false)`);
    };
    await admin.query(`CREATE TRIGGER chaos BEFORE UPDATE ON ${schema}.jobs FOR EACH ROW WHEN (NEW.state = 'done') EXECUTE FUNCTION ${schema}.chaos()`);
    const now = Date.now();
    await store.enqueue(['a', 'b', 'c'].map((key) => ({ pipeline: 'p', target: 't', key, payload: computeDelta(key, null, { id: key }, now)!, runAt: now, maxAttempts: 3 })));
    const jobs = await store.claim({ workerId: 'w', limit: 10, leaseMs: 30_000 });
    assert.equal(jobs.length, 3);
    await inject(2, '40P01');
    await store.complete(jobs.slice(0, 1).map((j) => ({ id: j.id, version: j.version, workerId: 'w' })));
    await inject(1, '40001');
    await store.complete(jobs.slice(1, 2).map((j) => ({ id: j.id, version: j.version, workerId: 'w' })));
    assert.deepEqual(store.conflicts, { deadlock: 2, serialization: 1 }, 'each abort was counted and retried');
    const done = (await admin.query(`SELECT count(*)::int AS n FROM ${schema}.jobs WHERE state = 'done'`)).rows[0].n;
    assert.equal(done, 2, 'the retried acks were applied');
    // a whole transaction (a capture commit with shadow rows) is run again from its start
    await admin.query(`CREATE TRIGGER chaos BEFORE INSERT ON ${schema}.shadow FOR EACH ROW EXECUTE FUNCTION ${schema}.chaos()`);
    await inject(1, '40P01');
    const r = await store.commit({ jobs: [{ pipeline: 'p', target: 't', key: 'd', payload: computeDelta('d', null, { id: 'd' }, now)!, runAt: now, maxAttempts: 3 }], shadow: [{ scope: 's', key: 'd', fingerprint: 'f', doc: { id: 'd' } }], position: { source: 'src', position: '42' } });
    assert.deepEqual(r, { inserted: 1, merged: 0 });
    assert.equal(store.conflicts.deadlock, 3);
    assert.equal(await store.getPosition('src'), '42');
    assert.equal((await admin.query(`SELECT count(*)::int AS n FROM ${schema}.jobs WHERE key = 'd'`)).rows[0].n, 1, 'the retried commit inserted its job once');
    await inject(1000, '40P01');
    await assert.rejects(store.complete(jobs.slice(2).map((j) => ({ id: j.id, version: j.version, workerId: 'w' }))), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'HMS_ERR_STORE');
      assert.match(err.message, new RegExp(`PostgreSQL store \\(schema ${schema}\\): a transaction was aborted 6 times in a row by "injected 40P01" \\(SQLSTATE 40P01\\)`));
      return true;
    });
  } finally {
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
});
