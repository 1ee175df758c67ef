import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getCodePage, listCodePages, canonicalCodePageName } from '../../src/formats/copybook/codepages.js';
import { FormatError } from '../../src/core/errors.js';
import { needCommand } from '../helpers/services.js';

const EBCDIC: Record<string, string> = {
  cp037: 'IBM037', cp273: 'IBM273', cp500: 'IBM500', cp875: 'IBM875',
  cp1047: 'IBM1047', cp1140: 'IBM1140', cp1141: 'IBM1141', cp1148: 'IBM1148',
};
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

function iconv(from: string, to: string, input: Uint8Array): { ok: boolean; out: Buffer } {
  const r = spawnSync('iconv', ['-f', from, '-t', to], { input });
  return { ok: r.status === 0, out: r.stdout };
}

function units(s: string): number[] {
  return Array.from({ length: s.length }, (_, i) => s.charCodeAt(i));
}

function utf16be(s: string): Buffer {
  const b = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) b.writeUInt16BE(s.charCodeAt(i), i * 2);
  return b;
}

const noIconv = await needCommand('iconv', 'apt-get install -y libc-bin');

for (const [name, glibc] of Object.entries(EBCDIC)) {
  test(`${name} decodes every byte as glibc iconv ${glibc} does, and encodes back`, { skip: noIconv }, () => {
    const cp = getCodePage(name);
    const decoded = cp.decode(ALL_BYTES, 0, 256);
    assert.equal(decoded.length, 256);
    const mapped = [...ALL_BYTES].filter((b) => decoded.charCodeAt(b) !== 0xfffd);
    // Forward: the mapped bytes in one iconv run.
    const fwd = iconv(glibc, 'UTF-16BE', Uint8Array.from(mapped));
    assert.ok(fwd.ok, `iconv -f ${glibc} failed on bytes we consider mapped`);
    const expected = Array.from({ length: fwd.out.length / 2 }, (_, i) => fwd.out.readUInt16BE(i * 2));
    assert.deepEqual(mapped.map((b) => decoded.charCodeAt(b)), expected);
    // Bytes we leave unmapped are unmapped for iconv too.
    for (const b of ALL_BYTES) {
      if (decoded.charCodeAt(b) === 0xfffd) assert.equal(iconv(glibc, 'UTF-16BE', Uint8Array.of(b)).ok, false, `byte 0x${b.toString(16)} of ${name}`);
    }
    // Reverse: iconv encodes our characters to the same bytes, and so do we.
    const text = mapped.map((b) => decoded[b]).join('');
    const rev = iconv('UTF-16BE', glibc, utf16be(text));
    assert.ok(rev.ok);
    assert.deepEqual([...rev.out], mapped);
    const out = new Uint8Array(mapped.length);
    cp.encode(text, out, 0, out.length);
    assert.deepEqual([...out], mapped);
  });
}

test('ascii, latin1 and utf8 agree with iconv', { skip: noIconv }, () => {
  const ascii = getCodePage('ascii');
  const low = ALL_BYTES.subarray(0, 128);
  const expected = iconv('ASCII', 'UTF-16BE', low).out;
  assert.deepEqual(units(ascii.decode(low, 0, 128)), Array.from({ length: 128 }, (_, i) => expected.readUInt16BE(i * 2)));
  for (let b = 128; b < 256; b++) {
    assert.equal(ascii.decode(ALL_BYTES, b, b + 1), '\uFFFD');
    assert.equal(iconv('ASCII', 'UTF-16BE', Uint8Array.of(b)).ok, false);
  }
  const latin1 = getCodePage('latin1');
  const l = iconv('LATIN1', 'UTF-8', ALL_BYTES).out.toString('utf8');
  assert.equal(latin1.decode(ALL_BYTES, 0, 256), l);
  const utf8 = getCodePage('utf8');
  const sample = Buffer.from('Zürich – 東京 🙂 plain', 'utf8');
  assert.equal(utf8.decode(sample, 0, sample.length), iconv('UTF-8', 'UTF-8', sample).out.toString('utf8'));
});

