/**
 * File sink over a local directory: atomic files (.tmp then rename), rotation by records,
 * bytes and time, trigger files, op column for deletes, formula neutralisation, crash recovery.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { tempDir, waitFor } from '../helpers/services.js';
import { fileConnector } from '../../src/connectors/file/file-connector.js';
import { fileSinkSchema } from '../../src/connectors/file/file-options.js';
import { neutraliseFormula } from '../../src/connectors/file/csv-format.js';
import { PermanentError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import type { Delta, Doc } from '../../src/core/types.js';
import type { Sink, SinkItem } from '../../src/connectors/contract.js';

const signal = new AbortController().signal;

async function sink(dir: string, opts: Record<string, unknown>, workDir = path.join(dir, '..', `${path.basename(dir)}-work`)): Promise<Sink> {
  const options = fileSinkSchema.parse({ format: 'csv', columns: ['PERMIT_NO', 'STATUS'], ...opts });
  return fileConnector.createSink!({ system: 'county', systemConfig: { transport: 'local', dir }, collection: 'PERMITS', options, keyFields: ['PERMIT_NO'], logger: silentLogger(), workDir });
}

let jobSeq = 0;
function item(op: Delta['op'], key: string, state: Doc | null, before: Doc | null = null): SinkItem {
  jobSeq++;
  return {
    jobId: `j${jobSeq}`, version: 1, idempotencyKey: `p:j${jobSeq}:1`, pipeline: 'p', collection: 'PERMITS', keyFields: ['PERMIT_NO'],
    delta: { op, key, changed: state ?? {}, state, before, base: null, fingerprint: '', sourceTs: Date.now() },
  };
}
const ins = (n: number) => item('insert', `P${n}`, { PERMIT_NO: `P${n}`, STATUS: 'PENDING' });
const files = (dir: string) => readdirSync(dir).sort();

test('rotation by record count: complete files under their final name, the open one as .tmp until close', async () => {
  const t = tempDir();
  const s = await sink(t.dir, { fileName: 'PERMITS.{seq:3}.csv', rotate: { records: 2 } });
  try {
    assert.deepEqual(await s.write([ins(1), ins(2), ins(3)], signal), [{ ok: true }, { ok: true }, { ok: true }]);
    assert.deepEqual(files(t.dir), ['PERMITS.001.csv', 'PERMITS.002.csv.tmp']);
    assert.equal(readFileSync(path.join(t.dir, 'PERMITS.001.csv'), 'utf8'), 'PERMIT_NO,STATUS\nP1,PENDING\nP2,PENDING\n');
    // the open file is durable after write() returned: its committed content is on disk
    assert.equal(readFileSync(path.join(t.dir, 'PERMITS.002.csv.tmp'), 'utf8'), 'PERMIT_NO,STATUS\nP3,PENDING\n');
    await s.write([ins(4), ins(5)], signal);
    assert.deepEqual(files(t.dir), ['PERMITS.001.csv', 'PERMITS.002.csv', 'PERMITS.003.csv.tmp']);
  } finally {
    await s.close();
  }
  assert.deepEqual(files(t.dir), ['PERMITS.001.csv', 'PERMITS.002.csv', 'PERMITS.003.csv']);
  assert.equal(readFileSync(path.join(t.dir, 'PERMITS.003.csv'), 'utf8'), 'PERMIT_NO,STATUS\nP5,PENDING\n');
  t.cleanup();
});

test('rotation by size and by time, with a trigger file after each data file', async () => {
  const t = tempDir();
  // header 17 bytes + rows of 13 bytes: two rows fit in 45 bytes, a third would not
  const s = await sink(t.dir, { fileName: 'S.{seq}.csv', rotate: { bytes: 45 }, trigger: '{name}.trg' });
  try {
    await s.write([ins(1), ins(2), ins(3), ins(4), ins(5)], signal);
    assert.deepEqual(files(t.dir), ['S.1.csv', 'S.1.csv.trg', 'S.2.csv', 'S.2.csv.trg', 'S.3.csv.tmp']);
    for (const f of ['S.1.csv', 'S.2.csv']) assert.ok(readFileSync(path.join(t.dir, f)).length <= 45);
  } finally {
    await s.close();
  }
  t.cleanup();

  const t2 = tempDir();
  const s2 = await sink(t2.dir, { fileName: 'T.{yyyyMMddHHmmss}.{seq}.csv', rotate: { interval: '150ms' }, trigger: 'T.TRG' });
  try {
    await s2.write([ins(1)], signal);
    const done = await waitFor(() => files(t2.dir).find((f) => /^T\.\d{14}\.1\.csv$/.test(f)), { what: 'the file closed by the timer' });
    // the trigger file follows the rename of the data file
    await waitFor(() => files(t2.dir).includes('T.TRG'), { what: 'the trigger file after the data file' });
    assert.equal(readFileSync(path.join(t2.dir, done), 'utf8'), 'PERMIT_NO,STATUS\nP1,PENDING\n');
  } finally {
    await s2.close();
    t2.cleanup();
  }
});

test('op column: deletes written with D, or rejected as permanent without an op field', async () => {
  const t = tempDir();
  const s = await sink(t.dir, { fileName: 'A.csv', opField: 'ACTION' });
  try {
    const r = await s.write([ins(1), item('update', 'P1', { PERMIT_NO: 'P1', STATUS: 'APPROVED' }), item('delete', 'P1', null, { PERMIT_NO: 'P1', STATUS: 'APPROVED' })], signal);
    assert.ok(r.every((x) => x.ok));
  } finally {
    await s.close();
  }
  assert.equal(readFileSync(path.join(t.dir, 'A.csv'), 'utf8'), 'ACTION,PERMIT_NO,STATUS\nI,P1,PENDING\nU,P1,APPROVED\nD,P1,APPROVED\n');

  const s2 = await sink(t.dir, { fileName: 'B.csv', opValues: { insert: 'A', update: 'C', delete: 'X' } });
  try {
    const r = await s2.write([item('delete', 'P9', null), ins(2)], signal);
    assert.equal(r[0]!.ok, false);
    assert.ok(!r[0]!.ok && r[0]!.error instanceof PermanentError);
    assert.match(String((r[0] as { error: Error }).error.message), /set opField/);
    assert.deepEqual(r[1], { ok: true });
  } finally {
    await s2.close();
    t.cleanup();
  }
});

test('formula injection: cells starting with = + - @ tab CR are neutralised unless disabled', async () => {
  assert.equal(neutraliseFormula('=1+2'), "'=1+2");
  assert.equal(neutraliseFormula('@SUM(A1)'), "'@SUM(A1)");
  assert.equal(neutraliseFormula('+cmd|x'), "'+cmd|x");
  assert.equal(neutraliseFormula('\tx'), "'\tx");
  assert.equal(neutraliseFormula('-12.5'), '-12.5');
  assert.equal(neutraliseFormula('-1+cmd'), "'-1+cmd");
  assert.equal(neutraliseFormula('plain'), 'plain');
  const t = tempDir();
  const s = await sink(t.dir, { fileName: 'F.csv' });
  const s2 = await sink(path.join(t.dir, 'raw'), { fileName: 'F.csv', neutraliseFormulas: false });
  try {
    const evil = item('insert', 'P1', { PERMIT_NO: 'P1', STATUS: '=HYPERLINK("http://x","y")' });
    await s.write([evil], signal);
    await s2.write([evil], signal);
  } finally {
    await s.close();
    await s2.close();
  }
  assert.equal(readFileSync(path.join(t.dir, 'F.csv'), 'utf8'), `PERMIT_NO,STATUS\nP1,"'=HYPERLINK(""http://x"",""y"")"\n`);
  assert.equal(readFileSync(path.join(t.dir, 'raw', 'F.csv'), 'utf8'), `PERMIT_NO,STATUS\nP1,"=HYPERLINK(""http://x"",""y"")"\n`);
  t.cleanup();
});

test('crash recovery: a torn batch in the open file is cut back and writing continues', async () => {
  const t = tempDir();
  const work = path.join(t.dir, 'work');
  const out = path.join(t.dir, 'out');
  const s = await sink(out, { fileName: 'R.{seq}.csv', rotate: { records: 10 } }, work);
  await s.write([ins(1), ins(2)], signal);
  // crash: no close; a half-written batch follows the committed bytes
  appendFileSync(path.join(out, 'R.1.csv.tmp'), 'P3,PEND');
  const again = await sink(out, { fileName: 'R.{seq}.csv', rotate: { records: 10 } }, work);
  try {
    await again.write([ins(3)], signal);
  } finally {
    await again.close();
  }
  assert.deepEqual(files(out), ['R.1.csv']);
  assert.equal(readFileSync(path.join(out, 'R.1.csv'), 'utf8'), 'PERMIT_NO,STATUS\nP1,PENDING\nP2,PENDING\nP3,PENDING\n');
  t.cleanup();
});

test('crash recovery: a crash between the final rename and the trigger still gets the trigger written', async () => {
  const t = tempDir();
  const work = path.join(t.dir, 'work');
  const out = path.join(t.dir, 'out');
  const opts = { fileName: 'G.{seq}.csv', rotate: { records: 10 }, trigger: '{name}.trg' };
  const s = await sink(out, opts, work);
  await s.write([ins(1)], signal);
  renameSync(path.join(out, 'G.1.csv.tmp'), path.join(out, 'G.1.csv')); // the crash came right after this
  const again = await sink(out, opts, work);
  try {
    await again.write([ins(2)], signal);
  } finally {
    await again.close();
  }
  assert.deepEqual(files(out), ['G.1.csv', 'G.1.csv.trg', 'G.2.csv', 'G.2.csv.trg']);
  t.cleanup();
});
