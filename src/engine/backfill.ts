/**
 * Backfill: an initial snapshot of a pipeline's source table that interleaves with the live
 * change stream by the DBLog watermark method, committed as jobs through the store like any
 * change.
 *
 * For each chunk (one page of the connector's Reader: key order, keyset pagination, `chunkSize` rows):
 *  1. write a LOW watermark into the source database (the window opens now),
 *  2. read the chunk,
 *  3. write a HIGH watermark,
 *  4. keep draining the change stream (committing its batches as usual) until the stream
 *     reports the high watermark; every key that shows up in the stream meanwhile is removed
 *     from the chunk, because the stream's event for it is as new as the chunk's row or newer,
 *  5. commit the chunk's remaining rows as insert events with the chunk cursor as the position
 *     of `backfill:<pipeline>`.
 * The window is opened in processing time (when the low watermark is written), not by the low
 * watermark's place in the log: on PostgreSQL and MariaDB a change-log id or log position is
 * taken before commit, so a change committed after the chunk select may sit before the low
 * watermark; dropping every key seen after step 1 is the conservative, always-correct rule.
 * A stale snapshot row can therefore never overwrite a newer change, and no change is lost
 * because the stream itself is never skipped.
 *
 * The next chunk is read (steps 1-3) while the current one commits (2 chunks in memory at most).
 * Resumable: the cursor is committed with each chunk, so after a kill the backfill resumes at
 * the next chunk (the interrupted chunk is read again). Memory is bounded by the chunk size.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import type { ResolvedConfig } from '../config/schema.js';
import { canonicalKey, computeDelta } from '../core/delta.js';
import { ConfigError, NotFoundError, RetryableError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { getConnector } from '../connectors/registry.js';
import { isBackfillCapable, type ReadRow, type Reader, type SourceState, type WatermarkedBatch } from '../connectors/contract.js';
import type { EnqueueInput, Store } from '../store/store.js';
import { commitBatch, type CapturePipeline } from './capture.js';
import { type EngineEvents, TypedEmitter } from './events.js';

export interface BackfillCursor {
  /** Key values (normalized) of the last row committed; null before the first chunk. */
  after: unknown[] | null;
  rows: number;
  chunks: number;
  done: boolean;
  startedAt: number;
}

export interface BackfillProgress {
  rows: number;
  total: number | null;
  chunks: number;
  /** Chunk rows dropped because the stream had a newer change for the key. */
  superseded: number;
  /** Stream events committed during the backfill. */
  streamEvents: number;
}

export interface BackfillOptions {
  config: ResolvedConfig;
  pipeline: string;
  store: Store;
  logger: Logger;
  chunkSize?: number;
  /** Start over even if a previous backfill completed or was interrupted. */
  restart?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: BackfillProgress) => void;
  /** How long to wait for a high watermark to come back through the stream (default 60 s). */
  watermarkTimeoutMs?: number;
  /** Called between a chunk's read and its high watermark with the chunk's rows (tests race changes in here). */
  onChunkRead?: (rows: Record<string, unknown>[]) => void | Promise<void>;
}

export interface BackfillSummary extends BackfillProgress {
  pipeline: string;
  resumed: boolean;
  alreadyDone: boolean;
  elapsedMs: number;
  rowsPerSecond: number;
}

/** `promise`, or `error()` thrown once `deadline` (epoch ms) passes. */
async function withDeadline<T>(promise: Promise<T>, deadline: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(error()), Math.max(1, deadline - Date.now())); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Source id under which the chunk cursor is kept. */
export function backfillSourceId(pipeline: string): string {
  return `backfill:${pipeline}`;
}

function parseCursor(raw: string | null): BackfillCursor | null {
  if (!raw) return null;
  try {
    const c = JSON.parse(raw) as BackfillCursor;
    if (c && typeof c === 'object' && 'after' in c) return c;
  } catch {}
  return null;
}

