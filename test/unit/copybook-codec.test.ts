import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCopybook, createCodec, toJsonLine, parseJsonLossless, canonicalDecimal, type CodecOptions } from '../../src/formats/copybook/index.js';
import { FormatError, ConfigError } from '../../src/core/errors.js';

const fixed = (...lines: string[]) => lines.map((l) => `       ${l}`).join('\n');
/** A codec for a single field `F` declared with `decl` (everything after the name). */
const one = (decl: string, opts: CodecOptions = {}) => createCodec(parseCopybook(fixed('01  R.', `    05  F  ${decl}.`)), opts);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

describe('copybook field codecs', () => {
  const cases: Array<{ decl: string; opts?: CodecOptions; value: unknown; bytes: string; decoded?: unknown }> = [
    // text
    { decl: 'PIC X(5)', value: 'AB', bytes: 'C1C2404040' },
    { decl: 'PIC X(5)', opts: { codePage: 'ascii' }, value: 'AB', bytes: '4142202020' },
    { decl: 'PIC X(4) JUSTIFIED RIGHT', value: 'AB', bytes: '4040C1C2' },
    { decl: 'PIC A(3)', value: 'ABC', bytes: 'C1C2C3' },
    // zoned decimal, EBCDIC
    { decl: 'PIC 9(4)', value: 123, bytes: 'F0F1F2F3' },
    { decl: 'PIC S9(4)', value: -123, bytes: 'F0F1F2D3' },
    { decl: 'PIC S9(4)', value: 123, bytes: 'F0F1F2C3' },
    { decl: 'PIC S9(4) SIGN LEADING', value: -123, bytes: 'D0F1F2F3' },
    { decl: 'PIC S9(3) SIGN LEADING SEPARATE', value: -12, bytes: '60F0F1F2' },
    { decl: 'PIC S9(3) SIGN TRAILING SEPARATE', value: 12, bytes: 'F0F1F24E' },
    { decl: 'PIC S9(3)V99', value: '-1.25', bytes: 'F0F0F1F2D5' },
    { decl: 'PIC 9(3).99', value: '12.50', bytes: 'F0F1F24BF5F0' },
    { decl: 'PIC 9(5)PPP', value: 12345000, bytes: 'F1F2F3F4F5' },
    { decl: 'PIC PPP9(2)', value: '0.00012', bytes: 'F1F2' },
    { decl: 'PIC 9(3) BLANK WHEN ZERO', value: 0, bytes: '404040', decoded: null },
    { decl: 'PIC 9(20)', value: 12345678901234567890n, bytes: 'F1F2F3F4F5F6F7F8F9F0F1F2F3F4F5F6F7F8F9F0' },
    { decl: 'PIC S9(25)V9(6)', value: '-1234567890123456789012345.123456', bytes: 'F1F2F3F4F5F6F7F8F9F0F1F2F3F4F5F6F7F8F9F0F1F2F3F4F5F1F2F3F4F5D6' },
    // zoned decimal, ASCII
    { decl: 'PIC S9(3)', opts: { codePage: 'ascii' }, value: -123, bytes: '313273' },
    { decl: 'PIC S9(3)', opts: { codePage: 'ascii', asciiOverpunch: 'ibm' }, value: -123, bytes: '31324C' },
    { decl: 'PIC S9(3)', opts: { codePage: 'ascii', asciiOverpunch: 'ibm' }, value: 120, bytes: '31327B' },
    { decl: 'PIC S9(3)', opts: { codePage: 'ascii' }, value: 123, bytes: '313233' },
    // edited
    { decl: 'PIC Z(4)9-', value: -42, bytes: '404040F4F260' },
    { decl: 'PIC +9(3)', value: 42, bytes: '4EF0F4F2' },
    { decl: 'PIC 9(3).99-', value: '-1.50', bytes: 'F0F0F14BF5F060' },
    { decl: 'PIC ZZ,ZZ9.99', value: '1234.5', bytes: '40F16BF2F3F44BF5F0', decoded: '1234.50' },
    // packed
    { decl: 'PIC S9(5) COMP-3', value: -12345, bytes: '12345D' },
    { decl: 'PIC 9(4) COMP-3', value: 1234, bytes: '01234F' },
    { decl: 'PIC 9(4) COMP-3', opts: { unsignedPackedSign: 'C' }, value: 1234, bytes: '01234C' },
    { decl: 'PIC S9(7)V99 PACKED-DECIMAL', value: '1234567.89', bytes: '123456789C' },
    { decl: 'PIC S9(31) COMP-3', value: -1234567890123456789012345678901n, bytes: '1234567890123456789012345678901D' },
    { decl: 'PIC S9(18)V9(13) COMP-3', value: '123456789012345678.1234567890123', bytes: '1234567890123456781234567890123C' },
    // binary
    { decl: 'PIC S9(4) COMP', value: -2, bytes: 'FFFE' },
    { decl: 'PIC 9(4) BINARY', value: 9999, bytes: '270F' },
    { decl: 'PIC S9(9) COMP-4', value: -123456789, bytes: 'F8A432EB' },
    { decl: 'PIC S9(18) COMP', value: -123456789012345678n, bytes: 'FE4964B459CF0CB2' },
    { decl: 'PIC 9(18) COMP', value: 999999999999999999n, bytes: '0DE0B6B3A763FFFF' },
    { decl: 'PIC S9(5)V99 COMP', value: '-123.45', bytes: 'FFFFCFC7' },
    { decl: 'PIC S9(4) COMP-5', value: 258, bytes: '0102' },
    { decl: 'PIC S9(4) COMP-5', opts: { comp5ByteOrder: 'little' }, value: 258, bytes: '0201' },
    { decl: 'PIC 9(4) COMP-5', value: 65535, bytes: 'FFFF' },
    { decl: 'PIC 9(4) COMP', opts: { binaryRange: 'binary' }, value: 65535, bytes: 'FFFF' },
    { decl: 'PIC 9(2) COMP', opts: { binarySizes: '1-2-4-8' }, value: 99, bytes: '63' },
    // floating point
    { decl: 'COMP-1', value: 1, bytes: '41100000' },
    { decl: 'COMP-1', value: -118.625, bytes: 'C276A000' },
    { decl: 'COMP-1', value: 0.1, bytes: '4019999A' },
    { decl: 'COMP-2', value: 0.1, bytes: '401999999999999A' },
    { decl: 'COMP-1', opts: { floatFormat: 'ieee754' }, value: 1.5, bytes: '3FC00000' },
    { decl: 'COMP-2', opts: { floatFormat: 'ieee754' }, value: -2.25, bytes: 'C002000000000000' },
    { decl: 'COMP-2', opts: { floatFormat: 'ieee754', floatByteOrder: 'little' }, value: -2.25, bytes: '00000000000002C0' },
    { decl: 'COMP-1', opts: { floatByteOrder: 'little' }, value: 0.1, bytes: '9A991940' },
  ];
  for (const c of cases) {
    it(`${c.decl}${c.opts ? ` ${JSON.stringify(c.opts)}` : ''}: ${String(c.value)} <-> ${c.bytes}`, () => {
      const codec = one(c.decl, c.opts);
      const bytes = codec.encode({ F: c.value });
      assert.equal(hex(bytes), c.bytes);
      const back = codec.decode(bytes).F;
      const expected = c.decoded !== undefined ? c.decoded : c.value;
      if (typeof expected === 'number' && typeof back === 'number') assert.equal(back, expected);
      else assert.equal(canonicalDecimal(String(back)), canonicalDecimal(String(expected)));
      assert.equal(hex(codec.encode(codec.decode(bytes))), c.bytes, 'decode then encode gives back the bytes');
    });
  }

  it('keeps decimal scale in strings and gives bigint beyond 2^53', () => {
    assert.equal(one('PIC S9(3)V99 COMP-3').decode(Buffer.from('01250C', 'hex')).F, '12.50');
    assert.equal(one('PIC S9(3)V99 COMP-3', { decimals: 'number' }).decode(Buffer.from('01250C', 'hex')).F, 12.5);
    assert.equal(one('PIC S9(17)V99 COMP-3', { decimals: 'number' }).decode(Buffer.from('1234567890123456789C', 'hex')).F, '12345678901234567.89');
    assert.equal(one('PIC S9(18) COMP-3').decode(Buffer.from('0123456789012345678C', 'hex')).F, 123456789012345678n);
    assert.equal(toJsonLine({ a: 123456789012345678n, b: '1.50' }), '{"a":123456789012345678,"b":"1.50"}');
  });

  it("parseJsonLossless with numbers: 'text' keeps big and decimal JSON numbers exact for encode", () => {
    const doc = parseJsonLossless('{"F":12345678901234567890,"s":"a \\"1\\" 2","n":[-0.1,1e3]}', { numbers: 'text' }) as Record<string, unknown>;
    assert.deepEqual(doc, { F: '12345678901234567890', s: 'a "1" 2', n: ['-0.1', '1e3'] });
    const codec = one('PIC 9(20) COMP-3');
    assert.equal(codec.decode(codec.encode(doc)).F, 12345678901234567890n);
    assert.equal(JSON.parse(JSON.stringify(codec.layout())).nodes.length, 2, 'a layout serialises without cycles');
  });

  it('decodes the other sign conventions', () => {
    assert.equal(one('PIC S9(3) COMP-3').decode(Buffer.from('123F', 'hex')).F, 123);
    assert.equal(one('PIC S9(3) COMP-3').decode(Buffer.from('123B', 'hex')).F, -123);
    assert.equal(one('PIC S9(3)', { codePage: 'ascii' }).decode(Buffer.from('12}', 'latin1')).F, -120);
    assert.equal(one('PIC S9(3)', { codePage: 'ascii' }).decode(Buffer.from('12L', 'latin1')).F, -123);
    assert.equal(one('PIC S9(3)', { codePage: 'ascii' }).decode(Buffer.from('12C', 'latin1')).F, 123);
    assert.equal(one('PIC S9(3)').decode(Buffer.from('4040F5', 'hex')).F, 5, 'leading spaces are tolerated unless strict');
    assert.equal(one('PIC S9(3)').decode(Buffer.from('404040', 'hex')).F, null, 'a blank number is null');
  });

  it('strict sign overpunch accepts the sign only where the picture puts it', () => {
    const lenient = one('PIC S9(3)');
    const strict = one('PIC S9(3)', { strictSignOverpunch: true });
    const leadingPunch = Buffer.from('D1F2F3', 'hex');
    assert.equal(lenient.decode(leadingPunch).F, -123);
    assert.throws(() => strict.decode(leadingPunch, { recordNumber: 7 }), /record 7, field F at byte offset 0: invalid zoned decimal x'D1F2F3'/);
    assert.throws(() => one('PIC 9(3)', { strictSignOverpunch: true }).decode(Buffer.from('F1F2D3', 'hex')), /field F at byte offset 0: invalid zoned decimal x'F1F2D3' for PIC 9\(3\); expected 3 digit\(s\)/);
  });
});

