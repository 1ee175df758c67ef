import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalToken, decimal, equivalent, sameAcrossTypes } from '../../src/core/normalize.js';
import { makeDiff } from '../../src/core/delta.js';
import { sameValue } from '../../src/engine/echo.js';

test('decimal: exact plain text of numeric text, without float rounding', () => {
  const cases: Array<[string, string]> = [
    ['007.50', '7.5'], ['0012.00', '12'], ['-0.0', '0'], ['+3', '3'], ['.5', '0.5'], ['5.', '5'],
    ['1e3', '1000'], ['1.25E-3', '0.00125'], ['-12.5e1', '-125'], ['1e+21', '1000000000000000000000'],
    ['123456789012345678901234567890.000100', '123456789012345678901234567890.0001'], ['0', '0'], ['000', '0'],
  ];
  for (const [input, want] of cases) assert.equal(decimal(input), want, input);
});

test('decimal agrees with Number for random doubles (property, 5000 seeds)', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 5000; i++) {
    const x = (rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20);
    const d = decimal(String(x));
    assert.equal(Number(d), x, `${x} -> ${d}`);
    assert.ok(!/e/i.test(d), d);
  }
});

test('equivalent: numbers by value, booleans as 1/0, padded text, instants, null and absent', () => {
  const same: Array<[unknown, unknown]> = [
    ['007.50', 7.5], ['7.50', '007.5'], [12n, '12.000'], [true, 1], ['1', true], ['false', 0],
    ['AB   ', 'AB'], [new Date('2026-12-04T09:00:00Z'), '2026-12-04T10:00:00+01:00'],
    ['2026-12-04 09:00:00', new Date('2026-12-04T09:00:00Z')], ['2026-12-04T09:00:00.123456Z', '2026-12-04T09:00:00.1234560Z'],
    [null, undefined], [{ a: '1.0', b: null }, { a: 1 }], [[1, '2'], ['1.0', 2]], [Buffer.from('x'), new Uint8Array([120])],
  ];
  for (const [a, b] of same) {
    assert.ok(equivalent(a, b), `${String(a)} ~ ${String(b)}`);
    assert.ok(equivalent(b, a), `symmetric: ${String(b)} ~ ${String(a)}`);
  }
  const different: Array<[unknown, unknown]> = [
    ['7.5', 7.51], ['AB', ' AB'], ['', null], ['n:1', 1], ['2026-12-04T09:00:00Z', '2026-12-04T09:00:01Z'],
    ['2026-12-04T09:00:00.123456Z', '2026-12-04T09:00:00.123Z'], [{ a: 1 }, { a: 2 }], ['abc', 'ABC'],
  ];
  for (const [a, b] of different) assert.ok(!equivalent(a, b), `${String(a)} !~ ${String(b)}`);
  assert.ok(equivalent('', null, { emptyIsNull: true }));
  assert.ok(equivalent('   ', undefined, { emptyIsNull: true }));
  assert.equal(canonicalToken('007.50'), canonicalToken(7.5));
  // years before 100 are not read as 19yy
  assert.equal(canonicalToken('0050-03-01T00:00:00Z'), `t:${new Date('0050-03-01T00:00:00Z').getTime()}`);
  assert.ok(!equivalent('0050-03-01T00:00:00Z', '1950-03-01T00:00:00Z'));
});

test('change detection: a change of representation across types is no change; a text edit is one', () => {
  assert.ok(sameAcrossTypes(7.5, '7.50'));
  assert.ok(sameAcrossTypes('AB  ', 'AB'));
  assert.ok(!sameAcrossTypes('00501', '501'), 'a person editing a text code made a change');
  assert.deepEqual(makeDiff({ amt: '7.50', zip: '00501', dt: '2026-12-04T09:00:00Z', ok: 1 }, { amt: 7.5, zip: '501', dt: new Date('2026-12-04T09:00:00Z'), ok: true }), { zip: '501' });
  assert.deepEqual(makeDiff({ amt: 7.5 }, { amt: 7.25 }), { amt: 7.25 });
});

test('echo: the value read back in the target representation is our write', () => {
  assert.ok(sameValue(7.5, '007.50'));
  assert.ok(sameValue('7.50', '007.50'), 'PostgreSQL numeric comes back as text');
  assert.ok(sameValue('AB      ', 'AB'));
  assert.ok(!sameValue('7.49', '007.50'));
});
