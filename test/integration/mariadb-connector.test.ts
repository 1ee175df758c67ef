import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { computeDelta } from '../../src/core/delta.js';
import { PermanentError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import type { ChangeEvent, Delta } from '../../src/core/types.js';
import type { Sink, SinkItem, Source } from '../../src/connectors/contract.js';
import { mariadbConnector } from '../../src/connectors/mariadb/mariadb-connector.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { MARIADB_URL, needService, tempDir, uniqueName, waitFor } from '../helpers/services.js';
import { stateOf } from './triggers-harness.js';

const skip = await needService('mariadb');
const tmp = tempDir();
const database = uniqueName('mdb');
let url = '';
let admin: mysql.Connection;
let store: Store;

before(async () => {
  if (skip) return;
  admin = await mysql.createConnection(MARIADB_URL);
  await admin.query(`CREATE DATABASE \`${database}\``);
  const u = new URL(MARIADB_URL);
  u.pathname = `/${database}`;
  url = u.toString();
  store = await openStore(`sqlite:${path.join(tmp.dir, 'state.db')}`);
  await store.migrate();
});
after(async () => {
  if (admin) {
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.end();
  }
  await store?.close();
  tmp.cleanup();
});

function item(table: string, delta: Delta, version = 1): SinkItem {
  return { jobId: `j-${delta.key}-${version}`, version, idempotencyKey: `p:${delta.key}:${version}`, pipeline: 'p', collection: table, keyFields: ['id'], delta };
}
const upsert = (key: string, state: Record<string, unknown>, before: Record<string, unknown> | null = null) => computeDelta(key, before, state)!;

test('sink: batched upsert and delete, version fencing never moves a row backwards, errors name the column', { skip }, async () => {
  const table = 'odd`name';
  await admin.query(`CREATE TABLE \`${database}\`.\`odd\`\`name\` (id INT PRIMARY KEY, name VARCHAR(20), qty INT, ver BIGINT, at DATETIME(3))`);
  const sink = await mariadbConnector.createSink!({ system: 'm', systemConfig: { url }, collection: table, options: { versionField: 'ver' }, keyFields: ['id'], logger: silentLogger(), workDir: tmp.dir }) as Sink;
  const ac = new AbortController();
  try {
    let r = await sink.write([
      item(table, upsert('1', { id: 1, name: 'a', qty: 1, ver: 5, at: '2026-01-02T03:04:05.678Z' })),
      item(table, upsert('2', { id: 2, name: 'b', qty: 2, ver: 1, at: null })),
      item(table, upsert('3', { id: 3, name: 'c', qty: 'not a number', ver: 1, at: null })),
    ], ac.signal);
    assert.deepEqual(r.slice(0, 2).map((x) => x.ok), [true, true]);
    assert.equal(r[2]!.ok, false);
    const err = (r[2] as { error: Error }).error;
    assert.ok(err instanceof PermanentError);
    assert.match(err.message, /column "qty"/, err.message);
    // a late retry with an older version is skipped; a newer one is written
    r = await sink.write([
      item(table, upsert('1', { id: 1, name: 'stale', qty: 1, ver: 4, at: null }, { id: 1, name: 'a', qty: 1, ver: 3, at: null })),
      item(table, upsert('2', { id: 2, name: 'b2', qty: 2, ver: 2, at: null }, { id: 2, name: 'b', qty: 2, ver: 1, at: null })),
    ], ac.signal);
    assert.deepEqual(r[0], { ok: true, outcome: 'stale', reason: 'stale-version' });
    assert.deepEqual(r[1], { ok: true });
    const [rows] = await admin.query(`SELECT id, name, ver, at FROM \`${database}\`.\`odd\`\`name\` ORDER BY id`);
    assert.deepEqual((rows as Array<Record<string, unknown>>).map((x) => [x.id, x.name, Number(x.ver)]), [[1, 'a', 5], [2, 'b2', 2]]);
    // unknown column: a permanent error naming it
    r = await sink.write([item(table, upsert('4', { id: 4, nope: 1, ver: 1 }))], ac.signal);
    assert.match(((r[0] as { error: Error }).error).message, /column "nope" does not exist/);
    // delete
    r = await sink.write([item(table, { op: 'delete', key: '2', changed: {}, state: null, before: null, base: null, fingerprint: '', sourceTs: Date.now() })], ac.signal);
    assert.deepEqual(r, [{ ok: true }]);
    const [left] = await admin.query(`SELECT count(*) AS n FROM \`${database}\`.\`odd\`\`name\``);
    assert.equal(Number((left as Array<{ n: number }>)[0]!.n), 1);
  } finally {
    await sink.close();
  }
});

const openSink = (table: string, options: Record<string, unknown> = {}) => mariadbConnector.createSink!({ system: 'm', systemConfig: { url }, collection: table, options, keyFields: ['id'], logger: silentLogger(), workDir: tmp.dir }) as Promise<Sink>;

test('sink: a table without a unique index on the key is reported, not filled with duplicates', { skip }, async () => {
  await admin.query(`CREATE TABLE \`${database}\`.nokey (id INT, name VARCHAR(20))`);
  const open = openSink;
  const ac = new AbortController();
  const nokey = await open('nokey');
  try {
    for (const name of ['a', 'b']) {
      const r = await nokey.write([item('nokey', upsert('1', { id: 1, name }))], ac.signal);
      assert.equal(r[0]!.ok, false);
      const err = (r[0] as { error: Error }).error;
      assert.ok(err instanceof PermanentError);
      assert.match(err.message, /table "nokey" of MariaDB .* has no primary key or unique index on \(id\)/);
    }
    const [rows] = await admin.query(`SELECT count(*) AS n FROM \`${database}\`.nokey`);
    assert.equal(Number((rows as Array<{ n: number }>)[0]!.n), 0, 'nothing written, no duplicates');
  } finally {
    await nokey.close();
  }
  const appendOnly = await open('nokey', { mode: 'insert' });
  try {
    assert.deepEqual(await appendOnly.write([item('nokey', upsert('1', { id: 1, name: 'x' }))], ac.signal), [{ ok: true }], 'mode: insert needs no key');
  } finally {
    await appendOnly.close();
  }
});

test('sink: base64 goes into BLOB, VARBINARY and BIT columns as bytes', { skip }, async () => {
  await admin.query(`CREATE TABLE \`${database}\`.bin (id INT PRIMARY KEY, raw BLOB, vb VARBINARY(10), flags BIT(8), note VARCHAR(10))`);
  const ac = new AbortController();
  const bin = await openSink('bin');
  try {
    const r = await bin.write([item('bin', upsert('1', { id: 1, raw: Buffer.from([0, 255, 16]).toString('base64'), vb: 'AQI=', flags: 'pQ==', note: 'x' }))], ac.signal);
    assert.deepEqual(r, [{ ok: true }]);
    const [rows] = await admin.query(`SELECT hex(raw) AS raw, hex(vb) AS vb, flags + 0 AS flags FROM \`${database}\`.bin`);
    assert.deepEqual((rows as Array<Record<string, unknown>>).map((x) => [x.raw, x.vb, Number(x.flags)]), [['00FF10', '0102', 0xa5]]);
  } finally {
    await bin.close();
  }
});

test('poll source: exact types (DECIMAL string, BIGINT beyond 2^53, DATETIME ISO, JSON parsed), inserts, updates and deletes', { skip }, async () => {
  await admin.query(`CREATE TABLE \`${database}\`.polled (id BIGINT PRIMARY KEY, amount DECIMAL(30,10), at DATETIME(6), day DATE, doc JSON)`);
  await admin.query(`INSERT INTO \`${database}\`.polled VALUES (9007199254740993, '12345678901234567890.0123456789', '2026-01-02 03:04:05.123456', '2026-05-06', '{"big": 12345678901234567890}')`);
  const source = await mariadbConnector.createSource!({ system: 'm', systemConfig: { url }, collection: 'polled', options: { poll: '20ms' }, keyFields: ['id'], state: stateOf(store, 'poll'), logger: silentLogger(), workDir: tmp.dir }) as Source;
  const ac = new AbortController();
  const events: ChangeEvent[] = [];
  const loop = (async () => {
    for await (const b of source.stream(ac.signal)) {
      await store.commit({ jobs: [], shadow: b.shadow, position: b.position ? { source: 'poll', position: b.position } : undefined });
      events.push(...b.events);
    }
  })();
  try {
    await waitFor(() => events.length === 1, { what: 'initial insert' });
    assert.deepEqual(events[0]!.after, { id: '9007199254740993', amount: '12345678901234567890.0123456789', at: '2026-01-02T03:04:05.123456Z', day: '2026-05-06', doc: { big: '12345678901234567890' } });
    await admin.query(`UPDATE \`${database}\`.polled SET amount = '1.0000000000'`);
    await waitFor(() => events.length === 2, { what: 'update' });
    assert.equal(events[1]!.op, 'update');
    assert.equal(events[1]!.before!.amount, '12345678901234567890.0123456789');
    await admin.query(`DELETE FROM \`${database}\`.polled`);
    await waitFor(() => events.length === 3, { what: 'delete' });
    assert.equal(events[2]!.op, 'delete');
  } finally {
    ac.abort();
    await loop;
    await source.close();
  }
});
