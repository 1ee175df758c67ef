/**
 * `hms-sync copybook layout|decode|encode`: look at and convert COBOL copybook records.
 *
 *   hms-sync copybook layout customer.cpy [--json]
 *   hms-sync copybook decode customer.cpy data.bin --code-page cp037 --record-format F > out.jsonl
 *   hms-sync copybook encode customer.cpy in.jsonl --record-format V > data.bin
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Option, type Command } from 'commander';
import { FormatError, UsageError } from '../core/errors.js';
import { EXIT } from './exit-codes.js';
import { createCodec, type CodecOptions, type RecordCodec } from '../formats/copybook/record-codec.js';
import { parseCopybook } from '../formats/copybook/copybook-parser.js';
import { describeType } from '../formats/copybook/copybook-layout.js';
import { decodeStream, encodeStream } from '../formats/copybook/record-stream.js';
import { toJsonLine } from '../formats/copybook/json-lines.js';
import { parseJsonLossless } from '../formats/json/lossless-json.js';
import { gnucobolRdw, type RecordFormatOptions } from '../formats/copybook/record-format.js';

interface CodecFlags {
  codePage?: string;
  codePageFlavor?: 'standard' | 'cobrix';
  floatFormat?: 'ibm' | 'ieee754';
  floatByteOrder?: 'big' | 'little';
  trim?: 'both' | 'left' | 'right' | 'none';
  rootPolicy?: 'collapse' | 'keep';
  decimals?: 'string' | 'number';
  strictSignOverpunch?: boolean;
  variableSizeOccurs?: boolean;
  comp5ByteOrder?: 'big' | 'little';
  binarySizes?: '2-4-8' | '1-2-4-8';
  binaryRange?: 'pic' | 'binary';
  unsignedPackedSign?: 'F' | 'C';
  asciiOverpunch?: 'gnucobol' | 'ibm';
  segmentField?: string;
  segment?: string[];
  invalidValues?: 'error' | 'null';
  keepFiller?: boolean;
  freeFormat?: boolean;
  nelAsLf?: boolean;
  recordFormat?: 'F' | 'V' | 'VB' | 'D';
  recordLength?: string;
  rdw?: 'zos' | 'gnucobol';
  rdwByteOrder?: 'big' | 'little';
}

function codecOptions(cmd: Command): Command {
  return cmd
    .option('--code-page <name>', 'code page: cp037, cp500, cp1047, cp273, cp1140, cp1141, cp1148, cp875, common, ascii, latin1, utf8', 'cp037')
    .addOption(new Option('--code-page-flavor <flavor>', 'decode text as glibc defines the code page or as cobrix does').choices(['standard', 'cobrix']).default('standard'))
    .option('--free-format', 'the copybook is in free format (no sequence area, no indicator column)')
    .addOption(new Option('--float-format <format>', 'COMP-1 / COMP-2 format').choices(['ibm', 'ieee754']).default('ibm'))
    .addOption(new Option('--float-byte-order <order>', 'COMP-1 / COMP-2 byte order').choices(['big', 'little']).default('big'))
    .addOption(new Option('--trim <policy>', 'trim text fields').choices(['both', 'left', 'right', 'none']).default('both'))
    .addOption(new Option('--root-policy <policy>', 'drop (collapse) or keep the 01-level group').choices(['collapse', 'keep']).default('collapse'))
    .addOption(new Option('--decimals <mode>', 'decimals as exact strings or as JS numbers when at most 15 digits').choices(['string', 'number']).default('string'))
    .option('--strict-sign-overpunch', 'accept an overpunched sign only where the PICTURE puts it')
    .option('--variable-size-occurs', 'OCCURS DEPENDING ON arrays take only the space of their live elements')
    .addOption(new Option('--comp5-byte-order <order>', 'byte order of COMP-5 fields').choices(['big', 'little']).default('big'))
    .addOption(new Option('--binary-range <range>', 'binary values encode accepts: up to the PIC digits or the full binary range').choices(['pic', 'binary']).default('pic'))
    .addOption(new Option('--unsigned-packed-sign <nibble>', 'sign nibble written for unsigned COMP-3').choices(['F', 'C']).default('F'))
    .addOption(new Option('--ascii-overpunch <convention>', 'sign convention encode writes in ASCII zoned decimals').choices(['gnucobol', 'ibm']).default('gnucobol'))
    .addOption(new Option('--binary-sizes <sizes>', 'bytes of binary fields by digits (IBM 2-4-8 or GnuCOBOL 1-2-4-8)').choices(['2-4-8', '1-2-4-8']).default('2-4-8'))
    .option('--segment-field <field>', 'field whose value selects the REDEFINES alternative of a record')
    .option('--segment <id=name...>', 'segment id and the REDEFINES alternative it selects (repeatable)')
    .addOption(new Option('--invalid-values <mode>', 'invalid numbers fail the record or decode as null').choices(['error', 'null']).default('error'))
    .option('--keep-filler', 'include FILLER fields')
    .option('--nel-as-lf', 'EBCDIC 0x15 decodes as LF')
    .addOption(new Option('--record-format <format>', 'F fixed, V RDW, VB BDW+RDW, D line sequential').choices(['F', 'V', 'VB', 'D']))
    .option('--record-length <bytes>', 'record length for format F (default: the copybook size)')
    .addOption(new Option('--rdw <kind>', 'RDW flavour: zos (length includes the 4 header bytes, big-endian) or gnucobol').choices(['zos', 'gnucobol']).default('zos'))
    .addOption(new Option('--rdw-byte-order <order>', 'byte order of the RDW (and BDW) length, overriding the flavour\'s (big-endian)').choices(['big', 'little']));
}

function loadCodec(copybookFile: string, f: CodecFlags): RecordCodec {
  let text: string;
  try {
    text = readFileSync(copybookFile, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read copybook ${copybookFile}: ${(err as Error).message}`);
  }
  const segments: Record<string, string> = {};
  for (const s of f.segment ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--segment "${s}" is not valid; expected id=REDEFINES-NAME, e.g. --segment C=CUSTOMER-REC`);
    segments[s.slice(0, eq)] = s.slice(eq + 1);
  }
  const opts: CodecOptions = {
    codePage: f.codePage, codePageFlavor: f.codePageFlavor, floatFormat: f.floatFormat, floatByteOrder: f.floatByteOrder, trim: f.trim, rootPolicy: f.rootPolicy,
    decimals: f.decimals, strictSignOverpunch: !!f.strictSignOverpunch, variableSizeOccurs: !!f.variableSizeOccurs,
    comp5ByteOrder: f.comp5ByteOrder, binarySizes: f.binarySizes, binaryRange: f.binaryRange, unsignedPackedSign: f.unsignedPackedSign,
    asciiOverpunch: f.asciiOverpunch, segmentField: f.segmentField,
    segments: Object.keys(segments).length ? segments : undefined, invalidValues: f.invalidValues, keepFiller: !!f.keepFiller,
    nelAsLf: !!f.nelAsLf, padShortRecords: f.recordFormat === 'D',
  };
  return createCodec(parseCopybook(text, { fileName: copybookFile, format: f.freeFormat ? 'free' : 'fixed' }), opts);
}

function recordFormat(codec: RecordCodec, f: CodecFlags): RecordFormatOptions | undefined {
  const flavour = f.rdw === 'gnucobol' ? gnucobolRdw() : undefined;
  const rdw = f.rdwByteOrder ? { ...flavour, byteOrder: f.rdwByteOrder } : flavour;
  switch (f.recordFormat) {
    case undefined: return undefined;
    case 'F': {
      const len = f.recordLength === undefined ? codec.recordSize : Number(f.recordLength);
      if (!Number.isInteger(len) || len < 1) throw new UsageError(`--record-length "${f.recordLength}" is not a positive integer`);
      return { format: 'F', recordLength: len };
    }
    case 'V': return { format: 'V', rdw };
    case 'VB': return { format: 'VB', rdw, ...(f.rdwByteOrder ? { bdw: { byteOrder: f.rdwByteOrder } } : {}) };
    case 'D': return { format: 'D' };
  }
}

/** A directory opens fine and fails at the first read: refuse it up front (pipes and devices pass). */
function refuseDirectory(file: string, what: string): void {
  let dir = false;
  try { dir = statSync(file).isDirectory(); } catch { /* a missing file is reported when it is opened */ }
  if (dir) throw new UsageError(`${what} ${file} is a directory; give the path of a file`);
}

