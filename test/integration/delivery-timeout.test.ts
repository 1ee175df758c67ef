/**
 * A delivery that outlives `delivery.timeout` never lets an older value land after a newer one
 * (issue 11 item 4). For every sink, a real peer is slow for the write of `v1` during a window
 * (it answers, or commits, after the engine's time limit), while `v2` of the same key is queued
 * behind it. Then the target must hold `v2`, and no `v1` may have landed after the first `v2`.
 *
 * Before the fix the timed-out call kept running in the background: its retries were claimed
 * (and abandoned) while it ran, `v2` was written once the window closed, and the abandoned `v1`
 * calls landed after it, leaving the target at `v1` with every job done.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { parseConfig, configError } from '../../src/config/load-config.js';
import { createEngine, type Engine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/core/log.js';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { MARIADB_URL, needCommand, needService, PG_URL, tempDir, uniqueName, waitFor } from '../helpers/services.js';
import { startPhpSoapServer } from '../helpers/php-soap-server.js';

/** How long the peer takes for a slow write: well past the engine's time limit. */
const SLOW_MS = 1500;
/** The engine's delivery.timeout. */
const TIMEOUT_MS = 400;
/** The slow window: `v1` writes that start within it are slow. */
const WINDOW_MS = 1200;

const closers: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const c of closers.reverse()) {
    try { await c(); } catch { /* best effort */ }
  }
});

interface Peer {
  /** YAML flow map of the target system. */
  system: string;
  /** YAML flow map of the pipeline's `to`. */
  to: string;
  /** The value of key K in the target now (null when absent). */
  current(): Promise<string | null>;
  /** Every value of key K that landed (committed / applied), in the order it landed. */
  landed(): Promise<string[]>;
}

/** Runs the scenario against one peer; `until` is the end of the slow window (epoch ms). */
async function scenario(peer: (until: number) => Promise<Peer>, opts: { cancels?: boolean } = {}): Promise<void> {
  const tmp = tempDir();
  closers.push(tmp.cleanup);
  const until = Date.now() + WINDOW_MS;
  const p = await peer(until);
  const yaml = `store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  src: { driver: sqlite, path: ${path.join(tmp.dir, 'src.db')} }
  target: ${p.system}
pipelines:
  items:
    from: { system: src, collection: items }
    to: ${p.to}
    key: id
    delivery: { timeout: ${TIMEOUT_MS}ms, lease: 3s, backoff: "fixed 50ms", maxAttempts: 100, batchSize: 10 }
`;
  const { config, issues } = parseConfig(yaml, { env: process.env });
  if (!config) throw configError(issues);
  const engine: Engine = createEngine({ config, logger: silentLogger(), capture: false, idlePollMs: 50 });
  await engine.start();
  closers.push(() => engine.stop(2000));
  await engine.enqueue('items', { id: 'K', val: 'v1' });
  // v2 arrives while v1 is being delivered (slowly)
  await waitFor(async () => (await engine.store.listJobs({})).some((j) => j.attempts > 0), { timeoutMs: 5000, what: 'the v1 job to be claimed' });
  await engine.enqueue('items', { id: 'K', val: 'v2' });
  await waitFor(async () => {
    const s = (await engine.store.stats())[0];
    return s && s.pending + s.running + s.retrying === 0 && s.done > 0;
  }, { timeoutMs: 15_000, what: 'every job to be delivered' });
  // anything abandoned would have landed by now: it started within the window and takes SLOW_MS
  await waitFor(() => Date.now() > until + SLOW_MS + 500, { timeoutMs: 10_000 });
  const stats = (await engine.store.stats())[0]!;
  assert.equal(stats.dead, 0, `no job dead-lettered (${stats.lastError})`);
  const landed = await p.landed();
  const firstV2 = landed.indexOf('v2');
  // (v1 itself may never land: a retry of it waiting in the queue takes v2 in by coalescing)
  assert.ok(firstV2 >= 0, `v2 landed: ${landed.join(', ')}`);
  assert.deepEqual(landed.slice(firstV2).filter((v) => v !== 'v2'), [], `no older value landed after v2: ${landed.join(' -> ')}`);
  assert.equal(await p.current(), 'v2', `the target ends with the newest value (landed: ${landed.join(' -> ')})`);
  // a sink that cancels (SQL: the statement is cancelled and its transaction rolled back) lands
  // nothing of a timed-out attempt: v1 once (the retry after the window), then v2
  if (opts.cancels) assert.deepEqual(landed, ['v1', 'v2'], 'the timed-out attempts were cancelled, not left to finish');
  await engine.stop(2000);
}

