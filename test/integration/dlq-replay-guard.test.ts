/**
 * `hms-sync dlq replay` refuses (exit 5) to replay a dead letter over newer delivered state of
 * its key, names the newer job and when it was delivered, and replays with --force; on both
 * store dialects.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import pg from 'pg';
import { computeDelta } from '../../src/core/delta.js';
import { openStore } from '../../src/store/open-store.js';
import type { EnqueueInput, Store } from '../../src/store/store.js';
import { runCli } from '../helpers/cli.js';
import { needService, PG_URL, tempDir, uniqueName } from '../helpers/services.js';

const tmp = tempDir('hms-dlq-guard-');
after(() => tmp.cleanup());

function job(key: string, state: Record<string, unknown>): EnqueueInput {
  return { pipeline: 'permits', target: 'web', key, payload: computeDelta(key, null, state)!, runAt: Date.now() - 1, maxAttempts: 3 };
}

/** Job 1 of key K-1 dies, job 2 of K-1 is delivered; job 3 of K-2 dies with nothing newer. */
async function scenario(store: Store): Promise<{ stale: string; newer: string; deliveredAt: number; fresh: string }> {
  await store.enqueue([job('K-1', { STATUS: 'OLD' }), job('K-2', { STATUS: 'X' })]);
  const first = await store.claim({ workerId: 'w', limit: 10, leaseMs: 30_000 });
  await store.fail(first.map((j) => ({ id: j.id, version: j.version, error: 'HTTP 422', retryAt: null })));
  await store.enqueue([job('K-1', { STATUS: 'NEW' })]);
  const [newer] = await store.claim({ workerId: 'w', limit: 10, leaseMs: 30_000 });
  await store.complete([{ id: newer!.id, version: newer!.version }]);
  const done = (await store.getJob(newer!.id))!;
  return { stale: first.find((j) => j.key === 'K-1')!.id, fresh: first.find((j) => j.key === 'K-2')!.id, newer: done.id, deliveredAt: done.updatedAt };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  test(`dlq replay over newer delivered state: refused with exit 5 naming the newer job, --force replays (${dialect} store)`, async (ctx) => {
    let url: string;
    let dropSchema: (() => Promise<void>) | null = null;
    if (dialect === 'postgres') {
      const skip = await needService('postgres');
      if (skip) return ctx.skip(skip);
      const schema = uniqueName('hms_dlq_guard');
      url = `${PG_URL}?schema=${schema}`;
      dropSchema = async () => {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      };
    } else url = `sqlite:${path.join(tmp.dir, 'state.db')}`;
    const store = await openStore(url);
    try {
      const s = await scenario(store);

      const refused = await runCli(['dlq', 'replay', s.stale, '--store', url], { env: { HMS_SYNC_ACTOR: 'rosa' } });
      assert.equal(refused.code, 5, `exit 5 (refused): ${refused.stderr}`);
      assert.match(refused.stderr, new RegExp(`job ${s.stale} was not replayed: job ${s.newer}, a newer job of pipeline "permits" key "K-1" \\(target "web"\\), was delivered at ${new Date(s.deliveredAt).toISOString().replace(/\./g, '\\.')}`));
      assert.match(refused.stderr, /--force/);
      assert.equal(refused.stdout, '');
      assert.equal((await store.getJob(s.stale))!.state, 'dead', 'nothing replayed');
      const edited = await runCli(['dlq', 'replay', s.stale, '--store', url, '--set', 'STATUS=FIXED']);
      assert.equal(edited.code, 5, 'an edited replay is refused the same way');

      const fresh = await runCli(['dlq', 'replay', s.fresh, '--store', url]);
      assert.equal(fresh.code, 0, `a dead letter with nothing newer replays: ${fresh.stderr}`);

      const forced = await runCli(['dlq', 'replay', s.stale, '--store', url, '--force', '--json'], { env: { HMS_SYNC_ACTOR: 'rosa' } });
      assert.equal(forced.code, 0, forced.stderr);
      const job = JSON.parse(forced.stdout) as { id: string; state: string; payload: { state: { STATUS: string } } };
      assert.equal(job.state, 'pending');
      assert.equal(job.payload.state.STATUS, 'OLD');
      const audit = (await store.listAudit()).find((e) => e.jobId === s.stale)!;
      assert.equal(audit.actor, 'rosa');
      assert.equal(audit.details.forced, true);
      assert.deepEqual(audit.details.newerDone, { id: s.newer, target: 'web', deliveredAt: s.deliveredAt });
    } finally {
      await store.close();
      await dropSchema?.();
    }
  });
}
