/** Seeded random round trips: every numeric storage, digits 1-31, every scale, signs, both code page families. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCopybook, createCodec, canonicalDecimal, toUnscaled, type CodecOptions } from '../../src/formats/copybook/index.js';
import { toUnscaledNumber } from '../../src/formats/copybook/copybook-decimal.js';

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const USAGES = ['', 'SIGN LEADING', 'SIGN TRAILING SEPARATE', 'SIGN LEADING SEPARATE', 'COMP-3', 'COMP', 'COMP-5'];

describe('copybook random round trips', () => {
  for (const [label, opts] of [['EBCDIC', { codePage: 'cp037' }], ['ASCII', { codePage: 'ascii' }], ['ASCII IBM overpunch, little-endian COMP-5', { codePage: 'ascii', asciiOverpunch: 'ibm', comp5ByteOrder: 'little' }]] as Array<[string, CodecOptions]>) {
    it(`${label}: 400 random fields encode and decode back exactly`, () => {
      const rand = mulberry32(label.length * 7919);
      for (let n = 0; n < 400; n++) {
        const usage = USAGES[Math.floor(rand() * USAGES.length)]!;
        const binary = usage === 'COMP' || usage === 'COMP-5';
        const digits = 1 + Math.floor(rand() * (binary ? 18 : 31));
        const scale = Math.floor(rand() * (digits + 1));
        const signed = usage.startsWith('SIGN') || rand() < 0.7;
        const intDigits = digits - scale;
        const picture = `${signed ? 'S' : ''}${intDigits ? `9(${intDigits})` : ''}${scale ? `V9(${scale})` : ''}`;
        let text = '';
        for (let i = 0; i < digits; i++) text += Math.floor(rand() * 10);
        const neg = signed && rand() < 0.5;
        const value = `${neg ? '-' : ''}${scale ? `${text.slice(0, intDigits) || '0'}.${text.slice(intDigits)}` : text}`;
        const decl = `PIC ${picture} ${usage}`;
        const codec = createCodec(parseCopybook(`       01  R.\n           05  F  ${decl}.\n`), opts);
        const bytes = codec.encode({ F: value });
        const back = codec.decode(bytes).F;
        assert.equal(canonicalDecimal(String(back)), canonicalDecimal(value), `${decl}: ${value} -> ${bytes.toString('hex')} -> ${String(back)}`);
        assert.deepEqual(codec.encode({ F: back }), bytes, `${decl}: re-encoding ${String(back)}`);
      }
    });
  }

  it('the number fast path of toUnscaled agrees with the exact path', () => {
    const rand = mulberry32(7);
    const inputs: unknown[] = [0, -0, '-0', '-0.00', 1e21, 0.1, -12.5, '007.50', '1.', '.5', '+3', ' 4 ', 9007199254740991, 9007199254740993n, '123456789012345', '1234567890123456'];
    for (let n = 0; n < 500; n++) {
      const intLen = Math.floor(rand() * 10);
      const fracLen = Math.floor(rand() * 8);
      let t = rand() < 0.3 ? '-' : '';
      for (let i = 0; i < intLen; i++) t += Math.floor(rand() * 10);
      if (fracLen) { t += '.'; for (let i = 0; i < fracLen; i++) t += Math.floor(rand() * 10); }
      inputs.push(t === '' || t === '-' ? '0' : t, Number(t === '' || t === '-' ? 0 : t));
    }
    for (const v of inputs) {
      for (const scale of [0, 2, 7, 12]) {
        const fast = toUnscaledNumber(v, scale);
        if (fast === undefined) continue;
        assert.equal(BigInt(fast), toUnscaled(v, scale), `${String(v)} at scale ${scale}`);
        assert.ok(!Object.is(fast, -0));
      }
    }
  });

  it('COMP-1 and COMP-2 in both float formats round-trip values they can hold', () => {
    const rand = mulberry32(42);
    for (const floatFormat of ['ibm', 'ieee754'] as const) {
      const c = createCodec(parseCopybook('       01  R.\n           05  S COMP-1.\n           05  D COMP-2.\n'), { floatFormat });
      for (let n = 0; n < 300; n++) {
        const d = (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20);
        const s = Number(Math.fround(d).toPrecision(6));
        const bytes = c.encode({ S: s, D: d });
        const back = c.decode(bytes) as { S: number; D: number };
        if (floatFormat === 'ieee754') assert.equal(back.D, d);
        else assert.ok(Math.abs(back.D - d) <= Math.abs(d) * 2 ** -52, `IBM COMP-2 ${d} came back as ${back.D}`);
        assert.ok(Math.abs(back.S - s) <= Math.abs(s) * 2 ** -20, `${floatFormat} COMP-1 ${s} came back as ${back.S}`);
        assert.deepEqual(c.encode(back), bytes, `${floatFormat}: re-encoding ${JSON.stringify(back)}`);
      }
      assert.deepEqual(c.decode(c.encode({ S: 0, D: -0 })), { S: 0, D: -0 });
    }
    const ibm = createCodec(parseCopybook('       01  R.\n           05  D COMP-2.\n'));
    assert.throws(() => ibm.encode({ D: 1e300 }), /field D at byte offset 0: 1e\+300 is too large for an IBM hexadecimal float/);
  });
});