/**
 * An HTTP service that keeps working on a request whose client went away (as real services do):
 * a slow `v1` is applied SLOW_MS after it arrived, whether anyone still waits for the answer.
 */
test('HTTP sink: a peer that answers after the time limit; no older value lands after the newer', async () => {
  await scenario(async (until) => {
    const landed: string[] = [];
    let current: string | null = null;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { val: string };
        const apply = () => {
          landed.push(body.val);
          current = body.val;
          if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        };
        if (body.val === 'v1' && Date.now() < until) setTimeout(apply, SLOW_MS);
        else apply();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      system: `{ driver: http, url: "${url}", timeout: 5s }`,
      to: '{ system: target, collection: items, path: "/items/{key}", body: state }',
      current: async () => current,
      landed: async () => [...landed],
    };
  });
});

const phpSkip = await needCommand('php', 'apt-get install -y php-cli php-soap');
test('SOAP sink against the PHP SoapServer: a call answered after the time limit; no older value lands after the newer', { skip: phpSkip }, async () => {
  const php = await startPhpSoapServer({ slowSeconds: SLOW_MS / 1000 });
  closers.push(() => php.close());
  await scenario(async (until) => {
    const template = '<PermitUpdate xmlns="urn:county:permits"><PermitNumber>{{key}}</PermitNumber>{{#each changed}}<Field name="{{@name}}">{{@value}}</Field>{{/each}}</PermitUpdate>';
    const history = () => php.readStore().calls.filter((c) => c.PermitNumber === 'K').map((c) => c.fields?.val ?? '?');
    return {
      // the service is slow for a request carrying >v1<, before `until`
      system: `{ driver: soap, url: "${php.baseUrl}/slow?match=%3Ev1%3C&until=${until}", timeout: 5s }`,
      to: `{ system: target, collection: permits, operations: { upsert: { template: ${JSON.stringify(template)}, soapAction: "urn:county:permits#PermitUpdate" } } }`,
      current: async () => php.readStore().permits.find((x) => x.PermitNumber === 'K')?.val ?? null,
      landed: async () => history(),
    };
  });
});

