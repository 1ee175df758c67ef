/**
 * The one snapshot diff (src/engine/snapshot.ts) over a real Reader (the SQLite connector's) and a
 * real store's shadow: inserts, updates and deletes found, each committed with its shadow rows, and
 * a delete sweep over a shadow far larger than one page with bounded memory.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from '#better-sqlite3';
import { silentLogger } from '../../src/core/log.js';
import type { Reader, SourceBatch } from '../../src/connectors/contract.js';
import { sqliteConnector } from '../../src/connectors/sqlite/sqlite-connector.js';
import { diffSnapshot, scanSnapshot, sweepDeletes, type SnapshotShadow } from '../../src/engine/snapshot.js';
import { gcFunction } from '../conformance/reader-suite.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/services.js';

const tmp = tempDir('hms-snapshot-');
const file = path.join(tmp.dir, 'legacy.db');
const db = new Database(file);
db.pragma('journal_mode = WAL');
let store: Store;
let reader: Reader;
after(async () => {
  await reader?.close();
  await store?.close();
  db.close();
  tmp.cleanup();
});

const ctx = { system: 'legacy', collection: 'INSP' };
function shadowOf(s: Store, scope: string): SnapshotShadow {
  return { scope, getShadow: (keys) => s.getShadow(scope, keys), listShadow: () => s.listShadow(scope) };
}

/** Run a scan, committing every batch as the capture loop does; returns the events by op. */
async function scan(shadow: SnapshotShadow, limit: number): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = { insert: [], update: [], delete: [] };
  for await (const batch of scanSnapshot(reader, shadow, ctx, { limit }) as AsyncIterable<SourceBatch>) {
    for (const e of batch.events) out[e.op]!.push(e.key);
    await store.commit({ jobs: [], shadow: batch.shadow });
  }
  for (const k of Object.keys(out)) out[k]!.sort();
  return out;
}

test('a scan through the Reader finds inserts, then updates and deletes, each once', async () => {
  store = await openStore(`sqlite:${path.join(tmp.dir, 'state.db')}`);
  db.exec('CREATE TABLE INSP (BRG_ID TEXT PRIMARY KEY, CODE_STS TEXT)');
  const ins = db.prepare('INSERT INTO INSP VALUES (?, ?)');
  for (let i = 0; i < 25; i++) ins.run(`B-${String(i).padStart(3, '0')}`, 'A');
  reader = await sqliteConnector.createReader!({ system: 'legacy', systemConfig: { path: file }, collection: 'INSP', options: {}, keyFields: ['BRG_ID'], logger: silentLogger() });
  const shadow = shadowOf(store, 'pipeline:snap');
  const first = await scan(shadow, 7);
  assert.equal(first.insert!.length, 25);
  assert.deepEqual([first.update, first.delete], [[], []]);
  assert.deepEqual(await scan(shadow, 7), { insert: [], update: [], delete: [] }, 'nothing changed: nothing emitted');
  db.prepare("UPDATE INSP SET CODE_STS = 'C' WHERE BRG_ID = 'B-003'").run();
  db.prepare("DELETE FROM INSP WHERE BRG_ID IN ('B-010', 'B-024')").run();
  ins.run('B-100', 'P');
  assert.deepEqual(await scan(shadow, 7), { insert: ['B-100'], update: ['B-003'], delete: ['B-010', 'B-024'] });
  assert.deepEqual(await scan(shadow, 7), { insert: [], update: [], delete: [] });
});

test('records a source received (webhook, file, SOAP) diff the same way; tombstones stop a repeated delete', async () => {
  const shadow = shadowOf(store, 'pipeline:hook');
  const d1 = await diffSnapshot(shadow, ctx, [{ key: 'a', doc: { a: 1 } }, { key: 'a', doc: { a: 2 } }, { key: 'b', doc: null }], { tombstones: true });
  assert.deepEqual(d1.events.map((e) => `${e.op}:${e.key}`), ['insert:a', 'update:a', 'delete:b'], 'a key twice in one batch diffs against its first state');
  assert.deepEqual(d1.events[1]!.before, { a: 1 });
  await store.commit({ jobs: [], shadow: d1.shadow });
  const d2 = await diffSnapshot(shadow, ctx, [{ key: 'a', doc: { a: 2 } }, { key: 'b', doc: null }, { key: 'a', doc: null }], { tombstones: true, readAt: 123 });
  assert.deepEqual(d2.events.map((e) => `${e.op}:${e.key}`), ['delete:a'], 'b was deleted already; a unchanged, then deleted');
  assert.equal(d2.events[0]!.readAt, 123);
  const snap = shadowOf(store, 'pipeline:snap2');
  assert.deepEqual((await diffSnapshot(snap, ctx, [{ key: 'x', doc: null }])).events, [], 'a snapshot source cannot delete what it never saw');
});

test('the delete sweep over 120,000 shadow rows holds one page of keys, not all of them', async () => {
  db.exec('CREATE TABLE BIG (ID INTEGER PRIMARY KEY, PAD TEXT)');
  const scope = 'pipeline:big';
  const pad = 'x'.repeat(200);
  const ins = db.prepare('INSERT INTO BIG VALUES (?, ?)');
  db.transaction(() => { for (let i = 1; i <= 120_000; i++) ins.run(i, pad); })();
  const big = await sqliteConnector.createReader!({ system: 'legacy', systemConfig: { path: file }, collection: 'BIG', options: {}, keyFields: ['ID'], logger: silentLogger() });
  try {
    const prev = reader;
    reader = big;
    const shadow = shadowOf(store, scope);
    const first = await scan(shadow, 5000);
    assert.equal(first.insert!.length, 120_000);
    db.prepare('DELETE FROM BIG WHERE ID IN (7, 77777, 120000)').run();
    const gc = gcFunction();
    assert.ok(gc, 'the memory check needs a GC function');
    gc();
    const base = process.memoryUsage().heapUsed;
    let retained = 0;
    let calls = 0;
    let widest = 0;
    const deleted: string[] = [];
    const exists = async (keys: string[]) => {
      widest = Math.max(widest, keys.length);
      if (++calls % 40 === 0) {
        gc();
        retained = Math.max(retained, process.memoryUsage().heapUsed - base);
      }
      return new Set((await big.getByKeys(keys)).keys());
    };
    for await (const d of sweepDeletes(shadow, ctx, exists, { pageSize: 500 })) deleted.push(...d.events.map((e) => e.key));
    assert.deepEqual(deleted.sort(), ['120000', '7', '77777']);
    assert.equal(widest, 500, 'existence is asked one page of shadow keys at a time');
    assert.equal(calls, 240);
    // the 120,000 shadow rows with their 200-byte documents are ~40 MiB as objects: a sweep that
    // kept every row (or a Set of every key and row) would retain that much; one page is ~0.2 MiB
    assert.ok(retained < 12 * 1024 * 1024, `heap retained ${Math.round(retained / 1048576)} MiB during the sweep`);
    reader = prev;
  } finally {
    await big.close();
  }
});
