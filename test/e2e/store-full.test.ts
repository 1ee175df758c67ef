/**
 * Issue 11 item 9: a store that cannot write (here a full disk: a 8 MiB tmpfs filled up) is a
 * state `status` reports (exit 1), logged once with the store's path and no stack, and capture
 * resumes within a second of the store writing again (no source backoff). Needs root to mount.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { Receiver } from '../helpers/receiver.js';
import { runCli, sigkill, startRun } from '../helpers/cli.js';
import { IN_CI, tempDir, waitFor } from '../helpers/services.js';

const tmp = tempDir();
const receiver = new Receiver();
await receiver.start();
const children: ChildProcess[] = [];
const mounts: string[] = [];
after(async () => {
  await Promise.all(children.map(sigkill));
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  await receiver.stop();
  tmp.cleanup();
});

const src = path.join(tmp.dir, 'legacy.db');
const legacy = openDatabase(src);
legacy.pragma('journal_mode = WAL');
legacy.exec('CREATE TABLE ORDERS (ID INTEGER PRIMARY KEY, NOTE TEXT)');
after(() => legacy.close());

function config(name: string, store: string, stateDir = path.join(tmp.dir, `${name}-state`), from = '{ system: legacy, collection: ORDERS, poll: 50ms }'): string {
  const file = path.join(tmp.dir, `${name}.yaml`);
  writeFileSync(file, `store: ${store}
stateDir: ${stateDir}
systems:
  legacy: { driver: sqlite, path: ${src} }
  web: { driver: http, url: ${receiver.url} }
pipelines:
  orders:
    from: ${from}
    to: { system: web, collection: orders, path: "/${name}/{key}", body: state }
    key: ID
`);
  return file;
}

function mountTmpfs(dir: string, size: string): string | false {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status === 0) {
    mounts.push(dir);
    return false;
  }
  const why = `cannot mount a tmpfs to fill up (${(r.stderr || r.error?.message || '').trim()}); run as root`;
  if (IN_CI) throw new Error(`CI=true and ${why}`);
  return why;
}

test('a full disk under the store: one error naming the store path, status reports it (exit 1), capture resumes within a second of space being freed; a read-only store is one line, exit 4', { timeout: 60_000 }, async (t) => {
  const mnt = path.join(tmp.dir, 'small');
  const cannot = mountTmpfs(mnt, '8m');
  if (cannot) return t.skip(cannot);
  const storeFile = path.join(mnt, 'state.db');
  const file = config('full', `sqlite:${storeFile}`);
  const run = startRun(file, { logLevel: 'info' });
  children.push(run);
  let err = '';
  run.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const ins = legacy.prepare('INSERT INTO ORDERS VALUES (?, ?)');
  ins.run(1, 'small');
  await waitFor(() => receiver.requests.some((r) => r.url === '/full/1'), { what: 'the first order delivered', timeoutMs: 20_000 });
  const peek = openDatabase(storeFile);
  await waitFor(() => (peek.prepare("SELECT count(*) AS n FROM jobs WHERE state = 'done'").get() as { n: number }).n === 1, { what: 'the first job acknowledged' });
  peek.close();

  // fill the file system
  const filler = path.join(mnt, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024, 7);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  const big = 'x'.repeat(20_000);
  for (let i = 2; i <= 11; i++) ins.run(i, `${i}:${big}`);
  await waitFor(() => err.includes('capture waits and resumes as soon as the store can write'), { what: 'the store-full error', timeoutMs: 20_000 });
  const line = err.split('\n').find((l) => l.includes('capture waits and resumes'))!;
  assert.ok(line.includes(storeFile), `the error names the store's path: ${line}`);
  assert.match(line, /database or disk is full/);
  assert.doesNotMatch(line, /"stack"/, 'no stack trace for a full disk');

  const status = await runCli(['status', file, '--json']);
  assert.equal(status.code, 1, status.stdout + status.stderr);
  const rows = JSON.parse(status.stdout) as Array<{ store: { writable: boolean; error?: string } }>;
  assert.equal(rows[0]!.store.writable, false);
  assert.match(rows[0]!.store.error!, /full/);
  const human = await runCli(['status', file]);
  assert.match(human.stdout, new RegExp(`store: CANNOT WRITE: .*full.*${storeFile.replace(/[.]/g, '\\.')}`));

  // an outage longer than two thirds of the source lease (15 s): the engine also stops reading
  // (it cannot renew the lease) and must take its source back as soon as the store writes
  const fullSince = Date.now();
  await waitFor(() => Date.now() - fullSince > 11_000 || null, { what: 'a long outage', timeoutMs: 12_000, intervalMs: 200 });
  const before = receiver.requests.length;
  rmSync(filler);
  const freedAt = Date.now();
  // the held-back changes are committed (jobs created) within a second of space being freed
  const created = await waitFor(() => {
    const db = openDatabase(storeFile);
    try {
      const r = db.prepare("SELECT count(*) AS n, min(created_at) AS first FROM jobs WHERE CAST(key AS INTEGER) BETWEEN 2 AND 11").get() as { n: number; first: number | null };
      return r.n === 10 ? r : null;
    } finally {
      db.close();
    }
  }, { what: 'capture to resume', timeoutMs: 10_000, intervalMs: 20 }).catch((e: Error) => { throw new Error(`${e.message}; log: ${err.split('\n').filter((l) => !l.includes('claim failed')).join('\n').slice(-4000)}`); });
  assert.ok(created.first! - freedAt <= 1000, `capture resumed ${created.first! - freedAt} ms after space was freed`);
  await waitFor(() => new Set(receiver.requests.filter((r) => r.url.startsWith('/full/')).map((r) => r.url)).size === 11, { what: 'the orders held back by the full disk delivered', timeoutMs: 10_000 }).catch((e: Error) => { throw new Error(`${e.message}; got ${receiver.requests.map((r) => r.url).join(' ')}; log: ${err.slice(-3000)}`); });
  assert.ok(receiver.requests.length > before);
  const ok = await runCli(['status', file, '--json']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  run.kill('SIGTERM');
  await new Promise((r) => run.once('exit', r));

  // the same store on a file system that turned read-only: status and run say so in one line, exit 4
  assert.equal(spawnSync('mount', ['-o', 'remount,ro', mnt]).status, 0);
  for (const args of [['status', file], ['run', file]]) {
    const r = await runCli(args, { timeoutMs: 30_000 });
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stderr, `hms-sync: cannot use the SQLite state store ${storeFile}: SQLITE_CANTOPEN: unable to open database file (the file system of ${mnt} is read-only)\n`);
  }
});
