/**
 * Issue 11 item 1 at run time and in the static field list: a mapped source field absent from
 * the record (not present at all, as opposed to present and null) is a MappingError naming the
 * field, unless the rule says optional, default or omitIfNull; `sourceFieldRefs` lists the fields
 * a mapping reads (renames, `from`, a rule's own name, an expression's top-level paths) for
 * `hms-sync validate`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMapping, compileMapping, expressionRootFields, sourceFieldRefs } from '../../src/core/mapping.js';
import { MappingError, classifyError } from '../../src/core/errors.js';
import { parseConfig } from '../../src/config/load-config.js';
import jsonata from 'jsonata';

async function rejects(p: Promise<unknown>): Promise<MappingError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof MappingError, `expected a MappingError, got ${String(e)}`);
    assert.equal(classifyError(e).retryable, false, 'dead-lettered at once');
    return e;
  }
  assert.fail('expected a MappingError');
}

test('a misspelt from field is a MappingError naming the target, the field and a did-you-mean, not a silent null', async () => {
  const m = compileMapping({ id: 'BRG_ID', status: { from: 'CODE_STSS', values: { A: 'active' } } });
  const e = await rejects(m.apply({ BRG_ID: 'B1', CODE_STS: 'A' }));
  assert.equal(e.field, 'status');
  assert.match(e.message, /mapping of field "status": source field "CODE_STSS" is not in the record \(did you mean "CODE_STS"\?\); the record has BRG_ID, CODE_STS/);
  assert.equal(e.details?.source, 'CODE_STSS');
  // a present null is still null
  assert.deepEqual(await compileMapping({ status: { from: 'CODE_STS', values: { A: 'active' } } }).apply({ CODE_STS: null }), { status: null });
});

test('renames and rules without from are checked the same way', async () => {
  const e = await rejects(compileMapping({ id: 'BRG_IDD' }).apply({ BRG_ID: 'x' }));
  assert.match(e.message, /"BRG_IDD" is not in the record \(did you mean "BRG_ID"\?\)/);
  const own = await rejects(compileMapping({ NAME: { convert: 'trim' } }).apply({ NAM: 'x' }));
  assert.equal(own.field, 'NAME');
});

test('optional, default and omitIfNull accept an absent field', async () => {
  const m = compileMapping({
    a: { from: 'A', optional: true },
    b: { from: 'B', default: 7 },
    c: { from: 'C', omitIfNull: true },
    d: { from: 'D', optional: true, convert: 'trim', default: 'x' },
  });
  assert.deepEqual(await m.apply({}), { a: null, b: 7, d: 'x' });
  assert.deepEqual(await m.apply({ A: 1, B: 2, C: 3, D: ' y ' }), { a: 1, b: 2, c: 3, d: 'y' });
  // required wins over optional for a present null
  const r = compileMapping({ a: { from: 'A', optional: true, required: true } });
  await rejects(r.apply({ A: null }));
});

test('optional is part of the rule schema: a boolean, and the config accepts it', () => {
  assert.deepEqual(checkMapping({ a: { from: 'A', optional: true } }), []);
  const bad = checkMapping({ a: { from: 'A', optional: 'yes' } });
  assert.equal(bad.length, 1);
  assert.match(bad[0]!.message, /optional must be true or false/);
  const { issues } = parseConfig(`systems:
  a: { driver: sqlite, path: a.db }
pipelines:
  p:
    from: { system: a, collection: T }
    to: { system: a, collection: U }
    key: ID
    map: { ID: ID, x: { from: X, optional: true } }
`);
  assert.deepEqual(issues, []);
});

test('expressions: the top-level fields they read, from the JSONata AST', () => {
  const roots = (e: string) => expressionRootFields(jsonata(e).ast());
  assert.deepEqual(roots('NAME'), ['NAME']);
  assert.deepEqual(roots('FIRST & " " & LAST'), ['FIRST', 'LAST']);
  assert.deepEqual(roots('$substring(NAME, 0, 10)'), ['NAME']);
  assert.deepEqual(roots('STATUS = "A" ? "active" : "inactive"'), ['STATUS']);
  assert.deepEqual(roots('ADDR.CITY'), ['ADDR'], 'only the first step of a path is a field of the record');
  assert.deepEqual(roots('ITEMS[QTY > 1].SKU'), ['ITEMS'], 'a filter reads the items, not the record');
  assert.deepEqual(roots('$.NAME'), ['NAME']);
  assert.deepEqual(roots('($x := 1; $x + A)'), ['A']);
  assert.deepEqual(roots('{"a": P, "b": [Q, R]}'), ['P', 'Q', 'R']);
  assert.deepEqual(roots('`WEIRD NAME`'), ['WEIRD NAME']);
  assert.deepEqual(roots('$lowercase(N1).x'), ['N1']);
  assert.deepEqual(roots('function($v) { $v + B }(C)'), ['C'], 'a lambda body reads whatever it is applied to');
});

test('sourceFieldRefs lists every source field a mapping reads, with its path and whether it may be absent', () => {
  const refs = sourceFieldRefs({
    id: 'BRG_ID',
    status: { from: 'CODE_STS', values: { A: 'x' } },
    NAME: { convert: 'trim' },
    label: { expr: 'NAME & " " & CITY' },
    opt: { from: 'O', optional: true },
    dflt: { from: 'D', default: 1 },
    bad: { expr: '(((' },
  });
  assert.deepEqual(refs, [
    { path: ['id'], field: 'BRG_ID', via: 'rename', optional: false },
    { path: ['status', 'from'], field: 'CODE_STS', via: 'from', optional: false },
    { path: ['NAME'], field: 'NAME', via: 'target', optional: false },
    { path: ['label', 'expr'], field: 'NAME', via: 'expr', optional: false },
    { path: ['label', 'expr'], field: 'CITY', via: 'expr', optional: false },
    { path: ['opt', 'from'], field: 'O', via: 'from', optional: true },
    { path: ['dflt', 'from'], field: 'D', via: 'from', optional: true },
  ]);
  assert.deepEqual(sourceFieldRefs(null), [], 'the identity mapping reads whatever there is');
});
