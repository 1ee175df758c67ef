/**
 * Issue 11 item 7 (database sources): a dead source is visible. A permanent problem at start ends `run` with exit 4
 * and one line naming the pipeline and what to change (unless --keep-going); each source's state
 * (running, retrying since T with error E, failed) is in the store, and `status` shows it and exits
 * non-zero when a source failed or has been retrying longer than sourceFailAfter.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { Receiver } from '../helpers/receiver.js';
import { runCli, sigkill, startRun } from '../helpers/cli.js';
import { needService, tempDir, uniqueName, waitFor } from '../helpers/services.js';

const tmp = tempDir();
const receiver = new Receiver();
await receiver.start();
const children: ChildProcess[] = [];
after(async () => {
  await Promise.all(children.map(sigkill));
  await receiver.stop();
  tmp.cleanup();
});

interface StatusRow { pipeline: string; source: { state: string; error: string | null; since: number; holder: { pid: number } | null } | null }

async function status(config: string): Promise<{ code: number | null; rows: StatusRow[]; text: string }> {
  const r = await runCli(['status', config, '--json']);
  return { code: r.code, rows: r.stdout.trim().startsWith('[') ? JSON.parse(r.stdout) as StatusRow[] : [], text: r.stdout + r.stderr };
}

function config(name: string, systems: string, from: string, extra = ''): string {
  const file = path.join(tmp.dir, `${name}.yaml`);
  writeFileSync(file, `store: sqlite:${path.join(tmp.dir, `${name}-state.db`)}
stateDir: ${path.join(tmp.dir, `${name}-state`)}
${extra}systems:
${systems}
  web: { driver: http, url: ${receiver.url} }
pipelines:
  orders:
    from: ${from}
    to: { system: web, collection: orders, path: "/${name}/{key}", body: state }
    key: ID
`);
  return file;
}

function oneLine(stderr: string): void {
  assert.doesNotMatch(stderr, /\n\s+at /, `no stack trace: ${stderr}`);
  assert.doesNotMatch(stderr, /internal error/);
}

/** A `run` child with its stderr kept (logs at info). */
function run(file: string, args: string[] = []): { child: ChildProcess; err: () => string; exit: Promise<number | null> } {
  const child = startRun(file, { logLevel: 'info', args });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, err: () => err, exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

test('a source that keeps failing with a transient error is "retrying since T with error E", and "failed" once that lasts longer than sourceFailAfter (status exits 1)', { timeout: 40_000 }, async () => {
  // nothing listens on port 1: connection refused, retried (not a permanent problem, so no exit 4)
  const file = config('refused', '  legacy: { driver: postgres, url: "postgres://postgres@127.0.0.1:1/test" }', '{ system: legacy, collection: orders, poll: 100ms }', 'sourceFailAfter: 12s\n');
  const r = run(file);
  const retrying = await waitFor(async () => {
    const s = await status(file);
    const src = s.rows.find((x) => x.pipeline === 'orders')?.source;
    return src?.state === 'retrying' ? { s, src } : null;
  }, { what: 'status to show the source retrying', timeoutMs: 20_000, intervalMs: 100 });
  assert.equal(retrying.s.code, 0, 'retrying for less than sourceFailAfter is not yet a failure');
  assert.match(retrying.src.error!, /ECONNREFUSED|connect/i);
  assert.ok(retrying.src.since <= Date.now());
  await waitFor(async () => (await status(file)).code === 1, { what: 'status to exit 1 after sourceFailAfter', timeoutMs: 20_000, intervalMs: 250 });
  const late = await status(file);
  assert.equal(late.rows.find((x) => x.pipeline === 'orders')?.source?.state, 'failed');
  assert.ok(Date.now() - retrying.src.since >= 12_000, 'failed only after sourceFailAfter');
  const human = await runCli(['status', file]);
  assert.equal(human.code, 1);
  assert.match(human.stdout, /orders\s+failed\s+\S+ ago\s+\S+ pid \d+\s+pipeline "orders": source legacy\/orders: .*ECONNREFUSED/);
  assert.equal(r.child.exitCode, null, 'a transient error never ends the run');
  r.child.kill('SIGTERM');
  assert.equal(await r.exit, 0);
});

test('PostgreSQL: a role that does not exist and a missing table end run with exit 4 and one line each', { skip: await needService('postgres') }, async () => {
  const bad = config('pgrole', '  legacy: { driver: postgres, url: "postgres://no_such_role_hms@127.0.0.1:5432/test" }', '{ system: legacy, collection: orders, poll: 100ms }');
  const r1 = await runCli(['run', bad], { timeoutMs: 30_000 });
  assert.equal(r1.code, 4, r1.stderr);
  assert.match(r1.stderr, /^hms-sync: pipeline "orders": source legacy\/orders: .*no_such_role_hms/m);
  oneLine(r1.stderr);
  const table = uniqueName('no_such_table');
  const missing = config('pgtable', '  legacy: { driver: postgres, url: "postgres://postgres@127.0.0.1:5432/test" }', `{ system: legacy, collection: ${table}, mode: logical }`);
  const r2 = await runCli(['run', missing], { timeoutMs: 30_000 });
  assert.equal(r2.code, 4, r2.stderr);
  assert.match(r2.stderr, /^hms-sync: pipeline "orders": source legacy\/no_such_table.*(does not exist|wal_level)/m);
  oneLine(r2.stderr);
});

test('MariaDB: mode binlog with the binlog off ends run with exit 4 and says how to turn it on', { skip: await needService('mariadb') }, async (t) => {
  const mysql = await import('mysql2/promise');
  const c = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
  const table = uniqueName('binlog_off');
  await c.query(`CREATE TABLE ${table} (ID INT PRIMARY KEY, NOTE TEXT)`);
  const [rows] = await c.query('SELECT @@log_bin AS b') as unknown as [Array<{ b: number }>];
  try {
    const file = config('binlog', '  shop: { driver: mariadb, url: "mysql://root@127.0.0.1:3306/test" }', `{ system: shop, collection: ${table}, mode: binlog }`);
    if (Number(rows[0]!.b)) return t.skip('this MariaDB runs with the binlog on: nothing to refuse');
    const r = await runCli(['run', file], { timeoutMs: 30_000 });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^hms-sync: pipeline "orders": source shop\/.*the binlog is off.*--log-bin/m);
    oneLine(r.stderr);
  } finally {
    await c.query(`DROP TABLE ${table}`);
    await c.end();
  }
});
