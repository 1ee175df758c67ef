/**
 * Change-capture benchmark (PostgreSQL logical replication -> hms-sync -> HTTP sink on loopback).
 *   npm run bench:cdc [-- --quick] [-- --json]
 *
 * (A0) Ceiling: one client (one connection running a server-side loop, so no round trips limit
 *     it) commits single-row UPDATEs as fast as PostgreSQL allows (default synchronous_commit=on:
 *     with it off, WAL reaches the walsender only at wal_writer_delay, ~100 ms later) while only
 *     `pg_recvlogical` decodes them into /dev/null on its own slot: commits/s and its slot lag.
 * (A) Keep-up: the same load while a child `hms-sync run` captures the table by logical
 *     replication and delivers every change to a local HTTP receiver (sink in batch mode); then
 *     paced at the issue's 7,000 commits/s. Every second: commits/s, changes not yet delivered,
 *     delivery lag (now - commit time of the newest delivered change) and the WAL bytes behind the
 *     slot's confirmed LSN.
 * (B) Latency: paced loads of 1,000 and 5,000 changes/s (4 sessions at a quarter of the rate each,
 *     synchronous commits: one session alone cannot fsync 5,000 commits/s while hms-sync also
 *     writes its state store); commit-to-delivery p50/p99 (from the row's `at = clock_timestamp()`
 *     set just before its COMMIT to the request's arrival), with the HTTP sink in batch mode and
 *     then with one request per change.
 * (A') Decoding ceiling on a backlog: pg_recvlogical vs the hms-sync logical source alone.
 * (C) Backfill rows/s: a hook for the backfill command (issue 4's other half): set
 *     HMS_BENCH_BACKFILL_MODULE to a module exporting `backfillBench({ url, schema, quick })`
 *     that returns { rows, seconds }; otherwise reported as "not run".
 *
 * PostgreSQL with wal_level=logical: HMS_TEST_PG_LOGICAL_URL, the main test server when it is
 * logical, or a private cluster on port 5433 (see test/helpers/pg-logical.ts).
 */
import { withSnapshot } from '../src/engine/snapshot.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { silentLogger } from '../src/core/log.js';
import type { Source } from '../src/connectors/contract.js';
import { postgresConnector } from '../src/connectors/postgres/postgres-connector.js';
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

// ---- receiver: records, per delivered seq, the delay from the source commit to its arrival ----
const latencyBySeq = new Map<number, number>();
let maxDelivered = 0;
let newestCommitAt = 0;
let requests = 0;
let lastArrival = 0;
function startReceiver(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrived = Date.now();
      lastArrival = arrived;
      requests++;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { seq?: unknown; at?: unknown; items?: Array<{ state?: { seq?: unknown; at?: unknown } }> };
        // per-request mode: the body is the row; batch mode: { items: [{ id, op, key, state }] }
        for (const row of body.items ? body.items.map((i) => i.state ?? {}) : [body]) {
          const seq = Number(row.seq);
          const at = Date.parse(String(row.at));
          if (Number.isFinite(seq) && Number.isFinite(at)) {
            if (!latencyBySeq.has(seq)) latencyBySeq.set(seq, arrived - at);
            if (seq > maxDelivered) {
              maxDelivered = seq;
              newestCommitAt = at;
            }
          }
        }
      } catch {}
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function stopChild(c: ChildProcess | null): Promise<void> {
  return new Promise<void>((r) => {
    if (!c || c.exitCode !== null || c.signalCode !== null) return r();
    c.once('exit', () => r());
    c.kill('SIGTERM');
  });
}