const pgSkip = await needService('postgres');
test('PostgreSQL sink: a statement slower than the time limit (pg_sleep) is cancelled; no older value lands after the newer', { skip: pgSkip }, async () => {
  const schema = uniqueName('dlto');
  const db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  closers.push(async () => { await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`); await db.end(); });
  await scenario(async (until) => {
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(`CREATE TABLE ${schema}.items (id text PRIMARY KEY, val text)`);
    await db.query(`CREATE TABLE ${schema}.ctl (until_ms bigint)`);
    await db.query(`INSERT INTO ${schema}.ctl VALUES ($1)`, [until]);
    await db.query(`CREATE TABLE ${schema}.history (n bigserial PRIMARY KEY, val text)`);
    await db.query(`CREATE FUNCTION ${schema}.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      IF NEW.val = 'v1' AND (extract(epoch FROM clock_timestamp()) * 1000)::bigint < (SELECT until_ms FROM ${schema}.ctl) THEN PERFORM pg_sleep(${SLOW_MS / 1000}); END IF;
      RETURN NEW; END $$`);
    await db.query(`CREATE TRIGGER slow BEFORE INSERT ON ${schema}.items FOR EACH ROW EXECUTE FUNCTION ${schema}.slow()`);
    await db.query(`CREATE FUNCTION ${schema}.log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO ${schema}.history (val) VALUES (NEW.val); RETURN NEW; END $$`);
    await db.query(`CREATE TRIGGER log AFTER INSERT OR UPDATE ON ${schema}.items FOR EACH ROW EXECUTE FUNCTION ${schema}.log()`);
    return {
      system: `{ driver: postgres, url: "${PG_URL}", schema: ${schema} }`,
      to: '{ system: target, collection: items }',
      current: async () => (await db.query<{ val: string }>(`SELECT val FROM ${schema}.items WHERE id = 'K'`)).rows[0]?.val ?? null,
      landed: async () => (await db.query<{ val: string }>(`SELECT val FROM ${schema}.history ORDER BY n`)).rows.map((r) => r.val),
    };
  }, { cancels: true });
  // the cancelled statements left nothing behind: no backend of ours still sleeps
  const sleeping = await db.query(`SELECT pid FROM pg_stat_activity WHERE query LIKE '%${schema}.items%' AND state = 'active' AND pid <> pg_backend_pid()`);
  assert.equal(sleeping.rowCount, 0, 'no statement of the sink still runs');
});

const mariaSkip = await needService('mariadb');
test('MariaDB sink: a statement slower than the time limit (SLEEP) is killed; no older value lands after the newer', { skip: mariaSkip }, async () => {
  const t = uniqueName('dlto');
  const db = await mysql.createConnection(MARIADB_URL);
  closers.push(async () => {
    for (const name of ['items', 'ctl', 'history']) await db.query(`DROP TABLE IF EXISTS ${t}_${name}`);
    await db.end();
  });
  await scenario(async (until) => {
    await db.query(`CREATE TABLE ${t}_items (id varchar(20) PRIMARY KEY, val varchar(20))`);
    await db.query(`CREATE TABLE ${t}_ctl (until_ms bigint)`);
    await db.query(`INSERT INTO ${t}_ctl VALUES (?)`, [until]);
    await db.query(`CREATE TABLE ${t}_history (n bigint AUTO_INCREMENT PRIMARY KEY, val varchar(20))`);
    await db.query(`CREATE TRIGGER ${t}_slow BEFORE INSERT ON ${t}_items FOR EACH ROW BEGIN
      IF NEW.val = 'v1' AND UNIX_TIMESTAMP(NOW(3)) * 1000 < (SELECT until_ms FROM ${t}_ctl) THEN DO SLEEP(${SLOW_MS / 1000}); END IF; END`);
    await db.query(`CREATE TRIGGER ${t}_log_i AFTER INSERT ON ${t}_items FOR EACH ROW INSERT INTO ${t}_history (val) VALUES (NEW.val)`);
    await db.query(`CREATE TRIGGER ${t}_log_u AFTER UPDATE ON ${t}_items FOR EACH ROW INSERT INTO ${t}_history (val) VALUES (NEW.val)`);
    return {
      system: `{ driver: mariadb, url: "${MARIADB_URL}" }`,
      to: `{ system: target, collection: ${t}_items }`,
      current: async () => ((await db.query(`SELECT val FROM ${t}_items WHERE id = 'K'`))[0] as Array<{ val: string }>)[0]?.val ?? null,
      landed: async () => ((await db.query(`SELECT val FROM ${t}_history ORDER BY n`))[0] as Array<{ val: string }>).map((r) => r.val),
    };
  }, { cancels: true });
});

test('SQLite sink: a target locked by another connection past the time limit; no older value lands after the newer', async () => {
  await scenario(async (until) => {
    const tmp = tempDir();
    closers.push(tmp.cleanup);
    const file = path.join(tmp.dir, 'target.db');
    const db = openDatabase(file);
    closers.push(() => db.close());
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('CREATE TABLE items (id TEXT PRIMARY KEY, val TEXT)');
    db.exec('CREATE TABLE history (n INTEGER PRIMARY KEY AUTOINCREMENT, val TEXT)');
    db.exec('CREATE TRIGGER log_i AFTER INSERT ON items BEGIN INSERT INTO history (val) VALUES (NEW.val); END');
    db.exec('CREATE TRIGGER log_u AFTER UPDATE ON items BEGIN INSERT INTO history (val) VALUES (NEW.val); END');
    // another writer holds the database's write lock through the window
    db.exec('BEGIN IMMEDIATE');
    const release = setTimeout(() => db.exec('COMMIT'), Math.max(0, until - Date.now()));
    closers.push(() => clearTimeout(release));
    return {
      system: `{ driver: sqlite, path: ${file}, busyTimeout: 200ms }`,
      to: '{ system: target, collection: items }',
      current: async () => (db.prepare("SELECT val FROM items WHERE id = 'K'").get() as { val: string } | undefined)?.val ?? null,
      landed: async () => (db.prepare('SELECT val FROM history ORDER BY n').all() as Array<{ val: string }>).map((r) => r.val),
    };
  });
});