describe('copybook bad data', () => {
  const cb = parseCopybook(fixed(
    '01  R.',
    '    05  ID     PIC 9(3).',
    '    05  CNT    PIC 9.',
    '    05  ITEMS  OCCURS 0 TO 3 DEPENDING ON CNT.',
    '        10  AMT    PIC S9(3) COMP-3.',
  ), { fileName: 'r.cpy' });
  const codec = createCodec(cb);

  it('an invalid packed nibble names record, field path with index and byte offset', () => {
    const rec = Buffer.from('F0F0F1F2' + '001C' + '0A2C' + '000C', 'hex');
    assert.throws(() => codec.decode(rec, { recordNumber: 12 }), (e: unknown) => e instanceof FormatError
      && /^record 12, field ITEMS\[1\]\.AMT at byte offset 6: invalid packed decimal x'0A2C': byte 0x0A at \+0 holds a nibble above 9/.test(e.message)
      && (e.details as { offset: number }).offset === 6);
  });

  it('a bad overpunch, a short record and an ODO count beyond its maximum fail clearly', () => {
    assert.throws(() => codec.decode(Buffer.from('F05CF0F0' + '001C'.repeat(3), 'hex'), { recordNumber: 1 }), /record 1, field ID at byte offset 0: "0\*0" x'F05CF0' is not a valid zoned decimal for PIC 9\(3\)/);
    assert.throws(() => codec.decode(Buffer.from('F0F0F1F2001C', 'hex'), { recordNumber: 2 }), /record 2 is 6 bytes long but field ITEMS\[1\]\.AMT needs bytes 6 to 7/);
    assert.throws(() => codec.decode(Buffer.from('F0F0F1F9' + '001C'.repeat(3), 'hex'), { recordNumber: 3 }), /record 3, field ITEMS at byte offset 4: OCCURS DEPENDING ON CNT = 9 is outside 0 TO 3/);
  });

  it('errors inside nested OCCURS DEPENDING ON name every index', () => {
    const nested = createCodec(parseCopybook(fixed(
      '01  R.',
      '    05  N  PIC 9.',
      '    05  G  OCCURS 0 TO 2 DEPENDING ON N.',
      '        10  M  PIC 9.',
      '        10  H  OCCURS 0 TO 3 DEPENDING ON M.',
      '            15  V  PIC 9(2) COMP-3.',
    )), { codePage: 'ascii', variableSizeOccurs: true });
    assert.throws(() => nested.decode(Buffer.from('21\x00\x1f9', 'latin1'), { recordNumber: 4 }), /^FormatError: record 4, field G\[1\]\.H at byte offset 5: OCCURS DEPENDING ON M = 9 is outside 0 TO 3$/);
    assert.throws(() => nested.decode(Buffer.from('21\x00\x1f1\x0a\x1f', 'latin1')), /^FormatError: field G\[1\]\.H\[0\]\.V at byte offset 5: invalid packed decimal x'0A1F'/);
    assert.throws(() => nested.encode({ G: [{ H: [] }, { M: 1, H: [{ V: 1 }, { V: 2 }] }] }), /^FormatError: field G\[1\]\.H at byte offset 3: has 2 element\(s\) but its DEPENDING ON field M is 1$/);
  });

  it('invalidValues null decodes bad numbers as null; REDEFINES views never fail', () => {
    assert.equal(createCodec(cb, { invalidValues: 'null' }).decode(Buffer.from('F0F0F1F1' + '0A2C' + '0000'.repeat(2), 'hex')).ITEMS instanceof Array, true);
    const r = createCodec(parseCopybook(fixed('01  R.', '    05  A  PIC X(2).', '    05  B  REDEFINES A PIC S9(3) COMP-3.'))).decode(Buffer.from('C1C2', 'hex'));
    assert.deepEqual(r, { A: 'AB', B: null });
  });

  it('encode errors name the field and the allowed range', () => {
    assert.throws(() => codec.encode({ ID: 1000 }, { recordNumber: 4 }), /record 4, field ID at byte offset 0: "1000" needs more than the 3 digit\(s\)/);
    assert.throws(() => codec.encode({ ID: -1 }), /is negative but the PICTURE has no S/);
    assert.throws(() => one('PIC 9(4) COMP').encode({ F: 10000 }), /field F at byte offset 0: "10000" needs more than the 4 digit\(s\) the PICTURE holds/);
    assert.throws(() => one('PIC S9(4) COMP', { binaryRange: 'binary' }).encode({ F: 40000 }), /"40000" does not fit a signed 2-byte binary field \(-32768 to 32767 unscaled\)/);
    assert.throws(() => codec.encode({ ID: '1.5' }), /more precision than the PICTURE can hold/);
    assert.throws(() => codec.encode({ ID: 'abc' }), /"abc" is not a decimal number/);
    assert.throws(() => codec.encode({ CNT: 1, ITEMS: [{ AMT: 1 }, { AMT: 2 }] }), /field ITEMS at byte offset 4: has 2 element\(s\) but its DEPENDING ON field CNT is 1/);
    assert.throws(() => one('PIC X(2)').encode({ F: 'ABC' }), /field F at byte offset 0: .*does not fit the 2-byte field/);
  });

  it('bad options are ConfigErrors listing the valid values', () => {
    assert.throws(() => createCodec(cb, { trim: 'sides' as never }), (e: unknown) => e instanceof ConfigError && /trim is "sides"; valid values are "both", "left", "right", "none"/.test(e.message));
    assert.throws(() => createCodec(cb, { segmentField: 'NOPE' }), /segmentField "NOPE" is not a field of the copybook/);
  });
});

