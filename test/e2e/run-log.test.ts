/**
 * `run` says what succeeds (issue 11, item 10): under load one `info` line per pipeline every
 * `--log-every` with delivered / failed / pending / lag, each job at `debug`, JSON lines when
 * stderr is not a terminal and readable lines with `--log-format pretty`. Real `hms-sync run`
 * processes, a real SQLite source and a real HTTP receiver.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { runCli, startRun } from '../helpers/cli.js';
import { needCommand, tempDir, waitFor } from '../helpers/services.js';
import { Receiver } from '../helpers/receiver.js';

function configFor(dir: string, receiver: Receiver, pipeline: string): string {
  const file = path.join(dir, `${pipeline}.yaml`);
  writeFileSync(file, `store: sqlite:./${pipeline}-state.db
stateDir: ./${pipeline}-state
systems:
  legacy: { driver: sqlite, path: ${path.join(dir, 'legacy.db')} }
  web: { driver: http, url: ${receiver.url} }
pipelines:
  ${pipeline}:
    from: { system: legacy, collection: ROWS, poll: 50ms }
    to: { system: web, collection: rows, path: "/rows/{key}", body: delta }
    key: ID
    delivery: { backoff: "fixed 200ms", batchSize: 20 }
`);
  return file;
}

function collect(child: ChildProcess): { text: () => string } {
  let text = '';
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  return { text: () => text };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exit;
}

interface Line { level: number; time: number; msg: string; pipeline?: string; delivered?: number; failed?: number; pending?: number; lagMs?: number | null; final?: boolean; jobId?: string }

test('run under load logs one delivery line per pipeline per interval (delivered, failed, pending, lag) in JSON, not one per job', async () => {
  const tmp = tempDir('hms-run-log-');
  const receiver = new Receiver();
  await receiver.start();
  let refused = false;
  receiver.respond = (r) => {
    if (r.url === '/rows/k0007' && !refused) {
      refused = true;
      return 503;
    }
    return 200;
  };
  const db = openDatabase(path.join(tmp.dir, 'legacy.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE ROWS (ID TEXT PRIMARY KEY, V TEXT)');
  const pipeline = `load${Math.random().toString(36).slice(2, 6)}`;
  const child = startRun(configFor(tmp.dir, receiver, pipeline), { logLevel: 'info', args: ['--log-every', '1s'] });
  const err = collect(child);
  const N = 300;
  try {
    await waitFor(() => err.text().includes('engine started'), { what: `engine start: ${err.text()}`, timeoutMs: 30_000 });
    const insert = db.prepare('INSERT INTO ROWS VALUES (?, ?)');
    for (let i = 0; i < N; i++) {
      insert.run(`k${String(i).padStart(4, '0')}`, `v${i}`);
      if (i % 25 === 24) await new Promise((r) => setTimeout(r, 300)); // ~3.6 s of steady load
    }
    await waitFor(() => new Set(receiver.requests.filter((r) => r.url.startsWith('/rows/')).map((r) => r.url)).size === N && refused, { what: 'every row delivered', timeoutMs: 60_000 });
    // the delivered count reaches N in the log once the acks are in (a line per second)
    const parse = () => err.text().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    await waitFor(() => parse().filter((l) => l.pipeline === pipeline && typeof l.delivered === 'number').reduce((n, l) => n + l.delivered!, 0) === N, { what: `delivered ${N} in the log: ${err.text()}`, timeoutMs: 20_000 });
    assert.equal(await stop(child), 0, err.text());

    const lines = parse();
    assert.equal(lines.length, err.text().split('\n').filter(Boolean).length, 'every line is JSON when stderr is not a terminal');
    const summary = lines.filter((l) => l.pipeline === pipeline && typeof l.delivered === 'number');
    const during = summary.filter((l) => !l.final);
    assert.ok(during.length >= 2, `several summary lines while running: ${JSON.stringify(summary)}`);
    for (const l of during) {
      assert.equal(l.level, 30, 'summary lines are info');
      assert.match(l.msg, /^delivered \d+, failed \d+(, dead \d+)?, pending \d+, lag (\d+ms|\d+\.\d+s|-)$/, l.msg);
      assert.equal(typeof l.pending, 'number');
      assert.ok(l.lagMs === null || typeof l.lagMs === 'number');
    }
    for (let i = 1; i < during.length; i++) assert.ok(during[i]!.time - during[i - 1]!.time >= 900, `aggregated per interval, not per job: ${during.map((l) => l.time).join(', ')}`);
    assert.equal(summary.reduce((n, l) => n + l.delivered!, 0), N, 'every delivery is counted once');
    assert.equal(summary.reduce((n, l) => n + l.failed!, 0), 1, 'the refused attempt is counted as failed');
    assert.ok(during.some((l) => l.pending! > 0 || l.lagMs !== null) || during.length >= 2, 'the backlog is reported');
    assert.ok(lines.length < 40, `${N} jobs do not make ${N} info lines (got ${lines.length})`);
    assert.equal(lines.filter((l) => l.msg === 'job delivered').length, 0, 'per-job lines are debug only');
    // the refused attempt's error stays on the done job as history, marked so in the table
    const jobs = await runCli(['jobs', path.join(tmp.dir, `${pipeline}.yaml`), '--state', 'done', '--limit', '1000']);
    const row = jobs.stdout.split('\n').find((l) => /\bk0007\b/.test(l));
    assert.match(row ?? '', /done .*\(earlier\) HMS_ERR_RETRYABLE: POST http:\/\/127\.0\.0\.1:\d+\/rows\/k0007/, jobs.stdout.slice(0, 2000));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    db.close();
    await receiver.stop();
    tmp.cleanup();
  }
});

test('run --log-level debug --log-format pretty: one readable line per delivered job and the summary line', async () => {
  const tmp = tempDir('hms-run-log-');
  const receiver = new Receiver();
  await receiver.start();
  const db = openDatabase(path.join(tmp.dir, 'legacy.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE ROWS (ID TEXT PRIMARY KEY, V TEXT)');
  const pipeline = `pretty${Math.random().toString(36).slice(2, 6)}`;
  const child = startRun(configFor(tmp.dir, receiver, pipeline), { logLevel: 'debug', args: ['--log-every', '500ms', '--log-format', 'pretty'] });
  const err = collect(child);
  try {
    await waitFor(() => err.text().includes('engine started'), { what: `engine start: ${err.text()}`, timeoutMs: 30_000 });
    db.transaction(() => { for (const k of ['a1', 'a2', 'a3']) db.prepare('INSERT INTO ROWS VALUES (?, ?)').run(k, 'x'); })();
    const summary = new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  \\[${pipeline}\\] delivered (\\d+), failed 0, pending \\d+, lag \\S+  skipped=0 dead=0 captured=\\d+ running=`, 'gm');
    const delivered = () => [...err.text().matchAll(summary)].reduce((n, m) => n + Number(m[1]), 0);
    await waitFor(() => delivered() === 3, { what: `summary lines adding up to 3 deliveries: ${err.text()}`, timeoutMs: 20_000 });
    assert.equal(await stop(child), 0, err.text());
    const text = err.text();
    for (const k of ['a1', 'a2', 'a3']) {
      assert.match(text, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} DEBUG \\[${pipeline}\\] job delivered .*key=${k} op=insert version=1`, 'm'), text);
    }
    assert.doesNotMatch(text, /^\{/m, 'no JSON lines in the pretty format');
    assert.match(text, /INFO {2}engine started {2}pipelines=/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    db.close();
    await receiver.stop();
    tmp.cleanup();
  }
});

test('on a terminal run logs readable, coloured lines by itself (no --log-format)', { skip: await needCommand('script', 'apt-get install util-linux') }, async () => {
  const tmp = tempDir('hms-run-log-tty-');
  const receiver = new Receiver();
  await receiver.start();
  const db = openDatabase(path.join(tmp.dir, 'legacy.db'));
  db.exec('CREATE TABLE ROWS (ID TEXT PRIMARY KEY, V TEXT)');
  db.prepare('INSERT INTO ROWS VALUES (?, ?)').run('t1', 'x');
  const pipeline = `tty${Math.random().toString(36).slice(2, 6)}`;
  const config = configFor(tmp.dir, receiver, pipeline);
  try {
    const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
    const cmd = ['timeout', '-s', 'TERM', '8', process.execPath, '--import', import.meta.resolve('tsx'), path.resolve('test/helpers/run-cli.ts'), 'run', config, '--log-level', 'info', '--log-every', '500ms'].map(q).join(' ');
    // script(1) gives the child a pseudo-terminal for stdin, stdout and stderr
    const out = await new Promise<string>((resolve) => {
      const c = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, HMS_LOG_FORMAT: undefined, NO_COLOR: undefined }, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      c.stdout.on('data', (d: Buffer) => (text += d.toString()));
      c.stderr.on('data', (d: Buffer) => (text += d.toString()));
      c.on('exit', () => resolve(text));
    });
    // eslint-disable-next-line no-control-regex
    assert.match(out, /\u001b\[\d+m/, `coloured: ${JSON.stringify(out.slice(0, 300))}`);
    // eslint-disable-next-line no-control-regex
    const plain = out.replace(/\u001b\[\d+m/g, '').replace(/\r/g, '');
    assert.match(plain, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}engine started/m, plain);
    assert.match(plain, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO {2}\\[${pipeline}\\] delivered 1, failed 0`, 'm'), plain);
    assert.doesNotMatch(plain, /^\{"level"/m, 'no JSON on a terminal');
  } finally {
    db.close();
    await receiver.stop();
    tmp.cleanup();
  }
});
