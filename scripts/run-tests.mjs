#!/usr/bin/env node
// Runs the test files under the given folders (default: test/) with node's test runner and
// tsx, so TypeScript runs as written. A file named on the command line runs whatever its name.
// Ends with node's summary (tests / pass / fail lines).
//
// Leaves nothing running, whether the tests passed, failed or were interrupted:
// - every process of the run carries $HMS_TEST_RUN_ID; when the tests end, any process still
//   alive with this run's id (a server a test forgot to stop, a PostgreSQL cluster whose test
//   crashed before its clean-up) is reported with its pid, command and listening ports, stopped,
//   and the run fails;
// - the shared second PostgreSQL cluster of test/helpers/pg-logical.ts (port 5433) is stopped
//   when this run used it and no other live run and no client still does.
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const LOGICAL_DIR = '/tmp/hms-pg-logical-5433';
const LOGICAL_USERS_DIR = `${LOGICAL_DIR}.users`;
const LOGICAL_PORT = 5433;

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const passthrough = process.argv.slice(2).filter((a) => a.startsWith('-'));
const files = [];
function walk(p, named) {
  const st = statSync(p);
  if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(path.join(p, e), false);
  else if (named || /\.test\.ts$/.test(p)) files.push(p);
}
for (const r of roots.length ? roots : ['test']) walk(r, true);
if (!files.length) {
  console.error('no test files found under', roots.join(' ') || 'test');
  process.exit(1);
}
const runId = `run-${process.pid}-${Date.now().toString(36)}`;
const reporter = process.env.HMS_TEST_REPORTER ?? 'spec';
const args = ['--import', 'tsx', '--test', `--test-reporter=${reporter}`, '--test-concurrency=2', ...passthrough, ...files];
const child = spawn(process.execPath, args, {
  stdio: 'inherit',
  env: { ...process.env, HMS_LOG_LEVEL: process.env.HMS_LOG_LEVEL ?? 'silent', HMS_TEST_RUN_ID: runId, HMS_TEST_RUNNER_PID: String(process.pid) },
});
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    interrupted = true;
    if (child.exitCode === null) child.kill(sig);
  });
}
let code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 1))));
if (interrupted && code === 0) code = 130;

const cluster = logicalClusterPids();
const left = await settle(() => runProcesses(runId, cluster));
if (left.length) {
  process.stderr.write(`\nrun-tests: ${left.length} process(es) of this test run were still running after the tests; stopping them:\n`);
  for (const p of left) process.stderr.write(`  pid ${p.pid}${p.ports.length ? ` listening on ${p.ports.join(', ')}` : ''}: ${p.cmd}\n`);
  await stopAll(left.map((p) => p.pid));
  if (code === 0) code = 1;
}
await stopLogicalCluster(cluster);
process.exit(code);

// ---------------------------------------------------------------------------------------

function alive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

function read(file) {
  try {
    return readFileSync(file);
  } catch {
    return null;
  }
}

/** Listening TCP ports by socket inode (/proc/net/tcp and tcp6). */
function listeningInodes() {
  const byInode = new Map();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = read(f)?.toString() ?? '';
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue;
      const [addr, port] = cols[1].split(':');
      byInode.set(cols[9], `${f.endsWith('6') ? '[v6]' : ''}${addr === '0100007F' ? '127.0.0.1' : addr}:${parseInt(port, 16)}`);
    }
  }
  return byInode;
}

/** The processes alive with this run's id in their environment (not this one, not `exclude`). */
function runProcesses(id, exclude) {
  if (!existsSync('/proc')) return [];
  const needle = Buffer.from(`HMS_TEST_RUN_ID=${id}\0`);
  const inodes = listeningInodes();
  const out = [];
  for (const e of readdirSync('/proc')) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid === process.pid || exclude.has(pid)) continue;
    const env = read(`/proc/${pid}/environ`);
    if (!env || !env.includes(needle)) continue;
    const stat = read(`/proc/${pid}/stat`)?.toString() ?? '';
    if (/\) Z /.test(stat)) continue; // a zombie is gone already, its parent just has not reaped it
    const cmd = (read(`/proc/${pid}/cmdline`)?.toString() ?? '').split('\0').filter(Boolean).join(' ').slice(0, 200);
    const ports = [];
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(safeReadlink(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) ports.push(inodes.get(m[1]));
      }
    } catch {
      /* gone meanwhile */
    }
    out.push({ pid, cmd, ports: [...new Set(ports)] });
  }
  return out;
}

function safeReadlink(p) {
  try {
    return readlinkSync(p);
  } catch {
    return '';
  }
}

/** Processes that are exiting on their own (tsx's esbuild service, a closing server) get 3 s. */
async function settle(scan) {
  let left = scan();
  for (let i = 0; i < 15 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 200));
    left = scan();
  }
  return left;
}

async function stopAll(pids) {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** The shared logical cluster's postmaster and its children (they carry the id of the run that started it). */
function logicalClusterPids() {
  const pids = new Set();
  const master = Number((read(`${LOGICAL_DIR}/postmaster.pid`)?.toString() ?? '').split('\n')[0]);
  if (!alive(master)) return pids;
  pids.add(master);
  for (const e of readdirSync('/proc')) {
    const stat = read(`/proc/${e}/stat`)?.toString() ?? '';
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === master) pids.add(Number(e));
  }
  return pids;
}

function pgCtl() {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  for (const v of readdirSync(root).sort().reverse()) if (existsSync(`${root}/${v}/bin/pg_ctl`)) return `${root}/${v}/bin/pg_ctl`;
  return null;
}

/** Clients connected to the logical cluster other than us, or null when it cannot be asked. */
async function clients() {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${LOGICAL_PORT}/postgres`, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    const r = await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type IN ('client backend', 'walsender') AND pid <> pg_backend_pid()");
    return r.rows[0].n;
  } catch {
    return null;
  } finally {
    await c.end().catch(() => {});
  }
}

/** Stop the shared logical cluster when this run used it and nobody else does. */
async function stopLogicalCluster(pids) {
  const mine = path.join(LOGICAL_USERS_DIR, runId);
  if (!existsSync(mine)) return;
  rmSync(mine, { force: true });
  const others = [];
  for (const f of readdirSync(LOGICAL_USERS_DIR)) {
    const pid = Number(read(path.join(LOGICAL_USERS_DIR, f))?.toString().trim());
    if (alive(pid)) others.push(f);
    else rmSync(path.join(LOGICAL_USERS_DIR, f), { force: true }); // a run that ended without its clean-up
  }
  if (!pids.size) return;
  if (others.length) {
    process.stderr.write(`run-tests: the PostgreSQL on port ${LOGICAL_PORT} stays up for other test runs (${others.join(', ')})\n`);
    return;
  }
  const n = await clients();
  if (n) {
    process.stderr.write(`run-tests: the PostgreSQL on port ${LOGICAL_PORT} stays up: ${n} client(s) still connected\n`);
    return;
  }
  const ctl = pgCtl();
  if (!ctl) return;
  const cmd = [ctl, '-D', LOGICAL_DIR, '-m', 'fast', '-w', 'stop'];
  const r = process.getuid?.() === 0
    ? spawnSync('su', ['postgres', '-s', '/bin/sh', '-c', cmd.map((a) => `'${a}'`).join(' ')], { encoding: 'utf8' })
    : spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`run-tests: could not stop the PostgreSQL on port ${LOGICAL_PORT}: ${(r.stdout ?? '') + (r.stderr ?? '')}\n`);
}
