/**
 * Record framing for copybook files, streaming with bounded memory:
 * - `F`: fixed-length records, back to back;
 * - `V`: each record preceded by a record descriptor word (RDW) holding its length;
 * - `VB`: blocks, each preceded by a block descriptor word (BDW), holding RDW records;
 * - `D`: line sequential text, one record per line.
 *
 * z/OS writes a 4-byte RDW `LL 00` (big-endian length that counts the 4 header bytes);
 * GnuCOBOL's ORGANIZATION SEQUENTIAL variable files use a header whose length excludes the
 * header (see {@link gnucobolRdw} for its four COB_VARSEQ_FORMAT layouts).
 */
import { ConfigError, FormatError } from '../../core/errors.js';
import { ByteQueue } from './byte-queue.js';

/** How a record (RDW) or block (BDW) descriptor encodes a length. */
export interface DescriptorOptions {
  /** The length counts the header bytes too: true on z/OS (default), false for GnuCOBOL. */
  includesHeader?: boolean;
  /** Byte order of the length field; default big. */
  byteOrder?: 'big' | 'little';
  /** Added to the length read from the header (cobrix's rdw_adjustment); default 0. */
  adjustment?: number;
  /** Size of the header in bytes; default 4. */
  headerLength?: 2 | 4;
  /** Bytes of the header that hold the length (the rest must be zero); default 2. */
  lengthWidth?: 2 | 4;
}

/** Block options of VB files. */
export interface BlockOptions extends DescriptorOptions {
  /** Writer: largest block, BDW included; default 32760. Blocks above 32767 bytes use the extended BDW. */
  blockSize?: number;
}

/** Fixed-length records. */
export interface FixedFormat { format: 'F'; recordLength: number }
/** Variable-length records, each with an RDW. */
export interface VariableFormat { format: 'V'; rdw?: DescriptorOptions }
/** Variable-length records grouped in blocks, each block with a BDW. */
export interface VariableBlockedFormat { format: 'VB'; rdw?: DescriptorOptions; bdw?: BlockOptions }
/** Line sequential text: records end with LF, CR LF, or (EBCDIC) NEL 0x15. */
export interface LineFormat {
  format: 'D';
  /** Reader: 'auto' (default) splits on LF and drops a CR before it; writer default 'lf'. */
  lineEnding?: 'auto' | 'lf' | 'crlf' | 'nel';
  /** Reader: pad shorter lines to this many bytes (GnuCOBOL strips trailing spaces on write). */
  padTo?: number;
  /** Byte used by padTo and stripTrailing; default 0x20. */
  padByte?: number;
  /** Writer: drop trailing padByte bytes from each line, as GnuCOBOL does for LINE SEQUENTIAL files. */
  stripTrailing?: boolean;
}

/** Options of {@link readRecords}, {@link frameRecord} and {@link createRecordWriter}. */
export type RecordFormatOptions = (FixedFormat | VariableFormat | VariableBlockedFormat | LineFormat) & {
  /** Reader: refuse records (and lines) longer than this; default 16 MiB, so memory stays bounded. */
  maxRecordLength?: number;
};

/** One framed record. */
export interface FramedRecord {
  /** The record's data, without RDW or line ending (may share memory with the input chunk). */
  record: Buffer;
  /** 0-based position of the record in the file. */
  index: number;
  /** Byte offset of the record's data in the file (after its RDW). */
  offset: number;
}

/** The RDW layouts GnuCOBOL writes for each value of COB_VARSEQ_FORMAT (0 is its default). */
export function gnucobolRdw(varseqFormat: 0 | 1 | 2 | 3 = 0, machineOrder: 'big' | 'little' = 'little'): DescriptorOptions {
  switch (varseqFormat) {
    case 0: return { includesHeader: false, byteOrder: 'big', headerLength: 4, lengthWidth: 2 };
    case 1: return { includesHeader: false, byteOrder: 'big', headerLength: 4, lengthWidth: 4 };
    case 2: return { includesHeader: false, byteOrder: machineOrder, headerLength: 4, lengthWidth: 4 };
    case 3: return { includesHeader: false, byteOrder: 'big', headerLength: 2, lengthWidth: 2 };
  }
}