async function main(): Promise<void> {
  const { url, skip } = await needLogicalPg();
  if (skip) throw new Error(`no PostgreSQL with wal_level=logical: ${skip}`);
  const u = new URL(url);
  const id = process.pid;
  const schema = `bench_cdc_${id}`;
  const slot = `hms_bench_${id}`;
  const recvSlot = `hms_bench_recv_${id}`;
  const decSlots = [`hms_bench_dec_${id}`, `hms_bench_decr_${id}`];
  const pub = `hms_bench_${id}`;
  const tmp = mkdtempSync(path.join(tmpdir(), 'hms-cdc-bench-'));
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const load = new pg.Client({ connectionString: url });
  await load.connect();
  /** Extra clients for the paced runs (commits of several sessions share WAL flushes). */
  const PACED_CLIENTS = 4;
  const extra: pg.Client[] = [];
  for (let i = 1; i < PACED_CLIENTS; i++) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    extra.push(c);
  }
  let child: ChildProcess | null = null;
  let recv: ChildProcess | null = null;
  let server: Server | null = null;
  const result: Record<string, unknown> = { machine: { cpus: cpus().length, node: process.version, loadavgAtStart: loadavg().map((x) => Math.round(x * 10) / 10) }, server: `${u.hostname}:${u.port}`, quick };
  log(`PostgreSQL ${u.hostname}:${u.port}; ${cpus().length} CPUs, load average at start ${loadavg().map((x) => x.toFixed(1)).join(' ')} (other processes compete for the CPUs)`);
  const recvBin = spawnSync('sh', ['-c', 'command -v pg_recvlogical || ls /usr/lib/postgresql/*/bin/pg_recvlogical 2>/dev/null | tail -1'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  const recvArgs = (slotName: string) => ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), '-d', u.pathname.slice(1), '--slot', slotName, '--start',
    '-o', 'proto_version=1', '-o', `publication_names=${pub}`, '-f', '/dev/null'];
  /** One client, server-side loop: single-row UPDATE + COMMIT per change, paced to `rate`/s (0 = as fast as possible). */
  const drive = (seconds: number, rate: number, client: pg.Client = load) => client.query(`DO $$
    DECLARE t0 timestamptz := clock_timestamp(); n bigint := 0; due bigint; i bigint;
    BEGIN
      WHILE clock_timestamp() - t0 < interval '${seconds} seconds' LOOP
        due := ${rate > 0 ? `floor(extract(epoch FROM clock_timestamp() - t0) * ${rate})` : 'n + 100'};
        WHILE n < due AND clock_timestamp() - t0 < interval '${seconds} seconds' LOOP
          i := nextval('${schema}.seq');
          UPDATE ${schema}.items SET seq = i, at = clock_timestamp() WHERE id = (i % ${KEYS}) + 1;
          COMMIT;
          n := n + 1;
        END LOOP;
        ${rate > 0 ? 'PERFORM pg_sleep(0.002);' : ''}
      END LOOP;
    END $$`);
  const committed = async () => Number((await admin.query<{ v: string }>(`SELECT last_value::text AS v FROM ${schema}.seq`)).rows[0]!.v);
  const slotLag = async (name: string): Promise<number | null> => {
    const r = await admin.query<{ b: string | null }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS b FROM pg_replication_slots WHERE slot_name = $1', [name]);
    return r.rows[0]?.b == null ? null : Number(r.rows[0].b);
  };
  const slotActive = async (name: string) => (await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [name])).rowCount === 1;
  /** Waits until the newest change arrived and the receiver then stayed quiet for 500 ms; ms from the call to the last arrival. */
  const drain = async (upTo: number, timeoutMs: number) => {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs && (maxDelivered < upTo || Date.now() - lastArrival < 500)) await sleep(20);
    return maxDelivered >= upTo ? Math.max(0, lastArrival - t0) : null;
  };
  /** Drops what the run created (slots, publication, schema, files); also on Ctrl-C or SIGTERM. */
  let cleaning: Promise<void> | null = null;
  const cleanup = () => (cleaning ??= (async () => {
    // a load loop may still be running (interrupted run): cancel it so DROP SCHEMA does not wait
    const pids = [load, ...extra].map((c) => (c as unknown as { processID?: number }).processID).filter((x): x is number => typeof x === 'number');
    await admin.query('SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1)', [pids]).catch(() => {});
    await stopChild(child);
    await stopChild(recv);
    const all = [slot, recvSlot, ...decSlots];
    for (let i = 0; i < 50; i++) {
      const r = await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = ANY($1) AND active', [all]);
      if (r.rowCount === 0) break;
      await sleep(100);
    }
    await admin.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1)', [all]).catch((e: Error) => log(`cannot drop slots: ${e.message}`));
    await admin.query(`DROP PUBLICATION IF EXISTS ${pub}`);
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await load.end().catch(() => {});
    for (const c of extra) await c.end().catch(() => {});
    await admin.end();
    server?.closeAllConnections();
    server?.close();
    rmSync(tmp, { recursive: true, force: true });
  })());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: dropping the bench's slots, publication and schema`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE TABLE ${schema}.items (id int PRIMARY KEY, seq bigint NOT NULL, at timestamptz NOT NULL, pad text)`);
    await admin.query(`CREATE SEQUENCE ${schema}.seq`);
    await admin.query(`INSERT INTO ${schema}.items SELECT g, 0, now(), 'row ' || g FROM generate_series(1, ${KEYS}) g`);
    await admin.query(`CREATE PUBLICATION ${pub} FOR TABLE ${schema}.items`);
    server = await startReceiver();
    const port = (server.address() as AddressInfo).port;
    const config = path.join(tmp, 'hms-sync.yaml');
    const cli = path.resolve('test/helpers/run-cli.ts');
    /** Start `hms-sync run` on the slot with the HTTP sink in batch mode (one request per up to 500 changes) or one request per change. */
    const startHms = async (sink: 'batch' | 'request') => {
      writeFileSync(config, `store: sqlite:${path.join(tmp, 'state.db')}
stateDir: ${tmp}
systems:
  db: { driver: postgres, url: "${url}", schema: ${schema} }
  target: { driver: http, url: "http://127.0.0.1:${port}", timeout: 5s }
pipelines:
  items:
    from: { system: db, collection: items, mode: logical, slot: ${slot}, publication: ${pub} }
    to: { system: target, collection: items, ${sink === 'batch' ? 'path: "/items", body: state, concurrency: 4, batch: { maxItems: 500 }' : 'path: "/items/{key}", body: state, concurrency: 32'} }
    key: id
    delivery: { batchSize: 500, concurrency: 4, lease: 10s, timeout: 5s }
`);
      child = spawn(process.execPath, [...(process.env.HMS_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', import.meta.resolve('tsx'), cli, 'run', config, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
      for (let i = 0; i < 300 && !(await slotActive(slot)); i++) await sleep(100);
      if (!(await slotActive(slot))) throw new Error('hms-sync did not start streaming within 30 s');
      // warm-up
      await drive(1, 500);
      await drain(await committed(), 30_000);
    };
    const stopHms = async () => {
      await stopChild(child);
      child = null;
      for (let i = 0; i < 100 && (await slotActive(slot)); i++) await sleep(100);
    };

    /** One keep-up run: the load for DUR.keepUp seconds, sampled every second. */
    const keepUp = async (rate: number, who: 'hms-sync' | 'pg_recvlogical', sessions = 1) => {
      const samples: Array<Record<string, number | null>> = [];
      const startSeq = await committed();
      const tA = Date.now();
      const loadDone = sessions === 1 ? drive(DUR.keepUp, rate) : Promise.all([load, ...extra].slice(0, sessions).map((c) => drive(DUR.keepUp, rate / sessions, c))).then(() => undefined);
      let running = true;
      loadDone.then(() => { running = false; }, () => { running = false; });
      let last = startSeq;
      const watched = who === 'hms-sync' ? slot : recvSlot;
      while (running) {
        await Promise.race([sleep(1000), loadDone.catch(() => {})]);
        if (!running) break;
        const now = Date.now();
        const lagMs = who === 'hms-sync' && newestCommitAt ? now - newestCommitAt : null; // before any await: arrivals keep coming
        const c = await committed();
        const s = { t: Math.round((now - tA) / 100) / 10, commitsPerSec: c - last, behind: who === 'hms-sync' ? c - maxDelivered : null, lagMs, slotLagKB: Math.round(((await slotLag(watched)) ?? 0) / 1024) };
        last = c;
        samples.push(s);
        log(`  t=${String(s.t).padStart(4)}s  commits/s=${String(s.commitsPerSec).padStart(5)}  slot lag=${String(s.slotLagKB).padStart(6)} KB${who === 'hms-sync' ? `  not yet delivered=${String(s.behind).padStart(6)}  delivery lag=${String(s.lagMs).padStart(5)} ms` : ''}`);
      }
      await loadDone;
      const endSeq = await committed();
      const elapsed = (Date.now() - tA) / 1000;
      const rateA = (endSeq - startSeq) / elapsed;
      const ts = samples.map((x) => Number(x.t));
      const slotSlope = slope(ts, samples.map((x) => Number(x.slotLagKB ?? 0)));
      const captureKeptUp = slotSlope < 256; // KB/s of growing WAL backlog behind the slot
      const row: Record<string, unknown> = { consumer: who, sessions, targetRate: rate || 'max', seconds: elapsed, commitsPerSec: Math.round(rateA), samples, slotLagSlopeKBPerSec: Math.round(slotSlope), captureKeptUp };
      if (who === 'hms-sync') {
        const drainMs = await drain(endSeq, 300_000);
        const lagSlope = slope(ts, samples.map((x) => Number(x.lagMs ?? 0)));
        const keptUp = drainMs !== null && drainMs < 2000 && lagSlope < 100;
        const lat: number[] = [];
        for (let q = startSeq + 1; q <= endSeq; q++) { const l = latencyBySeq.get(q); if (l !== undefined) lat.push(l); }
        lat.sort((x, y) => x - y);
        Object.assign(row, { drainMsAfterLoad: drainMs, lagSlopeMsPerSec: Math.round(lagSlope), keptUp, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99) });
        log(`  => ${Math.round(rateA)} commits/s. Capture (slot confirmed after the store commit): slot lag trend ${Math.round(slotSlope)} KB/s: ${captureKeptUp ? 'KEPT UP' : 'FELL BEHIND'}.`);
        log(`     End to end (delivered to the HTTP receiver): lag trend ${Math.round(lagSlope)} ms/s, last change arrived ${drainMs ?? '>300000'} ms after the load stopped, commit-to-delivery p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms: ${keptUp ? 'KEPT UP (flat lag)' : 'FELL BEHIND'}.`);
      } else {
        log(`  => ${Math.round(rateA)} commits/s with pg_recvlogical consuming; its slot lag trend ${Math.round(slotSlope)} KB/s: ${captureKeptUp ? 'KEPT UP' : 'FELL BEHIND'}.`);
      }
      return row;
    };

    /** Commit-to-delivery latency at paced rates (4 sessions at a quarter of the rate each). */
    const paced = async (sink: string) => {
      const rows: Array<Record<string, unknown>> = [];
      for (const rate of RATES) {
        log(`(B) commit-to-delivery latency at ${rate} changes/s for ${DUR.paced} s, HTTP sink ${sink === 'batch' ? 'in batch mode' : 'with one request per change'}`);
        const first = (await committed()) + 1;
        const t0 = Date.now();
        await Promise.all([load, ...extra].map((c) => drive(DUR.paced, rate / PACED_CLIENTS, c)));
        const lastSeq = await committed();
        const achieved = (lastSeq - first + 1) / ((Date.now() - t0) / 1000);
        await drain(lastSeq, 120_000);
        const lat: number[] = [];
        for (let q = first; q <= lastSeq; q++) { const l = latencyBySeq.get(q); if (l !== undefined) lat.push(l); }
        lat.sort((x, y) => x - y);
        const row = { sink, targetRate: rate, achievedRate: Math.round(achieved), delivered: lat.length, changes: lastSeq - first + 1, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), maxMs: lat.at(-1) ?? NaN };
        rows.push(row);
        log(`  => achieved ${row.achievedRate}/s, delivered ${row.delivered}/${row.changes}, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms${rate === 5000 ? ` (target < ${TARGETS.p99Ms} ms)` : ''}, max ${row.maxMs} ms`);
      }
      return rows;
    };

    const keepUps: Array<Record<string, unknown>> = [];
    // (A0) the ceiling: pg_recvlogical alone consuming the same load on its own slot
    if (recvBin) {
      await admin.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [recvSlot]);
      recv = spawn(recvBin, [...recvArgs(recvSlot), '-s', '1', '-F', '1'], { stdio: ['ignore', 'ignore', 'inherit'] });
      for (let i = 0; i < 100 && !(await slotActive(recvSlot)); i++) await sleep(100);
      log(`(A0) ceiling: one client commits single-row UPDATEs as fast as PostgreSQL allows for ${DUR.keepUp} s while only pg_recvlogical decodes them`);
      keepUps.push(await keepUp(0, 'pg_recvlogical'));
      await stopChild(recv);
      recv = null;
      for (let i = 0; i < 50 && (await slotActive(recvSlot)); i++) await sleep(100);
      await admin.query('SELECT pg_drop_replication_slot($1)', [recvSlot]);
    } else log('pg_recvlogical not found (install postgresql-client): the ceiling is not measured');

    // (A) keep-up with hms-sync consuming (HTTP sink in batch mode): as fast as possible, then paced at the issue's target rate
    await startHms('batch');
    for (const [rate, sessions] of [[0, 1], [TARGETS.commitsPerSec, 1], [TARGETS.commitsPerSec, PACED_CLIENTS]] as const) {
      const who = sessions === 1 ? 'one client commits' : `${sessions} sessions commit`;
      log(`(A) keep-up: ${who} ${rate ? `${rate} single-row UPDATE commits/s` : 'single-row UPDATEs as fast as PostgreSQL allows'} for ${DUR.keepUp} s; hms-sync captures them by logical replication into an HTTP receiver (batch mode)`);
      keepUps.push(await keepUp(rate, 'hms-sync', sessions));
    }
    result.keepUp = keepUps;
    {
      const ceilingRow = keepUps.find((k) => k.consumer === 'pg_recvlogical');
      const ours = keepUps.find((k) => k.consumer === 'hms-sync' && k.targetRate === 'max');
      if (ceilingRow && ours) {
        const ratio = Number(ours.commitsPerSec) / Number(ceilingRow.commitsPerSec);
        result.keepUpRatioToPgRecvlogical = Math.round(ratio * 100) / 100;
        log(`  => one session's commits/s with hms-sync consuming vs with pg_recvlogical consuming: ${ours.commitsPerSec} / ${ceilingRow.commitsPerSec} = ${ratio.toFixed(2)}x`);
      }
    }

    // (B) paced latency, batch mode then one request per change
    const latency = await paced('batch');
    await stopHms();
    await startHms('request');
    latency.push(...(await paced('request')));
    result.latency = latency;
    await stopHms();
    await stopChild(recv);

    // (A') decoding ceiling on a backlog: pg_recvlogical vs the hms-sync source alone (no engine)
    const N = quick ? 20_000 : 100_000;
    log(`(A') decoding a backlog of ${N} single-row commits: pg_recvlogical (ceiling) vs the hms-sync logical source alone (acking each batch, no store or delivery)`);
    for (const s of decSlots) await admin.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [s]);
    await load.query(`DO $$ DECLARE i bigint; BEGIN FOR k IN 1..${N} LOOP i := nextval('${schema}.seq'); UPDATE ${schema}.items SET seq = i, at = clock_timestamp() WHERE id = (i % ${KEYS}) + 1; COMMIT; END LOOP; END $$`);
    const endLsn = (await admin.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
    const ceiling: Record<string, number | string> = { changes: N };
    if (recvBin) {
      const t0 = Date.now();
      const r = spawnSync(recvBin, [...recvArgs(decSlots[1]!), '-E', endLsn], { encoding: 'utf8' });
      const ms = Date.now() - t0;
      ceiling.pgRecvlogicalPerSec = r.status === 0 ? Math.round(N / (ms / 1000)) : `failed: ${r.stderr.trim()}`;
    }
    {
      const state = withSnapshot({ scope: 'bench', getPosition: async () => null, getShadow: async () => new Map(), async *listShadow() {} }, { system: 'db', collection: 'items' });
      const src = postgresConnector.createSource!({ system: 'db', systemConfig: { url, schema }, collection: 'items', keyFields: ['id'], state, options: { mode: 'logical', slot: decSlots[0], publication: pub }, logger: silentLogger(), workDir: tmp }) as Source;
      const ac = new AbortController();
      const t0 = Date.now();
      let n = 0;
      for await (const b of src.stream(ac.signal)) {
        n += b.events.length;
        await b.ack?.();
        if (n >= N) break;
      }
      ceiling.hmsSourcePerSec = Math.round(n / ((Date.now() - t0) / 1000));
      await src.close();
    }
    result.decodeBacklog = ceiling;
    const decodeRatio = typeof ceiling.pgRecvlogicalPerSec === 'number' ? Number(ceiling.hmsSourcePerSec) / ceiling.pgRecvlogicalPerSec : null;
    if (decodeRatio !== null) ceiling.ratioToPgRecvlogical = Math.round(decodeRatio * 100) / 100;
    log(`  => pg_recvlogical ${ceiling.pgRecvlogicalPerSec ?? 'n/a'} changes/s; hms-sync logical source ${ceiling.hmsSourcePerSec} changes/s${decodeRatio !== null ? ` = ${decodeRatio.toFixed(2)}x pg_recvlogical` : ''}`);

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
    result.loadavgAtEnd = loadavg().map((x) => Math.round(x * 10) / 10);
  } finally {
    await cleanup();
  }
  if (asJson) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cdc failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
