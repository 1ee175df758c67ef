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
 * connection with the usual merge planning. Either way the commit is atomic. The thread's code is
 * ./sqlite-bulk-writer-worker.ts.
 */
import { Worker } from 'node:worker_threads';
import { HmsError } from '../../core/errors.js';

/** One bulk commit: the rows of `insertJobs` flattened, the keys to check and the position. */
export interface BulkCommit {
  /** INSERT_PARAMS values per job, in insertion order. */
  rows: unknown[];
  /** [pipeline, JSON array of keys] whose pending jobs would block the fast path. */
  probes: Array<[string, string]>;
  position: [source: string, position: string, now: number] | null;
}

/** What the worker thread gets as workerData (its SQL comes from ./sqlite-statements.ts, which it imports itself). */
export interface BulkWorkerSettings {
  file: string;
  synchronous: 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
}

/** The worker's messages: ready once, then one result or error per commit id. */
export type BulkWorkerReply =
  | { ready: true; id?: undefined }
  | { ready?: undefined; id: number; result: { blocked: boolean }; error?: undefined }
  | { ready?: undefined; id: number; result?: undefined; error: { name?: string; message: string; code?: string } };

/**
 * Start ./sqlite-bulk-writer-worker: the `.js` file next to this one in the build (dist/), or,
 * running from source under tsx (tests, benchmarks), the `.ts` file. tsx's module hooks do not
 * reach a worker thread by themselves (the `--import tsx` the worker inherits registers nothing
 * there), so from source a one-line bootstrap registers them in the worker, then imports it.
 */
function startWorker(workerData: BulkWorkerSettings): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./sqlite-bulk-writer-worker.js', import.meta.url), { workerData });
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(new URL('./sqlite-bulk-writer-worker.ts', import.meta.url).href);
  return new Worker(`import(${tsx}).then((tsx) => tsx.register()).then(() => import(${entry}))`, { eval: true, workerData });
}

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
    const settings: BulkWorkerSettings = { file: this.opts.file, synchronous: this.opts.synchronous, busyTimeoutMs: this.opts.busyTimeoutMs };
    const w = startWorker(settings);
    w.unref(); // referenced only while a commit is in flight (see commit)
    w.on('message', (m: BulkWorkerReply) => {
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
