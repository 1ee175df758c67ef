import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCopybook, createCodec, decodeStream, encodeStream, type DecodedRecord, type SkippedRecord } from '../../src/formats/copybook/index.js';
import { FormatError } from '../../src/core/errors.js';

const fixed = (...lines: string[]) => lines.map((l) => `       ${l}`).join('\n');
const codec = createCodec(parseCopybook(fixed('01  R.', '    05  ID   PIC 9(3).', '    05  AMT  PIC S9(3) COMP-3.')));
const rec = (id: number, amt: number) => codec.encode({ ID: id, AMT: amt });
const collect = async (it: AsyncIterable<DecodedRecord>) => { const out: DecodedRecord[] = []; for await (const r of it) out.push(r); return out; };
/** Splits a buffer into chunks of `size` bytes, as a slow stream would deliver it. */
function* chunks(buf: Buffer, size: number): Generator<Buffer> { for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size); }

describe('copybook streams', () => {
  const bad = Buffer.from('F0F0F1' + '1A3C', 'hex');
  const file = Buffer.concat([rec(1, -5), bad, rec(3, 7)]);

  it('decodes fixed records across chunk boundaries with record numbers and offsets', async () => {
    const out = await collect(decodeStream(chunks(Buffer.concat([rec(1, 1), rec(2, -2)]), 3), codec));
    assert.deepEqual(out, [{ recordNumber: 1, offset: 0, value: { ID: 1, AMT: 1 } }, { recordNumber: 2, offset: 5, value: { ID: 2, AMT: -2 } }]);
  });

  it("policy 'fail' throws at the bad record", async () => {
    await assert.rejects(collect(decodeStream([file], codec)), (e: unknown) => e instanceof FormatError && /^record 2, field AMT at byte offset 3: invalid packed decimal x'1A3C'/.test(e.message));
  });

  it("policy 'skip' reports and continues; 'dead-letter' hands over the bytes", async () => {
    const skipped: SkippedRecord[] = [];
    const out = await collect(decodeStream(chunks(file, 4), codec, { onError: 'skip', onSkip: (s) => skipped.push(s) }));
    assert.deepEqual(out.map((r) => r.value.ID), [1, 3]);
    assert.deepEqual(skipped.map((s) => [s.recordNumber, s.offset, s.record.toString('hex')]), [[2, 5, 'f0f0f11a3c']]);
    const dead: SkippedRecord[] = [];
    const out2 = await collect(decodeStream([file], codec, { onError: 'dead-letter', deadLetter: async (s) => { dead.push(s); } }));
    assert.equal(out2.length, 2);
    assert.match(dead[0]!.error.message, /record 2, field AMT/);
    await assert.rejects(decodeStream([file], codec, { onError: 'dead-letter' }).next(), /needs a deadLetter function/);
  });

  it('reads and writes V (RDW), VB and D framing', async () => {
    for (const recordFormat of [{ format: 'V' as const }, { format: 'VB' as const }, { format: 'D' as const, lineEnding: 'nel' as const }]) {
      const parts: Buffer[] = [];
      for await (const b of encodeStream([{ ID: 1, AMT: 2 }, { ID: 3, AMT: -4 }], codec, recordFormat)) parts.push(b);
      const out = await collect(decodeStream(chunks(Buffer.concat(parts), 3), codec, { recordFormat }));
      assert.deepEqual(out.map((r) => r.value), [{ ID: 1, AMT: 2 }, { ID: 3, AMT: -4 }], recordFormat.format);
    }
  });

  it('delimits variable-size OCCURS records by the copybook, across chunks', async () => {
    const v = createCodec(parseCopybook(fixed('01  R.', '    05  N  PIC 9.', '    05  X  PIC X OCCURS 0 TO 9 DEPENDING ON N.')), { codePage: 'ascii', variableSizeOccurs: true });
    const out = await collect(decodeStream(chunks(Buffer.from('3abc01z2xy'), 2), v));
    assert.deepEqual(out.map((r) => [r.recordNumber, r.offset, r.value.X]), [[1, 0, ['a', 'b', 'c']], [2, 4, []], [3, 5, ['z']], [4, 7, ['x', 'y']]]);
    const parts: Buffer[] = [];
    for await (const b of encodeStream(out.map((r) => r.value), v)) parts.push(b);
    assert.equal(Buffer.concat(parts).toString('latin1'), '3abc01z2xy', 'encodeStream writes them back to back too');
    const skipped: SkippedRecord[] = [];
    const trunc = await collect(decodeStream([Buffer.from('2ab3a')], v, { onError: 'skip', onSkip: (s) => skipped.push(s) }));
    assert.equal(trunc.length, 1);
    assert.match(skipped[0]!.error.message, /record 2 is 2 bytes long but field X\[1\] needs bytes 2 to 2/);
  });
});
