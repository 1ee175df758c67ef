/**
 * The file Reader: the rows of a snapshot file collection, read the way the drop-directory
 * source reads them (same pattern, decoder, key and bad-record rules).
 *
 * Which file: the collection's current state is its newest snapshot, i.e. the last matching file
 * by name in the drop directory (the source applies files in name order), or, when the drop
 * directory holds none, the last one in `processedDir` (the snapshot applied last). With a
 * `trigger` suffix only files whose trigger file exists count. Only `mode: snapshot` collections
 * can be read (a `changes` file lists operations, not the collection; the connector refuses it).
 *
 * Order: `none`. Records come in the order the producer wrote them; sorting them would take
 * memory or temporary files in proportion to the file. The cursor is `{ file, size, mtimeMs,
 * record }`: a resumed scan continues in the same file (also after the source moved it to
 * processed/), so a scan across pages sees one consistent snapshot. Memory is one page.
 * `getByKeys` scans the file (stops once every key was found). No `count` (it would be a scan).
 */
import type { Readable } from 'node:stream';
import { FormatError, ValidationError } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';
import type { Logger } from '../../core/log.js';
import type { ReadRow, Reader, ScanOptions, ScanPage } from '../contract.js';
import type { ParsedRecord } from './csv-format.js';
import { validateRecord } from './file-batches.js';
import type { OpValues } from './file-options.js';
import { joinRel, type FileEntry, type FileTransport } from './file-transport.js';

export interface FileReaderOptions {
  pattern: RegExp;
  keyFields: string[];
  opValues: OpValues;
  trigger?: string;
  onError: 'fail' | 'skip' | 'dead-letter';
  processedDir: string;
  decode: (input: Readable) => AsyncIterable<ParsedRecord>;
  logger: Logger;
}

interface FileCursor {
  file: string;
  size: number;
  mtimeMs: number;
  record: number;
}

/** A data file of the collection (not a temp, trigger, rejects or reason file). */
export function isDataFile(e: FileEntry, pattern: RegExp, trigger?: string): boolean {
  return e.isFile && pattern.test(e.name) && !e.name.endsWith('.tmp') && !(trigger && e.name.endsWith(trigger))
    && !e.name.endsWith('.rejects.jsonl') && !e.name.endsWith('.reason.txt');
}

export const FILE_ORDER_NOTE = 'a file\'s records are read in the order the producer wrote them; hms-sync does not sort a file by key (that would take memory or temporary files in proportion to the file)';

export function createFileReader(transport: FileTransport, opts: FileReaderOptions): Reader {
  let connected: Promise<void> | null = null;
  const connect = () => (connected ??= transport.connect().catch((e: unknown) => { connected = null; throw e; }));

  /** The newest ready data file in `dir` ('' = the drop directory), or null. */
  async function newestIn(dir: string): Promise<{ rel: string; entry: FileEntry } | null> {
    const entries = await transport.list(dir);
    const names = new Set(entries.map((e) => e.name));
    let best: FileEntry | null = null;
    for (const e of entries) {
      if (!isDataFile(e, opts.pattern, opts.trigger)) continue;
      if (opts.trigger && !names.has(e.name + opts.trigger)) continue;
      if (!best || e.name > best.name) best = e;
    }
    return best ? { rel: joinRel(dir, best.name), entry: best } : null;
  }

  async function currentFile(): Promise<{ rel: string; entry: FileEntry } | null> {
    await connect();
    return (await newestIn('')) ?? (await newestIn(opts.processedDir));
  }

  /** The file a cursor points into, in the drop directory or already moved to processed/. */
  async function locate(c: FileCursor): Promise<{ rel: string; entry: FileEntry }> {
    await connect();
    for (const dir of ['', opts.processedDir]) {
      const e = (await transport.list(dir)).find((x) => x.name === c.file && x.size === c.size && x.mtimeMs === c.mtimeMs);
      if (e) return { rel: joinRel(dir, e.name), entry: e };
    }
    throw new ValidationError(`the scan cursor points into ${c.file} (${c.size} bytes), which is no longer in ${transport.where} or its ${opts.processedDir}/ (a newer snapshot replaced it); start the scan again without after`);
  }

  function parseCursor(text: string): FileCursor {
    try {
      const c = JSON.parse(text) as FileCursor;
      if (typeof c.file === 'string' && Number.isFinite(c.size) && Number.isFinite(c.mtimeMs) && Number.isInteger(c.record)) return c;
    } catch { /* reported below */ }
    throw new ValidationError(`${JSON.stringify(text)} is not a cursor of the file reader; pass the cursor of a previous page, or no after to start from the top`);
  }

  /** The valid rows of a file with their record numbers; bad records per onError. */
  async function* rows(file: { rel: string; entry: FileEntry }, signal?: AbortSignal): AsyncGenerator<{ no: number; row: ReadRow | null }> {
    const input = await transport.read(file.rel);
    const where = `${transport.where}/${file.rel}`;
    try {
      for await (const r of opts.decode(input)) {
        signal?.throwIfAborted();
        let error = r.error ?? (r.doc ? undefined : 'empty record');
        let row: ReadRow | null = null;
        if (error === undefined) {
          const v = validateRecord(r.no, r.doc!, { mode: 'snapshot', keyFields: opts.keyFields, opValues: opts.opValues }, null);
          if (typeof v === 'string') error = v;
          else row = { key: v.key, doc: v.doc };
        }
        if (error !== undefined) {
          const msg = `${where}: record ${r.no} (${r.where}): ${error}`;
          if (opts.onError === 'fail') throw new FormatError(msg, { details: { file: file.rel, record: r.no } });
          opts.logger.warn({ file: file.rel, record: r.no, err: error }, 'file reader skips a bad record');
        }
        yield { no: r.no, row };
      }
    } finally {
      input.destroy();
    }
  }

  return {
    order: 'none',
    orderNote: FILE_ORDER_NOTE,

    async *scan(o: ScanOptions): AsyncIterable<ScanPage> {
      if (o.range && (o.range.from != null || o.range.to != null)) {
        throw new ValidationError(`the file reader cannot scan a key range (order 'none': ${FILE_ORDER_NOTE})`);
      }
      const limit = Math.max(1, Math.floor(o.limit));
      const resume = o.after ? parseCursor(o.after) : null;
      const file = resume ? await locate(resume) : await currentFile();
      if (!file) return;
      const cursorAt = (record: number) => JSON.stringify({ file: file.entry.name, size: file.entry.size, mtimeMs: file.entry.mtimeMs, record } satisfies FileCursor);
      const skip = resume?.record ?? 0;
      let page: ReadRow[] = [];
      for await (const { no, row } of rows(file, o.signal)) {
        if (no <= skip || !row) continue;
        page.push(row);
        if (page.length >= limit) {
          yield { rows: page, cursor: cursorAt(no) };
          page = [];
        }
      }
      yield { rows: page, cursor: null };
    },

    async getByKeys(keys: string[], signal?: AbortSignal): Promise<Map<string, Doc>> {
      const out = new Map<string, Doc>();
      const wanted = new Set(keys);
      if (!wanted.size) return out;
      const file = await currentFile();
      if (!file) return out;
      for await (const { row } of rows(file, signal)) {
        if (row && wanted.has(row.key) && !out.has(row.key)) {
          out.set(row.key, row.doc);
          if (out.size === wanted.size) break;
        }
      }
      return out;
    },

    async close() {
      if (connected) await connected.catch(() => {});
      await transport.close();
    },
  };
}
