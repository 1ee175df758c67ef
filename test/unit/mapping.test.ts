import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMapping, compileMapping, EXPR_LIMITS, invertValues, type MappingSpec } from '../../src/core/mapping.js';
import { ConfigError, MappingError, classifyError } from '../../src/core/errors.js';

const bridgeMap: MappingSpec = {
  bridgeId: 'BRG_ID',
  nextDate: { from: 'NEXT_INSP_DT', convert: 'date:yyyyMMdd' },
  status: { from: 'CODE_STS', values: { A: 'active', C: 'closed', P: 'pending' } },
};

async function mappingError(p: Promise<unknown>, field: string, re: RegExp): Promise<MappingError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof MappingError, `expected a MappingError, got ${String(caught)}`);
  assert.equal(caught.field, field);
  assert.match(caught.message, re);
  assert.equal(classifyError(caught).retryable, false, 'mapping errors dead-letter at once');
  return caught;
}

test('the bridge-inspection mapping: renames, converters, code tables', async () => {
  const m = compileMapping(bridgeMap);
  assert.deepEqual(await m.apply({ BRG_ID: 'B-17', NEXT_INSP_DT: '20240301', CODE_STS: 'A', EXTRA: 1 }), {
    bridgeId: 'B-17', nextDate: '2024-03-01', status: 'active',
  });
  assert.deepEqual(m.fields, ['bridgeId', 'nextDate', 'status']);
  assert.equal(m.identity, false);
  assert.equal(m.targetFieldFor('BRG_ID'), 'bridgeId');
  assert.equal(m.targetFieldFor('CODE_STS'), 'status');
  assert.equal(m.targetFieldFor('EXTRA'), undefined);
  assert.equal(m.sourceFieldFor('nextDate'), 'NEXT_INSP_DT');
});

test('no spec is the identity mapping', async () => {
  for (const spec of [null, undefined]) {
    const m = compileMapping(spec);
    const doc = { A: 1, B: 'x' };
    const out = await m.apply(doc);
    assert.deepEqual(out, doc);
    assert.notEqual(out, doc, 'a copy, not the same object');
    assert.equal(m.targetFieldFor('A'), 'A');
    assert.equal(m.identity, true);
  }
});

test('an unknown code is an error by default, naming the field, the code and the known codes', async () => {
  const m = compileMapping(bridgeMap);
  const e = await mappingError(m.apply({ BRG_ID: 'B1', NEXT_INSP_DT: '20240301', CODE_STS: 'X' }), 'status',
    /^mapping of field "status": code "X" from CODE_STS is not in the code table; known codes are A, C, P \(set unknown: pass or default to accept it\)$/);
  assert.equal(e.details?.value, 'X');
});

test('unknown: pass and unknown: default', async () => {
  const pass = compileMapping({ s: { from: 'C', values: { A: 'active' }, unknown: 'pass' } });
  assert.deepEqual(await pass.apply({ C: 'Z' }), { s: 'Z' });
  assert.deepEqual(await pass.apply({ C: 'A' }), { s: 'active' });
  const dflt = compileMapping({ s: { from: 'C', values: { A: 'active' }, unknown: 'default', default: 'other' } });
  assert.deepEqual(await dflt.apply({ C: 'Z' }), { s: 'other' });
  assert.deepEqual(await dflt.apply({ C: null }), { s: 'other' }, 'the default also fills a null');
  assert.deepEqual(await dflt.apply({}), { s: 'other' }, 'and a missing field');
});

test('numeric codes match the code table by their text; codes may map to any value', async () => {
  const m = compileMapping({ level: { from: 'LVL', values: { 1: 'low', 2: 'high', 9: null }, default: 'none' }, flag: { from: 'F', values: { Y: true, N: false } } });
  assert.deepEqual(await m.apply({ LVL: 1, F: 'N' }), { level: 'low', flag: false });
  assert.deepEqual(await m.apply({ LVL: '2', F: 'Y' }), { level: 'high', flag: true });
  assert.deepEqual(await m.apply({ LVL: 9, F: 'Y' }), { level: 'none', flag: true }, 'a code mapped to null takes the default');
  await mappingError(m.apply({ LVL: { x: 1 }, F: 'Y' }), 'level', /is not a code/);
});

