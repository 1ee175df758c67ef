/**
 * SourceMonitor on a real (in-memory SQLite) store: the states a source goes through, written
 * to the store for `status`; a permanent error is fatal only before the first successful read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PermanentError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { TypedEmitter, type EngineEvents } from '../../src/engine/events.js';
import { describeSourceError, isPermanentSourceError, SourceMonitor } from '../../src/engine/source-supervisor.js';
import { openStore } from '../../src/store/open-store.js';

const holder = { holder: 'h:1:x', host: 'h', pid: 1 };

async function setup(failAfterMs: number) {
  const store = await openStore('sqlite::memory:');
  assert.deepEqual(await store.acquireSource({ source: 'pipeline:p', pipeline: 'p', holder, ttlMs: 60_000 }), { acquired: true });
  const fatal: Error[] = [];
  const events = new TypedEmitter<EngineEvents>();
  const states: string[] = [];
  events.on('source:state', ({ state }) => states.push(state));
  const m = new SourceMonitor({ pipeline: 'p', sourceId: 'pipeline:p', system: 'legacy', collection: 'ORDERS', holder: holder.holder, store, logger: silentLogger(), events, failAfterMs, onFatal: (e) => fatal.push(e) });
  const row = async () => {
    await m.flush();
    return (await store.listSources())[0]!;
  };
  return { store, m, fatal, states, row };
}

test('running -> retrying (since the first failure, with the error) -> failed after failAfter -> running again', async () => {
  const { store, m, fatal, states, row } = await setup(300);
  m.streaming();
  assert.equal((await row()).state, 'running');
  const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' });
  m.failed(refused);
  const first = await row();
  assert.equal(first.state, 'retrying');
  assert.equal(first.error, 'pipeline "p": source legacy/ORDERS: connect ECONNREFUSED 10.0.0.1:5432');
  m.failed(refused);
  assert.equal((await row()).since, first.since, 'since is the first failure of the run');
  await new Promise((r) => setTimeout(r, 350));
  m.failed(refused);
  assert.equal((await row()).state, 'failed', 'retrying longer than failAfter is failed');
  m.ok();
  const back = await row();
  assert.equal(back.state, 'running');
  assert.equal(back.error, null);
  assert.deepEqual(states, ['running', 'retrying', 'failed', 'running'], 'only changes are recorded');
  assert.equal(fatal.length, 0, 'a transient error is never fatal');
  await store.close();
});

test('a permanent error before the first read is fatal once; after a successful read it is not', async () => {
  const a = await setup(60_000);
  a.m.failed(new PermanentError('PostgreSQL runs with wal_level = replica'));
  a.m.failed(new PermanentError('PostgreSQL runs with wal_level = replica'));
  assert.equal(a.fatal.length, 1);
  assert.equal(a.fatal[0]!.message, 'pipeline "p": source legacy/ORDERS: PostgreSQL runs with wal_level = replica');
  assert.equal((await a.row()).state, 'failed', 'a permanent problem is failed at once');
  await a.store.close();

  const b = await setup(60_000);
  b.m.ok();
  b.m.failed(new Error('no such table: ORDERS'));
  assert.equal(b.fatal.length, 0, 'the source had started');
  assert.equal((await b.row()).state, 'failed');
  await b.store.close();
});

test('permanent errors are recognised by class and driver code; hints say what to change', () => {
  assert.equal(isPermanentSourceError(Object.assign(new Error('password authentication failed for user "x"'), { code: '28P01' })), true);
  assert.equal(isPermanentSourceError(Object.assign(new Error("Access denied for user 'x'"), { code: 'ER_ACCESS_DENIED_ERROR' })), true);
  assert.equal(isPermanentSourceError(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' })), true);
  assert.equal(isPermanentSourceError(new Error('no such table: ORDERS')), true);
  assert.equal(isPermanentSourceError(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: '42P01' }) })), true, 'through the cause chain');
  assert.equal(isPermanentSourceError(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), false);
  const where = { pipeline: 'p', system: 'pg', collection: 'orders' };
  assert.match(describeSourceError(Object.assign(new Error('password authentication failed for user "x"'), { code: '28P01' }), where), /^pipeline "p": source pg\/orders: 28P01: password authentication failed for user "x"; the server refused the password: check the system's user and password \(url\)$/);
});
