/**
 * Real COBOL both ways: GnuCOBOL programs in test/fixtures-cobol write records and DISPLAY the
 * values they wrote; we decode their files with the copybook codec and must see the same values.
 * Then we encode records (the decoded ones, byte for byte, and new ones with flipped signs), the
 * same programs READ and DISPLAY them, and the output must match what we encoded.
 * The programs COPY the .cpy files that our parser reads, so both sides share one layout.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { needCommand, tempDir } from '../helpers/services.js';
import { readRecords, createRecordWriter, gnucobolRdw, type RecordFormatOptions } from '../../src/formats/copybook/record-format.js';
import { parseCopybook, createCodec, type CodecOptions, type RecordCodec } from '../../src/formats/copybook/index.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures-cobol');
const skip = await needCommand('cobc', 'apt-get install -y gnucobol3');

/** Codec options matching GnuCOBOL's defaults on x86 (-std=default). */
const GNUCOBOL_OPTIONS: CodecOptions = {
  codePage: 'ascii',
  comp5ByteOrder: 'little',
  binarySizes: '1-2-4-8',
  asciiOverpunch: 'gnucobol',
  trim: 'none',
};

type Shown = Map<string, string>;

/** Parses DISPLAY output: a RECORD line, then NAME=value lines (NAME(+0001) for table items). */
function parseDisplay(stdout: string): Shown[] {
  const out: Shown[] = [];
  for (const line of stdout.split('\n')) {
    if (line === 'RECORD') out.push(new Map());
    else if (line.includes('=')) {
      const at = line.indexOf('=');
      const key = line.slice(0, at).replace(/\(\+?0*(\d+)\)/, '($1)');
      assert.ok(out.length > 0, `DISPLAY line before the first RECORD: ${line}`);
      out[out.length - 1]!.set(key, line.slice(at + 1));
    } else if (line.trim() !== '') {
      assert.fail(`unexpected COBOL output: ${line}`);
    }
  }
  return out;
}

const NUMERIC = /^([+-]?)(\d*)(?:\.(\d*))?([+-]?)$/;

/** Canonical decimal text: sign only when negative, no leading zeros, no trailing fraction zeros. */
function canon(v: unknown): string | undefined {
  const m = NUMERIC.exec(String(v).trim());
  if (!m || (m[1] && m[4]) || (m[2] === '' && !m[3])) return undefined;
  const int = m[2]!.replace(/^0+/, '') || '0';
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const text = frac ? `${int}.${frac}` : int;
  const negative = (m[1] || m[4]) === '-' && text !== '0';
  return negative ? `-${text}` : text;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/** Flattens a decoded document to COBOL names: O_ITEMS[1].O_CODE -> O-CODE(2). */
function flatten(doc: unknown, idx: number[] = [], into: Shown = new Map(), raw = new Map<string, unknown>()): { shown: Shown; raw: Map<string, unknown> } {
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (Array.isArray(v)) {
      v.forEach((el, i) => {
        if (isPlainObject(el)) flatten(el, [...idx, i + 1], into, raw);
        else {
          const key = `${k.replace(/_/g, '-')}(${[...idx, i + 1].join(',')})`;
          into.set(key, String(el));
          raw.set(key, el);
        }
      });
    } else if (isPlainObject(v)) {
      flatten(v, idx, into, raw);
    } else {
      const key = k.replace(/_/g, '-') + (idx.length ? `(${idx.join(',')})` : '');
      into.set(key, String(v));
      raw.set(key, v);
    }
  }
  return { shown: into, raw };
}

/** Asserts that a decoded document shows the values COBOL displayed. */
function assertSame(decoded: unknown, shown: Shown, where: string): void {
  const flat = flatten(decoded).shown;
  const keys = [...shown.keys()].filter((k) => k !== 'LENGTH');
  assert.deepEqual([...flat.keys()].sort(), keys.sort(), `${where}: fields`);
  for (const k of keys) {
    const cobol = shown.get(k)!;
    const ours = flat.get(k)!;
    const c = canon(cobol);
    if (c !== undefined) assert.equal(canon(ours), c, `${where}: ${k} COBOL "${cobol}", decoded "${ours}"`);
    else assert.equal(ours, cobol, `${where}: ${k}`);
  }
}

/** A new document from a decoded one: every signed non-zero number negated, every text reversed. */
function mutate(doc: unknown, shown: Shown, idx: number[] = []): unknown {
  if (Array.isArray(doc)) return doc.map((el, i) => mutate(el, shown, [...idx, i + 1]));
  if (!isPlainObject(doc)) return doc;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    const key = k.replace(/_/g, '-') + (idx.length ? `(${idx.join(',')})` : '');
    const cobol = shown.get(key);
    if (Array.isArray(v) || isPlainObject(v) || cobol === undefined) out[k] = mutate(v, shown, Array.isArray(v) ? idx : idx);
    else if (canon(cobol) !== undefined) {
      const signed = /^[+-]|[+-]$/.test(cobol);
      out[k] = signed ? negate(v) : v;
    } else if (typeof v === 'string') {
      const t = v.trimEnd();
      out[k] = [...t].reverse().join('') + v.slice(t.length);
    } else out[k] = v;
  }
  return out;
}