test('python3 codecs agree with our tables (cp273 differs at 0xBC: glibc U+00AF, python U+203E)', { skip: await needCommand('python3', 'apt-get install -y python3') }, () => {
  for (const name of ['cp037', 'cp500', 'cp273', 'cp1140', 'cp875']) {
    const r = spawnSync('python3', ['-c', `import sys\nsys.stdout.write(','.join(str(ord(bytes([b]).decode('${name}', 'replace'))) for b in range(256)))`], { encoding: 'utf8' });
    const py = r.stdout.split(',').map(Number);
    const ours = units(getCodePage(name).decode(ALL_BYTES, 0, 256));
    const diffs = ours.flatMap((u, b) => (u !== py[b] ? [b] : []));
    if (name === 'cp273') assert.deepEqual(diffs, [0xbc]);
    else if (name === 'cp875') {
      // glibc leaves 0x6A 0xDC 0xE1 0xEC 0xED 0xFC 0xFD unmapped (python: | and SUB); 0x74 and 0xDD differ.
      assert.deepEqual(diffs, [0x6a, 0x74, 0xdc, 0xdd, 0xe1, 0xec, 0xed, 0xfc, 0xfd]);
    } else assert.deepEqual(diffs, [], name);
  }
});

test('cp1047 differs from cp037 in exactly 6 bytes', () => {
  const a = getCodePage('cp037').decode(ALL_BYTES, 0, 256);
  const b = getCodePage('cp1047').decode(ALL_BYTES, 0, 256);
  const diff = [...ALL_BYTES].filter((i) => a[i] !== b[i]);
  assert.deepEqual(diff, [0x5f, 0xad, 0xb0, 0xba, 0xbb, 0xbd]);
  assert.equal(b[0xad], '[');
  assert.equal(b[0xbd], ']');
  assert.equal(b[0xb0], '¬');
  assert.equal(b[0x5f], '^');
});

test('cp1140, cp1141 and cp1148 are cp037, cp273 and cp500 with the euro sign at 0x9F', () => {
  for (const [euro, base] of [['cp1140', 'cp037'], ['cp1141', 'cp273'], ['cp1148', 'cp500']] as const) {
    const e = getCodePage(euro).decode(ALL_BYTES, 0, 256);
    const b = getCodePage(base).decode(ALL_BYTES, 0, 256);
    assert.deepEqual([...ALL_BYTES].filter((i) => e[i] !== b[i]), [0x9f], euro);
    assert.equal(e[0x9f], '€');
    assert.equal(b[0x9f], '¤');
    const out = new Uint8Array(2);
    getCodePage(euro).encode('€', out, 0, 2);
    assert.deepEqual([...out], [0x9f, 0x40]);
  }
});

test('0x15 decodes as NEL by default and as LF with nelAsLf (0x25 swapped, round trip exact)', () => {
  for (const name of ['cp037', 'cp1047', 'cp500', 'cp875']) {
    const plain = getCodePage(name);
    assert.equal(plain.decode(Uint8Array.of(0x15, 0x25), 0, 2), '\u0085\n');
    const lf = getCodePage(name, { nelAsLf: true });
    assert.equal(lf.decode(Uint8Array.of(0x15, 0x25), 0, 2), '\n\u0085');
    const out = new Uint8Array(2);
    lf.encode('\n\u0085', out, 0, 2);
    assert.deepEqual([...out], [0x15, 0x25]);
    plain.encode('\n\u0085', out, 0, 2);
    assert.deepEqual([...out], [0x25, 0x15]);
  }
  assert.equal(getCodePage('ascii', { nelAsLf: true }).decode(Uint8Array.of(0x15), 0, 1), '\u0015');
});

test('every code page round-trips every mapped byte, short and long fields alike', () => {
  for (const name of listCodePages()) {
    if (name === 'utf8') continue;
    const cp = getCodePage(name);
    const text = cp.decode(ALL_BYTES, 0, 256);
    const bytes = [...ALL_BYTES].filter((b) => text.charCodeAt(b) !== 0xfffd && (name !== 'common' || text[b] !== ' ' || b === 0x40));
    const src = Uint8Array.from(bytes);
    const s = cp.decode(src, 0, src.length);
    const back = new Uint8Array(src.length);
    if (name === 'common') {
      // Lossy table: only characters it shares with cp037 encode back.
      const faithful = bytes.filter((b) => getCodePage('cp037').decode(ALL_BYTES, b, b + 1) === text[b]);
      const t = faithful.map((b) => text[b]).join('');
      const o = new Uint8Array(t.length);
      cp.encode(t, o, 0, o.length);
      assert.deepEqual([...o], faithful);
      continue;
    }
    cp.encode(s, back, 0, back.length);
    assert.deepEqual([...back], bytes, name);
    // Long fields (over the chunk size of String.fromCharCode.apply) decode like short ones.
    const big = new Uint8Array(20000).map((_, i) => bytes[i % bytes.length]!);
    const long = cp.decode(big, 0, big.length);
    let slow = '';
    for (let i = 0; i < big.length; i += 10) slow += cp.decode(big, i, Math.min(big.length, i + 10));
    assert.equal(long, slow);
    assert.equal(cp.decode(big, 5, 9000), slow.slice(5, 9000));
  }
});

