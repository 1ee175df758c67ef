/**
 * The bulk writer's worker thread (started by ./sqlite-bulk-writer.ts): its own connection to
 * the store's file, the same pragmas as the store, and one BEGIN IMMEDIATE transaction per
 * bulk commit. Answers `{ ready: true }` once the connection is open and the statements are
 * prepared, then `{ id, result }` or `{ id, error }` per commit; `'close'` closes it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BulkCommit, BulkWorkerReply, BulkWorkerSettings } from './sqlite-bulk-writer.js';
import { openDatabase } from './sqlite-driver.js';
import { INSERT_BATCH, INSERT_PARAMS, SQL } from './sqlite-statements.js';

const port = parentPort;
if (!port) throw new Error('sqlite-bulk-writer-worker.ts runs as a worker thread only');
const s = workerData as BulkWorkerSettings;

const db = openDatabase(s.file);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${s.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(s.busyTimeoutMs))}`);
db.pragma('foreign_keys = ON');
db.pragma('cache_size = -65536');
const pendingKey = db.prepare(SQL.pendingKey);
const insertJobs = db.prepare(SQL.insertJobs);
const insertJob = db.prepare(SQL.insertJob);
const upsertPosition = db.prepare(SQL.upsertPosition);

const run = db.transaction((m: BulkCommit): { blocked: boolean } => {
  for (const [pipeline, keys] of m.probes) if (pendingKey.get(keys, pipeline)) return { blocked: true };
  const rows = m.rows;
  const width = INSERT_BATCH * INSERT_PARAMS;
  let i = 0;
  for (; i + width <= rows.length; i += width) insertJobs.run(rows.slice(i, i + width));
  for (; i < rows.length; i += INSERT_PARAMS) insertJob.run(rows.slice(i, i + INSERT_PARAMS));
  if (m.position) upsertPosition.run(m.position);
  return { blocked: false };
});

const reply = (r: BulkWorkerReply) => port.postMessage(r);
reply({ ready: true });
port.on('message', (m: (BulkCommit & { id: number }) | 'close') => {
  if (m === 'close') {
    db.close();
    port.close();
    return;
  }
  try {
    reply({ id: m.id, result: run.immediate(m) });
  } catch (e) {
    const err = e as { name?: string; message?: string; code?: string } | null;
    reply({ id: m.id, error: { name: err?.name, message: String(err?.message ?? e), code: err?.code } });
  }
});
