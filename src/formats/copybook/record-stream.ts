/**
 * Streaming decode and encode of whole files with bounded memory: records come from the record
 * framing readers (F, V, VB, D), or, for variable-size OCCURS in a file without descriptors,
 * from the copybook itself. An error policy decides what a bad record does.
 */
import { ConfigError, FormatError, errorMessage } from '../../core/errors.js';
import { readRecords, createRecordWriter, type RecordFormatOptions } from './record-format.js';
import { ShortRecordError, type RecordCodec } from './record-codec.js';

/** A decoded record of a stream. */
export interface DecodedRecord {
  /** 1-based record number. */
  recordNumber: number;
  /** Byte offset of the record's data in the file. */
  offset: number;
  value: Record<string, unknown>;
}

/** A record the error policy skipped or dead-lettered. */
export interface SkippedRecord {
  recordNumber: number;
  offset: number;
  /** The record's bytes (a copy). */
  record: Buffer;
  error: FormatError;
}

/** Options of {@link decodeStream}. */
export interface DecodeStreamOptions {
  /**
   * Record framing (see record-format.ts). Default: fixed-length records of the copybook's size,
   * or, with variableSizeOccurs, records back to back whose length the copybook decides.
   */
  recordFormat?: RecordFormatOptions;
  /** 'fail' (default): the first bad record throws; 'skip': report it through onSkip and go on; 'dead-letter': hand it to deadLetter and go on. */
  onError?: 'fail' | 'skip' | 'dead-letter';
  /** Called for each skipped record (policy 'skip'). */
  onSkip?: (skipped: SkippedRecord) => void;
  /** Receives each bad record (policy 'dead-letter'); awaited, so it may write to a store. */
  deadLetter?: (skipped: SkippedRecord) => void | Promise<void>;
}

/**
 * Decodes a byte stream (fs.createReadStream(...), any iterable of chunks) record by record.
 * Memory stays bounded by the largest record plus one chunk.
 *
 * @example
 * for await (const r of decodeStream(createReadStream('data.bin'), codec, { onError: 'skip', onSkip: (s) => console.error(s.error.message) })) use(r.value);
 */
export async function* decodeStream(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, codec: RecordCodec, options: DecodeStreamOptions = {}): AsyncGenerator<DecodedRecord> {
  const policy = options.onError ?? 'fail';
  if (!['fail', 'skip', 'dead-letter'].includes(policy)) throw new ConfigError(`onError is ${JSON.stringify(policy)}; valid values are "fail", "skip", "dead-letter"`, { path: 'onError' });
  if (policy === 'dead-letter' && !options.deadLetter) throw new ConfigError('onError "dead-letter" needs a deadLetter function', { path: 'deadLetter' });
  const handle = async (recordNumber: number, offset: number, record: Uint8Array, err: unknown): Promise<void> => {
    if (!(err instanceof FormatError) || policy === 'fail') throw err;
    const skipped: SkippedRecord = { recordNumber, offset, record: Buffer.from(record), error: err };
    if (policy === 'skip') options.onSkip?.(skipped);
    else await options.deadLetter!(skipped);
  };
  if (!options.recordFormat && codec.variableSize) {
    yield* decodeSelfDelimited(source, codec, handle);
    return;
  }
  const fmt: RecordFormatOptions = options.recordFormat ?? { format: 'F', recordLength: codec.recordSize };
  for await (const fr of readRecords(source, fmt)) {
    const recordNumber = fr.index + 1;
    let value: Record<string, unknown>;
    try {
      value = codec.decode(fr.record, { recordNumber });
    } catch (err) {
      await handle(recordNumber, fr.offset, fr.record, err);
      continue;
    }
    yield { recordNumber, offset: fr.offset, value };
  }
}

/** Records back to back whose size the copybook decides (variable-size OCCURS DEPENDING ON). */
async function* decodeSelfDelimited(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  codec: RecordCodec,
  handle: (n: number, offset: number, record: Uint8Array, err: unknown) => Promise<void>,
): AsyncGenerator<DecodedRecord> {
  let pending: Buffer = Buffer.alloc(0);
  let fileOffset = 0;
  let recordNumber = 0;
  const iterator = (Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : (source as Iterable<Uint8Array>)[Symbol.iterator]()) as AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  let eof = false;
  for (;;) {
    if (!eof && pending.length < codec.recordSize) {
      const next = await iterator.next();
      if (next.done) eof = true;
      else { pending = pending.length ? Buffer.concat([pending, next.value]) : Buffer.from(next.value); continue; }
    }
    if (pending.length === 0) return;
    recordNumber++;
    try {
      const { value, length } = codec.decodeAt(pending, 0, { recordNumber });
      if (length === 0) throw new FormatError(`record ${recordNumber} at byte offset ${fileOffset} decodes to 0 bytes; the copybook cannot delimit records`);
      yield { recordNumber, offset: fileOffset, value };
      pending = pending.subarray(length);
      fileOffset += length;
    } catch (err) {
      if (err instanceof ShortRecordError && !eof) { recordNumber--; const next = await iterator.next(); if (next.done) eof = true; else pending = Buffer.concat([pending, next.value]); continue; }
      // the rest of the input cannot be delimited any more: report it as one bad record
      await handle(recordNumber, fileOffset, pending, err);
      return;
    }
  }
}

/**
 * Encodes documents to framed record bytes (pipe into a fs WriteStream with stream.pipeline).
 * Without a record format: fixed-length records of the copybook's size or, with variable-size
 * OCCURS, records back to back (what decodeStream reads by default).
 */
export async function* encodeStream(docs: AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>, codec: RecordCodec, recordFormat?: RecordFormatOptions): AsyncGenerator<Buffer> {
  const writer = recordFormat || !codec.variableSize
    ? createRecordWriter(recordFormat ?? { format: 'F', recordLength: codec.recordSize })
    : { write: (r: Buffer) => [r], end: () => [] };
  let n = 0;
  for await (const doc of docs) {
    n++;
    yield* writer.write(codec.encode(doc, { recordNumber: n }));
  }
  yield* writer.end();
}

export { errorMessage };
