import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCopybook, parsePicture, computeLayout, binarySize, createCodec } from '../../src/formats/copybook/index.js';
import { FormatError } from '../../src/core/errors.js';

/** Builds fixed-format source: each entry starts in column 8. */
const fixed = (...lines: string[]) => lines.map((l) => (l.startsWith('*') || l.startsWith('-') ? `      ${l}` : `       ${l}`)).join('\n');

describe('copybook picture', () => {
  it('reads X, A, 9, S, V, P and repetition counts', () => {
    assert.deepEqual(
      (({ category, size, digits, scale, signed }) => ({ category, size, digits, scale, signed }))(parsePicture('S9(5)V99')),
      { category: 'numeric', size: 7, digits: 7, scale: 2, signed: true },
    );
    assert.equal(parsePicture('X(10)').size, 10);
    assert.equal(parsePicture('A(3)').category, 'alphabetic');
    assert.equal(parsePicture('PPP9(5)').scale, 8);
    assert.equal(parsePicture('S9(5)PPP').scale, -3);
    assert.equal(parsePicture('SV9(7)').scale, 7);
    const p = parsePicture('S9(3).99');
    assert.equal(p.explicitPoint, true);
    assert.equal(p.size, 6);
  });

  it('reads edited pictures', () => {
    const p = parsePicture('Z(6)VZZ-');
    assert.equal(p.category, 'edited');
    assert.equal(p.size, 9);
    assert.equal(p.digits, 8);
    assert.equal(p.scale, 2);
    assert.equal(parsePicture('+9(8)').size, 9);
    assert.equal(parsePicture('ZZ,ZZ9.99CR').size, 11);
  });

  it('rejects bad pictures with the picture quoted', () => {
    assert.throws(() => parsePicture('9(x)'), /"X" in PICTURE "9\(x\)" is not a positive integer/);
    assert.throws(() => parsePicture('9V9V9'), /more than one decimal point/);
    assert.throws(() => parsePicture('Q(3)'), /PICTURE "Q\(3\)" is not valid/);
    assert.throws(() => parsePicture('X(999999999)'), /repetition count 999999999 in PICTURE "X\(999999999\)" is larger than 134217727/);
  });
});

