/**
 * The drop-directory source: watches a directory (local fs.watch plus a periodic scan, or a
 * periodic SFTP listing) for files matching a pattern, reads each ready file once, and moves
 * it to processed/ (or failed/ with a reason file) in the ack of its last batch, after the
 * engine's durable commit. Delivery is at-least-once: a crash before the ack leaves the file
 * in place and it is read again on restart; the shadow makes that reread produce no
 * duplicate changes, and the committed position skips records already committed.
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { errorMessage } from '../../core/errors.js';
import type { Source, SourceBatch, SourceContext } from '../contract.js';
import { buildChangeBatch, buildDeleteBatch, missingKeys, validateRecord, type RecordRules, type ValidRecord } from './file-batches.js';
import type { FileEntry, FileTransport } from './file-transport.js';
import { joinRel } from './file-transport.js';
import { isDataFile } from './file-reader.js';
import type { ParsedRecord } from './csv-format.js';

/** Reads the records of one file stream. */
export type RecordDecoder = (input: Readable) => AsyncIterable<ParsedRecord>;

export interface DropDirOptions extends RecordRules {
  pattern: RegExp;
  trigger?: string;
  stableChecks: number;
  pollMs: number;
  batchSize: number;
  onError: 'fail' | 'skip' | 'dead-letter';
  /** Snapshot mode: fail a file that would delete more keys than this. */
  maxDeletes?: number;
  processedDir: string;
  failedDir: string;
}

/** What the source records as its position: the file and the last committed record. */
interface FilePosition {
  file: string;
  size: number;
  mtimeMs: number;
  record: number;
}

function sleep(ms: number, signal: AbortSignal, wake: { fn?: () => void }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(t); signal.removeEventListener('abort', done); wake.fn = undefined; resolve(); };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    wake.fn = done;
  });
}