interface Descriptor { includesHeader: boolean; little: boolean; adjustment: number; headerLength: number; lengthWidth: number; extended: boolean }

const DEFAULT_MAX = 16 * 1024 * 1024;

function descriptor(o: DescriptorOptions | undefined, where: string, extended: boolean): Descriptor {
  const d = {
    includesHeader: o?.includesHeader ?? true,
    little: (o?.byteOrder ?? 'big') === 'little',
    adjustment: o?.adjustment ?? 0,
    headerLength: o?.headerLength ?? 4,
    lengthWidth: o?.lengthWidth ?? 2,
    extended,
  };
  if (o?.byteOrder !== undefined && o.byteOrder !== 'big' && o.byteOrder !== 'little') {
    throw new ConfigError(`${where}.byteOrder "${String(o.byteOrder)}" is not valid; use "big" or "little"`, { path: `${where}.byteOrder` });
  }
  if (d.headerLength !== 2 && d.headerLength !== 4) throw new ConfigError(`${where}.headerLength ${d.headerLength} is not valid; use 2 or 4`, { path: `${where}.headerLength` });
  if ((d.lengthWidth !== 2 && d.lengthWidth !== 4) || d.lengthWidth > d.headerLength) {
    throw new ConfigError(`${where}.lengthWidth ${d.lengthWidth} is not valid; use 2, or 4 with a 4-byte header`, { path: `${where}.lengthWidth` });
  }
  if (!Number.isInteger(d.adjustment)) throw new ConfigError(`${where}.adjustment ${d.adjustment} is not an integer`, { path: `${where}.adjustment` });
  return d;
}

function checkLength(n: unknown, path: string, min: number): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) {
    throw new ConfigError(`${path} ${JSON.stringify(n)} is not valid; use a whole number of at least ${min}`, { path });
  }
  return n;
}

/** Reads the payload length from a descriptor header (RDW or BDW). */
function readDescriptor(h: Buffer, d: Descriptor, what: string, index: number, offset: number): number {
  let value: number;
  if (d.extended && !d.little && d.lengthWidth === 2 && d.headerLength === 4 && (h[0]! & 0x80) !== 0) {
    value = h.readUInt32BE(0) & 0x7fffffff; // extended (large block) BDW
  } else if (d.lengthWidth === 4) {
    value = d.little ? h.readUInt32LE(0) : h.readUInt32BE(0);
  } else {
    value = d.little ? h.readUInt16LE(0) : h.readUInt16BE(0);
    for (let i = 2; i < d.headerLength; i++) {
      if (h[i] !== 0) {
        throw new FormatError(`${what} ${index + 1} at byte offset ${offset}: header ${h.toString('hex')} has non-zero bytes after its length (spanned records are not supported); check the record format and byte order`, { details: { index, offset, header: h.toString('hex') } });
      }
    }
  }
  const len = value + d.adjustment - (d.includesHeader ? d.headerLength : 0);
  if (len < 0) {
    throw new FormatError(`${what} ${index + 1} at byte offset ${offset}: header ${h.toString('hex')} gives length ${value}, smaller than the ${d.headerLength}-byte header it includes; check includesHeader, adjustment and byte order`, { details: { index, offset, header: h.toString('hex') } });
  }
  return len;
}

