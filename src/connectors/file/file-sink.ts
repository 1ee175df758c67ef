/**
 * The file sink: appends delta records to a staging file (`<name>.tmp`), fsyncs it before
 * each write() returns ok, and on rotation (records, bytes or time) renames it to its final
 * name, then writes the optional trigger file. Over SFTP the staging file lives in the work
 * directory and a finished file is uploaded to a temporary remote name, then renamed.
 *
 * A small state file in the work directory remembers the open file, its committed length and
 * the sequence number, so after a crash the staging file is cut back to its last committed
 * length (the unacknowledged batch is redelivered by the engine: at-least-once) and writing
 * continues.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { keyValues } from '../../core/delta.js';
import { parseDuration } from '../../core/duration.js';
import { PermanentError, errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Doc } from '../../core/types.js';
import type { Sink, SinkItem, SinkResult } from '../contract.js';
import type { OpValues } from './file-options.js';
import { renderTemplate } from './file-names.js';
import type { FileTransport } from './file-transport.js';
import { fsyncDir, writeFileDurable } from './local-transport.js';

/** Encodes documents for one output file. */
export interface FileEncoder {
  /** Bytes at the top of a new file (a CSV header); `first` is the file's first document. */
  header(first: Doc): Buffer;
  /** One record's bytes; throws (FormatError) when the document cannot be encoded. */
  record(doc: Doc): Buffer;
  /** Bytes of a batch of already-encoded records (VB blocking); default: concatenation. */
  frame?(records: Buffer[]): Buffer;
  /** Top-level fields of a document the format has no place for (they are not written). */
  unknownFields?(doc: Doc): string[];
}

export interface FileSinkOptions {
  fileName: string;
  collection: string;
  rotate: { records?: number; bytes?: number; interval?: string | number };
  trigger?: string;
  opField?: string;
  opValues: OpValues;
  utc: boolean;
}

interface OpenFile { name: string; bytes: number; records: number; openedAt: number }
interface SinkState { seq: number; current: OpenFile | null; pendingUploads: string[] }

