/**
 * `npm test` leaves nothing running (issue 11, item 16): scripts/run-tests.mjs finds every
 * process of its run still alive after the tests (by $HMS_TEST_RUN_ID in its environment),
 * reports it with its listening ports, stops it, and fails the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { canConnect, tempDir, waitFor } from '../helpers/services.js';
import { LOGICAL_USERS_DIR } from '../helpers/pg-logical.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a process a test left running is reported with its port, stopped, and fails the run', { skip: process.platform !== 'linux' ? 'reads /proc' : false }, async () => {
  const tmp = tempDir('hms-leftover-');
  const pidFile = path.join(tmp.dir, 'pid');
  let pid = 0;
  try {
    const child = spawn(process.execPath, ['scripts/run-tests.mjs', 'test/fixtures-leftover/leaves-a-server.fixture.ts'], {
      env: { ...process.env, NODE_TEST_CONTEXT: undefined, LEFTOVER_PID_FILE: pidFile, HMS_TEST_REPORTER: 'tap' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    pid = Number(readFileSync(pidFile, 'utf8'));
    assert.match(out, /# pass 1/, 'the fixture test itself passes');
    assert.equal(code, 1, `a leftover process fails the run: ${out}`);
    assert.match(out, new RegExp(`run-tests: 1 process\\(es\\) of this test run were still running after the tests; stopping them:\\n  pid ${pid} listening on 127\\.0\\.0\\.1:\\d+: .*node -e`), out);
    await waitFor(() => !alive(pid), { what: `pid ${pid} stopped`, timeoutMs: 5000 });
  } finally {
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    tmp.cleanup();
  }
});

test('an interrupted run (Ctrl-C) still stops what its tests left running', { skip: process.platform !== 'linux' ? 'reads /proc' : false }, async () => {
  const tmp = tempDir('hms-leftover-int-');
  const pidFile = path.join(tmp.dir, 'pid');
  let pid = 0;
  try {
    const child = spawn(process.execPath, ['scripts/run-tests.mjs', 'test/fixtures-leftover/leaves-a-server.fixture.ts'], {
      env: { ...process.env, NODE_TEST_CONTEXT: undefined, LEFTOVER_PID_FILE: pidFile, FIXTURE_HANG: '1', HMS_TEST_REPORTER: 'tap' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').length > 0, { what: 'the fixture started its server', timeoutMs: 30_000 });
    pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(alive(pid));
    child.kill('SIGINT');
    const code = await exited;
    assert.notEqual(code, 0, out);
    assert.match(out, new RegExp(`pid ${pid} listening on 127\\.0\\.0\\.1:\\d+`), out);
    await waitFor(() => !alive(pid), { what: `pid ${pid} stopped`, timeoutMs: 5000 });
  } finally {
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    tmp.cleanup();
  }
});

test('the second PostgreSQL (port 5433) a run started is stopped when the run ends, even when a test failed', async (t) => {
  if (!existsSync('/usr/lib/postgresql')) return t.skip('no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql');
  if (await canConnect('127.0.0.1', 5433)) return t.skip('a PostgreSQL on 5433 is already up (another test run uses it): this test must start it itself');
  const child = spawn(process.execPath, ['scripts/run-tests.mjs', 'test/fixtures-leftover/uses-logical-cluster.fixture.ts'], {
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, HMS_TEST_PG_LOGICAL: 'second', FIXTURE_FAIL: '1', HMS_TEST_REPORTER: 'tap' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 1, out);
  assert.match(out, /this run fails on purpose, after using the cluster/, 'the cluster was up and used during the run');
  assert.doesNotMatch(out, /still running after the tests/, 'the cluster is stopped as a shared service, not as a leftover');
  assert.equal(await canConnect('127.0.0.1', 5433), false, `the PostgreSQL on 5433 is stopped after the run: ${out}`);
  assert.deepEqual(existsSync(LOGICAL_USERS_DIR) ? readdirSync(LOGICAL_USERS_DIR).filter((f) => f.startsWith('run-')) : [], [], 'no marker of the run is left');
});
