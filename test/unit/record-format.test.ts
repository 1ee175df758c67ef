import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import {
  readRecords, frameRecord, frameRecords, createRecordWriter, gnucobolRdw,
  type RecordFormatOptions, type FramedRecord,
} from '../../src/formats/copybook/record-format.js';
import { FormatError, ConfigError } from '../../src/core/errors.js';

async function collect(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: RecordFormatOptions): Promise<FramedRecord[]> {
  const out: FramedRecord[] = [];
  for await (const r of readRecords(input, opts)) out.push({ ...r, record: Buffer.from(r.record) });
  return out;
}

async function frame(records: Uint8Array[], opts: RecordFormatOptions): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of frameRecords(records, opts)) parts.push(c);
  return Buffer.concat(parts);
}

/** Splits bytes into chunks of `size` (1 = every chunk boundary). */
function chunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

const RECORDS = [Buffer.from('first record'), Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(300, 0x5a), Buffer.from([0, 1, 2, 0x0a, 0x15, 0x0d, 0xff])];

async function roundTrip(opts: RecordFormatOptions, records: Buffer[] = RECORDS): Promise<Buffer> {
  const file = await frame(records, opts);
  for (const size of [1, 2, 3, 7, 64, file.length || 1]) {
    const got = await collect(chunks(file, size), opts);
    assert.deepEqual(got.map((r) => r.record), records, `chunk size ${size}`);
    assert.deepEqual(got.map((r) => r.index), records.map((_, i) => i));
  }
  return file;
}

test('F: fixed records round-trip at every chunk boundary, with offsets', async () => {
  const recs = [Buffer.from('AAAA'), Buffer.from('BBBB'), Buffer.from('\n\r\0C')];
  const file = await roundTrip({ format: 'F', recordLength: 4 }, recs);
  assert.equal(file.toString('latin1'), 'AAAABBBB\n\r\0C');
  const got = await collect([file], { format: 'F', recordLength: 4 });
  assert.deepEqual(got.map((r) => r.offset), [0, 4, 8]);
  assert.deepEqual(await collect([], { format: 'F', recordLength: 4 }), []);
});

test('F: a trailing partial record is a short record naming index and offset', async () => {
  await assert.rejects(collect(chunks(Buffer.from('AAAABBBBCC'), 1), { format: 'F', recordLength: 4 }),
    (e: unknown) => e instanceof FormatError && /short record: record 3 at byte offset 8 has 2 of its 4 bytes/.test(e.message));
  assert.throws(() => frameRecord(Buffer.from('abc'), { format: 'F', recordLength: 4 }), /3 bytes does not match the fixed record length 4/);
});

test('V: z/OS RDW counts its 4 header bytes, big-endian', async () => {
  const file = await roundTrip({ format: 'V' });
  assert.deepEqual([...file.subarray(0, 4)], [0, 16, 0, 0]); // 12 data + 4
  assert.deepEqual([...frameRecord(Buffer.from('ab'), { format: 'V' })], [0, 6, 0, 0, 0x61, 0x62]);
  const got = await collect([file], { format: 'V' });
  assert.deepEqual(got.map((r) => r.offset), [4, 20, 24, 29, 333]);
});

test('V: GnuCOBOL RDW excludes the header; all four COB_VARSEQ_FORMAT layouts', async () => {
  assert.deepEqual([...frameRecord(Buffer.from('ab'), { format: 'V', rdw: gnucobolRdw(0) })], [0, 2, 0, 0, 0x61, 0x62]);
  assert.deepEqual([...frameRecord(Buffer.from('ab'), { format: 'V', rdw: gnucobolRdw(1) })], [0, 0, 0, 2, 0x61, 0x62]);
  assert.deepEqual([...frameRecord(Buffer.from('ab'), { format: 'V', rdw: gnucobolRdw(2, 'little') })], [2, 0, 0, 0, 0x61, 0x62]);
  assert.deepEqual([...frameRecord(Buffer.from('ab'), { format: 'V', rdw: gnucobolRdw(3) })], [0, 2, 0x61, 0x62]);
  for (const f of [0, 1, 2, 3] as const) await roundTrip({ format: 'V', rdw: gnucobolRdw(f) });
});

