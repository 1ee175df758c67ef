/**
 * Issue 11 item 7: a dead source is visible. A permanent problem at start ends `run` with exit 4
 * and one line naming the pipeline and what to change (unless --keep-going); each source's state
 * (running, retrying since T with error E, failed) is in the store, and `status` shows it and exits
 * non-zero when a source failed or has been retrying longer than sourceFailAfter.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { Receiver } from '../helpers/receiver.js';
import { runCli, sigkill, startRun } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/services.js';

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

test('SQLite: a missing table ends run with exit 4 and one line naming pipeline, system and table; status then shows the source failed and exits 1', async () => {
  const src = path.join(tmp.dir, 'missing.db');
  openDatabase(src).close();
  const file = config('missing', `  legacy: { driver: sqlite, path: ${src} }`, '{ system: legacy, collection: ORDERS, poll: 50ms }');
  const r = await runCli(['run', file], { timeoutMs: 30_000 });
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /^hms-sync: pipeline "orders": source legacy\/ORDERS: .*no such table: ORDERS.*--keep-going/m);
  oneLine(r.stderr);
  const s = await status(file);
  assert.equal(s.code, 1, s.text);
  const row = s.rows.find((x) => x.pipeline === 'orders')!;
  assert.equal(row.source?.state, 'failed');
  assert.match(row.source!.error!, /no such table: ORDERS/);
  const human = await runCli(['status', file]);
  assert.match(human.stdout, /orders\s+failed\s+.*no such table: ORDERS/);
});

/** A `run` child with its stderr kept (logs at info). */
function run(file: string, args: string[] = []): { child: ChildProcess; err: () => string; exit: Promise<number | null> } {
  const child = startRun(file, { logLevel: 'info', args });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, err: () => err, exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

test('--keep-going: the run goes on, status shows the source failed (exit 1); once the table exists it runs and status exits 0', { timeout: 40_000 }, async () => {
  const src = path.join(tmp.dir, 'later.db');
  const db = openDatabase(src);
  const file = config('later', `  legacy: { driver: sqlite, path: ${src} }`, '{ system: legacy, collection: ORDERS, poll: 50ms }');
  const kept = run(file, ['--keep-going']);
  await waitFor(async () => (await status(file)).rows.find((x) => x.pipeline === 'orders')?.source?.state === 'failed', { what: 'status to show the source failed', timeoutMs: 20_000, intervalMs: 200 });
  const failed = await status(file);
  assert.equal(failed.code, 1);
  assert.equal(kept.child.exitCode, null, 'the run keeps going');
  db.exec('CREATE TABLE ORDERS (ID INTEGER PRIMARY KEY, NOTE TEXT)');
  db.prepare('INSERT INTO ORDERS VALUES (1, ?)').run('first');
  await waitFor(() => receiver.requests.some((q) => q.url === '/later/1'), { what: 'the order delivered once the table exists', timeoutMs: 20_000 });
  const ok = await status(file);
  assert.equal(ok.rows.find((x) => x.pipeline === 'orders')?.source?.state, 'running', ok.text);
  assert.equal(ok.code, 0, ok.text);
  assert.doesNotMatch(kept.err(), /"stack"/, 'expected errors are logged without a stack');
  kept.child.kill('SIGTERM');
  assert.equal(await kept.exit, 0);
  db.close();
});