describe('copybook parser', () => {
  it('builds the level hierarchy with clauses, comments, continuation and sequence numbers', () => {
    const src = [
      '000100 01  CUSTOMER-REC.',
      '000200*    a comment line',
      '000300     05  CUST-ID            PIC 9(6) COMP-3.',
      '000400     05  CUST-NAME          PIC X(30).',
      '000500     05  BALANCE            PIC S9(7)V99 USAGE IS COMPUTATIONAL-3.',
      '000600     05  STATUS-CODE        PIC X.',
      '000700         88  ACTIVE         VALUE \'A\'.',
      '000800         88  CLOSED         VALUES ARE \'C\' \'X\'.',
      '000900     05  AMOUNTS            OCCURS 3 TIMES',
      '001000                            INDEXED BY AMT-IDX.',
      '001100         10  AMOUNT         PIC S9(4) COMP SYNC.',
      '001200     05  NOTE               PIC X(20) VALUE \'HELLO',
      '001300-    \'WORLD\'.                                                          ABCD1234',
    ].join('\n');
    const cb = parseCopybook(src, { fileName: 'cust.cpy' });
    const root = cb.roots[0]!;
    assert.equal(root.name, 'CUSTOMER-REC');
    assert.deepEqual(root.children.map((c) => c.name), ['CUST-ID', 'CUST-NAME', 'BALANCE', 'STATUS-CODE', 'AMOUNTS', 'NOTE']);
    assert.equal(root.children[2]!.usage, 'packed');
    assert.deepEqual(root.children[3]!.conditions, [{ name: 'ACTIVE', values: ['A'] }, { name: 'CLOSED', values: ['C', 'X'] }]);
    assert.deepEqual(root.children[4]!.occurs, { min: 3, max: 3, dependingOn: undefined });
    assert.equal(root.children[4]!.children[0]!.sync, true);
    assert.equal(root.children[5]!.value!.replace(/ +/, ' '), 'HELLO WORLD');
  });

  it('reads SIGN, REDEFINES, RENAMES, 77 levels, BLANK WHEN ZERO, JUSTIFIED and ODO', () => {
    const cb = parseCopybook(fixed(
      '01  R.',
      '    05  N          PIC S9(5) SIGN IS LEADING SEPARATE CHARACTER.',
      '    05  T          PIC S9(3) TRAILING.',
      '    05  A          PIC X(4).',
      '    05  B          REDEFINES A PIC 9(4).',
      '    05  C          PIC 9(3) BLANK WHEN ZERO.',
      '    05  D          PIC X(5) JUST RIGHT.',
      '    05  CNT        PIC 9(2).',
      '    05  ITEMS      OCCURS 1 TO 10 TIMES DEPENDING ON CNT.',
      '        10  ITEM   PIC X(2).',
      '66  AB RENAMES A THRU C.',
      '77  STANDALONE     PIC 9(4) COMP.',
    ));
    const r = cb.roots[0]!;
    assert.deepEqual(r.children[0]!.sign, { position: 'leading', separate: true });
    assert.deepEqual(r.children[1]!.sign, { position: 'trailing', separate: false });
    assert.equal(r.children[3]!.redefines, 'A');
    assert.equal(r.children[4]!.blankWhenZero, true);
    assert.equal(r.children[5]!.justified, true);
    assert.deepEqual(r.children[7]!.occurs, { min: 1, max: 10, dependingOn: 'CNT' });
    assert.equal(cb.roots[1]!.name, 'STANDALONE');
    assert.equal(cb.renames[0]!.name, 'AB');
    const layout = computeLayout(cb);
    assert.deepEqual(layout.renames[0], { name: 'AB', from: 'A', thru: 'C', offset: 9, size: 7 });
  });

  it('keeps the prefix of hex literals', () => {
    const cb = parseCopybook(fixed('01  R.', "    05  A  PIC X VALUE X'00'.", "    05  B  PIC X VALUE 'Q'."));
    assert.deepEqual(cb.roots[0]!.children.map((c) => c.value), ["X'00'", 'Q']);
  });

  it('accepts free format', () => {
    const cb = parseCopybook('01 R.\n  05 A PIC X(3). *> inline comment\n* full comment\n  05 B PIC 9.', { format: 'free' });
    assert.deepEqual(cb.roots[0]!.children.map((c) => c.name), ['A', 'B']);
  });

  it('names file:line and what was expected on errors', () => {
    const err = (src: string, re: RegExp) => assert.throws(() => parseCopybook(src, { fileName: 'bad.cpy' }), (e: unknown) => e instanceof FormatError && re.test(e.message));
    err(fixed('01  R.', '    05  A  PIC X(3) USAGE IS FOO.'), /^bad\.cpy:2: expected a usage .* found "FOO"/);
    err(fixed('01  R.', '    05  A  PIC.'), /^bad\.cpy:2: expected a picture string after PIC/);
    err(fixed('01  R.', '    05  A  PIC X(3).', '        10 B PIC X.'), /^bad\.cpy:3: B \(level 10\) is nested under A, which has a PICTURE/);
    err(fixed('01  R.', '    05  A.'), /^bad\.cpy:2: elementary item A needs a PIC clause/);
    err(fixed('01  R.', '    05  A  OCCURS X TIMES.'), /^bad\.cpy:2: expected a number after OCCURS, found "X"/);
    err(fixed('01  R.', '    05  A  PIC X(3) WHATEVER.'), /^bad\.cpy:2: expected a clause/);
    err(fixed('R.'), /^bad\.cpy:1: expected a level number/);
    err('01 RECORD.\n   05 A PIC X.', /^bad\.cpy:1: expected a level number .*found "ORD"; if the copybook does not leave columns 1-7 .* format 'free'/);
    err(fixed('COPY OTHER.'), /^bad\.cpy:1: expected a level number; COPY statements are not supported, expand them first/);
    err(fixed('01  R.', '    05  A PIC X VALUE \'ABC'), /^bad\.cpy:2: the literal/);
    assert.throws(() => computeLayout(parseCopybook(fixed('01  R.', '    05  A  PIC X.', '    05  B  REDEFINES Z PIC X.'), { fileName: 'bad.cpy' })), /bad\.cpy:3: B REDEFINES Z, which is not an earlier item/);
    assert.throws(() => computeLayout(parseCopybook(fixed('01  R.', '    05  A  OCCURS 1 TO 3 DEPENDING ON NOPE PIC X.'), { fileName: 'bad.cpy' })), /bad\.cpy:2: A OCCURS DEPENDING ON NOPE, which is not an elementary field/);
  });
});