test('V: little-endian RDW, both length conventions, and an adjustment', async () => {
  assert.deepEqual([...frameRecord(Buffer.from('ab'), { format: 'V', rdw: { byteOrder: 'little' } })], [6, 0, 0, 0, 0x61, 0x62]);
  assert.deepEqual([...frameRecord(Buffer.from('ab'), { format: 'V', rdw: { byteOrder: 'little', includesHeader: false } })], [2, 0, 0, 0, 0x61, 0x62]);
  await roundTrip({ format: 'V', rdw: { byteOrder: 'little' } });
  await roundTrip({ format: 'V', rdw: { byteOrder: 'little', includesHeader: false } });
  // A header that claims 4 bytes fewer than it has, fixed by an adjustment (cobrix's rdw_adjustment).
  const odd = Buffer.from([0, 2, 0, 0, 0x61, 0x62]);
  assert.deepEqual((await collect([odd], { format: 'V', rdw: { adjustment: 4 } })).map((r) => r.record.toString()), ['ab']);
  await roundTrip({ format: 'V', rdw: { adjustment: -2 } });
});

test('V: truncated header, truncated body, impossible lengths and spanned segments are errors', async () => {
  const v: RecordFormatOptions = { format: 'V' };
  const file = await frame([Buffer.from('abcd'), Buffer.from('efgh')], v);
  await assert.rejects(collect(chunks(file.subarray(0, file.length - 1), 1), v), /short record: record 2 at byte offset 12 has 3 of its 4 bytes/);
  await assert.rejects(collect([file.subarray(0, 10)], v), /short record: record 2 at byte offset 8 has 2 of its 4 bytes.*RDW/);
  await assert.rejects(collect([Buffer.from([0, 2, 0, 0])], v), /record 1 at byte offset 0: header 00020000 gives length 2, smaller than the 4-byte header/);
  await assert.rejects(collect([Buffer.from([0, 5, 1, 0, 0x41])], v), /non-zero bytes after its length \(spanned records are not supported\)/);
  await assert.rejects(collect([Buffer.from([0xff, 0xff, 0, 0])], { format: 'V', maxRecordLength: 1000 }), /exceeds maxRecordLength 1000/);
});

test('VB: blocks fill up to blockSize, BDW counts itself, every chunk boundary', async () => {
  const opts: RecordFormatOptions = { format: 'VB', bdw: { blockSize: 40 } };
  const recs = [Buffer.from('aaaaaaaaaa'), Buffer.from('bbbbbbbbbb'), Buffer.from('cccccccccc'), Buffer.alloc(0), Buffer.from('dd')];
  const file = await roundTrip(opts, recs);
  // block 1: BDW + 2 x (4 + 10) = 32 bytes; the third would make 46 > 40.
  assert.deepEqual([...file.subarray(0, 4)], [0, 32, 0, 0]);
  assert.deepEqual([...file.subarray(4, 8)], [0, 14, 0, 0]);
  assert.deepEqual([...file.subarray(32, 36)], [0, 4 + 14 + 4 + 6, 0, 0]);
  assert.equal(file.length, 32 + 28);
  await roundTrip({ format: 'VB', rdw: gnucobolRdw(0), bdw: { includesHeader: false, byteOrder: 'little', blockSize: 400 } });
  await roundTrip({ format: 'VB' });
  assert.throws(() => createRecordWriter(opts).write(Buffer.alloc(33)), /33 bytes does not fit a block of 40 bytes/);
});

test('VB: large blocks use the extended BDW', async () => {
  const opts: RecordFormatOptions = { format: 'VB', bdw: { blockSize: 100000 } };
  const recs = Array.from({ length: 5 }, (_, i) => Buffer.alloc(20000, 0x41 + i));
  const file = await frame(recs, opts);
  assert.equal(file[0]! & 0x80, 0x80);
  assert.equal(file.readUInt32BE(0) & 0x7fffffff, 4 + 4 * 20004);
  const got = await collect(chunks(file, 4096), opts);
  assert.deepEqual(got.map((r) => r.record), recs);
});

