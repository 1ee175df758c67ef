/**
 * store.backlog(): pending and running jobs per pipeline and the age of the oldest pending one,
 * what `run`'s periodic delivery line reports. Both dialects, real stores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeDelta } from '../../src/core/delta.js';
import { openStore } from '../../src/store/open-store.js';
import { STORES, storeUrl } from '../helpers/engine-harness.js';
import { needService, tempDir } from '../helpers/services.js';

for (const dialect of STORES) {
  test(`${dialect}: backlog counts unfinished jobs per pipeline, oldest pending first, done and dead left out`, { skip: dialect === 'postgres' ? await needService('postgres') : false }, async () => {
    const tmp = tempDir('hms-backlog-');
    const target = storeUrl(dialect, tmp.dir);
    const store = await openStore(target.url);
    try {
      await store.migrate();
      assert.deepEqual(await store.backlog(), []);
      const t0 = Date.now() - 5000;
      const job = (pipeline: string, key: string, runAt: number) => ({ pipeline, target: 'web', key, payload: computeDelta(key, null, { id: key }, runAt)!, runAt, maxAttempts: 3, merge: false });
      await store.enqueue([job('a', '1', t0), job('a', '2', t0), job('a', '3', t0), job('b', '1', t0)]);
      const claimed = await store.claim({ workerId: 'w', limit: 2, leaseMs: 60_000, pipelines: ['a'] });
      assert.equal(claimed.length, 2);
      await store.complete([{ id: claimed[0]!.id, version: claimed[0]!.version, workerId: 'w' }]);
      const [b] = await store.claim({ workerId: 'w', limit: 1, leaseMs: 60_000, pipelines: ['b'] });
      await store.fail([{ id: b!.id, version: b!.version, error: 'no', retryAt: null, workerId: 'w' }]);
      const backlog = await store.backlog();
      assert.deepEqual(backlog.map((x) => [x.pipeline, x.pending, x.running]), [['a', 1, 1]], JSON.stringify(backlog));
      assert.ok(backlog[0]!.oldestPendingAgeMs! >= 0 && backlog[0]!.oldestPendingAgeMs! < 60_000, String(backlog[0]!.oldestPendingAgeMs));
    } finally {
      await store.close();
      await target.cleanup();
      tmp.cleanup();
    }
  });
}