function writeDescriptor(payload: number, d: Descriptor, what: string): Buffer {
  const h = Buffer.alloc(d.headerLength);
  const value = payload + (d.includesHeader ? d.headerLength : 0) - d.adjustment;
  const max = d.lengthWidth === 4 ? 0xffffffff : d.extended && !d.little ? 0x7fffffff : 0xffff;
  if (value < 0 || value > max) {
    throw new FormatError(`${what} of ${payload} bytes cannot be described by a ${d.lengthWidth}-byte length (value ${value}, maximum ${max})`, { details: { length: payload } });
  }
  if (d.lengthWidth === 4) {
    if (d.little) h.writeUInt32LE(value, 0); else h.writeUInt32BE(value, 0);
  } else if (value > 0x7fff && d.extended && !d.little && d.headerLength === 4) {
    h.writeUInt32BE((value | 0x80000000) >>> 0, 0);
  } else if (d.little) {
    h.writeUInt16LE(value, 0);
  } else {
    h.writeUInt16BE(value, 0);
  }
  return h;
}

function shortRecord(what: string, index: number, offset: number, have: number, need: number, hint: string): FormatError {
  return new FormatError(`short record: ${what} ${index + 1} at byte offset ${offset} has ${have} of its ${need} bytes when the input ends; ${hint}`, { details: { index, offset, have, need } });
}

/**
 * Splits a byte stream (a fs ReadStream, any async or sync iterable of Uint8Array) into records.
 * Memory stays bounded by the largest record (or block) plus one input chunk. A truncated last
 * record throws FormatError naming its index and byte offset ("short record").
 */
export async function* readRecords(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: RecordFormatOptions): AsyncGenerator<FramedRecord> {
  const max = checkLength(opts.maxRecordLength ?? DEFAULT_MAX, 'maxRecordLength', 1);
  const q = new ByteQueue(input);
  try {
    switch (opts.format) {
      case 'F': yield* readFixed(q, checkLength(opts.recordLength, 'recordLength', 1)); break;
      case 'V': yield* readVariable(q, descriptor(opts.rdw, 'rdw', false), max); break;
      case 'VB': yield* readBlocked(q, descriptor(opts.rdw, 'rdw', false), descriptor(opts.bdw, 'bdw', true), max); break;
      case 'D': yield* readLines(q, opts, max); break;
      default: throw new ConfigError(`record format "${String((opts as { format: unknown }).format)}" is not valid; use F, V, VB or D`, { path: 'format' });
    }
  } finally {
    await q.close();
  }
}

async function* readFixed(q: ByteQueue, len: number): AsyncGenerator<FramedRecord> {
  let index = 0;
  let offset = 0;
  while (true) {
    if (q.length < len && !(await q.fill(len))) {
      if (q.length > 0) throw shortRecord('record', index, offset, q.length, len, `the file is not a multiple of the ${len}-byte record length`);
      return;
    }
    yield { record: q.take(len), index, offset };
    index++;
    offset += len;
  }
}

async function* readVariable(q: ByteQueue, rdw: Descriptor, max: number): AsyncGenerator<FramedRecord> {
  let index = 0;
  let offset = 0;
  while (true) {
    if (q.length < rdw.headerLength && !(await q.fill(rdw.headerLength))) {
      if (q.length > 0) throw shortRecord('record', index, offset, q.length, rdw.headerLength, 'the input ends inside a record descriptor word (RDW)');
      return;
    }
    const len = readDescriptor(q.take(rdw.headerLength), rdw, 'record', index, offset);
    offset += rdw.headerLength;
    if (len > max) throw new FormatError(`record ${index + 1} at byte offset ${offset - rdw.headerLength}: RDW length ${len} exceeds maxRecordLength ${max}; check the RDW options`, { details: { index, offset } });
    if (q.length < len && !(await q.fill(len))) throw shortRecord('record', index, offset, q.length, len, 'the input ends inside the record its RDW announced');
    yield { record: q.take(len), index, offset };
    index++;
    offset += len;
  }
}

