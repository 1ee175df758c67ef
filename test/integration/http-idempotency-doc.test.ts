/**
 * docs/connectors/http.md states the Idempotency-Key format; this test delivers real jobs to a
 * real HTTP receiver and checks the headers against both the documented format and the jobs in
 * the store, so the page cannot drift from the code again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { engineFromYaml } from '../helpers/engine-harness.js';
import { Receiver } from '../helpers/receiver.js';
import { tempDir, waitFor } from '../helpers/services.js';

const DOC = readFileSync('docs/connectors/http.md', 'utf8');

test('Idempotency-Key per request and per batch is what docs/connectors/http.md says', async () => {
  assert.ok(DOC.includes('`Idempotency-Key: <pipeline>:<job id>.<version>:<created, base 36>`'), 'the documented per-request format');
  assert.match(DOC, /`batch_` \+ the first 32 hex\s+digits of the SHA-256 of the element ids joined by newlines/, 'the documented batch format');
  const example = /for example `([^`]+)` \(job (\d+), version (\d+), created at epoch milliseconds\s+`parseInt\('([0-9a-z]+)', 36\)`\)/.exec(DOC);
  assert.ok(example, 'the page gives a worked example');
  assert.equal(example[1], `bridge-schedule:${example[2]}.${example[3]}:${example[4]}`, 'the example follows the format');

  const tmp = tempDir('hms-idem-');
  const receiver = new Receiver();
  await receiver.start();
  const db = openDatabase(path.join(tmp.dir, 'legacy.db'));
  db.exec('CREATE TABLE T (ID TEXT PRIMARY KEY, V TEXT)');
  db.prepare('INSERT INTO T VALUES (?, ?)').run('k1', 'a');
  db.prepare('INSERT INTO T VALUES (?, ?)').run('k2', 'b');
  const engine = engineFromYaml(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  legacy: { driver: sqlite, path: ${path.join(tmp.dir, 'legacy.db')} }
  web: { driver: http, url: ${receiver.url} }
pipelines:
  one-by-one:
    from: { system: legacy, collection: T, poll: 50ms }
    to: { system: web, collection: items, path: "/one/{key}", body: delta }
    key: ID
  batched:
    from: { system: legacy, collection: T, poll: 50ms }
    to: { system: web, collection: items, path: "/batch", body: state, batch: { maxItems: 10 } }
    key: ID
    delivery: { batchSize: 10 }
`);
  await engine.start();
  try {
    const done = await waitFor(async () => {
      const jobs = await engine.store.listJobs({ state: 'done' });
      return jobs.length === 4 ? jobs : null;
    }, { what: 'four delivered jobs', timeoutMs: 20_000 });
    const single = receiver.requests.filter((r) => r.url.startsWith('/one/'));
    assert.equal(single.length, 2);
    for (const r of single) {
      const key = String(r.headers['idempotency-key']);
      const m = /^([A-Za-z0-9_.-]+):(\d+)\.(\d+):([0-9a-z]+)$/.exec(key);
      assert.ok(m, `documented shape: ${key}`);
      const job = done.find((j) => j.id === m[2])!;
      assert.ok(job, `job ${m[2]} exists`);
      assert.equal(m[1], 'one-by-one');
      assert.equal(job.key, r.url.slice('/one/'.length));
      assert.equal(Number(m[3]), job.version);
      assert.equal(parseInt(m[4]!, 36), job.createdAt, 'the last part is the creation time in base 36');
    }
    const batches = receiver.requests.filter((r) => r.url === '/batch');
    const items = batches.flatMap((b) => (b.body as { items: Array<{ id: string }> }).items);
    assert.equal(items.length, 2);
    for (const b of batches) {
      const ids = (b.body as { items: Array<{ id: string }> }).items.map((i) => i.id);
      assert.equal(b.headers['idempotency-key'], `batch_${createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 32)}`);
      for (const id of ids) assert.match(id, /^batched:\d+\.\d+:[0-9a-z]+$/);
    }
  } finally {
    await engine.stop();
    db.close();
    await receiver.stop();
    tmp.cleanup();
  }
});