test('VB: a record running past its block, and a truncated block, are errors', async () => {
  const bad = Buffer.from([0, 10, 0, 0, 0, 8, 0, 0, 0x41, 0x42]); // block of 6 data bytes, RDW says 4 more
  await assert.rejects(collect([bad], { format: 'VB' }), /record 1 at byte offset 4: RDW length 4 runs past the end of block 1 \(2 bytes left\)/);
  const file = await frame([Buffer.from('abc')], { format: 'VB' });
  await assert.rejects(collect(chunks(file.subarray(0, file.length - 2), 1), { format: 'VB' }), /short record: record 1 at byte offset 8 has 1 of its 3 bytes/);
  await assert.rejects(collect([Buffer.from([0, 20])], { format: 'VB' }), /short record: block 1 at byte offset 0.*BDW/);
});

test('D: lines split on LF, CR LF or NEL at every chunk boundary', async () => {
  const lines = [Buffer.from('one'), Buffer.from(''), Buffer.from('three  ')];
  const lf = await roundTrip({ format: 'D' }, lines);
  assert.equal(lf.toString(), 'one\n\nthree  \n');
  const crlf = await roundTrip({ format: 'D', lineEnding: 'crlf' }, lines);
  assert.equal(crlf.toString(), 'one\r\n\r\nthree  \r\n');
  assert.deepEqual((await collect(chunks(crlf, 1), { format: 'D' })).map((r) => r.record.toString()), ['one', '', 'three  ']);
  assert.deepEqual((await collect([crlf], { format: 'D', lineEnding: 'lf' })).map((r) => r.record.toString()), ['one\r', '\r', 'three  \r']);
  await roundTrip({ format: 'D', lineEnding: 'nel' }, [Buffer.from([0xc1, 0x25]), Buffer.from([0xc2])]);
  // A last line without a line ending is still a record; offsets count line endings.
  const got = await collect(chunks(Buffer.from('ab\r\ncd\nef'), 1), { format: 'D' });
  assert.deepEqual(got.map((r) => [r.record.toString(), r.offset]), [['ab', 0], ['cd', 4], ['ef', 7]]);
  await assert.rejects(collect([Buffer.from('a\r\nb\n')], { format: 'D', lineEnding: 'crlf' }), /record 2 at byte offset 3: line ends with LF alone/);
  assert.throws(() => frameRecord(Buffer.from('a\nb'), { format: 'D' }), /line-ending byte at position 1/);
});

test('D: padTo restores the trailing spaces GnuCOBOL strips; long lines are refused', async () => {
  assert.equal(frameRecord(Buffer.from('ab  c   '), { format: 'D', stripTrailing: true }).toString(), 'ab  c\n');
  assert.equal(frameRecord(Buffer.from('ab**'), { format: 'D', stripTrailing: true, padByte: 0x2a }).toString(), 'ab\n');
  const got = await collect([Buffer.from('ab\nabcdef\n')], { format: 'D', padTo: 5 });
  assert.deepEqual(got.map((r) => r.record.toString()), ['ab   ', 'abcdef']);
  await assert.rejects(collect(chunks(Buffer.alloc(50, 0x41), 7), { format: 'D', maxRecordLength: 10 }), /no line ending within maxRecordLength 10 bytes/);
});

test('reads a Node stream and stops it when the consumer breaks early', async () => {
  let pulled = 0;
  const src = Readable.from((function* () {
    for (let i = 0; i < 1000; i++) {
      pulled++;
      yield Buffer.alloc(8, i % 256);
    }
  })(), { objectMode: false, highWaterMark: 8 });
  let n = 0;
  for await (const r of readRecords(src, { format: 'F', recordLength: 16 })) {
    assert.equal(r.record.length, 16);
    if (++n === 3) break;
  }
  assert.equal(src.destroyed, true);
  assert.ok(pulled < 1000, `pulled ${pulled} chunks`);
});

test('bad options are ConfigErrors naming the option', async () => {
  await assert.rejects(collect([], { format: 'F', recordLength: 0 }), (e: unknown) => e instanceof ConfigError && /recordLength 0 is not valid/.test(e.message));
  await assert.rejects(collect([], { format: 'V', rdw: { byteOrder: 'middle' as 'big' } }), /rdw.byteOrder "middle" is not valid/);
  await assert.rejects(collect([], { format: 'X' } as unknown as RecordFormatOptions), /record format "X" is not valid; use F, V, VB or D/);
  await assert.rejects(collect([], { format: 'V', rdw: { headerLength: 2, lengthWidth: 4 } }), /rdw.lengthWidth 4 is not valid/);
});
