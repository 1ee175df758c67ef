/**
 * onError: dead-letter through the engine: a drop file with bad records applies the good ones,
 * and each bad record becomes a dead letter with its error (record number and reason), which an
 * operator fixes and replays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir, waitFor } from '../helpers/services.js';
import { Receiver } from '../helpers/receiver.js';
import { engineFromYaml } from '../helpers/engine-harness.js';
import { applySets } from '../../src/ops/dlq.js';

test('file source with onError: dead-letter: good records flow, bad ones become dead letters that can be fixed and replayed', async () => {
  const tmp = tempDir();
  const receiver = new Receiver();
  await receiver.start();
  const inbox = path.join(tmp.dir, 'inbox');
  mkdirSync(inbox);
  const engine = engineFromYaml(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  drop: { driver: file, transport: local, dir: ${inbox} }
  web: { driver: http, url: ${receiver.url} }
pipelines:
  permits:
    from: { system: drop, collection: permits, format: csv, mode: changes, pattern: "*.csv", opField: ACTION, onError: dead-letter, pollInterval: 50ms, stableChecks: 1 }
    to: { system: web, collection: permits, path: "/permits/{key}", body: state }
    key: PERMIT_NO
    delivery: { backoff: "exponential 20ms..100ms" }
`);
  await engine.start();
  try {
    writeFileSync(path.join(inbox, 'c1.csv'), ['ACTION,PERMIT_NO,STATUS', 'I,P1,PENDING', 'I,P2,PENDING', 'X,P9,WHAT', ',,NO KEY', ''].join('\n'));
    const dead = await waitFor(async () => {
      const d = await engine.store.listJobs({ state: 'dead' });
      return d.length === 2 ? d : null;
    }, { what: 'two dead letters' });
    await waitFor(() => ['/permits/P1', '/permits/P2'].every((u) => receiver.requests.some((r) => r.url === u)), { what: 'the good records' });
    const bad = dead.find((j) => j.key === 'c1.csv#3')!;
    assert.ok(bad, `dead letter keyed by file and record: ${dead.map((j) => j.key).join(', ')}`);
    assert.match(bad.lastError ?? '', /record 3 \(line 4\): op field "ACTION" has value "X"/);
    assert.equal(bad.attempts, 1, 'dead at the first claim, the sink never called');
    assert.ok(!receiver.requests.some((r) => r.url.includes('P9')));
    assert.match(dead.find((j) => j.key === 'c1.csv#4')?.lastError ?? '', /key field "PERMIT_NO" is missing/);
    // the operator writes the record as it should have been and replays it
    const fixed = applySets({ ...bad.payload, state: {}, changed: {} }, ['PERMIT_NO=P9', 'STATUS=WITHDRAWN']);
    assert.equal(fixed.rejected, undefined, 'editing clears the rejection');
    await engine.store.replay(bad.id, { actor: 'test', payload: fixed });
    await waitFor(() => receiver.requests.some((r) => r.url === '/permits/P9' && r.body?.STATUS === 'WITHDRAWN'), { what: 'the fixed record delivered' });
  } finally {
    await engine.stop();
    await receiver.stop();
    tmp.cleanup();
  }
});
