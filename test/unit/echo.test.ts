import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEcho, intentsOf, INTENT_TTL_MS, type WriteIntent } from '../../src/engine/echo.js';
import type { ChangeEvent } from '../../src/core/types.js';

const ev = (after: Record<string, unknown> | null): ChangeEvent => ({ system: 'hms', collection: 'PERMITS', key: '123', op: after ? 'update' : 'delete', after, ts: 0 });

test('an event matching the newest intent is an echo and consumes every intent', () => {
  const intents: WriteIntent[] = [{ doc: { ID: '123', STATUS: 'PENDING' }, at: 1 }, { doc: { STATUS: 'APPROVED' }, at: 2 }];
  assert.deepEqual(checkEcho(ev({ ID: '123', STATUS: 'APPROVED', OWNER: 'x' }), intents), { echo: true, remaining: [] });
});

test('the watcher seeing an older write first: echo, and only the newer intent remains', () => {
  const intents: WriteIntent[] = [{ doc: { ID: '123', STATUS: 'PENDING' }, at: 1 }, { doc: { STATUS: 'APPROVED' }, at: 2 }];
  const r = checkEcho(ev({ ID: '123', STATUS: 'PENDING' }), intents);
  assert.equal(r.echo, true);
  assert.deepEqual(r.remaining, [intents[1]]);
});

test('a genuine change matches no intent and leaves them in place; numbers and strings compare loosely', () => {
  const intents: WriteIntent[] = [{ doc: { STATUS: 'APPROVED', FEE: 12 }, at: 1 }];
  assert.deepEqual(checkEcho(ev({ STATUS: 'REVOKED', FEE: 12 }), intents), { echo: false, remaining: intents });
  assert.equal(checkEcho(ev({ STATUS: 'APPROVED', FEE: '12' }), intents).echo, true);
  assert.equal(checkEcho(ev(null), [{ doc: null, at: 1 }]).echo, true, 'our delete comes back as a delete');
  assert.equal(checkEcho(ev(null), intents).echo, false);
});

test('intents expire', () => {
  const row = { scope: 's', key: 'k', fingerprint: 'f', doc: { intents: [{ doc: { a: 1 }, at: 0 }, { doc: { a: 2 }, at: INTENT_TTL_MS }] } };
  assert.deepEqual(intentsOf(row, INTENT_TTL_MS + 1).map((i) => i.doc), [{ a: 2 }]);
});
