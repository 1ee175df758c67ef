/**
 * Queue benchmark: enqueue, claim, no-op delivery and ack.
 *   npm run bench:queue [-- --quick] [-- --json] [-- --only=sqlite|postgres]
 * (a) throughput: N jobs over K keys enqueued in bulk, then drained by a few worker loops with
 *     batched claims and acks (per-key order checked); (b) latency: a steady 500 jobs/s for a few
 *     seconds, one commit per job, enqueue-to-delivery p50/p99. On PostgreSQL the same runs go
 *     against graphile-worker 0.17 and pg-boss 10 in the same database, each in its own schema.
 * PostgreSQL URL: HMS_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import { rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openStore } from '../src/store/open-store.js';
import { ourLatency, ourThroughput, type LatencyResult, type ThroughputResult } from './queue-bench-ours.js';
import { graphileLatency, graphileThroughput, pgBossLatency, pgBossThroughput } from './queue-bench-peers.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const asJson = args.includes('--json');
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const PG_URL = process.env.HMS_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const SIZE = quick ? { jobs: 5_000, keys: 500, seconds: 2 } : { jobs: 50_000, keys: 5_000, seconds: 10 };
/** The peers run fewer jobs in the full run (same jobs per key) to keep it under ~3 minutes: at their rates 50,000 jobs take minutes. */
const PEER_SIZE = quick ? SIZE : { jobs: 20_000, keys: 2_000, seconds: SIZE.seconds };
const RATE = 500;
const TARGETS = { pgVsGraphile: 5, p99Ms: 25, sqlitePerSec: 20_000 };

interface Row { system: string; throughput?: ThroughputResult; latency?: LatencyResult; note?: string; error?: string }
const rows: Row[] = [];

function log(msg: string): void {
  if (!asJson) process.stderr.write(`${msg}\n`);
}

async function attempt<T>(label: string, fn: () => Promise<T>): Promise<T | undefined> {
  log(`  ${label}...`);
  try {
    return await fn();
  } catch (e) {
    const msg = (e as Error).message;
    log(`  ${label} failed: ${msg}`);
    rows.push({ system: label, error: msg });
    return undefined;
  }
}

async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

async function benchSqlite(): Promise<void> {
  log('SQLite (WAL, synchronous=NORMAL, one process)');
  const file = path.join(tmpdir(), `hms-queue-bench-${process.pid}.db`);
  const clean = () => { for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true }); };
  clean();
  try {
    const store = await openStore(`sqlite:${file}`);
    const throughput = await attempt('hms-sync sqlite throughput', () => ourThroughput(store, { ...SIZE, workers: 2, batch: 500, enqueueBatch: 1000 }));
    const latency = await attempt('hms-sync sqlite latency', () => ourLatency(store, { rate: RATE, seconds: SIZE.seconds, workers: 2, batch: 100 }));
    await store.close();
    rows.push({ system: 'hms-sync (SQLite)', throughput, latency });
  } finally {
    clean();
  }
}

async function benchPostgres(): Promise<void> {
  log('PostgreSQL (same database, one schema per system)');
  const id = `${process.pid}_${Date.now().toString(36)}`;
  const ours = `hms_bench_${id}`;
  const gw = `gw_bench_${id}`;
  const boss = `boss_bench_${id}`;
  try {
    const store = await openStore(`${PG_URL}?schema=${ours}`, { poolSize: 10 });
    const throughput = await attempt('hms-sync postgres throughput', () => ourThroughput(store, { ...SIZE, workers: 4, batch: 250, enqueueBatch: 1000 }));
    const latency = await attempt('hms-sync postgres latency', () => ourLatency(store, { rate: RATE, seconds: SIZE.seconds, workers: 2, batch: 100 }));
    await store.close();
    rows.push({ system: 'hms-sync (PostgreSQL)', throughput, latency, note: 'per-key FIFO, batched claim/ack' });

    const gwT = await attempt('graphile-worker throughput', () => graphileThroughput(PG_URL, gw, { ...PEER_SIZE, concurrency: 10, perKey: false }));
    await dropSchema(gw);
    const gwL = await attempt('graphile-worker latency', () => graphileLatency(PG_URL, gw, { rate: RATE, seconds: SIZE.seconds, concurrency: 10 }));
    rows.push({ system: 'graphile-worker 0.17', throughput: gwT, latency: gwL, note: 'concurrency 10, no per-key order' });

    const bT = await attempt('pg-boss throughput', () => pgBossThroughput(PG_URL, boss, { ...PEER_SIZE, workers: 4, batch: 100 }));
    await dropSchema(boss);
    const bL = await attempt('pg-boss latency', () => pgBossLatency(PG_URL, boss, { rate: RATE, seconds: SIZE.seconds, workers: 2, batch: 100 }));
    rows.push({ system: 'pg-boss 10', throughput: bT, latency: bL, note: '4 x work(batchSize 100), polling 0.5 s, no per-key order' });
  } finally {
    for (const s of [ours, gw, boss]) await dropSchema(s).catch(() => undefined);
  }
}

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a && b ? Math.round((a / b) * 100) / 100 : null;
}

