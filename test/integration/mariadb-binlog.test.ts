import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { Writable } from 'node:stream';
import { createLogger, silentLogger } from '../../src/core/log.js';
import type { ChangeEvent } from '../../src/core/types.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { createBinlogSource } from '../../src/connectors/mariadb/binlog-source.js';
import { computeDelta } from '../../src/core/delta.js';
import { PermanentError } from '../../src/core/errors.js';
import type { Sink } from '../../src/connectors/contract.js';
import { mariadbConnector } from '../../src/connectors/mariadb/mariadb-connector.js';
import { tempDir, waitFor } from '../helpers/services.js';
import { needMariadbBinaries, startBinlogServer, type BinlogServer } from '../helpers/mariadb-binlog.js';
import { stateOf } from './triggers-harness.js';

const skip = needMariadbBinaries();
const tmp = tempDir();
let server: BinlogServer | null = null;
let store: Store;

before(async () => {
  if (skip) return;
  server = await startBinlogServer();
  store = await openStore(`sqlite:${path.join(tmp.dir, 'state.db')}`);
  await store.migrate();
});
after(async () => {
  await store?.close();
  await server?.stop();
  tmp.cleanup();
});

/** Drain like the engine: commit the position, then collect the events. */
function run(url: string) {
  const source = createBinlogSource({
    system: 'shop', systemConfig: { url, serverId: 4242 }, collection: 'orders', options: { mode: 'binlog', idle: '20ms', positionEvery: '50ms' },
    keyFields: ['id'], state: stateOf(store, 'pipeline:orders'), logger: silentLogger(), workDir: tmp.dir,
  });
  const ac = new AbortController();
  const events: ChangeEvent[] = [];
  const batchOf = new Map<ChangeEvent, number>();
  let batches = 0;
  const done = (async () => {
    for await (const b of source.stream(ac.signal)) {
      await store.commit({ jobs: [], position: b.position ? { source: 'pipeline:orders', position: b.position } : undefined });
      events.push(...b.events);
      for (const e of b.events) batchOf.set(e, batches);
      batches++;
    }
  })();
  return { events, batchOf, batches: () => batches, stop: async () => { ac.abort(); await done; await source.close(); } };
}

test('binlog source: exact types, transactions together, resume from the committed GTID position, or from file + position, without loss', { skip }, async () => {
  const url = server!.url;
  const c = await mysql.createConnection(url);
  await c.query("SET time_zone = '+00:00'");
  await c.query('CREATE TABLE orders (id BIGINT PRIMARY KEY, amount DECIMAL(30,10), placed DATETIME(3), doc JSON, note VARCHAR(50))');
  const r1 = run(url);
  try {
    await waitFor(async () => (await store.getPosition('pipeline:orders')) !== null, { what: 'start position recorded' });
    await c.query('BEGIN');
    await c.query("INSERT INTO orders VALUES (9007199254740993, '12345678901234567890.0123456789', '2026-01-02 03:04:05.678', '{\"n\": 12345678901234567890, \"a\": [1,2]}', 'x')");
    await c.query("INSERT INTO orders VALUES (2, '1.5', NULL, NULL, 'y')");
    await c.query('COMMIT');
    await c.query("UPDATE orders SET note = 'y2' WHERE id = 2");
    await waitFor(() => r1.events.length === 3, { what: `3 events (got ${r1.events.length})` });
    const [a, b, u] = r1.events;
    assert.equal(a!.key, '9007199254740993', 'BIGINT beyond 2^53 kept exact');
    assert.equal(a!.after!.amount, '12345678901234567890.0123456789', 'DECIMAL as an exact string');
    assert.equal(a!.after!.placed, '2026-01-02T03:04:05.678Z', 'DATETIME as ISO');
    assert.deepEqual(a!.after!.doc, { n: '12345678901234567890', a: [1, 2] }, 'JSON parsed exactly');
    assert.equal(b!.op, 'insert');
    assert.equal(r1.batchOf.get(a!), r1.batchOf.get(b!), "the transaction's two inserts came in one batch");
    assert.equal(u!.op, 'update');
    assert.equal(u!.before!.note, 'y');
    assert.equal(u!.after!.note, 'y2');
  } finally {
    await r1.stop();
  }
  // changes while the source is down are picked up from the committed position, once
  await c.query("UPDATE orders SET note = 'while-down' WHERE id = 2");
  await c.query('DELETE FROM orders WHERE id = 9007199254740993');
  const r2 = run(url);
  try {
    await waitFor(() => r2.events.length === 2, { what: `2 events after resume (got ${r2.events.length})` });
    assert.deepEqual(r2.events.map((e) => `${e.op}:${e.key}`), ['update:2', 'delete:9007199254740993']);
    const pos = JSON.parse((await store.getPosition('pipeline:orders'))!) as { gtid?: string; file?: string; pos?: number };
    assert.ok(pos.gtid && pos.file && pos.pos, `position has GTID and file:pos (${JSON.stringify(pos)})`);
    // only another table changes: the committed position still moves on
    await c.query('CREATE TABLE other (id INT PRIMARY KEY)');
    await c.query('INSERT INTO other VALUES (1)');
    await waitFor(async () => (JSON.parse((await store.getPosition('pipeline:orders'))!) as { pos: number }).pos > pos.pos!, { what: 'position moves past other tables' });
    assert.equal(r2.events.length, 2, 'no events for other tables');
  } finally {
    await r2.stop();
  }
  // resume from a file + position alone (a server without GTIDs, e.g. MySQL with gtid_mode=OFF)
  const saved = JSON.parse((await store.getPosition('pipeline:orders'))!) as { gtid?: string; file: string; pos: number };
  await store.commit({ jobs: [], position: { source: 'pipeline:orders', position: JSON.stringify({ file: saved.file, pos: saved.pos }) } });
  await c.query('FLUSH BINARY LOGS'); // the changes land in the next file: the reader must follow the rotation
  await c.query("INSERT INTO orders VALUES (5, '5.5', NULL, NULL, 'after-flush')");
  await c.query("UPDATE orders SET note = 'y3' WHERE id = 2");
  const r3 = run(url);
  try {
    await waitFor(() => r3.events.length === 2, { what: `2 events after a file+position resume (got ${r3.events.length})` });
    assert.deepEqual(r3.events.map((e) => `${e.op}:${e.key}`), ['insert:5', 'update:2']);
    assert.equal(r3.events[1]!.before!.note, 'while-down');
    await waitFor(async () => {
      const p = JSON.parse((await store.getPosition('pipeline:orders'))!) as { file: string; pos: number };
      return p.file !== saved.file;
    }, { what: 'the committed position follows into the next binlog file' });
  } finally {
    await r3.stop();
    await c.end();
  }
});