describe('copybook layout', () => {
  it('computes binary, packed and display sizes like cobrix', () => {
    assert.deepEqual([1, 4, 5, 9, 10, 18, 19, 20, 28, 37].map((d) => binarySize(d)), [2, 2, 4, 4, 8, 8, 9, 9, 12, 16]);
    assert.deepEqual([1, 2].map((d) => binarySize(d, '1-2-4-8')), [1, 1]);
    const layout = computeLayout(parseCopybook(fixed(
      '01  R.',
      '    05  P   PIC S9(7)V99 COMP-3.',
      '    05  Z   PIC S9(3) SIGN TRAILING SEPARATE.',
      '    05  F1  COMP-1.',
      '    05  F2  COMP-2.',
      '    05  X   PIC X.',
      '    05  B   PIC S9(9) COMP SYNC.',
      '    05  G   OCCURS 2.',
      '        10  G1  PIC X(3).',
      '        10  G2  REDEFINES G1 PIC 9(2).',
    )));
    const at = (name: string) => layout.nodes.find((n) => n.name === name)!;
    assert.deepEqual(['P', 'Z', 'F1', 'F2', 'X', 'B', 'G', 'G1', 'G2'].map((n) => [at(n).offset, at(n).size]), [
      [0, 5], [5, 4], [9, 4], [13, 8], [21, 1], [24, 4], [28, 3], [28, 3], [28, 2],
    ]);
    assert.equal(layout.size, 34);
  });

  it('SYNCHRONIZED items in an OCCURS group stay aligned in every occurrence (slack bytes)', () => {
    const cb = parseCopybook(fixed('01  R.', '    05  A  PIC X.', '    05  T  OCCURS 3.', '        10  C  PIC X.', '        10  N  PIC S9(9) COMP SYNC.', '        10  D  PIC X.'));
    const layout = computeLayout(cb);
    const at = (name: string) => layout.nodes.find((n) => n.name === name)!;
    assert.deepEqual([at('T').offset, at('C').offset, at('N').offset, at('D').offset, at('T').size], [1, 1, 4, 8, 8]);
    assert.equal(layout.size, 25);
    const codec = createCodec(cb, { codePage: 'ascii' });
    const doc = { A: 'a', T: [{ C: 'x', N: 1, D: 'y' }, { C: 'p', N: -2, D: 'q' }, { C: 'r', N: 3, D: 's' }] };
    const bytes = codec.encode(doc);
    assert.equal(bytes.subarray(9, 17).toString('hex'), '702020fffffffe71');
    assert.deepEqual(codec.decode(bytes), doc);
  });

  it('inherits group USAGE and SIGN', () => {
    const layout = computeLayout(parseCopybook(fixed('01  R.', '    05  G COMP-3.', '        10  A PIC S9(5).', '        10  B PIC 9(3).')));
    assert.deepEqual(layout.nodes.filter((n) => !n.isGroup).map((n) => [n.type!.kind, n.size]), [['packed', 3], ['packed', 2]]);
  });
});
