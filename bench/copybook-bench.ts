/**
 * Copybook codec throughput: decode and encode a synthetic file of fixed-length EBCDIC records
 * mixing COMP-3, zoned, COMP, COMP-5, text and an OCCURS table. Prints records/s and MB/s.
 *
 *   npm run bench:copybook [-- --records 200000]
 *
 * There is no npm peer to compare with (no maintained JavaScript copybook codec exists; the
 * references, cobrix and JRecord, run on the JVM), so the output names none.
 */
import { parseCopybook, createCodec, decodeStream } from '../src/formats/copybook/index.js';

const argIndex = process.argv.indexOf('--records');
const N = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 200_000;

const COPYBOOK = `
       01  ACCOUNT-REC.
           05  ACCT-ID            PIC 9(10) COMP-3.
           05  CUST-NAME          PIC X(30).
           05  BRANCH             PIC X(4).
           05  OPEN-DATE          PIC 9(8).
           05  BALANCE            PIC S9(13)V99 COMP-3.
           05  CREDIT-LIMIT       PIC S9(9)V99.
           05  TX-COUNT           PIC S9(9) COMP.
           05  FLAGS              PIC 9(4) COMP-5.
           05  RATE               PIC SV9(5) COMP-3.
           05  HISTORY            OCCURS 6 TIMES.
               10  H-AMOUNT       PIC S9(7)V99 COMP-3.
               10  H-CODE         PIC X(2).
           05  FILLER             PIC X(10).
`;

const codec = createCodec(parseCopybook(COPYBOOK, { fileName: 'bench.cpy' }), { codePage: 'cp037' });
const size = codec.recordSize;

function doc(i: number): Record<string, unknown> {
  return {
    ACCT_ID: 1_000_000_000 + i,
    CUST_NAME: `CUSTOMER ${i}`,
    BRANCH: `B${i % 1000}`,
    OPEN_DATE: 20200101 + (i % 28),
    BALANCE: `${i % 2 ? '-' : ''}${i * 37}.${String(i % 100).padStart(2, '0')}`,
    CREDIT_LIMIT: `${i % 100000}.50`,
    TX_COUNT: i % 50000,
    FLAGS: i % 65536,
    RATE: `0.${String(i % 100000).padStart(5, '0')}`,
    HISTORY: Array.from({ length: 6 }, (_, k) => ({ H_AMOUNT: `${(i + k) % 9999999}.0${k}`, H_CODE: `C${k}` })),
  };
}

const docs = Array.from({ length: 1000 }, (_, i) => doc(i));
const mb = (N * size) / 1e6;

/** Best of three timed passes after a warm-up: the machine is shared, the best pass is the least disturbed. */
function measure(label: string, fn: () => void): void {
  fn();
  let best = Infinity;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(`${label.padEnd(22)} ${(N / best).toFixed(0).padStart(9)} records/s  ${(mb / best).toFixed(1).padStart(7)} MB/s  (${N} records of ${size} bytes in ${best.toFixed(2)} s, best of 3)`);
}

console.log(`copybook codec benchmark: ${N} records, ${size} bytes each (${mb.toFixed(1)} MB), node ${process.version}`);
const file = Buffer.alloc(N * size);
measure('encode', () => {
  for (let i = 0; i < N; i++) file.set(codec.encode(docs[i % 1000]!), i * size);
});
let sink = 0;
measure('decode', () => {
  for (let i = 0; i < N; i++) sink += (codec.decode(file.subarray(i * size, (i + 1) * size)).TX_COUNT as number);
});

const chunks = function* () { for (let i = 0; i < file.length; i += 65536) yield file.subarray(i, i + 65536); };
let bestStream = Infinity;
for (let pass = 0; pass < 3; pass++) {
  const t0 = process.hrtime.bigint();
  let n = 0;
  for await (const r of decodeStream(chunks(), codec)) { n++; sink += r.value.FLAGS as number; }
  if (n !== N) throw new Error(`decodeStream gave ${n} records, expected ${N}`);
  bestStream = Math.min(bestStream, Number(process.hrtime.bigint() - t0) / 1e9);
}
console.log(`${'decodeStream (64 KiB)'.padEnd(22)} ${(N / bestStream).toFixed(0).padStart(9)} records/s  ${(mb / bestStream).toFixed(1).padStart(7)} MB/s  (best of 3)`);
console.log('peer: none on npm (cobrix and JRecord are JVM libraries); no ratio reported');
if (sink === -1) console.log(sink);