test('converters run before the code table', async () => {
  const m = compileMapping({ status: { from: 'STS', convert: ['trim', 'upper'], values: { A: 'active' } } });
  assert.deepEqual(await m.apply({ STS: ' a  ' }), { status: 'active' });
});

test('a converter failure is a MappingError naming the field, the source and the value', async () => {
  const m = compileMapping(bridgeMap);
  const e = await mappingError(m.apply({ BRG_ID: 'B1', NEXT_INSP_DT: '20230231', CODE_STS: 'A' }), 'nextDate',
    /^mapping of field "nextDate": "20230231" is not a valid date in the form yyyyMMdd: day 31 is out of range 1\.\.28 for February 2023 \(from NEXT_INSP_DT, converter "date:yyyyMMdd"\)$/);
  assert.equal(e.details?.value, '20230231');
  assert.equal(e.details?.field, 'nextDate');
});

test('null handling: null by default, default, required, omitIfNull', async () => {
  const m = compileMapping({
    a: 'A',
    b: { from: 'B', default: 0 },
    c: { from: 'C', omitIfNull: true },
    d: { from: 'D', convert: 'date:yyyyMMdd', omitIfNull: true },
  });
  assert.deepEqual(await m.apply({ A: null, D: '00000000' }), { a: null, b: 0 }, 'a present null is null; default and omitIfNull also accept an absent field');
  assert.deepEqual(await m.apply({ A: 1, B: 2, C: 3, D: '20240101' }), { a: 1, b: 2, c: 3, d: '2024-01-01' });
  const r = compileMapping({ id: { from: 'ID', required: true } });
  await mappingError(r.apply({ ID: null }), 'id', /a value is required but ID is null or missing/);
  await mappingError(r.apply({}), 'id', /source field "ID" is not in the record/);
});

test('from defaults to the target field name', async () => {
  const m = compileMapping({ NAME: { convert: 'trim' } });
  assert.deepEqual(await m.apply({ NAME: ' Ann ' }), { NAME: 'Ann' });
  assert.equal(m.targetFieldFor('NAME'), 'NAME');
});

test('JSONata expressions see the whole source record', async () => {
  const m = compileMapping({
    short: { expr: '$substring(NAME, 0, 3)' },
    full: { expr: 'FIRST & " " & LAST' },
    total: { expr: '$sum(LINES.AMT)' },
    none: { expr: 'MISSING.FIELD' },
    date: { expr: '$convert(DT, "date:yyyyMMdd")' },
    upper: { expr: 'NAME', convert: 'upper' },
  });
  assert.deepEqual(await m.apply({ NAME: 'Golden', FIRST: 'Ada', LAST: 'Lovelace', LINES: [{ AMT: 2 }, { AMT: 3 }], DT: '20240101' }), {
    short: 'Gol', full: 'Ada Lovelace', total: 5, none: null, date: '2024-01-01', upper: 'GOLDEN',
  });
  assert.equal(m.targetFieldFor('NAME'), undefined, 'expressions do not count as renames');
});

test('a runaway expression is stopped: endless tail recursion by a time limit, deep recursion by a depth limit', async () => {
  const loop = compileMapping({ loop: { expr: '($f := function($x){ $f($x) }; $f(1))' } });
  await mappingError(loop.apply({}), 'loop', /Evaluation timeout after 1000 milliseconds/);
  const deepExpr = '($f := function($x){ $x > 0 ? 1 + $f($x - 1) : 0 }; $f(X))';
  const deep = compileMapping({ deep: { expr: deepExpr } });
  assert.deepEqual(await deep.apply({ X: 1000 }), { deep: 1000 }, 'ordinary recursion still works');
  // Each limit on its own, so neither can win the race against the other on a loaded machine: the
  // depth limit (the production 10,000 frames) with a time limit a busy CI runner cannot reach, and
  // the production time limit on a recursion that never gets deep (above).
  const depthOnly = compileMapping({ deep: { expr: deepExpr } }, { limits: { ...EXPR_LIMITS, timeout: 120_000 } });
  await mappingError(depthOnly.apply({ X: 1_000_000 }), 'deep', /Stack overflow/);
  assert.equal(EXPR_LIMITS.stack, 10_000, 'the depth limit tested is the production one');
  // with both production limits a deep recursion is stopped too (by whichever comes first)
  await mappingError(deep.apply({ X: 1_000_000 }), 'deep', /Stack overflow|Evaluation timeout after 1000 milliseconds/);
});