describe('copybook records', () => {
  it('OCCURS DEPENDING ON: live elements only, fixed or variable size, counter filled in on encode', () => {
    const cb = parseCopybook(fixed('01  R.', '    05  CNT  PIC 9.', '    05  IT   PIC X(2) OCCURS 0 TO 3 DEPENDING ON CNT.', '    05  TAIL PIC X.'));
    const fixedCodec = createCodec(cb, { codePage: 'ascii' });
    const rec = fixedCodec.encode({ IT: ['AA', 'BB'], TAIL: 'Z' });
    assert.equal(rec.toString('latin1'), '2AABB  Z');
    assert.deepEqual(fixedCodec.decode(rec), { CNT: 2, IT: ['AA', 'BB'], TAIL: 'Z' });
    const varCodec = createCodec(cb, { codePage: 'ascii', variableSizeOccurs: true });
    const vrec = varCodec.encode({ CNT: 1, IT: ['AA'], TAIL: 'Z' });
    assert.equal(vrec.toString('latin1'), '1AAZ');
    assert.deepEqual(varCodec.decodeAt(Buffer.from('1AAZ0Y'), 4), { value: { CNT: 0, IT: [], TAIL: 'Y' }, length: 2 });
  });

  it('segments select the REDEFINES alternative per record', () => {
    const cb = parseCopybook(fixed(
      '01  R.',
      '    05  KIND   PIC X.',
      '    05  CUST.',
      '        10  NAME   PIC X(4).',
      '    05  ORDR   REDEFINES CUST.',
      '        10  QTY    PIC 9(2) COMP-3.',
      '        10  FILLER PIC X(2).',
    ));
    const codec = createCodec(cb, { codePage: 'ascii', segmentField: 'KIND', segments: { C: 'CUST', O: 'ORDR' } });
    assert.deepEqual(codec.decode(Buffer.from('CJOHN')), { KIND: 'C', CUST: { NAME: 'JOHN' } });
    const order = codec.encode({ KIND: 'O', ORDR: { QTY: 12 } });
    assert.equal(hex(order), '4F012F2020');
    assert.deepEqual(codec.decode(order), { KIND: 'O', ORDR: { QTY: 12 } });
    assert.throws(() => codec.decode(Buffer.from('XJOHN'), { recordNumber: 5 }), /record 5, segment id "X" in field KIND .* has no layout; known segment ids: "C", "O"/);
  });

  it('rootPolicy keep, FILLER, SYNC alignment and missing fields', () => {
    const cb = parseCopybook(fixed('01  REC.', '    05  A  PIC X.', '    05  FILLER PIC X(2) VALUE \'--\'.', '    05  B  PIC S9(4) COMP SYNC.', '    05  C  PIC 9(2).'));
    const codec = createCodec(cb, { codePage: 'ascii', rootPolicy: 'keep' });
    assert.equal(codec.recordSize, 8);
    const rec = codec.encode({ REC: { A: 'x', B: -1 } });
    assert.equal(hex(rec), '782D2D20FFFF3030');
    assert.deepEqual(codec.decode(rec), { REC: { A: 'x', B: -1, C: 0 } });
    assert.deepEqual(createCodec(cb, { codePage: 'ascii', keepFiller: true }).decode(rec).FILLER, '--');
  });

  it('several 01 records share the bytes: all decoded, the one the document names encoded', () => {
    const codec = createCodec(parseCopybook(fixed('01  HEADER.', '    05  H-TYPE  PIC X.', '    05  H-DATE  PIC 9(4).', '01  DETAIL.', '    05  D-TYPE  PIC X.', '    05  D-AMT   PIC S9(3) COMP-3.')), { codePage: 'ascii' });
    assert.equal(codec.recordSize, 5);
    assert.deepEqual(codec.decode(Buffer.from('H2024')), { H_TYPE: 'H', H_DATE: 2024, D_TYPE: 'H', D_AMT: null });
    assert.equal(codec.encode({ D_TYPE: 'D', D_AMT: -5 }).toString('hex'), '44005d2020');
  });

  it('missing fields take their VALUE clause', () => {
    const codec = createCodec(parseCopybook(fixed('01  R.', "    05  A  PIC X(5) VALUE ALL '*'.", '    05  B  PIC 9(3) VALUE 42.', '    05  C  PIC X(2) VALUE SPACES.', "    05  D  PIC X(2) VALUE 'OK'.")), { codePage: 'ascii' });
    assert.equal(codec.encode({}).toString('latin1'), '*****042  OK');
  });

  it('pads short records when asked (line sequential files lose trailing spaces)', () => {
    const codec = createCodec(parseCopybook(fixed('01  R.', '    05  A  PIC X(3).', '    05  B  PIC X(3).')), { codePage: 'ascii', padShortRecords: true });
    assert.deepEqual(codec.decode(Buffer.from('abcd')), { A: 'abc', B: 'd' });
  });
});