function negate(v: unknown): unknown {
  if (typeof v === 'bigint') return -v;
  if (typeof v === 'number') return v === 0 ? 0 : -v;
  if (typeof v === 'string') return v.startsWith('-') ? v.slice(1) : canon(v) === '0' ? v : `-${v}`;
  return v;
}

function run(exe: string, mode: 'WRITE' | 'READ', env: Record<string, string>): string {
  const r = spawnSync(exe, [mode], { env: { ...process.env, ...env }, encoding: 'latin1', timeout: 20_000 });
  assert.equal(r.status, 0, `${path.basename(exe)} ${mode} failed: ${r.stderr}`);
  assert.equal(r.stderr, '', `${path.basename(exe)} ${mode} wrote to stderr`);
  return r.stdout;
}

async function decodeFile(file: string, codec: RecordCodec, format: RecordFormatOptions): Promise<unknown[]> {
  const docs: unknown[] = [];
  for await (const { record } of readRecords(createReadStream(file, { highWaterMark: 7 }), format)) docs.push(codec.decode(record));
  return docs;
}

function encodeFile(file: string, docs: unknown[], codec: RecordCodec, format: RecordFormatOptions): Buffer {
  const w = createRecordWriter(format);
  const parts: Buffer[] = [];
  for (const d of docs) parts.push(...w.write(codec.encode(d as Record<string, unknown>)));
  parts.push(...w.end());
  const bytes = Buffer.concat(parts);
  writeFileSync(file, bytes);
  return bytes;
}

function loadCodec(cpy: string, extra: Partial<CodecOptions> = {}): RecordCodec {
  return createCodec(parseCopybook(readFileSync(path.join(FIXTURES, cpy), 'utf8')), { ...GNUCOBOL_OPTIONS, ...extra });
}

