/**
 * Fixed-width files through the copybook codec: the sink writes EBCDIC (cp037) records that
 * decode back to what was written; the source reads EBCDIC files, with bad records skipped
 * and reported with their byte offset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir, waitFor } from '../helpers/services.js';
import { fileConnector } from '../../src/connectors/file/file-connector.js';
import { fileSinkSchema, fileSourceSchema } from '../../src/connectors/file/file-options.js';
import { createCodec, parseCopybook, readRecords } from '../../src/formats/copybook/index.js';
import { pino } from 'pino';
import { silentLogger } from '../../src/core/log.js';
import type { Delta, Doc } from '../../src/core/types.js';
import type { SinkItem } from '../../src/connectors/contract.js';
import { drive, memoryState, sourceContext, summary } from './file-harness.js';

const COPYBOOK = `
      * one permit change for the county batch job
       01  PERMIT-REC.
           05  ACTION            PIC X.
           05  PERMIT-NO         PIC X(10).
           05  OWNER-NAME        PIC X(20).
           05  STATUS-CODE       PIC X.
           05  FEE-AMOUNT        PIC S9(7)V99 COMP-3.
           05  ISSUED-DATE       PIC 9(8).
           05  INSPECTIONS       PIC S9(4) COMP.
`;
const RECORD_SIZE = 1 + 10 + 20 + 1 + 5 + 8 + 2;
const codec = createCodec(parseCopybook(COPYBOOK, { fileName: 'PERMIT.cpy' }), { codePage: 'cp037' });
const signal = new AbortController().signal;

let n = 0;
function item(op: Delta['op'], key: string, state: Doc | null, before: Doc | null = null): SinkItem {
  n++;
  return { jobId: `j${n}`, version: 1, idempotencyKey: `k${n}`, pipeline: 'p', collection: 'PERMITS', keyFields: ['PERMIT_NO'], delta: { op, key, changed: state ?? {}, state, before, base: null, fingerprint: '', sourceTs: 0 } };
}
const permit = (no: string, owner: string, status: string, fee: string): Doc => ({ PERMIT_NO: no, OWNER_NAME: owner, STATUS_CODE: status, FEE_AMOUNT: fee, ISSUED_DATE: 20260115, INSPECTIONS: 2 });

test('fixed-width sink: a document field that is not in the copybook (a map typo) is warned about once, not silently dropped', async () => {
  const t = tempDir();
  const cpy = path.join(t.dir, 'PERMIT.cpy');
  writeFileSync(cpy, COPYBOOK);
  const warnings: Array<{ field: string; msg: string }> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => { warnings.push(JSON.parse(line) as { field: string; msg: string }); } });
  const options = fileSinkSchema.parse({ format: 'fixed', copybook: cpy, codePage: 'cp037', fileName: 'PERMITS.DAT', opField: 'ACTION' });
  const s = await fileConnector.createSink!({ system: 'mainframe', systemConfig: { transport: 'local', dir: path.join(t.dir, 'out') }, collection: 'PERMITS', options, keyFields: ['PERMIT_NO'], logger, workDir: path.join(t.dir, 'work') });
  try {
    const typo = (no: string): Doc => ({ PERMIT_NO: no, 'OWNER-NAME': 'Rosa', STATUS_CODE: 'P', FEE_AMOUNT: '1.00' });
    const results = await s.write([item('insert', 'P-1', typo('P-1')), item('insert', 'P-2', typo('P-2'))], signal);
    assert.deepEqual(results.map((r) => r.ok), [true, true]);
  } finally {
    await s.close();
    t.cleanup();
  }
  assert.deepEqual(warnings.map((w) => w.field), ['OWNER-NAME'], 'one warning for the unknown field, none for known ones');
  assert.match(warnings[0]!.msg, /field "OWNER-NAME" is not in the record layout, so it is not written; check the pipeline's map targets/);
});

test('fixed-width sink: EBCDIC records per copybook, op field for deletes, rotation; they decode back exactly', async () => {
  const t = tempDir();
  const cpy = path.join(t.dir, 'PERMIT.cpy');
  writeFileSync(cpy, COPYBOOK);
  const out = path.join(t.dir, 'out');
  const options = fileSinkSchema.parse({ format: 'fixed', copybook: cpy, codePage: 'cp037', fileName: 'PERMITS.{seq:4}.DAT', opField: 'ACTION', rotate: { records: 3 } });
  const s = await fileConnector.createSink!({ system: 'mainframe', systemConfig: { transport: 'local', dir: out }, collection: 'PERMITS', options, keyFields: ['PERMIT_NO'], logger: silentLogger(), workDir: path.join(t.dir, 'work') });
  let results;
  try {
    results = await s.write([
      item('insert', 'P-100', permit('P-100', 'Rosa Díaz', 'P', '1250.00')),
      item('update', 'P-100', permit('P-100', 'Rosa Díaz', 'A', '1250.00')),
      item('delete', 'P-200', null, permit('P-200', 'Old Owner', 'A', '-3.50')),
      item('insert', 'P-300', permit('P-300', 'Lee', 'P', '99999.99')),
      item('insert', 'P-400', permit('P-400', 'Too Expensive', 'P', '123456789.00')),
    ], signal);
  } finally {
    await s.close();
  }
  assert.deepEqual(results.map((r) => r.ok), [true, true, true, true, false]);
  assert.match(String((results[4] as { error: Error }).error.message), /FEE_AMOUNT|FEE-AMOUNT/);
  assert.deepEqual(readdirSync(out).sort(), ['PERMITS.0001.DAT', 'PERMITS.0002.DAT']);
  const first = readFileSync(path.join(out, 'PERMITS.0001.DAT'));
  assert.equal(first.length, 3 * RECORD_SIZE);
  assert.equal(first[0], 0xc9, 'EBCDIC I');
  assert.equal(first[RECORD_SIZE * 2], 0xc4, 'EBCDIC D');
  const decoded: Doc[] = [];
  for (const f of ['PERMITS.0001.DAT', 'PERMITS.0002.DAT']) {
    for await (const r of readRecords([readFileSync(path.join(out, f))], { format: 'F', recordLength: RECORD_SIZE })) decoded.push(codec.decode(r.record));
  }
  assert.deepEqual(decoded.map((d) => [d.ACTION, d.PERMIT_NO, d.STATUS_CODE, d.FEE_AMOUNT, d.OWNER_NAME]), [
    ['I', 'P-100', 'P', '1250.00', 'Rosa Díaz'],
    ['U', 'P-100', 'A', '1250.00', 'Rosa Díaz'],
    ['D', 'P-200', 'A', '-3.50', 'Old Owner'],
    ['I', 'P-300', 'P', '99999.99', 'Lee'],
  ]);
  assert.equal(decoded[0]!.ISSUED_DATE, 20260115);
  t.cleanup();
});

test('fixed-width source: EBCDIC snapshot (RDW-framed) with a bad packed decimal skipped and reported by byte offset', async () => {
  const t = tempDir();
  const cpy = path.join(t.dir, 'PERMIT.cpy');
  writeFileSync(cpy, COPYBOOK);
  const drop = path.join(t.dir, 'drop');
  mkdirSync(drop);
  const state = memoryState();
  const options = fileSourceSchema.parse({ format: 'fixed', copybook: cpy, recordFormat: 'V', mode: 'snapshot', pattern: '*.DAT', onError: 'skip', pollInterval: 20 });
  const d = drive(await fileConnector.createSource!(sourceContext({ transport: 'local', dir: drop }, options, state, path.join(t.dir, 'work'))), state);
  try {
    const recs = [permit('P-1', 'Ann', 'A', '10.00'), permit('P-2', 'Bob', 'P', '20.00'), permit('P-3', 'Cy', 'P', '30.00')].map((p) => codec.encode({ ACTION: ' ', ...p }));
    recs[1]![32] = 0xff; // first byte of FEE-AMOUNT: invalid packed digits
    const rdw = (r: Buffer) => Buffer.concat([Buffer.from([0, r.length + 4, 0, 0]), r]);
    writeFileSync(path.join(drop, 'SNAP1.DAT'), Buffer.concat(recs.map(rdw)));
    await waitFor(() => d.acks === 1, { what: 'the EBCDIC snapshot' });
    assert.deepEqual(summary(d.events), ['insert:P-1', 'insert:P-3']);
    assert.equal(d.events[1]!.after?.FEE_AMOUNT, '30.00');
    const rejects = readFileSync(path.join(drop, 'processed', 'SNAP1.DAT.rejects.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rejects.length, 1);
    assert.equal(rejects[0].record, 2);
    assert.match(rejects[0].reason, /record 2 \(byte offset \d+\).*FEE/);
  } finally {
    await d.stop();
    t.cleanup();
  }
});

test('JSON lines source: one object per line, bad lines rejected with their line number', async () => {
  const t = tempDir();
  const state = memoryState();
  const options = fileSourceSchema.parse({ format: 'jsonl', pattern: '*.jsonl', mode: 'changes', opField: 'op', opValues: { insert: 'insert', update: 'update', delete: 'delete' }, onError: 'skip', pollInterval: 20 });
  const d = drive(await fileConnector.createSource!(sourceContext({ transport: 'local', dir: t.dir }, options, state, path.join(t.dir, '.work'))), state);
  try {
    writeFileSync(path.join(t.dir, 'a.jsonl'), '{"op":"insert","PERMIT_NO":"P1","fee":"10.50","parcel":9007199254740993,"units":3}\n\n{not json}\n[1]\n{"op":"delete","PERMIT_NO":"P1"}\n');
    await waitFor(() => d.acks === 1, { what: 'a.jsonl' });
    assert.deepEqual(summary(d.events), ['insert:P1', 'delete:P1']);
    assert.deepEqual([d.events[0]!.after!.parcel, d.events[0]!.after!.units], ['9007199254740993', 3], 'a number JS cannot hold stays exact (as text); small ones stay numbers');
    const rejects = readFileSync(path.join(t.dir, 'processed', 'a.jsonl.rejects.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rejects.map((r) => r.record), [2, 3]);
    assert.match(rejects[0].reason, /line 3\): not valid JSON/);
  } finally {
    await d.stop();
    t.cleanup();
  }
});
