import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildExistsQuery, buildPageQuery } from '../../src/connectors/sql/poll-query-builder.js';
import { normalizeSqlValue, quoteIdentAnsi } from '../../src/connectors/sql/sql-query-port.js';
import { parsePollPosition, positionValue, toPollPosition } from '../../src/connectors/sql/sql-poll-source.js';
import { buildCountQuery, buildKeysQuery, buildScanQuery } from '../../src/connectors/sql/sql-reader.js';
import { sqliteDialect } from '../../src/connectors/sqlite/sqlite-dialect.js';
import { postgresDialect } from '../../src/connectors/postgres/postgres-dialect.js';
import { mariadbDialect } from '../../src/connectors/mariadb/mariadb-dialect.js';

const ansi = { quoteIdent: quoteIdentAnsi };
const pg = { quoteIdent: quoteIdentAnsi, placeholder: (i: number) => `$${i}` };

test('full-scan pages: keyset after the last key, compound keys expanded, identifiers quoted', () => {
  assert.deepEqual(buildPageQuery(ansi, { table: 'T', keyFields: ['ID'], limit: 100, afterKey: null }), {
    sql: 'SELECT * FROM "T" WHERE "ID" IS NOT NULL ORDER BY "ID" LIMIT ?', params: [100],
  });
  const q = buildPageQuery(pg, { table: 'legacy.odd"t', keyFields: ['a', 'b'], columns: ['x'], where: "s = 'A'", limit: 10, afterKey: ['n', 5] });
  assert.equal(q.sql, 'SELECT "x", "a", "b" FROM "legacy"."odd""t" WHERE (s = \'A\') AND "a" IS NOT NULL AND "b" IS NOT NULL AND ("a" > $1 OR ("a" = $2 AND "b" > $3)) ORDER BY "a", "b" LIMIT $4');
  assert.deepEqual(q.params, ['n', 'n', 5, 10]);
});

test('incremental pages: first page re-reads the last value (>=), later pages continue after (value, key)', () => {
  const first = buildPageQuery(ansi, { table: 'T', keyFields: ['ID'], limit: 50, afterKey: null, incremental: { column: 'U', from: 7 } });
  assert.equal(first.sql, 'SELECT * FROM "T" WHERE "ID" IS NOT NULL AND "U" IS NOT NULL AND "U" >= ? ORDER BY "U", "ID" LIMIT ?');
  assert.deepEqual(first.params, [7, 50]);
  const next = buildPageQuery(ansi, { table: 'T', keyFields: ['ID'], columns: ['A'], limit: 50, afterKey: null, incremental: { column: 'U', from: 7, after: { value: 9, key: ['k'] } } });
  assert.equal(next.sql, 'SELECT "A", "ID", "U" FROM "T" WHERE "ID" IS NOT NULL AND "U" IS NOT NULL AND ("U" > ? OR ("U" = ? AND "ID" > ?)) ORDER BY "U", "ID" LIMIT ?');
  assert.deepEqual(next.params, [9, 9, 'k', 50]);
  const none = buildPageQuery(ansi, { table: 'T', keyFields: ['ID'], limit: 5, afterKey: null, incremental: { column: 'U', from: null } });
  assert.ok(!none.sql.includes('>='), 'no position yet: read everything');
});

test('delete probe selects only key columns of the listed keys, within the where filter', () => {
  assert.deepEqual(buildExistsQuery(ansi, { table: 'T', keyFields: ['ID'], keys: [['1'], ['2']] }), { sql: 'SELECT "ID" FROM "T" WHERE "ID" IN (?, ?)', params: ['1', '2'] });
  const q = buildExistsQuery(pg, { table: 'T', keyFields: ['a', 'b'], where: 'active = 1', keys: [['x', 1], ['y', 2]] });
  assert.equal(q.sql, 'SELECT "a", "b" FROM "T" WHERE (active = 1) AND (("a" = $1 AND "b" = $2) OR ("a" = $3 AND "b" = $4))');
  assert.deepEqual(q.params, ['x', 1, 'y', 2]);
});

