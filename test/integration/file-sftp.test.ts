/**
 * The file connector over SFTP against a real OpenSSH server on loopback (sshd started by
 * test/helpers/sftp-server.ts with temporary host and user keys).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir, waitFor } from '../helpers/services.js';
import { needSshd, startSftpServer, type SftpServer } from '../helpers/sftp-server.js';
import { fileConnector } from '../../src/connectors/file/file-connector.js';
import { fileSinkSchema, fileSourceSchema, fileSystemSchema } from '../../src/connectors/file/file-options.js';
import { silentLogger } from '../../src/core/log.js';
import { drive, memoryState, sourceContext, summary } from './file-harness.js';

const skip = await needSshd();
let server: SftpServer | undefined;

before(async () => { if (!skip) server = await startSftpServer(); });
after(async () => { await server?.stop(); });

function system(dir: string) {
  return fileSystemSchema.parse({ transport: 'sftp', host: server!.host, port: server!.port, username: server!.username, privateKey: server!.privateKey, dir, readyTimeout: '5s' });
}

test('SFTP source: a snapshot file is listed, read, diffed and moved to processed/ on the server', { skip }, async () => {
  const drop = path.join(server!.root, 'drop');
  mkdirSync(drop);
  const work = tempDir();
  const state = memoryState();
  const options = fileSourceSchema.parse({ format: 'csv', mode: 'snapshot', pattern: '*.csv', pollInterval: 50 });
  const d = drive(await fileConnector.createSource!(sourceContext(system(drop), options, state, work.dir)), state);
  try {
    writeFileSync(path.join(drop, 'p1.csv'), 'PERMIT_NO,STATUS\nP1,PENDING\nP2,PENDING\n');
    await waitFor(() => d.acks === 1, { what: 'p1.csv over sftp' });
    writeFileSync(path.join(drop, 'p2.csv'), 'PERMIT_NO,STATUS\nP1,APPROVED\n');
    await waitFor(() => d.acks === 2, { what: 'p2.csv over sftp' });
    assert.deepEqual(summary(d.events), ['insert:P1', 'insert:P2', 'update:P1', 'delete:P2']);
    assert.deepEqual(readdirSync(path.join(drop, 'processed')).sort(), ['p1.csv', 'p2.csv']);
    assert.deepEqual(readdirSync(drop).sort(), ['processed']);
  } finally {
    await d.stop();
    work.cleanup();
  }
});

test('SFTP source: trigger files, a failed file with its reason file, rejects uploaded next to the processed file', { skip }, async () => {
  const drop = path.join(server!.root, 'drop2');
  mkdirSync(drop);
  const work = tempDir();
  const state = memoryState();
  const failing = fileSourceSchema.parse({ format: 'csv', mode: 'changes', pattern: 'f*.csv', trigger: '.trg', pollInterval: 50 });
  const skipping = fileSourceSchema.parse({ format: 'csv', mode: 'changes', pattern: 's*.csv', onError: 'skip', pollInterval: 50 });
  const d1 = drive(await fileConnector.createSource!(sourceContext(system(drop), failing, state, path.join(work.dir, 'a'))), state);
  const state2 = memoryState();
  const d2 = drive(await fileConnector.createSource!(sourceContext(system(drop), skipping, state2, path.join(work.dir, 'b'))), state2);
  try {
    writeFileSync(path.join(drop, 'f1.csv'), 'PERMIT_NO,STATUS\nP1,OK\nP2\n');
    writeFileSync(path.join(drop, 's1.csv'), 'PERMIT_NO,STATUS\nP1,OK\nP2\nP3,OK\n');
    await waitFor(() => d2.acks === 1, { what: 's1.csv over sftp' });
    assert.deepEqual(summary(d2.events), ['insert:P1', 'insert:P3']);
    const rejects = readFileSync(path.join(drop, 'processed', 's1.csv.rejects.jsonl'), 'utf8');
    assert.match(rejects, /"record":2/);
    assert.ok(existsSync(path.join(drop, 'f1.csv')), 'no trigger yet');
    writeFileSync(path.join(drop, 'f1.csv.trg'), '');
    await waitFor(() => d1.acks === 1, { what: 'f1.csv over sftp' });
    assert.deepEqual(d1.events, []);
    assert.deepEqual(readdirSync(path.join(drop, 'failed')).sort(), ['f1.csv', 'f1.csv.reason.txt', 'f1.csv.trg']);
    assert.match(readFileSync(path.join(drop, 'failed', 'f1.csv.reason.txt'), 'utf8'), /f1\.csv: record 2 \(line 3\)/);
  } finally {
    await d1.stop();
    await d2.stop();
    work.cleanup();
  }
});

test('SFTP sink: files are staged locally, uploaded under a temporary name, renamed, then triggered', { skip }, async () => {
  const out = path.join(server!.root, 'out');
  const work = tempDir();
  const options = fileSinkSchema.parse({ format: 'csv', columns: ['PERMIT_NO', 'STATUS'], fileName: 'PERMITS.{seq}.csv', rotate: { records: 2 }, trigger: '{name}.trg' });
  const s = await fileConnector.createSink!({ system: 'county', systemConfig: system(out), collection: 'PERMITS', options, keyFields: ['PERMIT_NO'], logger: silentLogger(), workDir: work.dir });
  const sig = new AbortController().signal;
  const mk = (n: number) => ({ jobId: `j${n}`, version: 1, idempotencyKey: `k${n}`, pipeline: 'p', collection: 'PERMITS', keyFields: ['PERMIT_NO'], delta: { op: 'insert' as const, key: `P${n}`, changed: {}, state: { PERMIT_NO: `P${n}`, STATUS: 'OK' }, base: null, fingerprint: '', sourceTs: 0 } });
  try {
    const r = await s.write([mk(1), mk(2), mk(3)], sig);
    assert.ok(r.every((x) => x.ok));
    assert.deepEqual(readdirSync(out).sort(), ['PERMITS.1.csv', 'PERMITS.1.csv.trg']);
    assert.equal(readFileSync(path.join(out, 'PERMITS.1.csv'), 'utf8'), 'PERMIT_NO,STATUS\nP1,OK\nP2,OK\n');
  } finally {
    await s.close();
  }
  assert.deepEqual(readdirSync(out).sort(), ['PERMITS.1.csv', 'PERMITS.1.csv.trg', 'PERMITS.2.csv', 'PERMITS.2.csv.trg']);
  assert.ok(!existsSync(path.join(work.dir, 'outgoing', 'PERMITS.2.csv')), 'the staged copy is removed after upload');
  work.cleanup();
});

test('SFTP host key pinning: the right fingerprint connects, a wrong one is refused', { skip }, async () => {
  const base = { transport: 'sftp', host: server!.host, port: server!.port, username: server!.username, privateKey: server!.privateKey, dir: server!.root, readyTimeout: '5s' };
  assert.match(server!.hostFingerprint, /^SHA256:/);
  await fileConnector.testConnection(fileSystemSchema.parse({ ...base, hostFingerprint: server!.hostFingerprint }), { logger: silentLogger(), system: 'county' });
  const wrong = fileSystemSchema.parse({ ...base, hostFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
  await assert.rejects(fileConnector.testConnection(wrong, { logger: silentLogger(), system: 'county' }), /cannot connect to sftp:.*verification failed/i);
});

test('SFTP testConnection reports a refused login clearly', { skip }, async () => {
  const bad = fileSystemSchema.parse({ transport: 'sftp', host: server!.host, port: server!.port, username: 'nobody-here', password: 'x', dir: '/tmp', readyTimeout: '5s' });
  await assert.rejects(fileConnector.testConnection(bad, { logger: silentLogger(), system: 'county' }), /cannot connect to sftp:\/\/nobody-here@127\.0\.0\.1/);
});
