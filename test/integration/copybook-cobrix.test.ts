/**
 * Conformance with cobrix: decode the fixtures in ../shared/fixtures/cobrix and compare record
 * for record with the JSON lines cobrix produced. Numbers are compared as canonical decimal
 * strings (exact, never through floating point), except COMP-1/COMP-2 which are floats.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, createReadStream } from 'node:fs';
import path from 'node:path';
import { parseCopybook, createCodec, canonicalDecimal, decodeStream, type CodecOptions } from '../../src/formats/copybook/index.js';

// the shared fixtures sit beside the checkout (../shared); a CI clone elsewhere finds them at /work/shared
const CANDIDATES = [process.env.HMS_COBRIX_FIXTURES, path.join(import.meta.dirname, '../../../shared/fixtures/cobrix'), '/work/shared/fixtures/cobrix'].filter((p): p is string => !!p).map((p) => path.resolve(p));
const FIXTURES = CANDIDATES.find((p) => existsSync(p)) ?? CANDIDATES[0]!;
const present = existsSync(FIXTURES);
const skip = present ? false : process.env.CI === 'true' ? false : `cobrix fixtures not found at ${FIXTURES} (set HMS_COBRIX_FIXTURES)`;

/** Parses a JSON line keeping every number as its exact source text (wrapped so it can be told from strings). */
function parseExact(line: string): unknown {
  const quoted = line.replace(/("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g, (m, str: string | undefined, num: string | undefined) => (str ? str : `{"$num":"${num}"}`));
  return JSON.parse(quoted);
}

const FLOAT_KEYS = /^(FLOAT|DOUBLE)_/;

function same(expected: unknown, actual: unknown, key: string, nullAsZero: boolean): boolean {
  if (expected && typeof expected === 'object' && '$num' in expected) {
    const num = (expected as { $num: string }).$num;
    if (actual === null && nullAsZero) return canonicalDecimal(num) === '0';
    if (FLOAT_KEYS.test(key)) return typeof actual === 'number' && Number(num) === actual;
    if (typeof actual !== 'number' && typeof actual !== 'bigint' && typeof actual !== 'string') return false;
    return canonicalDecimal(num) === canonicalDecimal(String(actual));
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => same(e, actual[i], key, nullAsZero));
  }
  if (expected && typeof expected === 'object') {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const ek = Object.keys(expected);
    const ak = Object.keys(actual);
    return ek.length === ak.length && ek.every((k) => same((expected as Record<string, unknown>)[k], (actual as Record<string, unknown>)[k], k, nullAsZero));
  }
  return expected === actual;
}

async function decodeFile(copybook: string, data: string, options: CodecOptions): Promise<Record<string, unknown>[]> {
  const codec = createCodec(parseCopybook(readFileSync(path.join(FIXTURES, copybook), 'utf8'), { fileName: copybook }), options);
  const out: Record<string, unknown>[] = [];
  for await (const r of decodeStream(createReadStream(path.join(FIXTURES, data)), codec)) out.push(r.value);
  return out;
}

function compare(expectedFile: string, actual: Record<string, unknown>[], opts: { nullAsZero?: boolean; prefixOnly?: boolean } = {}): void {
  const lines = readFileSync(path.join(FIXTURES, expectedFile), 'utf8').split('\n').filter((l) => l.trim());
  if (!opts.prefixOnly) assert.equal(actual.length, lines.length, `${expectedFile}: record count`);
  assert.ok(actual.length >= lines.length, `${expectedFile}: decoded ${actual.length} records, expected at least ${lines.length}`);
  const bad: string[] = [];
  lines.forEach((line, i) => {
    if (!same(parseExact(line), actual[i], '', !!opts.nullAsZero)) bad.push(`record ${i + 1}: expected ${line.slice(0, 300)}\n got ${JSON.stringify(actual[i], (_k, v) => (typeof v === 'bigint' ? v.toString() : v)).slice(0, 300)}`);
  });
  assert.deepEqual(bad, [], `${expectedFile}: ${bad.length} of ${lines.length} records differ`);
}

describe('cobrix conformance', { skip }, () => {
  it('test1: COMP, COMP-3, REDEFINES, OCCURS DEPENDING ON (code page common)', async () => {
    const records = await decodeFile('test1_copybook.cob', 'test1_data/example.bin', { codePage: 'common', codePageFlavor: 'cobrix' });
    compare('test1_expected/test1.txt', records);
  });

  it('test6: every numeric type, IEEE 754 floats, strict overpunch (ordered by ID, nulls as 0, no invalid value in our decode)', async () => {
    const records = await decodeFile('test6_copybook.cob', 'test6_data/INTEGR.TYPES.NOV28.DATA.dat', {
      codePage: 'common', codePageFlavor: 'cobrix', floatFormat: 'ieee754', strictSignOverpunch: true,
    });
    records.sort((a, b) => Number(a.ID) - Number(b.ID));
    compare('test6_expected/test6.txt', records, { nullAsZero: true });
  });

  it('test6: layout report equals cobrix\'s', () => {
    const codec = createCodec(parseCopybook(readFileSync(path.join(FIXTURES, 'test6_copybook.cob'), 'utf8')), { codePage: 'common' });
    const expected = readFileSync(path.join(FIXTURES, 'test6_expected/test6_layout.txt'), 'utf8').trimEnd().split('\n').map((l) => l.trimEnd());
    assert.deepEqual(codec.layoutReport().trimEnd().split('\n').map((l) => l.trimEnd()), expected);
  });

  for (const cp of ['cp037', 'cp273', 'cp500', 'cp1140', 'cp1141', 'cp1148']) {
    it(`test9 in ${cp}`, async () => {
      const records = await decodeFile('test9_copybook.cob', 'test9_data/TRAN.APR14.NPT.DATA.dat', { codePage: cp, codePageFlavor: 'cobrix' });
      compare(`test9_expected/test9_${cp}.txt`, records, { prefixOnly: true });
    });
  }

  it('test9 in cp037_extended with trimming off', async () => {
    const records = await decodeFile('test9_copybook.cob', 'test9_data/TRAN.APR14.NPT.DATA.dat', { codePage: 'cp037_extended', codePageFlavor: 'cobrix', trim: 'none' });
    compare('test9_expected/test9_cp037_ext.txt', records, { prefixOnly: true });
  });

  it('test21: ASCII, nested OCCURS DEPENDING ON, variable-size occurs, keep_original', async () => {
    const records = await decodeFile('test21_copybook.cob', 'test21_data/data.dat', { codePage: 'ascii', variableSizeOccurs: true, rootPolicy: 'keep' });
    compare('test21_expected/test21.txt', records);
  });

  it('re-encoding the decoded fixtures gives back the same bytes (test1, test9, test21)', () => {
    const cases: Array<[string, string, CodecOptions]> = [
      ['test1_copybook.cob', 'test1_data/example.bin', { codePage: 'cp037', trim: 'none' }],
      ['test9_copybook.cob', 'test9_data/TRAN.APR14.NPT.DATA.dat', { codePage: 'cp037', trim: 'none' }],
      ['test21_copybook.cob', 'test21_data/data.dat', { codePage: 'ascii', variableSizeOccurs: true }],
    ];
    for (const [cbFile, dataFile, options] of cases) {
      const codec = createCodec(parseCopybook(readFileSync(path.join(FIXTURES, cbFile), 'utf8')), options);
      const data = readFileSync(path.join(FIXTURES, dataFile));
      let pos = 0;
      let n = 0;
      while (pos < data.length) {
        const { value, length } = codec.decodeAt(data, pos, { recordNumber: ++n });
        assert.deepEqual(codec.encode(value), data.subarray(pos, pos + length), `${dataFile} record ${n}`);
        pos += length;
      }
    }
  });

  it('re-encoding test6 changes only what the data generator wrote unconventionally', () => {
    // test6 writes unsigned COMP-3 with sign nibble F in some fields and C in others, and "+" for
    // positive values of "-" edited pictures (COBOL writes a space there); every other byte must match
    const codec = createCodec(parseCopybook(readFileSync(path.join(FIXTURES, 'test6_copybook.cob'), 'utf8')), { codePage: 'cp037', trim: 'none', floatFormat: 'ieee754', unsignedPackedSign: 'C' });
    const data = readFileSync(path.join(FIXTURES, 'test6_data/INTEGR.TYPES.NOV28.DATA.dat'));
    const differing = new Set<string>();
    for (let i = 0; i < data.length / codec.recordSize; i++) {
      const rec = data.subarray(i * codec.recordSize, (i + 1) * codec.recordSize);
      const enc = codec.encode(codec.decode(rec, { recordNumber: i + 1 }));
      for (const n of codec.layout().nodes) {
        if (n.isGroup) continue;
        const a = rec.subarray(n.offset, n.offset + n.size);
        const b = enc.subarray(n.offset, n.offset + n.size);
        if (a.equals(b)) continue;
        const packedSignOnly = n.type!.kind === 'packed' && a.subarray(0, -1).equals(b.subarray(0, -1)) && (a.at(-1)! & 0xf0) === (b.at(-1)! & 0xf0) && (a.at(-1)! & 0x0f) === 0x0f && (b.at(-1)! & 0x0f) === 0x0c;
        const plusForSpace = n.type!.kind === 'edited' && a.toString('hex').replace(/4e/g, '40') === b.toString('hex');
        if (!packedSignOnly && !plusForSpace) differing.add(`${n.name}: ${a.toString('hex')} became ${b.toString('hex')}`);
      }
    }
    assert.deepEqual([...differing], []);
  });
});
