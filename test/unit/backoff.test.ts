import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, isDuration, parseDuration } from '../../src/core/duration.js';
import { BACKOFF_FLOOR_MS, computeBackoff, DEFAULT_BACKOFF, formatBackoff, parseBackoff } from '../../src/core/backoff.js';
import { ConfigError } from '../../src/core/errors.js';

test('parseDuration reads units, compounds and plain milliseconds', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('10m'), 600_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration(' 2s '), 2000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration(1234), 1234);
  assert.equal(parseDuration('1500'), 1500);
});

test('parseDuration rejects bad values with a message quoting them', () => {
  for (const bad of ['5x', '', 's', '3 parsecs', '-5s', '1s2', 'five seconds', -1, Number.NaN, Infinity]) {
    assert.throws(() => parseDuration(bad as string | number), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match((e as Error).message, new RegExp(`invalid duration ${JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.match((e as Error).message, /ms, s, m, h or d/);
      return true;
    });
  }
  assert.equal(isDuration('5s'), true);
  assert.equal(isDuration('5x'), false);
  assert.equal(isDuration({}), false);
});

test('formatDuration gives the shortest readable form', () => {
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(250), '250ms');
  assert.equal(formatDuration(0), '0s');
  assert.equal(parseDuration(formatDuration(93_784_005)), 93_784_005);
});

test('parseBackoff reads the string and object forms', () => {
  assert.deepEqual(parseBackoff('exponential 1s..10m'), { initialMs: 1000, maxMs: 600_000, factor: 2 });
  assert.deepEqual(parseBackoff('exponential 250ms..30s x3'), { initialMs: 250, maxMs: 30_000, factor: 3 });
  assert.deepEqual(parseBackoff('fixed 5s'), { initialMs: 5000, maxMs: 5000, factor: 1 });
  assert.deepEqual(parseBackoff({ initial: '2s', max: '1m', factor: 1.5 }), { initialMs: 2000, maxMs: 60_000, factor: 1.5 });
  assert.deepEqual(parseBackoff({ initial: 100, max: 1000 }), { initialMs: 100, maxMs: 1000, factor: 2 });
  assert.equal(formatBackoff(DEFAULT_BACKOFF), 'exponential 1s..10m');
  assert.equal(formatBackoff(parseBackoff('fixed 5s')), 'fixed 5s');
});

test('parseBackoff rejects bad policies naming the accepted forms', () => {
  assert.throws(() => parseBackoff('linear 1s'), /invalid backoff "linear 1s"; use "exponential <initial>..<max>"/);
  assert.throws(() => parseBackoff('exponential 1x..10m'), /invalid backoff "exponential 1x..10m"/);
  assert.throws(() => parseBackoff('exponential 10m..1s'), /cap \(1000 ms\) is below the initial delay/);
  assert.throws(() => parseBackoff({ initial: '1s', max: '1m', factor: 0.5 }), /factor must be a number >= 1/);
});

test('computeBackoff grows exponentially up to the cap, with full jitter', () => {
  const p = parseBackoff('exponential 1s..10m');
  const top = () => 1;
  assert.deepEqual([1, 2, 3, 4, 5].map((a) => computeBackoff(a, p, top)), [1000, 2000, 4000, 8000, 16_000]);
  assert.equal(computeBackoff(20, p, top), 600_000);
  assert.equal(computeBackoff(5000, p, top), 600_000, 'huge attempt numbers do not overflow');
  assert.equal(computeBackoff(3, p, () => 0.5), 2000);
  assert.equal(computeBackoff(0, p, top), 1000, 'attempt below 1 counts as the first');
});

test('computeBackoff never goes below the floor and stays within [floor, ceiling]', () => {
  const p = parseBackoff('exponential 1s..10m');
  assert.equal(computeBackoff(3, p, () => 0), BACKOFF_FLOOR_MS);
  assert.equal(computeBackoff(1, { initialMs: 0, maxMs: 0, factor: 2 }, () => 0.7), 0, 'an all-zero policy is allowed to be zero');
  assert.equal(computeBackoff(1, { initialMs: 4, maxMs: 4, factor: 1 }, () => 0), 4, 'the floor never exceeds the ceiling');
  let seed = 42;
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) {
    const d = computeBackoff(4, p, rnd);
    assert.ok(d >= BACKOFF_FLOOR_MS && d <= 8000, `delay ${d} out of range`);
    seen.add(Math.floor(d / 1000));
  }
  assert.ok(seen.size >= 7, 'full jitter spreads delays over the whole range');
});
