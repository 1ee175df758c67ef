/**
 * Issue 11 item 1 at run time, end to end: a real SQLite table polled by the engine, a real HTTP
 * receiver. A misspelt `from` (CODE_STSS for CODE_STS) is not delivered as "status": null: each
 * job is dead-lettered with the field path and a did-you-mean, and nothing reaches the target.
 * The same field marked `optional: true` is delivered as null.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { tempDir, waitFor } from '../helpers/services.js';
import { Receiver } from '../helpers/receiver.js';
import { engineFromYaml, storeUrl } from '../helpers/engine-harness.js';

test('a misspelt from field dead-letters each job naming the field; optional: true delivers null', async () => {
  const tmp = tempDir();
  const receiver = new Receiver();
  await receiver.start();
  receiver.respond = () => 200;
  const src = path.join(tmp.dir, 'legacy.db');
  const db = openDatabase(src);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE INSPECTIONS (BRG_ID TEXT PRIMARY KEY, CODE_STS TEXT)');
  db.prepare('INSERT INTO INSPECTIONS VALUES (?, ?)').run('B-1', 'A');
  db.prepare('INSERT INTO INSPECTIONS VALUES (?, ?)').run('B-2', null);
  const st = storeUrl('sqlite', tmp.dir);
  const engine = engineFromYaml(`store: ${st.url}
stateDir: ${tmp.dir}
systems:
  mainframe: { driver: sqlite, path: ${src} }
  dashboard: { driver: http, url: ${receiver.url} }
pipelines:
  typo:
    from: { system: mainframe, collection: INSPECTIONS, poll: 50ms }
    to: { system: dashboard, collection: bridges, path: "/typo/{key}", body: state }
    key: BRG_ID
    map:
      bridgeId: BRG_ID
      status: { from: CODE_STSS, values: { A: active } }
  tolerant:
    from: { system: mainframe, collection: INSPECTIONS, poll: 50ms }
    to: { system: dashboard, collection: bridges, path: "/tolerant/{key}", body: state }
    key: BRG_ID
    map:
      bridgeId: BRG_ID
      status: { from: CODE_STS, values: { A: active } }
      region: { from: REGION, optional: true }
    delivery: { maxAttempts: 3, backoff: "fixed 20ms" }
`);
  await engine.start();
  try {
    const dead = await waitFor(async () => {
      const d = await engine.store.listJobs({ state: 'dead', pipeline: 'typo' });
      return d.length === 2 ? d : null;
    }, { what: 'both typo jobs dead-lettered', timeoutMs: 20_000 });
    for (const j of dead) {
      assert.equal(j.attempts, 1, 'a mapping error is not retried');
      assert.match(j.lastError ?? '', /mapping of field "status": source field "CODE_STSS" is not in the record \(did you mean "CODE_STS"\?\)/);
    }
    await waitFor(() => receiver.requests.filter((r) => r.url.startsWith('/tolerant/')).length === 2, { what: 'the tolerant pipeline delivered both' });
    assert.equal(receiver.requests.filter((r) => r.url.startsWith('/typo/')).length, 0, 'nothing with a silent null reached the target');
    const b2 = receiver.requests.find((r) => r.url === '/tolerant/B-2')!;
    assert.deepEqual(b2.body, { bridgeId: 'B-2', status: null, region: null }, 'a present null and an optional absent field are null');
  } finally {
    await engine.stop();
    db.close();
    await receiver.stop();
    await st.cleanup();
    tmp.cleanup();
  }
});
