/**
 * Issue 11 item 5: one record nested 10,000 deep in a real SOAP response (the PHP SoapServer peer's
 * `/misbehave?kind=deep` answer to GetPermits) must not stop the source: that record is
 * dead-lettered once, with an error naming it and its depth; the other records sync; the source
 * never fails or restarts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { needCommand, tempDir, waitFor } from '../helpers/services.js';
import { startPhpSoapServer } from '../helpers/php-soap-server.js';
import { engineFromYaml } from '../helpers/engine-harness.js';
import { DocumentTooDeepError, MAX_DOC_DEPTH, stableStringify } from '../../src/core/delta.js';

const skip = await needCommand('php', 'apt-get install -y php-cli php-soap');

test('fingerprinting a too-deep document is a clear error naming where, not a stack overflow', () => {
  let doc: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 10_000; i++) doc = { n: doc };
  assert.throws(() => stableStringify({ Notes: doc }), (e: unknown) => e instanceof DocumentTooDeepError && /nested deeper than 200 levels \(at Notes\.n\.n\.n\.n\.n\.\.\., 10002 levels deep\)/.test(e.message));
  let ok: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < MAX_DOC_DEPTH - 2; i++) ok = { n: ok };
  assert.ok(stableStringify(ok).length > MAX_DOC_DEPTH, 'a document just inside the limit is read');
});

test('a 10,000-deep record in a SOAP response is dead-lettered once; the other records sync and the source keeps running', { skip }, async () => {
  const tmp = tempDir();
  const php = await startPhpSoapServer();
  const target = path.join(tmp.dir, 'hms.db');
  const db = openDatabase(target);
  db.exec('CREATE TABLE permits (PermitNumber TEXT PRIMARY KEY, Status TEXT, Notes TEXT)');
  const engine = engineFromYaml(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  county: { driver: soap, wsdl: "${php.baseUrl}/permits?wsdl", url: "${php.baseUrl}/misbehave?kind=deep" }
  hms: { driver: sqlite, path: ${target} }
pipelines:
  county-to-hms:
    from: { system: county, collection: permits, poll: 50ms, operation: GetPermits, input: { Page: "1" }, rowsPath: Permits.Permit }
    to: { system: hms, collection: permits }
    key: PermitNumber
    map: { PermitNumber: PermitNumber, Status: Status }
`);
  const sourceErrors: string[] = [];
  const dead: Array<{ key: string; error: string }> = [];
  let batches = 0;
  engine.on('source:error', ({ error }) => sourceErrors.push(error.message));
  engine.on('job:dead', ({ job, error }) => dead.push({ key: job.key, error }));
  engine.on('source:batch', () => { batches++; });
  await engine.start();
  try {
    await waitFor(() => (db.prepare('SELECT count(*) AS n FROM permits').get() as { n: number }).n === 2, { what: 'the two readable permits to arrive' });
    await waitFor(() => dead.length >= 1, { what: 'the deep record to be dead-lettered' });
    const polls = batches;
    // more polls of the same answer: the deep record is recognised, not dead-lettered again
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(db.prepare('SELECT PermitNumber, Status FROM permits ORDER BY 1').all(), [{ PermitNumber: 'D-1', Status: 'ISSUED' }, { PermitNumber: 'D-3', Status: 'ISSUED' }]);
    assert.equal(dead.length, 1, JSON.stringify(dead));
    assert.equal(dead[0]!.key, 'D-2');
    assert.match(dead[0]!.error, /record "D-2": the record is nested deeper than 200 levels \(at Notes\.n\.n\.n\.n\.n\.\.\., \d+ levels deep\)/);
    assert.deepEqual(sourceErrors, [], 'the source never failed');
    const letters = await engine.store.listJobs({ state: 'dead' });
    assert.equal(letters.length, 1);
    assert.ok(JSON.stringify(letters[0]!.payload).length < 10_000, 'the dead letter holds a cut copy of the record, not 10,000 levels');
    assert.ok(batches >= polls, 'the source went on polling');
  } finally {
    await engine.stop();
    db.close();
    await php.close();
    tmp.cleanup();
  }
});