describe('GnuCOBOL round trips', { skip }, () => {
  let tmp: { dir: string; cleanup: () => void };
  const exe: Record<string, string> = {};

  before(() => {
    tmp = tempDir('hms-gnucobol-');
    const builds: Array<[string, string, string[]]> = [
      ['types', 'types', []],
      ['odo', 'odo', []],
      ['lines', 'lines', []],
      // IBM conventions: zoned signs as {A-I }J-R, binary sizes 2-4-8 (1-2 digit COMP takes 2 bytes).
      ['types-ibm', 'types', ['-fsign=EBCDIC', '-fbinary-size=2-4-8']],
    ];
    for (const [name, source, flags] of builds) {
      exe[name] = path.join(tmp.dir, name);
      const r = spawnSync('cobc', ['-x', ...flags, '-I', FIXTURES, '-o', exe[name]!, path.join(FIXTURES, `${source}.cbl`)], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, `cobc ${source}.cbl ${flags.join(' ')} failed: ${r.stderr}`);
    }
  });
  after(() => tmp?.cleanup());

  it('decodes COMP-3, COMP, COMP-5, zoned and SIGN SEPARATE fields COBOL wrote, and re-encodes them byte for byte', async () => {
    const codec = loadCodec('types.cpy');
    const file = path.join(tmp.dir, 'types.dat');
    const shown = parseDisplay(run(exe.types!, 'WRITE', { DD_TYPESFILE: file }));
    assert.equal(shown.length, 14);
    // The layout we compute from the copybook has the record size COBOL used.
    const recordLength = codec.layout().size;
    assert.equal(recordLength * shown.length, statSync(file).size);
    const format: RecordFormatOptions = { format: 'F', recordLength };
    const docs = await decodeFile(file, codec, format);
    assert.equal(docs.length, shown.length);
    docs.forEach((d, i) => assertSame(d, shown[i]!, `types record ${i}`));
    const again = encodeFile(path.join(tmp.dir, 'types-again.dat'), docs, codec, format);
    assert.ok(again.equals(readFileSync(file)), 'our encoding of the decoded records differs from the file COBOL wrote');
  });

  it('encodes new records that a COBOL program reads back with the same values (fixed length)', async () => {
    const codec = loadCodec('types.cpy');
    const file = path.join(tmp.dir, 'types.dat');
    const shown = parseDisplay(run(exe.types!, 'WRITE', { DD_TYPESFILE: file }));
    const format: RecordFormatOptions = { format: 'F', recordLength: codec.layout().size };
    const docs = (await decodeFile(file, codec, format)).map((d, i) => mutate(d, shown[i]!));
    const ours = path.join(tmp.dir, 'types-ours.dat');
    encodeFile(ours, docs, codec, format);
    const read = parseDisplay(run(exe.types!, 'READ', { DD_TYPESFILE: ours }));
    assert.equal(read.length, docs.length);
    docs.forEach((d, i) => assertSame(d, read[i]!, `COBOL read of our record ${i}`));
    // The mutation really changed values (negated signs), so this is not the COBOL file again.
    assert.notDeepEqual(read, shown);
  });

  it('IBM conventions (cobc -fsign=EBCDIC -fbinary-size=2-4-8): overpunched signs {A-I }J-R both ways', async () => {
    const codec = loadCodec('types.cpy', { asciiOverpunch: 'ibm', binarySizes: '2-4-8' });
    const file = path.join(tmp.dir, 'types-ibm.dat');
    const shown = parseDisplay(run(exe['types-ibm']!, 'WRITE', { DD_TYPESFILE: file }));
    const recordLength = codec.layout().size;
    assert.equal(recordLength, 99);
    assert.equal(recordLength * shown.length, statSync(file).size);
    const format: RecordFormatOptions = { format: 'F', recordLength };
    const docs = await decodeFile(file, codec, format);
    assert.equal(docs.length, shown.length);
    docs.forEach((d, i) => assertSame(d, shown[i]!, `types-ibm record ${i}`));
    const mutated = docs.map((d, i) => mutate(d, shown[i]!));
    const ours = path.join(tmp.dir, 'types-ibm-ours.dat');
    const bytes = encodeFile(ours, mutated, codec, format);
    assert.ok(/[J-R}]/.test(bytes.toString('latin1')), 'negative zoned values use the IBM overpunch letters');
    const read = parseDisplay(run(exe['types-ibm']!, 'READ', { DD_TYPESFILE: ours }));
    assert.equal(read.length, mutated.length);
    mutated.forEach((d, i) => assertSame(d, read[i]!, `COBOL (IBM conventions) read of our record ${i}`));
  });

  for (const varseq of [0, 1, 2, 3] as const) {
    it(`OCCURS DEPENDING ON in a RECORD VARYING file both ways, COB_VARSEQ_FORMAT=${varseq}`, async () => {
      const codec = loadCodec('odo.cpy', { variableSizeOccurs: true });
      const env = { COB_VARSEQ_FORMAT: String(varseq) };
      const format: RecordFormatOptions = { format: 'V', rdw: gnucobolRdw(varseq, 'little') };
      const file = path.join(tmp.dir, `odo${varseq}.dat`);
      const shown = parseDisplay(run(exe.odo!, 'WRITE', { ...env, DD_ODOFILE: file }));
      assert.equal(shown.length, 8);
      const lengths: number[] = [];
      for await (const { record } of readRecords(createReadStream(file), format)) lengths.push(record.length);
      assert.deepEqual(lengths, shown.map((s) => Number(s.get('LENGTH'))));
      const docs = await decodeFile(file, codec, format);
      docs.forEach((d, i) => assertSame(d, shown[i]!, `odo record ${i}`));
      const again = encodeFile(path.join(tmp.dir, `odo${varseq}-again.dat`), docs, codec, format);
      assert.ok(again.equals(readFileSync(file)), 'our encoding of the decoded ODO records differs from the file COBOL wrote');
      const mutated = docs.map((d, i) => mutate(d, shown[i]!));
      const ours = path.join(tmp.dir, `odo${varseq}-ours.dat`);
      encodeFile(ours, mutated, codec, format);
      const read = parseDisplay(run(exe.odo!, 'READ', { ...env, DD_ODOFILE: ours }));
      assert.equal(read.length, mutated.length);
      mutated.forEach((d, i) => assertSame(d, read[i]!, `COBOL read of our ODO record ${i}`));
      assert.deepEqual(read.map((s) => s.get('LENGTH')), shown.map((s) => s.get('LENGTH')));
    });
  }

  it('LINE SEQUENTIAL: decodes the text file COBOL wrote, and COBOL reads the one we write', async () => {
    const codec = loadCodec('lines.cpy');
    const file = path.join(tmp.dir, 'lines.txt');
    const shown = parseDisplay(run(exe.lines!, 'WRITE', { DD_LINEFILE: file }));
    assert.equal(shown.length, 9);
    const read: RecordFormatOptions = { format: 'D', padTo: codec.layout().size };
    const docs = await decodeFile(file, codec, read);
    docs.forEach((d, i) => assertSame(d, shown[i]!, `line ${i}`));
    const write: RecordFormatOptions = { format: 'D', stripTrailing: true };
    const again = encodeFile(path.join(tmp.dir, 'lines-again.txt'), docs, codec, write);
    assert.equal(again.toString('latin1'), readFileSync(file, 'latin1'));
    const mutated = docs.map((d, i) => mutate(d, shown[i]!));
    const ours = path.join(tmp.dir, 'lines-ours.txt');
    encodeFile(ours, mutated, codec, write);
    const back = parseDisplay(run(exe.lines!, 'READ', { DD_LINEFILE: ours }));
    assert.equal(back.length, mutated.length);
    mutated.forEach((d, i) => assertSame(d, back[i]!, `COBOL read of our line ${i}`));
    assert.notDeepEqual(back, shown);
  });
});