function report(): void {
  const ourPg = rows.find((r) => r.system === 'hms-sync (PostgreSQL)');
  const ourSqlite = rows.find((r) => r.system === 'hms-sync (SQLite)');
  const peers = rows.filter((r) => r.system.startsWith('graphile') || r.system.startsWith('pg-boss'));
  const ratios = peers.map((p) => ({
    peer: p.system,
    processPerSec: ratio(ourPg?.throughput?.processPerSec, p.throughput?.processPerSec),
    totalPerSec: ratio(ourPg?.throughput?.totalPerSec, p.throughput?.totalPerSec),
    p99: ratio(p.latency?.p99, ourPg?.latency?.p99),
  }));
  const gwRatio = ratios.find((r) => r.peer.startsWith('graphile'));
  const targets = {
    pgAtLeast5xGraphile: gwRatio?.processPerSec == null ? null : gwRatio.processPerSec >= TARGETS.pgVsGraphile && ourPg?.throughput?.orderKept === true,
    pgP99AtMost25ms: ourPg?.latency ? ourPg.latency.p99 <= TARGETS.p99Ms : null,
    sqliteAtLeast20k: ourSqlite?.throughput ? ourSqlite.throughput.processPerSec >= TARGETS.sqlitePerSec : null,
  };
  if (asJson) {
    process.stdout.write(`${JSON.stringify({ quick, size: SIZE, peerSize: PEER_SIZE, rate: RATE, results: rows, ratios, targets }, null, 2)}\n`);
    return;
  }
  const pad = (s: unknown, n: number) => String(s ?? '-').padStart(n);
  console.log(`\nqueue benchmark (${quick ? 'quick' : 'full'}): hms-sync ${SIZE.jobs} jobs over ${SIZE.keys} keys, peers ${PEER_SIZE.jobs} over ${PEER_SIZE.keys}; latency at ${RATE} jobs/s for ${SIZE.seconds} s; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} CPUs`);
  console.log(`${'system'.padEnd(24)}${pad('enqueue/s', 11)}${pad('process/s', 11)}${pad('total/s', 10)}${pad('order', 7)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}  note`);
  for (const r of rows) {
    const t = r.throughput;
    const l = r.latency;
    const order = t?.orderKept == null ? 'n/a' : t.orderKept ? 'kept' : 'BROKEN';
    console.log(`${r.system.padEnd(24)}${pad(t?.enqueuePerSec, 11)}${pad(t?.processPerSec, 11)}${pad(t?.totalPerSec, 10)}${pad(t ? order : undefined, 7)}${pad(l?.p50, 9)}${pad(l?.p99, 9)}  ${r.error ? `ERROR ${r.error}` : (r.note ?? '')}`);
  }
  if (ourSqlite?.throughput?.processPerCpuSec) console.log(`hms-sync SQLite: ${ourSqlite.throughput.processPerCpuSec} jobs claimed and acked per CPU-second of this process (independent of the machine's load)`);
  for (const r of ratios) console.log(`hms-sync PostgreSQL vs ${r.peer}: process ${r.processPerSec ?? '-'}x, total ${r.totalPerSec ?? '-'}x, p99 ${r.p99 ?? '-'}x lower`);
  const mark = (v: boolean | null) => (v === null ? 'not measured' : v ? 'met' : 'MISSED');
  console.log(`targets: PostgreSQL >= ${TARGETS.pgVsGraphile}x graphile-worker with order kept: ${mark(targets.pgAtLeast5xGraphile)}; p99 <= ${TARGETS.p99Ms} ms: ${mark(targets.pgP99AtMost25ms)}; SQLite >= ${TARGETS.sqlitePerSec} jobs/s: ${mark(targets.sqliteAtLeast20k)}`);
}

if (only !== 'postgres') await benchSqlite();
if (only !== 'sqlite') await benchPostgres();
report();
