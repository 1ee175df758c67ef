/**
 * Drop-directory source over a local directory with CSV files: snapshot diffs, changes
 * mode, stable-size and trigger-file readiness, processed/ and failed/ moves, restarts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { tempDir, waitFor } from '../helpers/services.js';
import { fileConnector } from '../../src/connectors/file/file-connector.js';
import { fileSourceSchema } from '../../src/connectors/file/file-options.js';
import { createDropDirSource } from '../../src/connectors/file/drop-dir-source.js';
import { createLocalTransport } from '../../src/connectors/file/local-transport.js';
import { readCsv } from '../../src/connectors/file/csv-format.js';
import { globToRegExp } from '../../src/connectors/file/file-names.js';
import { drive, memoryState, sourceContext, summary, type MemoryState } from './file-harness.js';

const HEADER = 'PERMIT_NO,OWNER,STATUS\n';

async function source(dir: string, state: MemoryState, opts: Record<string, unknown>) {
  const options = fileSourceSchema.parse({ format: 'csv', pollInterval: 20, ...opts });
  return fileConnector.createSource!(sourceContext({ transport: 'local', dir }, options, state, path.join(dir, '.work')));
}

test('snapshot files are diffed against the shadow: inserts, updates, deletes, nothing for an identical file', async () => {
  const t = tempDir();
  const state = memoryState();
  const d = drive(await source(t.dir, state, { mode: 'snapshot', pattern: 'permits-*.csv' }), state);
  try {
    writeFileSync(path.join(t.dir, 'permits-1.csv'), `${HEADER}P1,Rosa,PENDING\nP2,Ann,PENDING\nP3,"Smith, J",APPROVED\n`);
    await waitFor(() => d.acks === 1, { what: 'first file' });
    assert.deepEqual(summary(d.events), ['insert:P1', 'insert:P2', 'insert:P3']);
    assert.deepEqual(d.events[2]!.after, { PERMIT_NO: 'P3', OWNER: 'Smith, J', STATUS: 'APPROVED' });
    assert.ok(existsSync(path.join(t.dir, 'processed', 'permits-1.csv')));
    assert.ok(!existsSync(path.join(t.dir, 'permits-1.csv')));

    d.events.length = 0;
    writeFileSync(path.join(t.dir, 'permits-2.csv'), `${HEADER}P1,Rosa,APPROVED\nP3,"Smith, J",APPROVED\nP4,Lee,PENDING\n`);
    await waitFor(() => d.acks === 2, { what: 'second file' });
    assert.deepEqual(summary(d.events).sort(), ['delete:P2', 'insert:P4', 'update:P1']);
    const upd = d.events.find((e) => e.op === 'update')!;
    assert.equal(upd.before?.STATUS, 'PENDING');
    assert.equal(upd.after?.STATUS, 'APPROVED');
    assert.deepEqual(d.events.find((e) => e.op === 'delete')!.before, { PERMIT_NO: 'P2', OWNER: 'Ann', STATUS: 'PENDING' });

    d.events.length = 0;
    writeFileSync(path.join(t.dir, 'permits-3.csv'), `${HEADER}P4,Lee,PENDING\nP1,Rosa,APPROVED\nP3,"Smith, J",APPROVED\n`);
    await waitFor(() => d.acks === 3, { what: 'third file' });
    assert.deepEqual(d.events, []);
    assert.deepEqual([...state.shadow.keys()].sort(), ['P1', 'P3', 'P4']);

    // the same name again: the older processed copy is kept, the new one gets a suffix
    writeFileSync(path.join(t.dir, 'permits-3.csv'), `${HEADER}P4,Lee,PENDING\n`);
    await waitFor(() => d.acks === 4, { what: 'the re-used name' });
    const names = readdirSync(path.join(t.dir, 'processed'));
    assert.equal(names.filter((n) => n.startsWith('permits-3.csv')).length, 2);
    assert.ok(names.some((n) => /^permits-3\.csv\.\d+$/.test(n)));
  } finally {
    await d.stop();
    t.cleanup();
  }
});

test('maxDeletes: a snapshot that would delete too much fails before anything is applied', async () => {
  const t = tempDir();
  const state = memoryState();
  const d = drive(await source(t.dir, state, { mode: 'snapshot', pattern: '*.csv', maxDeletes: 1, onError: 'skip' }), state);
  try {
    writeFileSync(path.join(t.dir, 'a.csv'), `${HEADER}P1,Rosa,PENDING\nP2,Ann,PENDING\nP3,Lee,PENDING\n`);
    await waitFor(() => d.acks === 1, { what: 'a.csv' });
    writeFileSync(path.join(t.dir, 'b.csv'), `${HEADER}P1,Rosa,APPROVED\n`); // truncated extract
    await waitFor(() => d.acks === 2, { what: 'b.csv' });
    assert.deepEqual(summary(d.events), ['insert:P1', 'insert:P2', 'insert:P3']);
    assert.match(readFileSync(path.join(t.dir, 'failed', 'b.csv.reason.txt'), 'utf8'), /would delete 2 keys, more than maxDeletes \(1\)/);
    writeFileSync(path.join(t.dir, 'c.csv'), `${HEADER}P1,Rosa,APPROVED\nP2,Ann,PENDING\n`);
    await waitFor(() => d.acks === 3, { what: 'c.csv' });
    assert.deepEqual(summary(d.events).slice(3).sort(), ['delete:P3', 'update:P1']);
  } finally {
    await d.stop();
    t.cleanup();
  }
});

test('changes mode: op column I/U/D, empty op is an upsert, bad records skipped into a rejects file', async () => {
  const t = tempDir();
  const state = memoryState();
  const d = drive(await source(t.dir, state, { mode: 'changes', pattern: '*.csv', opField: 'ACTION', onError: 'skip' }), state);
  try {
    writeFileSync(path.join(t.dir, 'c1.csv'), [
      'ACTION,PERMIT_NO,STATUS',
      'I,P1,PENDING',
      ',P2,PENDING',
      'U,P1,APPROVED',
      'X,P9,WHAT',
      'D,P2,',
      'U,P1,APPROVED',
      ',,NO KEY',
      '',
    ].join('\n'));
    await waitFor(() => d.acks === 1, { what: 'changes file' });
    assert.deepEqual(summary(d.events), ['insert:P1', 'insert:P2', 'update:P1', 'delete:P2']);
    assert.deepEqual(d.events[0]!.after, { PERMIT_NO: 'P1', STATUS: 'PENDING' }, 'the op column is not data');
    assert.deepEqual([...state.shadow.keys()], ['P1']);
    const rejects = readFileSync(path.join(t.dir, 'processed', 'c1.csv.rejects.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rejects.map((r) => r.record), [4, 7]);
    assert.match(rejects[0].reason, /record 4 \(line 5\): op field "ACTION" has value "X"/);
    assert.match(rejects[1].reason, /key field "PERMIT_NO" is missing/);
  } finally {
    await d.stop();
    t.cleanup();
  }
});

test('onError fail: a bad record moves the file to failed/ with a reason file and applies nothing', async () => {
  const t = tempDir();
  const state = memoryState();
  const d = drive(await source(t.dir, state, { mode: 'snapshot', pattern: '*.csv' }), state);
  try {
    writeFileSync(path.join(t.dir, 'bad.csv'), `${HEADER}P1,Rosa,PENDING\nP2,Ann\nP3,Lee,PENDING\n`);
    await waitFor(() => d.acks === 1, { what: 'failed file' });
    assert.deepEqual(d.events, []);
    assert.equal(state.shadow.size, 0);
    assert.ok(existsSync(path.join(t.dir, 'failed', 'bad.csv')));
    const reason = readFileSync(path.join(t.dir, 'failed', 'bad.csv.reason.txt'), 'utf8');
    assert.match(reason, /bad\.csv: record 2 \(line 3\): .*got 2 on line 3/);
  } finally {
    await d.stop();
    t.cleanup();
  }
});

test('a file still being written is not read until its size is stable', async () => {
  const t = tempDir();
  const state = memoryState();
  const file = path.join(t.dir, 'slow.csv');
  const rows = Array.from({ length: 12 }, (_, i) => `P${i},Owner ${i},PENDING\n`).join('');
  const chunks = [HEADER, ...rows.match(/[\s\S]{1,17}/g)!]; // cuts rows in the middle
  writeFileSync(file, chunks.shift()!);
  const local = createLocalTransport(t.dir);
  let scans = 0;
  // A slow writer: another piece lands between every two directory scans.
  const transport = { ...local, watch: undefined, async list(rel: string) { scans++; const r = await local.list(rel); if (chunks.length) appendFileSync(file, chunks.shift()!); return r; } };
  const options = { pattern: globToRegExp('*.csv'), mode: 'snapshot' as const, keyFields: ['PERMIT_NO'], opValues: { insert: 'I', update: 'U', delete: 'D' }, stableChecks: 2, pollMs: 5, batchSize: 100, onError: 'fail' as const, processedDir: 'processed', failedDir: 'failed' };
  const src = createDropDirSource(sourceContext({}, {}, state, path.join(t.dir, '.work')), transport, (input) => readCsv(input, { delimiter: ',', quote: '"', header: true, encoding: 'utf8' }), options);
  const d = drive(src, state);
  try {
    await waitFor(() => d.acks === 1, { what: 'the finished file' });
    assert.ok(scans > 10, `the writer was still writing during ${scans} scans`);
    assert.equal(d.events.length, 12);
    assert.deepEqual(d.events.map((e) => e.after?.OWNER), Array.from({ length: 12 }, (_, i) => `Owner ${i}`));
  } finally {
    await d.stop();
    t.cleanup();
  }
});

test('trigger file: a data file is read only once <name>.done exists; both move to processed/', async () => {
  const t = tempDir();
  const state = memoryState();
  const src = await source(t.dir, state, { mode: 'changes', pattern: '*.csv', trigger: '.done' });
  const d = drive(src, state);
  try {
    writeFileSync(path.join(t.dir, 'a.csv'), `${HEADER}P1,Rosa,PENDING\n`);
    writeFileSync(path.join(t.dir, 'b.csv'), `${HEADER}P2,Ann,PENDING\n`);
    writeFileSync(path.join(t.dir, 'b.csv.done'), '');
    await waitFor(() => d.acks === 1, { what: 'b.csv' });
    assert.deepEqual(summary(d.events), ['insert:P2']);
    assert.ok(existsSync(path.join(t.dir, 'a.csv')), 'a.csv has no trigger yet');
    writeFileSync(path.join(t.dir, 'a.csv.done'), '');
    await waitFor(() => d.acks === 2, { what: 'a.csv' });
    assert.deepEqual(summary(d.events), ['insert:P2', 'insert:P1']);
    assert.deepEqual(readdirSync(path.join(t.dir, 'processed')).sort(), ['a.csv', 'a.csv.done', 'b.csv', 'b.csv.done']);
  } finally {
    await d.stop();
    t.cleanup();
  }
});

test('restart: a file left behind by a crash before its ack is read again without duplicate changes', async () => {
  const t = tempDir();
  const state = memoryState();
  const rows = Array.from({ length: 7 }, (_, i) => `P${i},Owner ${i},PENDING\n`).join('');
  writeFileSync(path.join(t.dir, 'snap.csv'), HEADER + rows);
  // batches of 3 records: the crash comes after the first batch was committed
  const first = drive(await source(t.dir, state, { mode: 'snapshot', pattern: '*.csv', batchSize: 3 }), state, { crashAfterCommits: 1 });
  await first.done;
  await first.stop();
  assert.deepEqual(summary(first.events), ['insert:P0', 'insert:P1', 'insert:P2']);
  assert.ok(existsSync(path.join(t.dir, 'snap.csv')), 'the file stays until acked');

  const second = drive(await source(t.dir, state, { mode: 'snapshot', pattern: '*.csv', batchSize: 3 }), state);
  try {
    await waitFor(() => second.acks === 1, { what: 'the resumed file' });
    assert.deepEqual(summary(second.events), ['insert:P3', 'insert:P4', 'insert:P5', 'insert:P6']);
    assert.ok(existsSync(path.join(t.dir, 'processed', 'snap.csv')));
    assert.equal(state.shadow.size, 7);
  } finally {
    await second.stop();
  }

  // Without a usable position (another file name) a reread is still idempotent through the shadow.
  state.position = null;
  writeFileSync(path.join(t.dir, 'snap2.csv'), HEADER + rows);
  const third = drive(await source(t.dir, state, { mode: 'snapshot', pattern: '*.csv', batchSize: 3 }), state);
  try {
    await waitFor(() => third.acks === 1, { what: 'the identical snapshot' });
    assert.deepEqual(third.events, []);
  } finally {
    await third.stop();
    t.cleanup();
  }
});

test('a failed commit restarts the stream and the unacknowledged file is read again', async () => {
  const t = tempDir();
  const state = memoryState();
  writeFileSync(path.join(t.dir, 'f.csv'), `${HEADER}P1,Rosa,PENDING\nP2,Ann,PENDING\n`);
  const d = drive(await source(t.dir, state, { mode: 'snapshot', pattern: '*.csv' }), state, { failCommit: 1 });
  try {
    await waitFor(() => d.acks === 1, { what: 'the file after the restart' });
    assert.deepEqual(summary(d.events), ['insert:P1', 'insert:P2']);
    assert.ok(existsSync(path.join(t.dir, 'processed', 'f.csv')));
  } finally {
    await d.stop();
    t.cleanup();
  }
});

test('header mapping, header-less files and encodings (latin1, semicolons)', async () => {
  const t = tempDir();
  const state = memoryState();
  const d = drive(await source(t.dir, state, {
    mode: 'changes', pattern: '*.txt', delimiter: ';', encoding: 'latin1', columns: { 'Permit No': 'PERMIT_NO', Owner: 'OWNER' },
  }), state);
  try {
    writeFileSync(path.join(t.dir, 'x.txt'), iconv.encode('Permit No;Owner\nP1;Müller\n', 'latin1'));
    await waitFor(() => d.acks === 1, { what: 'latin1 file' });
    assert.deepEqual(d.events[0]!.after, { PERMIT_NO: 'P1', OWNER: 'Müller' });
  } finally {
    await d.stop();
  }
  const state2 = memoryState();
  const d2 = drive(await source(t.dir, state2, { mode: 'changes', pattern: '*.dat', header: false, columns: ['PERMIT_NO', 'STATUS'] }), state2);
  try {
    writeFileSync(path.join(t.dir, 'y.dat'), 'P7,OPEN\n');
    await waitFor(() => d2.acks === 1, { what: 'header-less file' });
    assert.deepEqual(d2.events[0]!.after, { PERMIT_NO: 'P7', STATUS: 'OPEN' });
  } finally {
    await d2.stop();
    t.cleanup();
  }
});

test('a drop folder that does not exist is created, with a warning naming it (a misspelt dir is not a quiet empty folder)', async () => {
  const t = tempDir();
  const { PassThrough } = await import('node:stream');
  const { createLogger } = await import('../../src/core/log.js');
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += d.toString(); });
  const state = memoryState();
  const dir = path.join(t.dir, 'inbxo');
  const options = fileSourceSchema.parse({ format: 'csv', pollInterval: 20, mode: 'snapshot', pattern: 'permits-*.csv' });
  const ctx = { ...sourceContext({ transport: 'local' as const, dir }, options, state, path.join(t.dir, '.work')), logger: createLogger({ level: 'warn', destination: out, format: 'json' }) };
  const d = drive(await fileConnector.createSource!(ctx), state);
  try {
    await waitFor(() => existsSync(dir) && text.includes('did not exist'), { what: 'the warning' });
    const line = JSON.parse(text.trim().split('\n').find((l) => l.includes('did not exist'))!) as { msg: string; level: number };
    assert.equal(line.level, 40);
    assert.match(line.msg, new RegExp(`the drop folder ${dir.replace(/[/\\.]/g, '\\$&')} of system "county" did not exist; created it empty`));
  } finally {
    await d.stop();
    t.cleanup();
  }
});
