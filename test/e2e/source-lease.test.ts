/**
 * Issue 11 item 3: one reader per source. Two real `hms-sync run` processes on one store: the
 * second does not read a source the first reads (a lease in the store), says who reads it, and
 * still delivers; on SQLite it is refused. A clean stop releases the lease and the standby takes over.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli, sigkill, startRun } from '../helpers/cli.js';
import { needService, PG_URL, tempDir, uniqueName, waitFor } from '../helpers/services.js';

const tmp = tempDir();
const children: ChildProcess[] = [];
after(async () => {
  await Promise.all(children.map(sigkill));
  tmp.cleanup();
});

/** A `run` child with its stderr kept (logs at info). */
function run(config: string): { child: ChildProcess; err: () => string; exit: Promise<number | null> } {
  const child = startRun(config, { logLevel: 'info' });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, err: () => err, exit };
}

/** A target that answers each POST after `delayMs` and records its path. */
class SlowTarget {
  readonly requests: Array<{ url: string }> = [];
  delayMs = 0;
  private server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      this.requests.push({ url: req.url ?? '' });
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), this.delayMs);
    });
  });
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
  }
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function setup(name: string, store: string): { config: string; insert: (from: number, to: number) => void; receiver: SlowTarget } {
  const src = path.join(tmp.dir, `${name}-legacy.db`);
  const db = openDatabase(src);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE ORDERS (ID INTEGER PRIMARY KEY, NOTE TEXT)');
  const receiver = new SlowTarget();
  const config = path.join(tmp.dir, `${name}.yaml`);
  const insert = (from: number, to: number) => {
    const ins = db.prepare('INSERT INTO ORDERS VALUES (?, ?)');
    for (let i = from; i <= to; i++) ins.run(i, `order ${i}`);
  };
  after(async () => {
    db.close();
    await receiver.stop();
  });
  return {
    receiver,
    insert,
    get config() {
      writeFileSync(config, `store: ${store}
stateDir: ${path.join(tmp.dir, `${name}-state`)}
systems:
  legacy: { driver: sqlite, path: ${src} }
  web: { driver: http, url: ${receiver.url} }
pipelines:
  orders:
    from: { system: legacy, collection: ORDERS, poll: 50ms }
    to: { system: web, collection: orders, path: "/orders/{key}", body: state }
    key: ID
    delivery: { concurrency: 2, batchSize: 1 }
`);
      return config;
    },
  };
}

test('two run processes on one PostgreSQL store: the second does not capture, names the reader, still delivers; each insert is delivered once; a clean stop hands the source over', { skip: await needService('postgres'), timeout: 60_000 }, async () => {
  const schema = uniqueName('hms_lease');
  const store = `${PG_URL}?schema=${schema}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  after(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });
  const s = setup('pg', store);
  await s.receiver.start();
  s.receiver.delayMs = 100; // deliveries overlap: both processes' workers claim jobs
  const config = s.config;
  const first = run(config);
  await waitFor(() => first.err().includes('"msg":"engine started"'), { what: 'the first process to start', timeoutMs: 20_000 });
  await waitFor(async () => (await admin.query(`SELECT holder_pid FROM "${schema}".sources WHERE source = 'pipeline:orders' AND state = 'running'`).catch(() => ({ rows: [] }))).rows[0]?.holder_pid === first.child.pid, { what: 'the first process to hold the source', timeoutMs: 10_000 });
  const second = run(config);
  await waitFor(() => second.err().includes('is read by another hms-sync process'), { what: 'the second process to say who reads the source', timeoutMs: 20_000 });
  const line = second.err().split('\n').find((l) => l.includes('is read by another hms-sync process'))!;
  assert.match(line, new RegExp(`pid ${first.child.pid}\\b`), 'the message names the reading process');
  assert.match(line, /host \S+/);
  assert.match(line, /only delivers/);
  assert.equal(second.child.exitCode, null, 'the second process keeps running (it delivers)');

  s.insert(1, 20);
  const deliverers = new Set<number>();
  await waitFor(async () => {
    for (const r of (await admin.query<{ w: string }>(`SELECT DISTINCT split_part(locked_by, ':', 2) AS w FROM "${schema}".jobs WHERE state = 'running'`)).rows) deliverers.add(Number(r.w));
    return new Set(s.receiver.requests.map((r) => r.url)).size === 20;
  }, { what: 'all 20 orders delivered', timeoutMs: 20_000, intervalMs: 10 });
  assert.ok(deliverers.has(second.child.pid!), `the second process delivers too (jobs were held by pids ${[...deliverers].join(', ')})`);
  await new Promise((r) => setTimeout(r, 1500)); // a second reader would post again by now (poll 50 ms)
  assert.equal(s.receiver.requests.length, 20, `each insert delivered exactly once: ${s.receiver.requests.length} requests`);

  const status = await runCli(['status', config, '--json']);
  assert.equal(status.code, 0, status.stderr + status.stdout);
  const row = (JSON.parse(status.stdout) as Array<{ pipeline: string; source: { state: string; holder: { pid: number } } }>).find((r) => r.pipeline === 'orders')!;
  assert.equal(row.source.state, 'running');
  assert.equal(row.source.holder.pid, first.child.pid, 'status names the process that reads the source');

  // a clean stop releases the lease: the standby takes the source over and reads on
  first.child.kill('SIGTERM');
  assert.equal(await first.exit, 0);
  await waitFor(() => second.err().includes('took over reading its source'), { what: 'the second process to take over', timeoutMs: 15_000 });
  s.insert(21, 25);
  await waitFor(() => new Set(s.receiver.requests.map((r) => r.url)).size === 25, { what: 'the orders after the hand-over delivered', timeoutMs: 15_000 });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(s.receiver.requests.length, 25, 'nothing delivered twice across the hand-over');
  second.child.kill('SIGTERM');
  assert.equal(await second.exit, 0);
});

test('SQLite store: a second run process whose source another live process reads is refused with exit 5, naming the process; after a SIGKILL of the reader the next run takes over at once', { timeout: 60_000 }, async () => {
  const s = setup('lite', `sqlite:${path.join(tmp.dir, 'lite-state.db')}`);
  await s.receiver.start();
  const config = s.config;
  const first = run(config);
  await waitFor(() => first.err().includes('"msg":"engine started"'), { what: 'the first process to start', timeoutMs: 20_000 });
  const second = await runCli(['run', config], { timeoutMs: 30_000 });
  assert.equal(second.code, 5, second.stderr);
  assert.match(second.stderr, new RegExp(`^hms-sync: pipeline "orders": its source is already read by another hms-sync process on this store \\(host \\S+, pid ${first.child.pid},`, 'm'));
  assert.doesNotMatch(second.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(first.child.exitCode, null, 'the first process runs on');
  s.insert(1, 3);
  await waitFor(() => s.receiver.requests.length >= 3, { what: 'the first process to deliver' });

  await sigkill(first.child); // no clean-up: the lease stays, but its pid is gone
  const third = run(config);
  await waitFor(() => third.err().includes('which no longer exists; taking it over'), { what: 'the next run to take over the dead process\'s source', timeoutMs: 20_000 });
  s.insert(4, 5);
  await waitFor(() => new Set(s.receiver.requests.map((r) => r.url)).size === 5, { what: 'orders after the take-over delivered' });
  third.child.kill('SIGTERM');
  assert.equal(await third.exit, 0);
});
