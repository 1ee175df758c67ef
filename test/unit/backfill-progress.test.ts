import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etaText } from '../../src/cli/backfill.js';

test('backfill ETA: "?" until there is a rate and a total, then seconds, minutes or hours left', () => {
  assert.equal(etaText(0, 1000, 0), '?');
  assert.equal(etaText(10, null, 100), '?');
  assert.equal(etaText(400, 1000, 100), '6s');
  assert.equal(etaText(1000, 1000, 100), '0s');
  assert.equal(etaText(1200, 1000, 100), '0s');
  assert.equal(etaText(0, 18_500, 100), '3m05s');
  assert.equal(etaText(0, 1_000_000, 250), '1h06m');
});
