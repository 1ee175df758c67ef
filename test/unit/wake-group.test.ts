import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { WakeGroup } from '../../src/engine/delivery.js';

/** The store's wake-up channel is an event; this stands in for a store's onWake only. */
function wakeSource() {
  const e = new EventEmitter();
  return { onWake: (l: () => void) => { e.on('wake', l); return () => e.off('wake', l); }, wake: () => e.emit('wake'), listeners: () => e.listenerCount('wake') };
}

test('a wake-up wakes one parked loop, not all of them', async () => {
  const src = wakeSource();
  const g = new WakeGroup(src);
  const ac = new AbortController();
  const woke: number[] = [];
  const parked = [0, 1, 2].map((i) => g.park(10_000, ac.signal).then(() => woke.push(i)));
  src.wake();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(woke, [0], 'only the first parked loop wakes');
  src.wake();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(woke, [0, 1]);
  ac.abort();
  await Promise.all(parked);
  assert.deepEqual(woke.sort(), [0, 1, 2], 'abort releases the rest');
  g.close();
  assert.equal(src.listeners(), 0, 'close unsubscribes');
});

test('a wake-up while every loop is busy is remembered for the next loop that looks, once', () => {
  const src = wakeSource();
  const g = new WakeGroup(src);
  assert.equal(g.takeMissed(), false);
  src.wake();
  assert.equal(g.takeMissed(), true);
  assert.equal(g.takeMissed(), false, 'taken once');
  g.close();
});

test('park ends after its timeout without a wake-up', async () => {
  const g = new WakeGroup(wakeSource());
  const t0 = Date.now();
  await g.park(30, new AbortController().signal);
  assert.ok(Date.now() - t0 >= 25);
  g.close();
});

test('claim slots are spaced by the linger under load and free after a quiet spell', async () => {
  const g = new WakeGroup(wakeSource());
  assert.equal(g.reserveClaim(20), 0, 'first claim goes at once');
  const second = g.reserveClaim(20);
  assert.ok(second > 15 && second <= 20, `second claim waits for its slot, got ${second}`);
  const third = g.reserveClaim(20);
  assert.ok(third > 35 && third <= 40, `third claim is one more linger later, got ${third}`);
  await new Promise((r) => setTimeout(r, 70));
  assert.equal(g.reserveClaim(20), 0, 'after a quiet spell longer than the slots, no wait');
  g.close();
});

test('park with a signal that already aborted returns at once (a shutdown during the claim does not wait out the poll)', async () => {
  const g = new WakeGroup(wakeSource());
  const ac = new AbortController();
  ac.abort();
  const r = await Promise.race([g.park(60_000, ac.signal).then(() => 'returned'), new Promise((res) => setTimeout(() => res('still parked'), 200))]);
  assert.equal(r, 'returned');
  g.close();
});
