import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalKey, computeDelta, fingerprint, keyValues, makeDiff, mergeDeltas, stableStringify } from '../../src/core/delta.js';

test('makeDiff keeps only changed fields, deep, and reports removed fields as null', () => {
  assert.deepEqual(makeDiff({ status: 'P', n: 1, tags: ['a'] }, { status: 'A', n: 1, tags: ['a'] }), { status: 'A' });
  assert.deepEqual(makeDiff({ a: { x: 1 } }, { a: { x: 2 } }), { a: { x: 2 } });
  assert.deepEqual(makeDiff({ a: 1, b: 2 }, { a: 1 }), { b: null });
  assert.deepEqual(makeDiff(null, { a: 1 }), { a: 1 });
});

test('fingerprint ignores key order and distinguishes values', () => {
  assert.equal(fingerprint({ a: 1, b: 'x' }), fingerprint({ b: 'x', a: 1 }));
  assert.notEqual(fingerprint({ a: 1 }), fingerprint({ a: '1' }));
  assert.equal(fingerprint(null), '');
});

test('fingerprints stay exactly what earlier versions stored (shadow rows compare them)', () => {
  // Values computed by the original filter/map/join stableStringify with createHash: a change
  // here would make every poll source see every row as changed after an upgrade.
  const docs: Array<[Record<string, unknown>, string]> = [
    [{ id: 1, v: 2, amount: '3.1400', note: 'n "q" \\ é \u2028', at: '2024-05-01T10:00:00.123456Z', ok: true, none: null, gone: undefined }, 'iNOuSI6bo3BrmqnwghaHdbH4YxA'],
    [{ '10': 'a', '9': 'b', b: { z: [1, { y: 2, x: undefined }], a: {} }, a: [], big: 12345678901234567890n, d: new Date(0), buf: Buffer.from('hi'), nan: NaN }, 'NPJUqIUVvOJCiBiDgy8UzfvitCA'],
    [{}, 'vyGp6PvFo4RvsFtPoIWeCReyIC8'],
    [{ '': 1, é: 2, e: 3 }, '7XqLQ3h_z9UKexlVhDam-yUsPig'],
  ];
  for (const [doc, fp] of docs) assert.equal(fingerprint(doc), fp, JSON.stringify(Object.keys(doc)));
  assert.equal(stableStringify({ b: { z: [1, { y: 2, x: undefined }], a: {} }, '10': 'a', '9': null }), '{"10":"a","9":null,"b":{"a":{},"z":[1,{"y":2}]}}');
});

test('canonicalKey for one and compound keys, and its inverse', () => {
  assert.equal(canonicalKey({ BRG_ID: '007' }, ['BRG_ID']), '007');
  assert.equal(canonicalKey({ BRG_ID: 7 }, ['BRG_ID']), '7');
  const k = canonicalKey({ a: 'x', b: 2 }, ['a', 'b']);
  assert.deepEqual(keyValues(k, ['a', 'b']), { a: 'x', b: 2 });
  assert.throws(() => canonicalKey({ a: null }, ['a']), /key field "a" is missing/);
});

test('computeDelta: insert, update, no-op, delete', () => {
  assert.equal(computeDelta('1', { a: 1 }, { a: 1 }), null);
  assert.equal(computeDelta('1', { a: 1 }, { a: 2 })!.op, 'update');
  assert.deepEqual(computeDelta('1', { a: 1, b: 1 }, { a: 2, b: 1 })!.changed, { a: 2 });
  assert.equal(computeDelta('1', null, { a: 2 })!.op, 'insert');
  assert.equal(computeDelta('1', { a: 2 }, null)!.op, 'delete');
  assert.equal(computeDelta('1', null, null), null);
});

test('mergeDeltas carries the newest state once and every changed field', () => {
  const d1 = computeDelta('1', { a: 1, b: 1, c: 1 }, { a: 2, b: 1, c: 1 }, 1)!;
  const d2 = computeDelta('1', { a: 2, b: 1, c: 1 }, { a: 2, b: 3, c: 1 }, 2)!;
  const m = mergeDeltas(d1, d2);
  assert.deepEqual([m.op, m.changed, m.state, m.base, m.sourceTs], ['update', { a: 2, b: 3 }, { a: 2, b: 3, c: 1 }, d1.base, 2]);
  const ins = computeDelta('1', null, { a: 1 }, 1)!;
  assert.deepEqual(m.before, { a: 1, b: 1, c: 1 }, 'merge keeps the oldest before-state');
  assert.equal(mergeDeltas(ins, d2).op, 'insert');
  const del = computeDelta('1', { a: 1 }, null, 3)!;
  assert.equal(mergeDeltas(d1, del).op, 'delete');
  const back = mergeDeltas(del, computeDelta('1', null, { a: 9 }, 4)!);
  assert.deepEqual([back.op, back.changed], ['update', { a: 9 }]);
});

test('a partial (hand-made) delta overlays the full state instead of replacing it', () => {
  const full = computeDelta('1', { a: 1, b: 1 }, { a: 2, b: 1 }, 1)!;
  const partial = { ...computeDelta('1', null, { c: true }, 2)!, op: 'update' as const, partial: true };
  const m = mergeDeltas(full, partial);
  assert.deepEqual(m.state, { a: 2, b: 1, c: true });
  assert.equal(m.partial, undefined, 'the merge of a full and a partial state is full');
  const m2 = mergeDeltas(partial, full);
  assert.deepEqual(m2.state, { c: true, a: 2, b: 1 });
  assert.equal(m2.fingerprint, fingerprint(m2.state));
});
