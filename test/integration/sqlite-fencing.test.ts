import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from '#better-sqlite3';
import { computeDelta } from '../../src/core/delta.js';
import { silentLogger } from '../../src/core/log.js';
import type { Doc } from '../../src/core/types.js';
import type { Sink, SinkItem } from '../../src/connectors/contract.js';
import { sqliteConnector } from '../../src/connectors/sqlite/sqlite-connector.js';
import { isSkipped } from '../../src/connectors/sql/sql-sink-common.js';
import { tempDir } from '../helpers/services.js';

const tmp = tempDir();
const file = path.join(tmp.dir, 'target.db');
const db = new Database(file);
db.exec('CREATE TABLE permit (id TEXT PRIMARY KEY, status TEXT, version INTEGER)');
const sink = sqliteConnector.createSink!({ system: 't', systemConfig: { path: file }, collection: 'permit', options: { versionField: 'version' }, keyFields: ['id'], logger: silentLogger(), workDir: tmp.dir }) as Sink;

after(async () => {
  await sink.close();
  db.close();
  tmp.cleanup();
});

function item(before: Doc | null, after: Doc | null): SinkItem {
  const key = String((after ?? before)!.id);
  return { jobId: key, version: 1, idempotencyKey: `p:${key}:1`, pipeline: 'p', collection: 'permit', keyFields: ['id'], delta: computeDelta(key, before, after)! };
}

test('SQLite sink version fencing: stale writes are ok-but-skipped, rows never move backwards', async () => {
  const signal = new AbortController().signal;
  assert.deepEqual(await sink.write([item(null, { id: 'a', status: 'v5', version: 5 })], signal), [{ ok: true }]);
  const res = await sink.write([
    item({ id: 'a', status: 'v5', version: 5 }, { id: 'a', status: 'v4', version: 4 }),
    item({ id: 'a', status: 'v5', version: 5 }, { id: 'a', status: 'v5 again', version: 5 }),
    item({ id: 'a', status: 'v5', version: 5 }, { id: 'a', status: 'v7', version: 7 }),
  ], signal);
  assert.deepEqual(res.map((r) => r.ok && isSkipped(r)), [true, true, false]);
  await sink.write([item({ id: 'a', version: 6 }, null)], signal); // a delete of an older version
  assert.deepEqual(db.prepare('SELECT * FROM permit').all(), [{ id: 'a', status: 'v7', version: 7 }]);
  await sink.write([item({ id: 'a', version: 7 }, null)], signal);
  assert.deepEqual(db.prepare('SELECT * FROM permit').all(), []);
  const missing = await sink.write([item(null, { id: 'b', status: 'x' })], signal);
  assert.match(String((missing[0] as { error: unknown }).error), /version field "version" is missing/);
});