test('aliases resolve; unknown names list the valid ones', () => {
  for (const alias of ['037', 'IBM037', 'IBM-037', 'CP037', 'cp37', 'ebcdic-cp-us', 'ibm37', 'cp037_extended']) {
    assert.equal(canonicalCodePageName(alias), 'cp037', alias);
    assert.equal(getCodePage(alias).name, 'cp037');
  }
  assert.equal(getCodePage('IBM-1047').name, 'cp1047');
  assert.equal(getCodePage('500').name, 'cp500');
  assert.equal(getCodePage('US-ASCII').name, 'ascii');
  assert.equal(getCodePage('ISO-8859-1').name, 'latin1');
  assert.equal(getCodePage('UTF-8').name, 'utf8');
  assert.equal(getCodePage('common').name, 'common');
  assert.deepEqual(listCodePages().sort(), ['ascii', 'common', 'cp037', 'cp1047', 'cp1140', 'cp1141', 'cp1148', 'cp273', 'cp500', 'cp875', 'latin1', 'utf8']);
  assert.throws(() => getCodePage('cp9999'), (e: unknown) => e instanceof FormatError && /"cp9999"/.test(e.message) && /cp037, cp273/.test(e.message));
});

test('encode pads with the code page space or the given pad byte', () => {
  const out = new Uint8Array(8).fill(0xee);
  getCodePage('cp037').encode('AB', out, 1, 5);
  assert.deepEqual([...out], [0xee, 0xc1, 0xc2, 0x40, 0x40, 0x40, 0xee, 0xee]);
  getCodePage('ascii').encode('AB', out, 0, 4);
  assert.deepEqual([...out.subarray(0, 4)], [0x41, 0x42, 0x20, 0x20]);
  getCodePage('cp500').encode('', out, 0, 3, 0x00);
  assert.deepEqual([...out.subarray(0, 3)], [0, 0, 0]);
  getCodePage('utf8').encode('ü', out, 0, 4);
  assert.deepEqual([...out.subarray(0, 4)], [0xc3, 0xbc, 0x20, 0x20]);
});

test('encode errors name the character, the code page, and the length', () => {
  const out = new Uint8Array(4);
  assert.throws(() => getCodePage('cp037').encode('a€b', out, 0, 4), (e: unknown) => e instanceof FormatError && e.message.includes('"€" (U+20AC)') && e.message.includes('cp037') && e.message.includes('position 2'));
  assert.throws(() => getCodePage('ascii').encode('é', out, 0, 4), /"é" \(U\+00E9\).*ascii/);
  assert.throws(() => getCodePage('cp875').encode('|', out, 0, 4), /U\+007C.*cp875/);
  assert.throws(() => getCodePage('common').encode('¢', out, 0, 4), /U\+00A2.*common/);
  assert.throws(() => getCodePage('cp037').encode('ABCDE', out, 0, 4), (e: unknown) => e instanceof FormatError && e.message.includes('"ABCDE" is 5 characters') && e.message.includes('4-byte field'));
  assert.throws(() => getCodePage('utf8').encode('abcü', out, 0, 4), /5 bytes long in UTF-8.*4-byte field/);
  assert.throws(() => getCodePage('utf8').encode('a\uD800', out, 0, 4), /lone surrogate/);
  assert.throws(() => getCodePage('cp037').encode('A', out, 3, 2), /outside the 4-byte buffer/);
  assert.throws(() => getCodePage('cp037').decode(out, 2, 6), /outside the 4-byte buffer/);
});

test('common is cobrix\'s invariant table; controlsAsSpace blanks control characters', () => {
  const common = getCodePage('common');
  const t = common.decode(ALL_BYTES, 0, 256);
  assert.equal(t[0xc1], 'A');
  assert.equal(t[0xf9], '9');
  assert.equal(t[0x4a], ' '); // cp037 ¢ is not invariant
  assert.equal(t[0x6a], '|');
  assert.equal(t[0x0d], '\n');
  assert.equal(t[0x25], '\r');
  const cs = getCodePage('cp037', { controlsAsSpace: true }).decode(ALL_BYTES, 0, 256);
  for (let b = 0; b < 0x40; b++) assert.equal(cs[b], ' ', `byte ${b}`);
  assert.equal(cs[0xff], ' ');
  assert.equal(cs[0xc1], 'A');
});