test('values are kept as read; 64-bit integers stay exact; positions parse defensively', () => {
  assert.equal(normalizeSqlValue('007'), '007');
  assert.equal(normalizeSqlValue(42n), 42);
  assert.equal(normalizeSqlValue(9007199254740993n), '9007199254740993');
  assert.equal(normalizeSqlValue(Buffer.from('hi')), 'aGk=');
  assert.equal(normalizeSqlValue(new Date('2025-03-01T00:00:00Z')), '2025-03-01T00:00:00.000Z');
  assert.throws(() => quoteIdentAnsi('a\u0000b'), /NUL/);
  assert.deepEqual(parsePollPosition('{"v":"2025-01-01 10:00:00"}'), { v: '2025-01-01 10:00:00' });
  assert.equal(parsePollPosition('garbage'), null);
  assert.equal(parsePollPosition(null), null);
});

test('positions keep the type needed to bind them back: driver dates and 64-bit integers', () => {
  const d = new Date('2025-03-01T10:00:00.123Z');
  const p = toPollPosition(d);
  assert.deepEqual(p, { v: '2025-03-01T10:00:00.123Z', t: 'date' });
  assert.ok(positionValue(JSON.parse(JSON.stringify(p))) instanceof Date);
  assert.equal((positionValue(p) as Date).getTime(), d.getTime());
  assert.deepEqual(toPollPosition(9007199254740993n), { v: '9007199254740993', t: 'bigint' });
  assert.equal(positionValue({ v: '9007199254740993', t: 'bigint' }), 9007199254740993n);
  assert.deepEqual(toPollPosition(42n), { v: 42 });
  assert.deepEqual(toPollPosition('2025-03-01 10:00:00'), { v: '2025-03-01 10:00:00' });
  assert.equal(positionValue(null), null);
});

test('dialect objects: row-value keysets where the database serves them, expanded on MariaDB', () => {
  const input = { table: 'T', keyFields: ['a', 'b'], limit: 10, afterKey: ['n', 5] };
  assert.equal(buildPageQuery(postgresDialect, input).sql, 'SELECT * FROM "T" WHERE "a" IS NOT NULL AND "b" IS NOT NULL AND ("a", "b") > ($1, $2) ORDER BY "a", "b" LIMIT $3');
  assert.equal(buildPageQuery(sqliteDialect, input).sql, 'SELECT * FROM "T" WHERE "a" IS NOT NULL AND "b" IS NOT NULL AND ("a", "b") > (?, ?) ORDER BY "a", "b" LIMIT ?');
  assert.equal(buildPageQuery(mariadbDialect, input).sql, 'SELECT * FROM `T` WHERE `a` IS NOT NULL AND `b` IS NOT NULL AND (`a` > ? OR (`a` = ? AND `b` > ?)) ORDER BY `a`, `b` LIMIT ?');
  assert.deepEqual(buildExistsQuery(postgresDialect, { table: 'T', keyFields: ['a', 'b'], keys: [['x', 1]] }), { sql: 'SELECT "a", "b" FROM "T" WHERE ("a", "b") IN (($1, $2))', params: ['x', 1] });
});

test('reader queries: range bounds [from, to) and resume point, count over the range, get by keys', () => {
  const q = buildScanQuery(mariadbDialect, { table: 'T', keyFields: ['a', 'b'], limit: 5, from: ['m', 1], after: ['n', 2], to: ['p', 0] });
  assert.equal(q.sql, 'SELECT * FROM `T` WHERE `a` IS NOT NULL AND `b` IS NOT NULL AND (`a` > ? OR (`a` = ? AND `b` >= ?)) AND (`a` > ? OR (`a` = ? AND `b` > ?)) AND (`a` < ? OR (`a` = ? AND `b` < ?)) ORDER BY `a`, `b` LIMIT ?');
  assert.deepEqual(q.params, ['m', 'm', 1, 'n', 'n', 2, 'p', 'p', 0, 5]);
  assert.deepEqual(buildCountQuery(postgresDialect, { table: 's.T', keyFields: ['id'], where: 'x = 1', from: ['k1'] }), { sql: 'SELECT count(*) AS n FROM "s"."T" WHERE (x = 1) AND "id" IS NOT NULL AND "id" >= $1', params: ['k1'] });
  assert.deepEqual(buildKeysQuery(sqliteDialect, { table: 'T', keyFields: ['id'], columns: ['v'], keys: [['1'], ['2']] }), { sql: 'SELECT "v", "id" FROM "T" WHERE "id" IN (?, ?)', params: ['1', '2'] });
});
