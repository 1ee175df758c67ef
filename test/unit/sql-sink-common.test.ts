import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDeleteSql, buildUpsertSql, planSqlWrites, quoteIdentFor } from '../../src/connectors/sql/sql-sink-common.js';
import type { SinkItem } from '../../src/connectors/contract.js';
import { sqliteDialect } from '../../src/connectors/sqlite/sqlite-dialect.js';
import { postgresDialect } from '../../src/connectors/postgres/postgres-dialect.js';
import { mariadbDialect } from '../../src/connectors/mariadb/mariadb-dialect.js';
import type { Delta } from '../../src/core/types.js';

function item(delta: Partial<Delta> & Pick<Delta, 'op' | 'key'>): SinkItem {
  return {
    jobId: '1', version: 1, idempotencyKey: 'k', pipeline: 'p', collection: 't', keyFields: ['id'],
    delta: { changed: {}, state: null, base: null, fingerprint: '', sourceTs: 0, ...delta },
  };
}

test('identifiers are quoted per dialect, embedded quotes doubled', () => {
  assert.equal(quoteIdentFor(postgresDialect, 'a"b'), '"a""b"');
  assert.equal(quoteIdentFor(mariadbDialect, 'a`b'), '`a``b`');
  assert.throws(() => quoteIdentFor(sqliteDialect, 'a\u0000'), /NUL/);
});

test('plan groups rows of the same shape and keeps a repeated key in a later group', () => {
  const items = [
    item({ op: 'insert', key: '1', changed: { id: 1, v: 1, name: 'a' }, state: { id: 1, v: 1, name: 'a' } }),
    item({ op: 'insert', key: '2', changed: { id: 2, v: 1, name: 'b' }, state: { id: 2, v: 1, name: 'b' } }),
    item({ op: 'update', key: '1', changed: { name: 'c', v: 2 }, state: { id: 1, v: 2, name: 'c' } }),
    item({ op: 'delete', key: '3', before: { id: 3, v: 4 } }),
  ];
  const plan = planSqlWrites(items, { versionField: 'v' });
  assert.equal(plan.failed.size, 0);
  assert.deepEqual(plan.groups.map((g) => [g.kind, g.rows.map((r) => r.index)]), [['upsert', [0, 1]], ['upsert', [2]], ['delete', [3]]]);
  assert.deepEqual(plan.groups[1]!.updateColumns, ['name', 'v']);
  assert.equal(plan.groups[2]!.fenced, true);
  assert.equal(plan.groups[2]!.rows[0]!.values.v, 4);
});

test('fencing needs the version field in every written row', () => {
  const plan = planSqlWrites([item({ op: 'insert', key: '1', changed: { id: 1 }, state: { id: 1 } })], { versionField: 'version' });
  assert.match(String(plan.failed.get(0)), /version field "version" is missing/);
});

test('postgres upsert with fencing compares inside the database and returns written keys', () => {
  const plan = planSqlWrites([item({ op: 'insert', key: '7', changed: { id: 7, v: 3, name: 'x' }, state: { id: 7, v: 3, name: 'x' } })], { versionField: 'v' });
  const g = plan.groups[0]!;
  const { sql, params } = buildUpsertSql(postgresDialect, { table: 's.t', keyFields: ['id'], columns: g.columns, updateColumns: g.updateColumns, rows: g.rows, versionField: 'v', returning: true });
  assert.equal(sql, 'INSERT INTO "s"."t" AS hms_t ("id", "name", "v") VALUES ($1, $2, $3) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "v" = EXCLUDED."v" WHERE hms_t."v" IS NULL OR hms_t."v" < EXCLUDED."v" RETURNING hms_t."id"::text AS k0');
  assert.deepEqual(params, [7, 'x', 3]);
});

test('mariadb upsert assigns the version column last', () => {
  const plan = planSqlWrites([item({ op: 'insert', key: '7', changed: { id: 7, v: 3, a: 'x' }, state: { id: 7, v: 3, a: 'x' } })], { versionField: 'v' });
  const g = plan.groups[0]!;
  const { sql } = buildUpsertSql(mariadbDialect, { table: 't', keyFields: ['id'], columns: g.columns, updateColumns: g.updateColumns, rows: g.rows, versionField: 'v' });
  assert.equal(sql, 'INSERT INTO `t` (`id`, `a`, `v`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `a` = IF((`v` IS NULL OR `v` < VALUES(`v`)), VALUES(`a`), `a`), `v` = IF((`v` IS NULL OR `v` < VALUES(`v`)), VALUES(`v`), `v`)');
});

test('fenced delete keeps a newer stored row', () => {
  const plan = planSqlWrites([item({ op: 'delete', key: '1', before: { id: 1, v: 5 } }), item({ op: 'delete', key: '2' })], { versionField: 'v' });
  const [a, b] = plan.groups;
  assert.deepEqual(buildDeleteSql(sqliteDialect, { table: 't', keyFields: ['id'], rows: a!.rows, versionField: 'v', fenced: a!.fenced }), { sql: 'DELETE FROM "t" WHERE ("id" = ? AND ("v" IS NULL OR "v" <= ?))', params: ['1', 5] });
  assert.deepEqual(buildDeleteSql(postgresDialect, { table: 't', keyFields: ['id'], rows: b!.rows, versionField: 'v', fenced: b!.fenced }), { sql: 'DELETE FROM "t" WHERE "id" = $1', params: ['2'] });
});