test('a failing expression is a MappingError naming the field', async () => {
  const m = compileMapping({ n: { expr: '$number(X)' } });
  await mappingError(m.apply({ X: 'abc' }), 'n', /^mapping of field "n": expression "\$number\(X\)" failed: /);
  const c = compileMapping({ d: { expr: '$convert(X, "date:yyyyMMdd")' } });
  await mappingError(c.apply({ X: '20230231' }), 'd', /day 31 is out of range/);
});

test('compile-time problems are ConfigErrors naming the field and what is valid', () => {
  const cases: Array<[MappingSpec, RegExp]> = [
    [{ d: { from: 'D', convert: 'dat:yyyyMMdd' } }, /^pipeline "p" map\.d\.convert: unknown converter "dat" \(did you mean "date"\?\); known converters are date, /],
    [{ e: { expr: '$substring(' } }, /^pipeline "p" map\.e\.expr: invalid JSONata expression "\$substring\(": .*\(at character \d+\)/],
    [{ x: { from: 'X', expr: 'Y' } }, /give either `from` or `expr`, not both/],
    [{ x: { from: 'X', values: { A: 1 }, unknown: 'default' } }, /`unknown: default` needs a `default` value/],
    [{ x: { from: 'X', unknown: 'pass' } }, /`unknown` only applies to a code table/],
    [{ x: { from: 'X', unknown: 'maybe' as never, values: {} } }, /unknown must be one of error, pass, default, got "maybe"/],
    [{ x: { form: 'X' } as never }, /map\.x\.form: unknown key "form" \(did you mean "from"\?\); valid keys are from, convert, values/],
    [{ x: 5 as never }, /a rule must be a source field name or an object/],
    [{ x: { convert: 5 as never } }, /convert must be a converter name or a list of them/],
    [{}, /the mapping is empty/],
  ];
  for (const [spec, re] of cases) {
    assert.throws(() => compileMapping(spec, { pipeline: 'p' }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match((e as Error).message, re);
      return true;
    });
  }
});

test('checkMapping collects every problem with its path', () => {
  const issues = checkMapping({ a: { convert: 'nope' }, b: { expr: '(' }, c: 'C' });
  assert.deepEqual(issues.map((i) => i.path), [['a', 'convert'], ['b', 'expr']]);
  assert.deepEqual(checkMapping(null), []);
});

test('invertValues builds the reverse code table', () => {
  assert.deepEqual(invertValues({ A: 'active', C: 'closed', 1: 2, Y: true }), { active: 'A', closed: 'C', 2: '1', true: 'Y' });
  assert.throws(() => invertValues({ A: 'active', B: 'active' }), /codes "A" and "B" both map to "active", so the reverse is ambiguous/);
  assert.throws(() => invertValues({ A: { x: 1 } }), /value of code "A" is \{"x":1\}/);
});

test('a reverse pipeline mapping round-trips the forward one', async () => {
  const values = { A: 'active', C: 'closed', P: 'pending' };
  const fwd = compileMapping({ bridgeId: 'BRG_ID', nextDate: { from: 'NEXT_INSP_DT', convert: 'date:yyyyMMdd' }, status: { from: 'CODE_STS', values } });
  const rev = compileMapping({ BRG_ID: 'bridgeId', NEXT_INSP_DT: { from: 'nextDate', convert: 'toDate:yyyyMMdd' }, CODE_STS: { from: 'status', values: invertValues(values) } });
  const legacy = { BRG_ID: 'B9', NEXT_INSP_DT: '20250115', CODE_STS: 'P' };
  assert.deepEqual(await rev.apply(await fwd.apply(legacy)), legacy);
});

test('suggestions for misspelled names stay conservative', async () => {
  const { closest } = await import('../../src/core/suggest.js');
  assert.equal(closest('maxAtempts', ['maxAttempts', 'backoff']), 'maxAttempts');
  assert.equal(closest('dashbaord', ['mainframe', 'dashboard']), 'dashboard');
  assert.equal(closest('Date', ['date', 'time']), 'date');
  assert.equal(closest('webhook', ['http', 'soap', 'sqlite']), undefined);
  assert.equal(closest('x', ['a', 'b']), undefined, 'no guesses for very short words');
  assert.equal(closest('A', ['a', 'b']), 'a', 'except a different case');
  assert.equal(closest('date', ['date']), undefined, 'an exact match needs no hint');
});
