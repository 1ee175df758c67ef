/**
 * A PostgreSQL with wal_level=logical for the logical-replication tests and the CDC bench.
 *
 * Order: HMS_TEST_PG_LOGICAL_URL when set; else the main test PostgreSQL (PG_URL) when its
 * wal_level is already logical (CI sets it with ALTER SYSTEM + restart); else a private
 * second cluster on 127.0.0.1:5433 (data in /tmp/hms-pg-logical-5433), created with initdb
 * and started with pg_ctl when it is not running, so the shared cluster is never restarted.
 *
 * Who stops the second cluster: every test run that uses it leaves a marker in
 * {@link LOGICAL_USERS_DIR} (named by `$HMS_TEST_RUN_ID`, holding the runner's pid) before it
 * connects; scripts/run-tests.mjs, when its run ends (passed, failed or interrupted), removes its
 * marker and stops the cluster when no other live run holds one and no client is connected.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { canConnect, IN_CI, PG_URL } from './services.js';

export const LOGICAL_PORT = 5433;
export const LOGICAL_DIR = '/tmp/hms-pg-logical-5433';
/** Markers of the test runs using the second cluster (see scripts/run-tests.mjs). */
export const LOGICAL_USERS_DIR = `${LOGICAL_DIR}.users`;

/** This run uses the second cluster: say so before connecting, so the runner that ends last stops it. */
function markUser(): void {
  const run = process.env.HMS_TEST_RUN_ID ?? `pid-${process.pid}`;
  mkdirSync(LOGICAL_USERS_DIR, { recursive: true });
  writeFileSync(path.join(LOGICAL_USERS_DIR, run.replace(/[^A-Za-z0-9_.-]/g, '_')), `${process.env.HMS_TEST_RUNNER_PID ?? process.pid}\n`);
}
const SECOND_URL = `postgres://postgres@127.0.0.1:${LOGICAL_PORT}/test`;

async function walLevel(url: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    const r = await c.query<{ wal_level: string }>('SHOW wal_level');
    return r.rows[0]?.wal_level ?? null;
  } catch {
    return null;
  } finally {
    await c.end().catch(() => {});
  }
}

/** A PostgreSQL server binary (initdb, pg_ctl...) of the newest installed version, or null. */
export function pgBin(name: string): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  for (const v of readdirSync(root).sort().reverse()) {
    const p = `${root}/${v}/bin/${name}`;
    if (existsSync(p)) return p;
  }
  return null;
}

/** Run as the postgres OS user when we are root (initdb and postgres refuse to run as root). */
export function runPg(args: string[]): { ok: boolean; out: string } {
  const asRoot = process.getuid?.() === 0;
  const cmd = asRoot ? ['su', 'postgres', '-s', '/bin/sh', '-c', args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')] : args;
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

async function startSecondCluster(): Promise<string | null> {
  const initdb = pgBin('initdb');
  const pgCtl = pgBin('pg_ctl');
  if (!initdb || !pgCtl) return 'initdb/pg_ctl not found under /usr/lib/postgresql';
  if (!existsSync(`${LOGICAL_DIR}/PG_VERSION`)) {
    const r = runPg([initdb, '-D', LOGICAL_DIR, '-U', 'postgres', '-A', 'trust']);
    if (!r.ok) return `initdb failed: ${r.out.trim()}`;
  }
  const opts = `-p ${LOGICAL_PORT} -k /tmp -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_replication_slots=40 -c max_wal_senders=40`;
  const r = runPg([pgCtl, '-D', LOGICAL_DIR, '-l', `${LOGICAL_DIR}/log`, '-w', '-o', opts, 'start']);
  if (!r.ok && !(await canConnect('127.0.0.1', LOGICAL_PORT))) return `pg_ctl start failed: ${r.out.trim()}`;
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${LOGICAL_PORT}/postgres` });
  try {
    await admin.connect();
    const has = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'test'");
    if (has.rowCount === 0) await admin.query('CREATE DATABASE test');
  } finally {
    await admin.end().catch(() => {});
  }
  return null;
}

let cached: Promise<{ url: string | null; reason: string | false }> | null = null;

async function resolve(): Promise<{ url: string | null; reason: string | false }> {
  const env = process.env.HMS_TEST_PG_LOGICAL_URL;
  if (env) {
    const lvl = await walLevel(env);
    if (lvl === 'logical') return { url: env, reason: false };
    return { url: null, reason: `HMS_TEST_PG_LOGICAL_URL=${env} is ${lvl === null ? 'not reachable' : `at wal_level=${lvl}`}` };
  }
  // HMS_TEST_PG_LOGICAL=second: always the private cluster (to test its start and stop where the main server is logical)
  if (process.env.HMS_TEST_PG_LOGICAL !== 'second' && (await walLevel(PG_URL)) === 'logical') return { url: PG_URL, reason: false };
  markUser();
  if (!(await canConnect('127.0.0.1', LOGICAL_PORT))) {
    const why = await startSecondCluster();
    if (why) return { url: null, reason: `no PostgreSQL with wal_level=logical: the main one is not, and a second cluster on port ${LOGICAL_PORT} could not be started (${why}); set wal_level=logical with ALTER SYSTEM SET wal_level = logical; and a restart` };
  }
  if ((await walLevel(SECOND_URL)) === 'logical') return { url: SECOND_URL, reason: false };
  return { url: null, reason: `the PostgreSQL on port ${LOGICAL_PORT} is not at wal_level=logical` };
}

/**
 * The URL of a PostgreSQL at wal_level=logical, or a skip reason (throws when CI=true).
 * Use: `const { url, skip } = await needLogicalPg();` then `test('x', { skip }, ...)`.
 */
export async function needLogicalPg(): Promise<{ url: string; skip: string | false }> {
  cached ??= resolve();
  const r = await cached;
  if (r.url) return { url: r.url, skip: false };
  if (IN_CI) throw new Error(`CI=true and ${String(r.reason)}`);
  return { url: '', skip: String(r.reason) };
}