export function createFileSink(opts: {
  transport: FileTransport;
  /** Local directory of the output (local transport), or null to stage in workDir and upload. */
  localDir: string | null;
  workDir: string;
  encoder: FileEncoder;
  options: FileSinkOptions;
  logger: Logger;
}): Sink {
  const { transport, encoder, options, logger } = opts;
  const staging = opts.localDir ?? path.join(opts.workDir, 'outgoing');
  const statePath = path.join(opts.workDir, 'file-sink-state.json');
  const intervalMs = options.rotate.interval !== undefined ? parseDuration(options.rotate.interval) : undefined;
  let state: SinkState = { seq: 0, current: null, pendingUploads: [] };
  let fh: fs.FileHandle | null = null;
  let started: Promise<void> | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  /** Serialise writes, rotations and uploads. */
  const locked = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn, fn);
    chain = next.catch(() => {});
    return next;
  };
  const tmpPath = (f: OpenFile) => path.join(staging, `${f.name}.tmp`);
  const saveState = () => writeFileDurable(statePath, JSON.stringify(state));

  async function start(): Promise<void> {
    await fs.mkdir(opts.workDir, { recursive: true });
    await fs.mkdir(staging, { recursive: true });
    try {
      state = JSON.parse(await fs.readFile(statePath, 'utf8')) as SinkState;
    } catch { /* first run */ }
    const cur = state.current;
    if (cur) {
      try {
        fh = await fs.open(tmpPath(cur), 'r+');
        await fh.truncate(cur.bytes); // drop a batch that was being written when we crashed
        await fh.sync();
      } catch {
        fh = null;
        state.current = null;
        // Crashed between the rename and the state update: finish what the rename started.
        if (await fs.stat(path.join(staging, cur.name)).then(() => true, () => false)) {
          if (!opts.localDir) state.pendingUploads.push(cur.name);
          else if (options.trigger) await writeFileDurable(path.join(staging, renderTemplate(options.trigger, { date: new Date(), seq: state.seq, utc: options.utc, name: cur.name })), '');
        }
      }
    }
    if (state.current) armTimer(state.current);
    await saveState();
    if (state.pendingUploads.length) await drainUploads();
  }

  function armTimer(f: OpenFile): void {
    if (intervalMs === undefined) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      void locked(async () => {
        if (state.current === f && !closed) await finish();
      }).catch((e) => logger.warn({ err: errorMessage(e) }, 'rotating the output file failed; retried on the next write'));
    }, Math.max(0, f.openedAt + intervalMs - Date.now()));
    timer.unref();
  }

  async function open(first: Doc): Promise<OpenFile> {
    state.seq += 1;
    const name = renderTemplate(options.fileName, { date: new Date(), seq: state.seq, utc: options.utc, collection: options.collection });
    const f: OpenFile = { name, bytes: 0, records: 0, openedAt: Date.now() };
    fh = await fs.open(tmpPath(f), 'w');
    const head = encoder.header(first);
    if (head.length) await fh.write(head);
    await fh.sync();
    await fsyncDir(staging);
    f.bytes = head.length;
    state.current = f;
    await saveState();
    armTimer(f);
    return f;
  }

  /** Close the open file under its final name (and trigger), or queue it for upload. */
  async function finish(): Promise<void> {
    const f = state.current;
    if (!f) return;
    clearTimeout(timer);
    await fh?.close();
    fh = null;
    if (opts.localDir) {
      await fs.rename(tmpPath(f), path.join(staging, f.name));
      await fsyncDir(staging);
      if (options.trigger) await writeFileDurable(path.join(staging, renderTemplate(options.trigger, { date: new Date(), seq: state.seq, utc: options.utc, name: f.name })), '');
      state.current = null;
      await saveState();
      logger.info({ file: f.name, records: f.records, bytes: f.bytes }, 'output file written');
      return;
    }
    await fs.rename(tmpPath(f), path.join(staging, f.name));
    state.current = null;
    state.pendingUploads.push(f.name);
    await saveState();
    await drainUploads();
  }

  async function drainUploads(): Promise<void> {
    while (state.pendingUploads.length) {
      const name = state.pendingUploads[0]!;
      try {
        await transport.connect();
        await transport.upload(path.join(staging, name), name);
        if (options.trigger) await transport.writeFile(renderTemplate(options.trigger, { date: new Date(), seq: state.seq, utc: options.utc, name }), '');
      } catch (e) {
        logger.warn({ err: errorMessage(e), file: name, where: transport.where }, 'upload failed; the file stays staged and is retried');
        setTimeout(() => { if (!closed) void locked(drainUploads); }, 5000).unref();
        return;
      }
      state.pendingUploads.shift();
      await saveState();
      await fs.rm(path.join(staging, name), { force: true });
      logger.info({ file: name, where: transport.where }, 'output file uploaded');
    }
  }

  /** The record a delta becomes: full state plus the op field; a delete carries its key (and last state). */
  function recordOf(item: SinkItem): Doc {
    const d = item.delta;
    const opValue = options.opValues[d.op];
    if (d.op === 'delete') {
      if (!options.opField) throw new PermanentError(`cannot write the delete of key ${JSON.stringify(d.key)} to a file without an op field; set opField (e.g. opField: ACTION) so deletes can be expressed`);
      return { ...(d.before ?? {}), ...keyValues(d.key, item.keyFields), [options.opField]: opValue };
    }
    const doc = { ...(d.state ?? d.changed) };
    if (options.opField) doc[options.opField] = opValue;
    return doc;
  }

  async function append(f: OpenFile, bufs: Buffer[], count: number): Promise<void> {
    if (!bufs.length) return;
    const data = encoder.frame ? encoder.frame(bufs) : Buffer.concat(bufs);
    await fh!.write(data, 0, data.length, f.bytes);
    await fh!.sync();
    f.bytes += data.length;
    f.records += count;
    await saveState();
  }

  const warnedUnknown = new Set<string>();
  return {
    write(items, signal) {
      return locked(async () => {
        started ??= start();
        await started;
        const results: SinkResult[] = [];
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        for (const item of items) {
          if (signal.aborted) throw signal.reason ?? new Error('aborted');
          let doc: Doc;
          let buf: Buffer;
          try {
            doc = recordOf(item);
            buf = encoder.record(doc);
            for (const field of encoder.unknownFields?.(doc) ?? []) {
              if (warnedUnknown.has(field)) continue;
              warnedUnknown.add(field);
              logger.warn({ field, key: item.delta.key }, `field "${field}" is not in the record layout, so it is not written; check the pipeline's map targets (copybook names, with - written as _)`);
            }
          } catch (e) {
            results.push({ ok: false, error: e instanceof PermanentError ? e : new PermanentError(`key ${JSON.stringify(item.delta.key)}: ${errorMessage(e)}`, { cause: e }) });
            continue;
          }
          let f = state.current ?? await open(doc);
          const { bytes, records } = options.rotate;
          if (bytes && f.records + pending.length > 0 && f.bytes + pendingBytes + buf.length > bytes) {
            await append(f, pending, pending.length);
            pending = [];
            pendingBytes = 0;
            await finish();
            f = await open(doc);
          }
          pending.push(buf);
          pendingBytes += buf.length;
          results.push({ ok: true });
          if (records && f.records + pending.length >= records) {
            await append(f, pending, pending.length);
            pending = [];
            pendingBytes = 0;
            await finish();
          }
        }
        if (state.current) await append(state.current, pending, pending.length);
        return results;
      });
    },
    async close() {
      await locked(async () => {
        closed = true;
        clearTimeout(timer);
        if (started) {
          await started.catch(() => {});
          // A closing sink hands over what it has: the open file is finished (or stays for the next start if that fails).
          await finish().catch((e) => logger.warn({ err: errorMessage(e) }, 'could not finish the open output file; it is resumed on the next start'));
        }
        await fh?.close().catch(() => {});
        await transport.close();
      });
    },
  };
}