test('binlog TIMESTAMP values are UTC ISO strings whatever the time zone of the hms-sync process; a column added later is converted by its type and reported', { skip }, async () => {
  const c = await mysql.createConnection(server!.url);
  const tz = process.env.TZ;
  process.env.TZ = 'Asia/Kolkata'; // +05:30
  const logged: Array<{ level: number; msg: string }> = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n')) if (l) logged.push(JSON.parse(l) as { level: number; msg: string }); cb(); } }) });
  const source = createBinlogSource({
    system: 'shop', systemConfig: { url: server!.url, serverId: 4243 }, collection: 'stamps', options: { mode: 'binlog', idle: '20ms' },
    keyFields: ['id'], state: stateOf(store, 'pipeline:stamps'), logger, workDir: tmp.dir,
  });
  const ac = new AbortController();
  const events: ChangeEvent[] = [];
  try {
    await c.query("SET time_zone = '+00:00'");
    await c.query('CREATE TABLE stamps (id INT PRIMARY KEY, at TIMESTAMP(3) NULL, day DATETIME NULL)');
    const done = (async () => {
      for await (const b of source.stream(ac.signal)) {
        await store.commit({ jobs: [], position: b.position ? { source: 'pipeline:stamps', position: b.position } : undefined });
        events.push(...b.events);
      }
    })();
    await waitFor(async () => (await store.getPosition('pipeline:stamps')) !== null, { what: 'start position recorded' });
    await c.query("INSERT INTO stamps VALUES (1, '2026-01-02 03:04:05.678', '2026-01-02 03:04:05')");
    await waitFor(() => events.length === 1, { what: 'the insert' });
    await c.query('ALTER TABLE stamps ADD COLUMN later DATETIME(3) NULL');
    await c.query("INSERT INTO stamps VALUES (2, NULL, NULL, '2026-03-04 05:06:07.890')");
    await waitFor(() => events.length === 2, { what: 'the insert after ALTER TABLE' });
    ac.abort();
    await done;
    assert.equal(events[0]!.after!.at, '2026-01-02T03:04:05.678Z');
    assert.equal(events[0]!.after!.day, '2026-01-02T03:04:05Z');
    assert.equal(events[1]!.after!.later, '2026-03-04T05:06:07.890Z', 'the new DATETIME column is converted too');
    assert.ok(logged.some((l) => l.level === 40 && /schema change of test\.stamps: added later/.test(l.msg)), `a warning names the added column (${JSON.stringify(logged.map((l) => l.msg))})`);
  } finally {
    ac.abort();
    await source.close();
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
    await c.end();
  }
});

// this file owns a private server, so its global settings can be made as lax as an old one's
test('sink on a server in another time zone with a lax sql_mode: TIMESTAMPs land in UTC, a bad value is an error naming the column', { skip }, async () => {
  const c = await mysql.createConnection(server!.url);
  await c.query("SET GLOBAL time_zone = '+02:00', GLOBAL sql_mode = ''");
  const sink = await mariadbConnector.createSink!({ system: 'm', systemConfig: { url: server!.url }, collection: 'lax', options: {}, keyFields: ['id'], logger: silentLogger(), workDir: tmp.dir }) as Sink;
  try {
    await c.query('CREATE TABLE lax (id INT PRIMARY KEY, qty INT, at TIMESTAMP(3) NULL)');
    const item = (key: string, after: Record<string, unknown>) => ({ jobId: key, version: 1, idempotencyKey: `k${key}`, pipeline: 'p', collection: 'lax', keyFields: ['id'], delta: computeDelta(key, null, after)! });
    const r = await sink.write([item('1', { id: 1, qty: 5, at: '2026-01-02T03:04:05.678Z' }), item('2', { id: 2, qty: 'not a number', at: null })], new AbortController().signal);
    assert.deepEqual(r[0], { ok: true });
    const err = (r[1] as { error: Error }).error;
    assert.ok(err instanceof PermanentError, String(err));
    assert.match(err.message, /failed at column "qty" \(int\(11\)\) with value "not a number"/);
    const [rows] = await c.query('SELECT id, UNIX_TIMESTAMP(at) AS epoch FROM lax ORDER BY id');
    assert.deepEqual((rows as Array<{ id: number; epoch: string }>).map((x) => [x.id, Number(x.epoch)]), [[1, Date.UTC(2026, 0, 2, 3, 4, 5, 678) / 1000]]);
  } finally {
    await sink.close();
    await c.query("SET GLOBAL time_zone = 'SYSTEM', GLOBAL sql_mode = DEFAULT");
    await c.end();
  }
});
