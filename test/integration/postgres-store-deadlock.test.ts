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