let stdoutClosed = false;
let watching = false;
/** Writes to stdout with backpressure; returns false once the reader went away (`| head`). */
async function write(chunk: string | Uint8Array): Promise<boolean> {
  if (!watching) {
    watching = true;
    process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') stdoutClosed = true; });
  }
  if (stdoutClosed) return false;
  if (!process.stdout.write(chunk)) {
    await new Promise<void>((resolve) => {
      const done = () => { process.stdout.off('drain', done); process.stdout.off('error', done); resolve(); };
      process.stdout.once('drain', done);
      process.stdout.once('error', done);
    });
  }
  return !stdoutClosed;
}

/** Registers `copybook layout|decode|encode`. */
export function register(program: Command, setCode: (code: number) => void): void {
  const cb = program.command('copybook').description('Look at and convert COBOL copybook records (layout, decode, encode)');

  codecOptions(cb.command('layout').description('print the offset, length and type of every field').argument('<copybook>', 'copybook file'))
    .option('--json', 'print the layout as JSON')
    .action((file: string, flags: CodecFlags & { json?: boolean }) => {
      const codec = loadCodec(file, flags);
      if (!flags.json) { process.stdout.write(codec.layoutReport({ types: true })); return; }
      const fields = codec.layout().nodes.map((n) => ({
        path: n.path, level: n.level, offset: n.offset, size: n.size, type: describeType(n),
        ...(n.occurs ? { occurs: { min: n.occurs.min, max: n.occurs.max, dependingOn: n.occurs.dependingOn?.path } } : {}),
        ...(n.redefines ? { redefines: n.redefines } : {}),
      }));
      process.stdout.write(`${JSON.stringify({ recordSize: codec.recordSize, variableSize: codec.variableSize, fields, renames: codec.layout().renames }, null, 2)}\n`);
    });

  codecOptions(cb.command('decode').description('decode a data file to JSON lines on stdout').argument('<copybook>', 'copybook file').argument('<data-file>', 'data file'))
    .addOption(new Option('--on-error <policy>', 'a bad record fails the run or is reported on stderr and skipped').choices(['fail', 'skip']).default('fail'))
    .action(async (file: string, dataFile: string, flags: CodecFlags & { onError: 'fail' | 'skip' }) => {
      const codec = loadCodec(file, flags);
      let failed = 0;
      refuseDirectory(dataFile, 'data file');
      const source = createReadStream(dataFile);
      const opened = new Promise<void>((resolve, reject) => { source.once('open', () => resolve()); source.once('error', reject); });
      try { await opened; } catch (err) { throw new UsageError(`cannot read data file ${dataFile}: ${(err as Error).message}`); }
      for await (const r of decodeStream(source, codec, {
        recordFormat: recordFormat(codec, flags), onError: flags.onError,
        onSkip: (s) => { failed++; process.stderr.write(`skipped record ${s.recordNumber} (byte offset ${s.offset}): ${s.error.message}\n`); },
      })) {
        if (!(await write(`${toJsonLine(r.value)}\n`))) break;
      }
      if (failed) {
        process.stderr.write(`${failed} record(s) skipped\n`);
        setCode(EXIT.FAILURE);
      }
    });

  codecOptions(cb.command('encode').description('encode JSON lines into records on stdout').argument('<copybook>', 'copybook file').argument('<jsonl-file>', 'JSON lines file, one record per line'))
    .action(async (file: string, jsonl: string, flags: CodecFlags) => {
      const codec = loadCodec(file, flags);
      refuseDirectory(jsonl, 'JSON lines file');
      const input = createReadStream(jsonl);
      try { await new Promise<void>((resolve, reject) => { input.once('open', () => resolve()); input.once('error', reject); }); } catch (err) { throw new UsageError(`cannot read ${jsonl}: ${(err as Error).message}`); }
      async function* docs(): AsyncGenerator<Record<string, unknown>> {
        let line = 0;
        for await (const text of createInterface({ input, crlfDelay: Infinity })) {
          line++;
          if (!text.trim()) continue;
          let doc: unknown;
          try { doc = parseJsonLossless(text, { numbers: 'text' }); } catch (err) { throw new FormatError(`${jsonl}:${line}: not valid JSON (${(err as Error).message})`); }
          if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new FormatError(`${jsonl}:${line}: expected a JSON object per line`);
          yield doc as Record<string, unknown>;
        }
      }
      for await (const chunk of encodeStream(docs(), codec, recordFormat(codec, flags))) if (!(await write(chunk))) break;
    });
}
