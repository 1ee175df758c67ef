/**
 * Change-capture benchmark (PostgreSQL logical replication -> hms-sync -> HTTP sink on loopback).
 *   npm run bench:cdc [-- --quick] [-- --json]
 *
 * (A) Keep-up: one client commits single-row UPDATEs as fast as it can (synchronous_commit=off
 *     in that session, the usual way to reach a high single-client commit rate) while a child
 *     `hms-sync run` captures the table by logical replication and delivers every change to a
 *     local HTTP receiver. Every second it samples: commits so far, changes not yet delivered,
 *     delivery lag (now - commit time of the newest delivered change) and the WAL bytes behind
 *     the slot's confirmed LSN, for our slot and for `pg_recvlogical` decoding the same load
 *     into /dev/null on its own slot (the ceiling: decoding with no work at all).
 * (B) Latency: paced loads of 1,000 and 5,000 changes/s; commit-to-delivery p50/p99 (from the
 *     client's COMMIT returning to the request arriving at the receiver).
 * (C) Backfill rows/s: a hook for the backfill command (issue 4's other half): set
 *     HMS_BENCH_BACKFILL_MODULE to a module exporting `backfillBench({ url, schema, quick })`
 *     that returns { rows, seconds }; otherwise reported as "not run".
 *
 * PostgreSQL with wal_level=logical: HMS_TEST_PG_LOGICAL_URL, the main test server when it is
 * logical, or a private cluster on port 5433 (see test/helpers/pg-logical.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { needLogicalPg } from '../test/helpers/pg-logical.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const asJson = args.includes('--json');
const KEYS = 50_000;
const DUR = quick ? { keepUp: 5, paced: 3 } : { keepUp: 15, paced: 8 };
const RATES = [1000, 5000];
const TARGETS = { commitsPerSec: 7000, p99Ms: 100 };

function log(msg: string): void {
  if (!asJson) process.stderr.write(`${msg}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

// ---- receiver: records the arrival time of every delivered seq ----
const arrivals = new Map<number, number>();
let maxDelivered = 0;
let requests = 0;
function startReceiver(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      requests++;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { seq?: unknown };
        const seq = Number(body.seq);
        if (Number.isFinite(seq)) {
          if (!arrivals.has(seq)) arrivals.set(seq, at);
          if (seq > maxDelivered) maxDelivered = seq;
        }
      } catch {}
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main(): Promise<void> {
  const { url, skip } = await needLogicalPg();
  if (skip) throw new Error(`no PostgreSQL with wal_level=logical: ${skip}`);
  const u = new URL(url);
  const schema = `bench_cdc_${process.pid}`;
  const slot = `hms_bench_${process.pid}`;
  const recvSlot = `hms_bench_recv_${process.pid}`;
  const pub = `hms_bench_${process.pid}`;
  const tmp = mkdtempSync(path.join(tmpdir(), 'hms-cdc-bench-'));
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const load = new pg.Client({ connectionString: url });
  await load.connect();
  await load.query('SET synchronous_commit = off');
  let child: ChildProcess | null = null;
  let recv: ChildProcess | null = null;
  let server: Server | null = null;
  const commitAt: number[] = [];
  let seq = 0;
  const result: Record<string, unknown> = { machine: { cpus: cpus().length, node: process.version, loadavgAtStart: loadavg().map((x) => Math.round(x * 10) / 10) }, server: `${u.hostname}:${u.port}`, quick };
  log(`PostgreSQL ${u.hostname}:${u.port}; ${cpus().length} CPUs, load average at start ${loadavg().map((x) => x.toFixed(1)).join(' ')} (other processes compete for the CPUs)`);
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE TABLE ${schema}.items (id int PRIMARY KEY, seq bigint NOT NULL, pad text)`);
    await admin.query(`INSERT INTO ${schema}.items SELECT g, 0, 'row ' || g FROM generate_series(1, ${KEYS}) g`);
    await admin.query(`CREATE PUBLICATION ${pub} FOR TABLE ${schema}.items`);
    server = await startReceiver();
    const port = (server.address() as AddressInfo).port;
    const config = path.join(tmp, 'hms-sync.yaml');
    writeFileSync(config, `store: sqlite:${path.join(tmp, 'state.db')}
stateDir: ${tmp}
systems:
  db: { driver: postgres, url: "${url}", schema: ${schema} }
  target: { driver: http, url: "http://127.0.0.1:${port}", timeout: 5s }
pipelines:
  items:
    from: { system: db, collection: items, mode: logical, slot: ${slot}, publication: ${pub} }
    to: { system: target, collection: items, path: "/items/{key}", body: state }
    key: id
    delivery: { batchSize: 500, concurrency: 4, lease: 10s, timeout: 5s }
`);
    const cli = path.resolve('test/helpers/run-cli.ts');
    child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), cli, 'run', config, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const slotActive = async (name: string) => (await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [name])).rowCount === 1;
    for (let i = 0; i < 300 && !(await slotActive(slot)); i++) await sleep(100);
    if (!(await slotActive(slot))) throw new Error('hms-sync did not start streaming within 30 s');

    const recvBin = spawnSync('sh', ['-c', 'command -v pg_recvlogical || ls /usr/lib/postgresql/*/bin/pg_recvlogical 2>/dev/null | tail -1'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
    if (recvBin) {
      await admin.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [recvSlot]);
      recv = spawn(recvBin, ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), '-d', u.pathname.slice(1), '--slot', recvSlot, '--start',
        '-o', 'proto_version=1', '-o', `publication_names=${pub}`, '-f', '/dev/null', '-s', '1', '-F', '1'], { stdio: ['ignore', 'ignore', 'inherit'] });
      for (let i = 0; i < 100 && !(await slotActive(recvSlot)); i++) await sleep(100);
    } else log('pg_recvlogical not found (install postgresql-client): the ceiling is not measured');

    const update = async () => {
      seq++;
      await load.query(`UPDATE ${schema}.items SET seq = $1 WHERE id = $2`, [seq, (seq % KEYS) + 1]);
      commitAt[seq] = Date.now();
    };
    const slotLag = async (name: string): Promise<number | null> => {
      const r = await admin.query<{ b: string | null }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS b FROM pg_replication_slots WHERE slot_name = $1', [name]);
      return r.rows[0]?.b == null ? null : Number(r.rows[0].b);
    };
    const drain = async (timeoutMs: number) => {
      const t0 = Date.now();
      while (maxDelivered < seq && Date.now() - t0 < timeoutMs) await sleep(20);
      return maxDelivered >= seq ? Date.now() - t0 : null;
    };

    // warm-up
    for (let i = 0; i < 200; i++) await update();
    await drain(20_000);

    // (A) keep-up at the highest single-client rate
    log(`(A) keep-up: single-row UPDATE commits from one client for ${DUR.keepUp} s, captured by logical replication into an HTTP receiver`);
    const samples: Array<Record<string, number | null>> = [];
    const startSeq = seq;
    const tA = Date.now();
    let nextSample = tA + 1000;
    let lastSampleSeq = seq;
    while (Date.now() - tA < DUR.keepUp * 1000) {
      await update();
      if (Date.now() >= nextSample) {
        const now = Date.now();
        const s = {
          t: Math.round((now - tA) / 100) / 10,
          commitsPerSec: seq - lastSampleSeq,
          committed: seq - startSeq,
          behind: seq - maxDelivered,
          lagMs: maxDelivered > 0 ? now - (commitAt[maxDelivered] ?? now) : null,
          slotLagKB: Math.round(((await slotLag(slot)) ?? 0) / 1024),
          recvlogicalLagKB: recv ? Math.round(((await slotLag(recvSlot)) ?? 0) / 1024) : null,
        };
        samples.push(s);
        log(`  t=${String(s.t).padStart(4)}s  commits/s=${String(s.commitsPerSec).padStart(5)}  behind=${String(s.behind).padStart(6)}  lag=${String(s.lagMs).padStart(5)} ms  slot lag=${String(s.slotLagKB).padStart(6)} KB  pg_recvlogical slot lag=${String(s.recvlogicalLagKB).padStart(6)} KB`);
        lastSampleSeq = seq;
        nextSample += 1000;
      }
    }
    const elapsedA = (Date.now() - tA) / 1000;
    const rateA = (seq - startSeq) / elapsedA;
    const drainMs = await drain(120_000);
    const lagSlope = slope(samples.map((s) => Number(s.t)), samples.map((s) => Number(s.lagMs ?? 0)));
    const keptUp = drainMs !== null && drainMs < 2000 && lagSlope < 100;
    result.keepUp = { seconds: elapsedA, commitsPerSec: Math.round(rateA), samples, drainMsAfterLoad: drainMs, lagSlopeMsPerSec: Math.round(lagSlope), keptUp };
    log(`  => ${Math.round(rateA)} commits/s from one client; after the load stopped the last change was delivered in ${drainMs ?? '>120000'} ms; lag trend ${Math.round(lagSlope)} ms/s: ${keptUp ? 'capture KEPT UP (flat lag)' : 'capture FELL BEHIND'}`);

    // (B) paced latency
    const latency: Array<Record<string, number>> = [];
    for (const rate of RATES) {
      log(`(B) commit-to-delivery latency at ${rate} changes/s for ${DUR.paced} s`);
      const first = seq + 1;
      const t0 = Date.now();
      let sent = 0;
      while (Date.now() - t0 < DUR.paced * 1000) {
        const due = Math.floor(((Date.now() - t0) / 1000) * rate);
        while (sent < due) {
          await update();
          sent++;
        }
        if (sent >= due) await sleep(2);
      }
      const achieved = sent / ((Date.now() - t0) / 1000);
      const last = seq;
      await drain(60_000);
      const lat: number[] = [];
      for (let s = first; s <= last; s++) {
        const a = arrivals.get(s);
        if (a !== undefined) lat.push(a - commitAt[s]!);
      }
      lat.sort((a, b) => a - b);
      const row = { targetRate: rate, achievedRate: Math.round(achieved), delivered: lat.length, changes: last - first + 1, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), maxMs: lat.at(-1) ?? NaN };
      latency.push(row);
      log(`  => achieved ${row.achievedRate}/s, delivered ${row.delivered}/${row.changes}, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, max ${row.maxMs} ms`);
    }
    result.latency = latency;

    // (C) backfill hook
    const mod = process.env.HMS_BENCH_BACKFILL_MODULE;
    if (mod) {
      const m = (await import(path.resolve(mod))) as { backfillBench(o: { url: string; schema: string; quick: boolean }): Promise<{ rows: number; seconds: number }> };
      const r = await m.backfillBench({ url, schema, quick });
      result.backfill = { ...r, rowsPerSec: Math.round(r.rows / r.seconds) };
      log(`(C) backfill: ${r.rows} rows in ${r.seconds.toFixed(1)} s = ${Math.round(r.rows / r.seconds)} rows/s`);
    } else {
      result.backfill = 'not run (HMS_BENCH_BACKFILL_MODULE unset)';
      log('(C) backfill rows/s: not run here (hook: HMS_BENCH_BACKFILL_MODULE=<module exporting backfillBench>)');
    }
    result.targets = TARGETS;
    result.requests = requests;
  } finally {
    if (child) {
      const c = child;
      await new Promise<void>((r) => { if (c.exitCode !== null) r(); else { c.once('exit', () => r()); c.kill('SIGTERM'); } });
    }
    if (recv) {
      const c = recv;
      await new Promise<void>((r) => { if (c.exitCode !== null) r(); else { c.once('exit', () => r()); c.kill('SIGTERM'); } });
    }
    for (let i = 0; i < 50; i++) {
      const r = await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name IN ($1, $2) AND active', [slot, recvSlot]);
      if (r.rowCount === 0) break;
      await sleep(100);
    }
    await admin.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ($1, $2)', [slot, recvSlot]).catch((e: Error) => log(`cannot drop slots: ${e.message}`));
    await admin.query(`DROP PUBLICATION IF EXISTS ${pub}`);
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await load.end();
    await admin.end();
    server?.closeAllConnections();
    server?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  if (asJson) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cdc failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