/** Run (or resume) the backfill of one pipeline until the whole table has been read. */
export async function runBackfill(opts: BackfillOptions): Promise<BackfillSummary> {
  const started = Date.now();
  const { config, store, logger } = opts;
  const p = config.pipelines[opts.pipeline];
  if (!p) throw new NotFoundError(`pipeline "${opts.pipeline}" is not defined; defined pipelines are: ${Object.keys(config.pipelines).join(', ') || '(none)'}`);
  const chunkSize = opts.chunkSize ?? 1000;
  const watermarkTimeoutMs = opts.watermarkTimeoutMs ?? 60_000;
  const fromSys = config.systems[p.from.system]!;
  const sourceId = `pipeline:${p.name}`;
  const bfId = backfillSourceId(p.name);
  let cursor = opts.restart ? null : parseCursor(await store.getPosition(bfId));
  /** Rows an earlier (interrupted) run already did: the rate counts only this run's rows. */
  const rowsBefore = cursor?.rows ?? 0;
  const summary = (c: BackfillCursor, extra: Partial<BackfillSummary>, prog: BackfillProgress): BackfillSummary => {
    const elapsedMs = Date.now() - started;
    const rowsNow = Math.max(0, prog.rows - rowsBefore);
    return { pipeline: p.name, resumed: false, alreadyDone: false, ...prog, rows: c.rows, chunks: c.chunks, elapsedMs, rowsPerSecond: elapsedMs > 0 ? Math.round((rowsNow * 1000) / elapsedMs) : 0, ...extra };
  };
  if (cursor?.done) return summary(cursor, { alreadyDone: true, rowsPerSecond: 0 }, { rows: cursor.rows, total: cursor.rows, chunks: cursor.chunks, superseded: 0, streamEvents: 0 });
  const resumed = cursor !== null;
  cursor ??= { after: null, rows: 0, chunks: 0, done: false, startedAt: started };

  const state: SourceState = { scope: sourceId, getPosition: () => store.getPosition(sourceId), getShadow: (k) => store.getShadow(sourceId, k), listShadow: () => store.listShadow(sourceId) };
  const workDir = path.join(config.stateDir, 'work', p.name.replace(/[^A-Za-z0-9_.-]/g, '_'), 'source');
  mkdirSync(workDir, { recursive: true });
  const connector = getConnector(fromSys.driver);
  if (!connector.createReader) throw new ConfigError(`pipeline "${p.name}" reads ${p.from.system} (driver ${fromSys.driver}), which offers no Reader; backfill reads the table through one`);
  const source = await connector.createSource!({
    system: p.from.system, systemConfig: fromSys.config, collection: p.from.collection, options: p.from.options,
    keyFields: p.key, state, logger: logger.child({ pipeline: p.name, role: 'backfill' }), workDir, baseDir: config.baseDir,
  });
  if (!isBackfillCapable(source)) {
    await source.close();
    throw new ConfigError(`pipeline "${p.name}" reads ${p.from.system} (driver ${fromSys.driver}) in a mode whose change stream cannot see watermarks; backfill needs \`mode: triggers\` (postgres, mariadb, sqlite), \`mode: binlog\` (mariadb) or \`mode: logical\` (postgres)`);
  }
  source.enableWatermarks();
  let support: Awaited<ReturnType<typeof source.openBackfill>>;
  let reader: Reader;
  try {
    support = await source.openBackfill();
  } catch (err) {
    await source.close().catch(() => {});
    throw err;
  }
  try {
    reader = await connector.createReader({
      system: p.from.system, systemConfig: fromSys.config, collection: p.from.collection, options: p.from.options,
      keyFields: p.key, logger: logger.child({ pipeline: p.name, role: 'backfill' }), baseDir: config.baseDir,
    });
  } catch (err) {
    await support.close().catch(() => {});
    await source.close().catch(() => {});
    throw err;
  }
  const deps = { store, logger, events: new TypedEmitter<EngineEvents>() };
  const base: Omit<CapturePipeline, 'sourceId'> = {
    name: p.name, target: p.to.system, source, debounceMs: p.debounceMs, maxWaitMs: p.maxWaitMs, maxAttempts: p.delivery.maxAttempts, echoReader: null, hooks: () => [],
  };
  const streamPipe: CapturePipeline = { ...base, sourceId };
  /**
   * The jobs of a chunk's rows by key: what commitBatch makes of an insert event without an old
   * image (no hooks and no echo scope in a backfill), built directly to spare a million events.
   * A row without its key fields is skipped.
   */
  const chunkJobs = (rows: ReadRow[], now: number): Map<string, EnqueueInput> => {
    const jobs = new Map<string, EnqueueInput>();
    const runAt = now + p.debounceMs;
    const maxRunAt = now + Math.max(p.debounceMs, p.maxWaitMs);
    for (const { key, doc } of rows) {
      jobs.set(key, { pipeline: p.name, target: p.to.system, key, payload: computeDelta(key, null, doc, now)!, runAt, maxRunAt, maxAttempts: p.delivery.maxAttempts });
    }
    return jobs;
  };
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  opts.signal?.addEventListener('abort', onAbort);
  const it = source.stream(ac.signal)[Symbol.asyncIterator]();
  const prog: BackfillProgress = { rows: cursor.rows, total: null, chunks: cursor.chunks, superseded: 0, streamEvents: 0 };
  const commitStream = async (batch: WatermarkedBatch) => {
    prog.streamEvents += batch.events.length;
    if (batch.events.length || batch.position !== undefined) await commitBatch(streamPipe, deps, batch);
    else await batch.ack?.();
  };
  try {
    try {
      if (reader.count) prog.total = await reader.count({ signal: ac.signal });
    } catch {}
    opts.onProgress?.(prog);
    // The stream must be live (positioned) before the first low watermark: write sync
    // watermarks until one comes back through the stream (a lazily started source, e.g. a
    // fresh binlog reader, may position itself after the first one).
    const syncIds = new Set<string>();
    let pending: Promise<IteratorResult<WatermarkedBatch>> | null = null;
    const syncDeadline = Date.now() + watermarkTimeoutMs;
    for (let synced = false; !synced && !ac.signal.aborted;) {
      if (Date.now() > syncDeadline) throw new RetryableError(`no watermark came back through the change stream of pipeline "${p.name}" within ${Math.round(watermarkTimeoutMs / 1000)} s; is another process (hms-sync run) capturing this pipeline, or are the triggers missing (hms-sync triggers install ${p.name})?`);
      const id = `sync:${randomUUID()}`;
      syncIds.add(id);
      await support.writeWatermark(id);
      const deadline = Date.now() + 2000;
      while (!synced && Date.now() < deadline) {
        pending ??= it.next() as Promise<IteratorResult<WatermarkedBatch>>;
        let timer: NodeJS.Timeout | undefined;
        const r = await Promise.race([pending, new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), Math.max(1, deadline - Date.now())); })]);
        clearTimeout(timer);
        if (r === null) break;
        pending = null;
        if (r.done) throw new Error('the change stream ended before the backfill could start');
        await commitStream(r.value);
        if (r.value.watermark !== undefined && syncIds.has(r.value.watermark)) synced = true;
      }
    }
    /** A chunk read (steps 1-3) and turned into jobs, by key. */
    interface Chunk { wid: string; rows: number; after: unknown[] | null; last: boolean; jobs: Map<string, EnqueueInput> }
    /**
     * Steps 1-3 for the chunk after `after` (the key values of the last row committed; the
     * Reader resumes after their canonical key), then its rows turned into jobs. `sent` settles once
     * the low watermark is written and the read is on its way: the caller waits for that before
     * committing the previous chunk, so the database runs the select meanwhile, and the rows are
     * parsed and turned into jobs while the commit is in flight.
     */
    const readChunk = (after: unknown[] | null): { sent: Promise<void>; chunk: Promise<Chunk> } => {
      let onSent!: () => void;
      const sent = new Promise<void>((resolve) => { onSent = resolve; });
      const chunk = (async (): Promise<Chunk> => {
        try {
          const wid = randomUUID();
          await support.writeWatermark(`lw:${wid}`);
          const from = after ? canonicalKey(Object.fromEntries(p.key.map((k, i) => [k, after[i]])), p.key) : null;
          const pages = reader.scan({ after: from, limit: chunkSize, signal: ac.signal })[Symbol.asyncIterator]();
          const selected = pages.next();
          onSent();
          const page = await selected;
          await pages.return?.(undefined);
          const rows = page.done ? [] : page.value.rows;
          await opts.onChunkRead?.(rows.map((r) => r.doc));
          await support.writeWatermark(`hw:${wid}`);
          const lastRow = rows[rows.length - 1];
          const last = page.done || page.value.cursor === null;
          return { wid, rows: rows.length, after: lastRow ? p.key.map((k) => lastRow.doc[k]) : after, last, jobs: chunkJobs(rows, Date.now()) };
        } finally {
          onSent();
        }
      })();
      chunk.catch(() => {}); // awaited (and rethrown) at the top of the loop
      return { sent, chunk };
    };
    let read = readChunk(cursor.after);
    while (!ac.signal.aborted) {
      const { wid, rows, after, last, jobs } = await read.chunk;
      // drain the stream until it reports our high watermark
      const deadline = Date.now() + watermarkTimeoutMs;
      for (;;) {
        const next = await withDeadline(it.next() as Promise<IteratorResult<WatermarkedBatch>>, deadline, () => new RetryableError(`the high watermark of chunk ${(cursor?.chunks ?? 0) + 1} did not come back through the change stream of pipeline "${p.name}" within ${Math.round(watermarkTimeoutMs / 1000)} s; is another process (hms-sync run) capturing this pipeline? Stop its capture (run --no-capture) and run the backfill again: it resumes`));
        if (next.done) throw new Error('the change stream ended before the high watermark was seen');
        const batch = next.value as WatermarkedBatch;
        for (const ev of batch.events) if (jobs.delete(ev.key)) prog.superseded++;
        await commitStream(batch);
        if (batch.watermark === `hw:${wid}`) break;
      }
      const next: BackfillCursor = {
        after,
        rows: cursor.rows + rows,
        chunks: cursor.chunks + 1,
        done: last,
        startedAt: cursor.startedAt,
      };
      // Read the next chunk while this one commits: its window opens at its low watermark and
      // nothing is drained from the stream until this commit is done, so the rule holds.
      if (!next.done) {
        read = readChunk(next.after);
        await read.sent;
      }
      await store.commit({ jobs: [...jobs.values()], position: { source: bfId, position: JSON.stringify(next) } });
      cursor = next;
      prog.rows = cursor.rows;
      prog.chunks = cursor.chunks;
      opts.onProgress?.(prog);
      if (cursor.done) break;
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    ac.abort();
    await it.return?.(undefined).catch(() => {});
    await reader.close().catch(() => {});
    await support.close().catch(() => {});
    await source.close().catch(() => {});
  }
  return summary(cursor, { resumed }, prog);
}
