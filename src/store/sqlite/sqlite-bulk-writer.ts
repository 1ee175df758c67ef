/**
 * Large commits of the SQLite store on a worker thread (a second connection to the same file).
 *
 * A commit of thousands of new jobs (a backfill chunk, a large capture batch) spends most of its
 * time inside SQLite: B-tree inserts, the WAL write and the checkpoint that follows (an fsync).
 * better-sqlite3 is synchronous, so on the store's own connection all of that blocks the event
 * loop; here it runs on another thread while the process keeps reading its source.
 *
 * Only the optimistic case runs here: the worker commits the planned inserts (and the source
 * position) in one BEGIN IMMEDIATE transaction unless one of the coalescing keys has a pending
 * job, in which case it writes nothing and answers `blocked`; the store then commits on its own
 * connection with the usual merge planning. Either way the commit is atomic.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { HmsError } from '../../core/errors.js';
import { INSERT_BATCH, INSERT_PARAMS, SQL } from './sqlite-statements.js';

/** One bulk commit: the rows of `insertJobs` flattened, the keys to check and the position. */
export interface BulkCommit {
  /** INSERT_PARAMS values per job, in insertion order. */
  rows: unknown[];
  /** [pipeline, JSON array of keys] whose pending jobs would block the fast path. */
  probes: Array<[string, string]>;
  position: [source: string, position: string, now: number] | null;
}

interface WorkerSettings {
  driver: string;
  file: string;
  synchronous: 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
  sql: { pendingKey: string; insertJob: string; insertJobs: string; upsertPosition: string };
  batch: number;
  params: number;
}

/** The worker's code (CommonJS, plain JavaScript: it runs the same from src/ under tsx and from dist/). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const s = workerData;
const Database = require(s.driver);
const db = new Database(s.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = ' + s.synchronous);
db.pragma('busy_timeout = ' + s.busyTimeoutMs);
db.pragma('foreign_keys = ON');
db.pragma('cache_size = -65536');
const pendingKey = db.prepare(s.sql.pendingKey);
const insertJobs = db.prepare(s.sql.insertJobs);
const insertJob = db.prepare(s.sql.insertJob);
const upsertPosition = db.prepare(s.sql.upsertPosition);
const run = db.transaction((m) => {
  for (const [pipeline, keys] of m.probes) if (pendingKey.get(keys, pipeline)) return { blocked: true };
  const rows = m.rows;
  const width = s.batch * s.params;
  let i = 0;
  for (; i + width <= rows.length; i += width) insertJobs.run(rows.slice(i, i + width));
  for (; i < rows.length; i += s.params) insertJob.run(rows.slice(i, i + s.params));
  if (m.position) upsertPosition.run(m.position);
  return { blocked: false };
});
parentPort.postMessage({ ready: true });
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    parentPort.postMessage({ id: m.id, result: run.immediate(m) });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: { name: e && e.name, message: String(e && e.message || e), code: e && e.code } });
  }
});
`;

/** A worker thread with its own connection; started on the first bulk commit. */
export class SqliteBulkWriter {
  private worker: Worker | null = null;
  private broken: Error | null = null;
  /** Whether the worker opened its connection and prepared its statements. */
  private ready = false;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: { blocked: boolean }) => void; reject: (e: Error) => void }>();

  constructor(private readonly opts: { file: string; synchronous: 'NORMAL' | 'FULL'; busyTimeoutMs: number }) {}

  /** False once the worker failed to start or died: the store then commits everything itself. */
  get usable(): boolean {
    return this.broken === null;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const settings: WorkerSettings = {
      driver: createRequire(import.meta.url).resolve('#better-sqlite3'),
      file: this.opts.file,
      synchronous: this.opts.synchronous,
      busyTimeoutMs: this.opts.busyTimeoutMs,
      sql: { pendingKey: SQL.pendingKey, insertJob: SQL.insertJob, insertJobs: SQL.insertJobs, upsertPosition: SQL.upsertPosition },
      batch: INSERT_BATCH,
      params: INSERT_PARAMS,
    };
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: settings });
    w.unref(); // referenced only while a commit is in flight (see commit)
    w.on('message', (m: { ready?: true; id: number; result?: { blocked: boolean }; error?: { name?: string; message: string; code?: string } }) => {
      if (m.ready) {
        this.ready = true;
        return;
      }
      const p = this.waiting.get(m.id);
      if (!p) return;
      this.waiting.delete(m.id);
      if (!this.waiting.size) w.unref();
      if (m.error) {
        const e = new Error(m.error.message) as Error & { code?: string };
        if (m.error.name) e.name = m.error.name;
        if (m.error.code) e.code = m.error.code;
        p.reject(e);
      } else p.resolve(m.result!);
    });
    const fail = (err: Error) => {
      this.broken ??= err;
      this.worker = null;
      // Before it was ready the worker wrote nothing: its commits are handed back to the store
      // (as if blocked). After, a commit's outcome is unknown (it may have committed): refuse.
      for (const p of this.waiting.values()) {
        if (this.ready) p.reject(new HmsError('HMS_ERR_STORE', `the SQLite bulk writer thread failed: ${err.message}`, { cause: err }));
        else p.resolve({ blocked: true });
      }
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    this.worker = w;
    return w;
  }

  /**
   * Commit on the worker. Resolves `{ blocked: true }` when nothing was written: a coalescing key
   * has a pending job, or the worker is not available (failed to start); the store then commits.
   */
  commit(c: BulkCommit): Promise<{ blocked: boolean }> {
    if (this.broken) return Promise.resolve({ blocked: true });
    let w: Worker;
    try {
      w = this.start();
    } catch (e) {
      this.broken = e as Error;
      return Promise.resolve({ blocked: true });
    }
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ id, ...c });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.broken ??= new Error('closed');
    this.worker = null;
    await new Promise<void>((resolve) => {
      w.once('exit', () => resolve());
      w.ref();
      w.postMessage('close');
      setTimeout(() => void w.terminate(), 2000).unref();
    });
  }
}
