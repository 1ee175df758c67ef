/**
 * Issue 11 item 9: store failures are not crashes. Each is one line naming the path or address,
 * with exit 4 (a store, folder or address that cannot be used); a store that cannot write is a
 * state `status` reports (exit 1), and capture resumes within a second of the store writing again.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import net from 'node:net';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { Receiver } from '../helpers/receiver.js';
import { runCli } from '../helpers/cli.js';
import { needCommand, tempDir } from '../helpers/services.js';

const tmp = tempDir();
const receiver = new Receiver();
await receiver.start();
after(async () => {
  await receiver.stop();
  tmp.cleanup();
});

const src = path.join(tmp.dir, 'legacy.db');
openDatabase(src).exec('CREATE TABLE ORDERS (ID INTEGER PRIMARY KEY, NOTE TEXT)');

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

function oneLine(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 4, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
}

/** A port something else listens on. */
async function busyPort(): Promise<{ port: number; close: () => void }> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { port: (s.address() as net.AddressInfo).port, close: () => s.close() };
}

test('a store that cannot be opened or created is one line with its path or address and exit 4 (regular file in the path, /proc, unreachable PostgreSQL, state folder under a file)', { timeout: 60_000 }, async () => {
  const file = path.join(tmp.dir, 'a-file');
  writeFileSync(file, 'not a folder');
  oneLine(await runCli(['run', config('underfile', `sqlite:${file}/sub/state.db`)], { timeoutMs: 20_000 }), new RegExp(`^hms-sync: cannot create the folder of the SQLite state store ${file}/sub: ${file} is a file, not a folder$`));
  // a recursive mkdir under /proc used to spin at 100% CPU with no output: it must end at once
  const started = Date.now();
  oneLine(await runCli(['run', config('proc', 'sqlite:/proc/hms-sync-test/state.db')], { timeoutMs: 20_000 }), /^hms-sync: cannot create the folder of the SQLite state store \/proc\/hms-sync-test: mkdir \/proc\/hms-sync-test: the file system of \/proc does not allow creating folders there$/);
  assert.ok(Date.now() - started < 15_000);
  oneLine(await runCli(['run', config('pgdown', 'postgres://postgres:secret@127.0.0.1:1/test')], { timeoutMs: 20_000 }), /^hms-sync: cannot open the state store postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test \(PostgreSQL at 127\.0\.0\.1:1\/test cannot be reached\): .*ECONNREFUSED/);
  oneLine(await runCli(['run', config('statedir', `sqlite:${tmp.dir}/sd.db`, `${file}/state`)], { timeoutMs: 20_000 }), new RegExp(`^hms-sync: cannot create the state folder \\(stateDir\\) ${file}/state: ${file} is a file, not a folder$`));
  const status = await runCli(['status', '--store', 'postgres://postgres@127.0.0.1:1/test']);
  oneLine(status, /^hms-sync: cannot open the state store postgres:\/\/postgres@127\.0\.0\.1:1\/test \(PostgreSQL at 127\.0\.0\.1:1\/test cannot be reached\)/);
});

test('a busy port is one line with the address and exit 4: demo --port, and a webhook source (reported once, not ignored)', { timeout: 60_000 }, async () => {
  const busy = await busyPort();
  try {
    const demoDir = path.join(tmp.dir, 'demo');
    mkdirSync(demoDir);
    oneLine(await runCli(['demo', '--port', String(busy.port), '--once'], { cwd: demoDir, timeoutMs: 30_000 }), new RegExp(`^hms-sync: demo: cannot listen on 127\\.0\\.0\\.1:${busy.port} for the demo dashboard: the port is in use by another process`));
    const hook = config('hook', `sqlite:${tmp.dir}/hook.db`, undefined, `{ system: web, collection: orders, listen: { port: ${busy.port} }, path: /hooks, allowUnsigned: true }`);
    const r = await runCli(['run', hook], { timeoutMs: 30_000 });
    oneLine(r, new RegExp(`^hms-sync: pipeline "orders": source web/orders: webhook source of system "web" cannot listen on 127\\.0\\.0\\.1:${busy.port}: .*EADDRINUSE`));
  } finally {
    busy.close();
  }
});


test('a state folder without permission (run as an unprivileged user) is one line naming the folder, exit 4, not an internal error', { skip: await needCommand('setpriv', 'apt-get install util-linux'), timeout: 60_000 }, async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to switch to an unprivileged user');
  const base = path.join(tmp.dir, 'perm');
  mkdirSync(base, { mode: 0o755 });
  const locked = path.join(base, 'locked');
  mkdirSync(locked, { mode: 0o555 });
  chmodSync(tmp.dir, 0o755);
  const file = config('perm', `sqlite:${base}/store/state.db`, `${locked}/state`);
  chmodSync(file, 0o644);
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', import.meta.resolve('tsx'), path.resolve('test/helpers/run-cli.ts'), 'run', file], { encoding: 'utf8', env: { ...process.env, HOME: base, HMS_LOG_LEVEL: 'silent' }, timeout: 45_000 });
  oneLine({ code: r.status, stderr: r.stderr }, new RegExp(`^hms-sync: cannot create the state folder \\(stateDir\\) ${locked}/state: mkdir ${locked}/state: permission denied$`));
});

test('run says so when it creates folders outside the config\'s folder (state folder, SQLite store folder)', async () => {
  const cfgDir = path.join(tmp.dir, 'cfg');
  mkdirSync(cfgDir);
  const file = path.join(cfgDir, 'outside.yaml');
  writeFileSync(file, `store: sqlite:../outside-store/state.db
stateDir: ../outside-state
systems:
  legacy: { driver: sqlite, path: ${src} }
  web: { driver: http, url: ${receiver.url} }
pipelines:
  orders: { from: { system: legacy, collection: NO_SUCH_TABLE }, to: { system: web, collection: orders, path: "/o/{key}" }, key: ID }
`);
  const r = await runCli(['run', file, '--log-level', 'warn'], { timeoutMs: 30_000 });
  assert.equal(r.code, 4, r.stderr);
  const logs = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
  const said = (dir: string) => logs.some((l) => l.level === 40 && l.msg === `created ${path.join(tmp.dir, dir)} for ${dir === 'outside-state' ? 'the state folder (stateDir)' : 'the SQLite state store'}, outside the config's folder ${cfgDir}`);
  assert.ok(said('outside-state'), `the state folder is announced: ${r.stderr}`);
  assert.ok(said('outside-store'), `the store folder is announced: ${r.stderr}`);
});