export function createDropDirSource(ctx: SourceContext, transport: FileTransport, decode: RecordDecoder, opts: DropDirOptions): Source {
  const log = ctx.logger;
  /** Size/mtime seen per file and how many consecutive scans saw it unchanged. */
  const seenSizes = new Map<string, { size: number; mtimeMs: number; count: number }>();
  /** Files handed to the engine whose final ack has not come yet: never read twice concurrently. */
  const inFlight = new Set<string>();
  let stopWatch: (() => void) | undefined;

  const isCandidate = (e: FileEntry) => isDataFile(e, opts.pattern, opts.trigger);

  async function readyFiles(): Promise<FileEntry[]> {
    const entries = await transport.list('');
    const names = new Set(entries.map((e) => e.name));
    const ready: FileEntry[] = [];
    for (const name of [...seenSizes.keys()]) if (!names.has(name)) seenSizes.delete(name);
    for (const e of entries.filter(isCandidate).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (inFlight.has(e.name)) continue;
      if (opts.trigger) {
        if (names.has(e.name + opts.trigger)) ready.push(e);
        continue;
      }
      const prev = seenSizes.get(e.name);
      const count = prev && prev.size === e.size && prev.mtimeMs === e.mtimeMs ? prev.count + 1 : 1;
      seenSizes.set(e.name, { size: e.size, mtimeMs: e.mtimeMs, count });
      if (count >= opts.stableChecks) ready.push(e);
    }
    return ready;
  }

  /** Where a file goes in processed/ or failed/: its own name, or with a suffix when that is taken. */
  async function destination(dir: string, name: string): Promise<string> {
    const target = joinRel(dir, name);
    return (await transport.exists(target)) ? `${target}.${Date.now()}` : target;
  }

  async function moveDone(file: FileEntry, rejectsPath: string | null): Promise<void> {
    await transport.mkdirp(opts.processedDir);
    const target = await destination(opts.processedDir, file.name);
    if (rejectsPath) {
      await transport.upload(rejectsPath, `${target}.rejects.jsonl`);
      await rm(rejectsPath, { force: true });
    }
    await transport.rename(file.name, target);
    if (opts.trigger) await transport.rename(file.name + opts.trigger, target + opts.trigger).catch(() => {});
    seenSizes.delete(file.name);
    inFlight.delete(file.name);
    log.info({ file: file.name, where: transport.where }, 'file processed');
  }

  async function moveFailed(file: FileEntry, reason: string): Promise<void> {
    await transport.mkdirp(opts.failedDir);
    const target = await destination(opts.failedDir, file.name);
    await transport.writeFile(`${target}.reason.txt`, `${new Date().toISOString()} ${reason}\n`);
    await transport.rename(file.name, target);
    if (opts.trigger) await transport.rename(file.name + opts.trigger, target + opts.trigger).catch(() => {});
    seenSizes.delete(file.name);
    inFlight.delete(file.name);
    log.warn({ file: file.name, reason }, 'file failed');
  }

  /** Each record of a file, validated; closes the stream when the caller stops early. */
  async function* records(file: FileEntry, seen: Set<string> | null): AsyncGenerator<ValidRecord | { no: number; error: string }> {
    const input = await transport.read(file.name);
    try {
      for await (const r of decode(input)) {
        if (r.error !== undefined || !r.doc) {
          yield { no: r.no, error: `record ${r.no} (${r.where}): ${r.error ?? 'empty record'}` };
          continue;
        }
        const v = validateRecord(r.no, r.doc, opts, seen);
        yield typeof v === 'string' ? { no: r.no, error: `record ${r.no} (${r.where}): ${v}` } : v;
      }
    } finally {
      input.destroy();
    }
  }

  async function* processFile(file: FileEntry, signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const where = `${transport.where}/${file.name}`;
    inFlight.add(file.name);
    const snapshot = opts.mode === 'snapshot';
    const posOf = (record: number) => JSON.stringify({ file: file.name, size: file.size, mtimeMs: file.mtimeMs, record } satisfies FilePosition);
    const guardDeletes = snapshot && opts.maxDeletes !== undefined;
    if (opts.onError === 'fail' || guardDeletes) {
      // Check the whole file first so a bad record (or too many deletes) fails it before anything is applied.
      const keys = snapshot ? new Set<string>() : null;
      let reason: string | null = null;
      for await (const r of records(file, keys)) {
        if ('error' in r && opts.onError === 'fail') {
          reason = `${where}: ${r.error}`;
          break;
        }
      }
      if (!reason && guardDeletes && keys) {
        const gone = (await missingKeys(ctx.state, keys)).length;
        if (gone > opts.maxDeletes!) reason = `${where}: the snapshot would delete ${gone} keys, more than maxDeletes (${opts.maxDeletes}); if that is intended, raise maxDeletes and drop the file again`;
      }
      if (reason) {
        const why = reason;
        yield { events: [], ack: () => moveFailed(file, why).finally(() => inFlight.delete(file.name)) };
        return;
      }
    }
    let resumeAfter = 0;
    const raw = await ctx.state.getPosition();
    if (raw) {
      try {
        const p = JSON.parse(raw) as FilePosition;
        if (p.file === file.name && p.size === file.size && p.mtimeMs === file.mtimeMs) resumeAfter = p.record;
      } catch { /* a position from another source version: start at the top */ }
    }
    const seen = snapshot ? new Set<string>() : null;
    // Rejects are collected locally for the whole file on every read (also a resumed one), then uploaded in the ack.
    const rejectsFile = path.join(ctx.workDir, 'rejects', `${file.name}.jsonl`);
    await rm(rejectsFile, { force: true });
    let rejectsPath: string | null = null;
    let chunk: ValidRecord[] = [];
    // bad records under onError: dead-letter, committed with the next batch as dead jobs
    const rejected: NonNullable<SourceBatch['rejected']> = [];
    let last = 0;
    const ts = Date.now();
    for await (const r of records(file, seen)) {
      if (signal.aborted) return;
      last = r.no;
      if ('error' in r) {
        if (opts.onError === 'dead-letter') {
          if (r.no > resumeAfter) rejected.push({ key: `${file.name}#${r.no}`, record: { file: file.name, record: r.no }, error: r.error });
          continue;
        }
        if (!rejectsPath) {
          await mkdir(path.dirname(rejectsFile), { recursive: true });
          rejectsPath = rejectsFile;
        }
        await appendFile(rejectsPath, `${JSON.stringify({ file: file.name, record: r.no, reason: r.error })}\n`);
        continue;
      }
      if (r.no <= resumeAfter) continue;
      chunk.push(r);
      if (chunk.length >= opts.batchSize) {
        const b = await buildChangeBatch(chunk, ctx, ts);
        chunk = [];
        yield { ...b, rejected: rejected.splice(0), position: posOf(last) };
      }
    }
    const tail = await buildChangeBatch(chunk, ctx, ts);
    let gone: string[] = [];
    if (seen) {
      if (tail.events.length) {
        // Commit the tail first so the shadow listing below sees it.
        yield { ...tail, rejected: rejected.splice(0), position: posOf(last) };
        tail.events = [];
        tail.shadow = [];
      }
      gone = await missingKeys(ctx.state, seen);
      seen.clear();
    }
    if (signal.aborted) return;
    for (let i = 0; i < gone.length || i === 0; i += opts.batchSize) {
      const del = await buildDeleteBatch(gone.slice(i, i + opts.batchSize), ctx, ts);
      const final = i + opts.batchSize >= gone.length;
      const batch: SourceBatch = { events: [...tail.events, ...del.events], shadow: [...tail.shadow, ...del.shadow], rejected: rejected.splice(0), position: posOf(last) };
      tail.events = [];
      tail.shadow = [];
      if (final) batch.ack = () => moveDone(file, rejectsPath).finally(() => inFlight.delete(file.name));
      yield batch;
    }
  }

  return {
    async *stream(signal) {
      const wake: { fn?: () => void } = {};
      // The engine calls stream() again after a failure (e.g. a commit or an ack threw): files
      // handed out before were not acknowledged, so they are candidates again.
      inFlight.clear();
      seenSizes.clear();
      stopWatch?.();
      // a local drop folder that does not exist is created (a job may write into it later), but
      // loudly: a misspelt `dir` must not look like a quiet folder
      const missing = transport.kind === 'local' && !existsSync(transport.where);
      await transport.connect();
      if (missing) log.warn({ where: transport.where, system: ctx.system }, `the drop folder ${transport.where} of system "${ctx.system}" did not exist; created it empty. If files are expected elsewhere, fix \`dir\` (hms-sync validate checks it)`);
      stopWatch = transport.watch?.(() => wake.fn?.());
      while (!signal.aborted) {
        let ready: FileEntry[] = [];
        try {
          ready = await readyFiles();
          ctx.health?.ok();
        } catch (e) {
          ctx.health?.failed(e);
          log.warn({ err: errorMessage(e), where: transport.where }, 'cannot list the drop directory; retrying');
        }
        for (const file of ready) {
          if (signal.aborted) break;
          try {
            yield* processFile(file, signal);
          } catch (e) {
            inFlight.delete(file.name);
            log.warn({ err: errorMessage(e), file: file.name }, 'reading the file failed; it stays in place and is retried');
          }
        }
        if (!signal.aborted) await sleep(opts.pollMs, signal, wake);
      }
    },
    async close() {
      stopWatch?.();
      await transport.close();
    },
  };
}