async function* readBlocked(q: ByteQueue, rdw: Descriptor, bdw: Descriptor, max: number): AsyncGenerator<FramedRecord> {
  let index = 0;
  let block = 0;
  let offset = 0;
  while (true) {
    if (q.length < bdw.headerLength && !(await q.fill(bdw.headerLength))) {
      if (q.length > 0) throw shortRecord('block', block, offset, q.length, bdw.headerLength, 'the input ends inside a block descriptor word (BDW)');
      return;
    }
    const blockStart = offset;
    let remaining = readDescriptor(q.take(bdw.headerLength), bdw, 'block', block, offset);
    offset += bdw.headerLength;
    while (remaining > 0) {
      if (remaining < rdw.headerLength) {
        throw new FormatError(`block ${block + 1} at byte offset ${blockStart}: ${remaining} bytes left at byte offset ${offset}, too few for an RDW; the BDW length does not match its records`, { details: { block, offset } });
      }
      if (q.length < rdw.headerLength && !(await q.fill(rdw.headerLength))) throw shortRecord('record', index, offset, q.length, rdw.headerLength, `the input ends inside block ${block + 1}`);
      const len = readDescriptor(q.take(rdw.headerLength), rdw, 'record', index, offset);
      offset += rdw.headerLength;
      remaining -= rdw.headerLength;
      if (len > remaining) {
        throw new FormatError(`record ${index + 1} at byte offset ${offset - rdw.headerLength}: RDW length ${len} runs past the end of block ${block + 1} (${remaining} bytes left); check the RDW and BDW options`, { details: { index, offset, block } });
      }
      if (len > max) throw new FormatError(`record ${index + 1} at byte offset ${offset - rdw.headerLength}: RDW length ${len} exceeds maxRecordLength ${max}`, { details: { index, offset } });
      if (q.length < len && !(await q.fill(len))) throw shortRecord('record', index, offset, q.length, len, `the input ends inside block ${block + 1}`);
      yield { record: q.take(len), index, offset };
      index++;
      offset += len;
      remaining -= len;
    }
    block++;
  }
}

async function* readLines(q: ByteQueue, opts: LineFormat, max: number): AsyncGenerator<FramedRecord> {
  const mode = opts.lineEnding ?? 'auto';
  if (!['auto', 'lf', 'crlf', 'nel'].includes(mode)) throw new ConfigError(`lineEnding "${mode}" is not valid; use auto, lf, crlf or nel`, { path: 'lineEnding' });
  const sep = mode === 'nel' ? 0x15 : 0x0a;
  const padTo = opts.padTo === undefined ? 0 : checkLength(opts.padTo, 'padTo', 1);
  const padByte = opts.padByte ?? 0x20;
  let index = 0;
  let offset = 0;
  while (true) {
    const found = q.findBuffered(sep);
    const at = found >= 0 ? found : await q.findByte(sep, max + 2);
    if (at < 0 && q.length > max + 1) {
      throw new FormatError(`record ${index + 1} at byte offset ${offset}: no line ending within maxRecordLength ${max} bytes; is this really a line sequential file?`, { details: { index, offset } });
    }
    if (at < 0 && q.length === 0) return;
    const lineLen = at < 0 ? q.length : at;
    let line = q.take(lineLen);
    const consumed = lineLen + (at < 0 ? 0 : 1);
    if (at >= 0) q.take(1);
    if (sep === 0x0a && line.length > 0 && line[line.length - 1] === 0x0d) {
      if (mode !== 'lf') line = line.subarray(0, line.length - 1);
    } else if (mode === 'crlf' && at >= 0) {
      throw new FormatError(`record ${index + 1} at byte offset ${offset}: line ends with LF alone but lineEnding is "crlf"; use lineEnding "auto"`, { details: { index, offset } });
    }
    if (line.length > max) throw new FormatError(`record ${index + 1} at byte offset ${offset}: line of ${line.length} bytes exceeds maxRecordLength ${max}`, { details: { index, offset } });
    if (padTo > line.length) {
      const padded = Buffer.alloc(padTo, padByte);
      line.copy(padded);
      line = padded;
    }
    yield { record: line, index, offset };
    index++;
    offset += consumed;
  }
}

