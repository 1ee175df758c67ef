import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeDelta } from '../../src/core/delta.js';
import type { Delta } from '../../src/core/types.js';
import { dedupeShadow, mergedRunAt, planCommit, tailKey, type TailJob } from '../../src/store/commit-plan.js';
import type { EnqueueInput } from '../../src/store/store.js';

const d = (key: string, state: Record<string, unknown>, prev: Record<string, unknown> | null = null): Delta => computeDelta(key, prev, state, 1)!;
const input = (key: string, state: Record<string, unknown>, extra: Partial<EnqueueInput> = {}): EnqueueInput => ({ pipeline: 'p', target: 't', key, payload: d(key, state), runAt: 100, maxAttempts: 3, ...extra });
const tail = (state: 'pending' | 'running', extra: Partial<TailJob> = {}): TailJob => ({ id: '7', target: 't', state, version: 4, payload: d('a', { v: 0 }), attempts: 0, runAt: 100, maxRunAt: 500, ...extra });

test('mergedRunAt: trailing debounce capped by the job\'s maxRunAt; a retrying job keeps its backoff', () => {
  assert.equal(mergedRunAt({ runAt: 100, maxRunAt: 500, attempts: 0 }, 300), 300);
  assert.equal(mergedRunAt({ runAt: 100, maxRunAt: 500, attempts: 0 }, 900), 500);
  assert.equal(mergedRunAt({ runAt: 400, maxRunAt: 500, attempts: 0 }, 200), 400);
  assert.equal(mergedRunAt({ runAt: 100, maxRunAt: 100, attempts: 0 }, 300), 100, 'default cap = runAt: a leading window');
  assert.equal(mergedRunAt({ runAt: 9000, maxRunAt: 500, attempts: 2 }, 300), 9000);
});

test('planCommit merges into a pending tail once (version + 1) and inserts behind a running one', () => {
  const pending = planCommit([input('a', { v: 1 }, { runAt: 200 }), input('a', { v: 2 }, { runAt: 300 })], new Map([[tailKey('p', 'a'), tail('pending')]]));
  assert.deepEqual({ ins: pending.inserts.length, upd: pending.updates.length, inserted: pending.inserted, merged: pending.merged }, { ins: 0, upd: 1, inserted: 0, merged: 2 });
  assert.equal(pending.updates[0]!.version, 5);
  assert.equal(pending.updates[0]!.fromVersion, 4);
  assert.equal(pending.updates[0]!.runAt, 300);
  assert.deepEqual(pending.updates[0]!.payload.state, { v: 2 });

  const running = planCommit([input('a', { v: 1 }), input('a', { v: 2 })], new Map([[tailKey('p', 'a'), tail('running')]]));
  assert.equal(running.inserts.length, 1);
  assert.deepEqual(running.inserts[0]!.payload.state, { v: 2 });
  assert.deepEqual([running.inserted, running.merged], [1, 1]);
});

test('planCommit: coalesce false, another target and maxRunAt defaults', () => {
  const p = planCommit([input('a', { v: 1 }, { coalesce: false }), input('a', { v: 2 }, { coalesce: false }), input('a', { v: 3 }, { target: 'u' }), input('b', { v: 1 }, { runAt: 50, maxRunAt: 10 })], new Map([[tailKey('p', 'a'), tail('pending')]]));
  assert.equal(p.inserts.length, 4);
  assert.equal(p.updates.length, 0);
  assert.equal(p.inserts[3]!.maxRunAt, 50, 'a cap before runAt is raised to runAt');
  assert.equal(p.inserts[0]!.coalesce, false);
});

test('dedupeShadow keeps the last operation per key', () => {
  const ops = dedupeShadow<{ scope: string; key: string; n: number }>([{ scope: 's', key: 'a', n: 1 }, { scope: 's', key: 'b', n: 2 }, { scope: 's', key: 'a', n: 3 }]);
  assert.deepEqual(ops.map((o) => o.n), [2, 3]);
});