/** Turns records into the bytes of a file of the given format; VB groups records into blocks. */
export interface RecordWriter {
  /** Frames one record; returns the bytes now ready to write (possibly none, for VB). */
  write(record: Uint8Array): Buffer[];
  /** Returns the bytes still held (the last VB block); the writer must not be used afterwards. */
  end(): Buffer[];
}

/** Frames one record as F, V or D bytes (for VB it gives the RDW-framed record of a block). */
export function frameRecord(record: Uint8Array, opts: RecordFormatOptions): Buffer {
  switch (opts.format) {
    case 'F': {
      const len = checkLength(opts.recordLength, 'recordLength', 1);
      if (record.length !== len) throw new FormatError(`record of ${record.length} bytes does not match the fixed record length ${len}`, { details: { length: record.length, recordLength: len } });
      return Buffer.from(record.buffer, record.byteOffset, record.byteLength);
    }
    case 'V':
    case 'VB': {
      const h = writeDescriptor(record.length, descriptor(opts.rdw, 'rdw', false), 'record');
      return Buffer.concat([h, record]);
    }
    case 'D': {
      const mode = opts.lineEnding ?? 'lf';
      const sep = mode === 'nel' ? 0x15 : 0x0a;
      const at = record.indexOf(sep);
      if (at >= 0) {
        throw new FormatError(`record of ${record.length} bytes contains a line-ending byte at position ${at}, which would split it in a line sequential file`, { details: { position: at } });
      }
      const end = mode === 'crlf' ? [0x0d, 0x0a] : [sep];
      let n = record.length;
      if (opts.stripTrailing) {
        const pad = opts.padByte ?? 0x20;
        while (n > 0 && record[n - 1] === pad) n--;
      }
      return Buffer.concat([record.subarray(0, n), Buffer.from(end)]);
    }
    default:
      throw new ConfigError(`record format "${String((opts as { format: unknown }).format)}" is not valid; use F, V, VB or D`, { path: 'format' });
  }
}

/** Creates a {@link RecordWriter} for the format; VB blocks hold as many records as fit in bdw.blockSize. */
export function createRecordWriter(opts: RecordFormatOptions): RecordWriter {
  if (opts.format !== 'VB') {
    frameRecord(Buffer.alloc(opts.format === 'F' ? opts.recordLength : 0), opts); // validates the options
    return { write: (record) => [frameRecord(record, opts)], end: () => [] };
  }
  const rdw = descriptor(opts.rdw, 'rdw', false);
  const bdw = descriptor(opts.bdw, 'bdw', true);
  const blockSize = checkLength(opts.bdw?.blockSize ?? 32760, 'bdw.blockSize', bdw.headerLength + rdw.headerLength);
  let parts: Buffer[] = [];
  let used = bdw.headerLength;
  const flush = (): Buffer[] => {
    if (parts.length === 0) return [];
    const block = [writeDescriptor(used - bdw.headerLength, bdw, 'block'), ...parts];
    parts = [];
    used = bdw.headerLength;
    return block;
  };
  return {
    write(record) {
      const framed = Buffer.concat([writeDescriptor(record.length, rdw, 'record'), record]);
      if (bdw.headerLength + framed.length > blockSize) {
        throw new FormatError(`record of ${record.length} bytes does not fit a block of ${blockSize} bytes (BDW and RDW included); raise bdw.blockSize`, { details: { length: record.length, blockSize } });
      }
      const out = used + framed.length > blockSize ? flush() : [];
      parts.push(framed);
      used += framed.length;
      return out;
    },
    end: flush,
  };
}

/** Streams framed bytes for a sequence of records (pipe into a fs WriteStream with stream.pipeline). */
export async function* frameRecords(records: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: RecordFormatOptions): AsyncGenerator<Buffer> {
  const w = createRecordWriter(opts);
  for await (const r of records) yield* w.write(r);
  yield* w.end();
}
