import { test } from 'node:test';
import assert from 'node:assert/strict';
import { triggerBaseName } from '../../src/connectors/triggers/trigger-ddl.js';
import { columnOfError, isoToMariadbDateTime, toMariadbParam } from '../../src/connectors/mariadb/mariadb-sink.js';
import { connectionOptions, mariadbDateTimeToIso, quoteIdentMariadb, quoteLiteralMariadb } from '../../src/connectors/mariadb/mariadb-port.js';

test('trigger names are bounded and distinct per table', () => {
  const a = triggerBaseName('INSPECTIONS');
  assert.match(a, /^hms_sync_inspections_[0-9a-f]{6}$/);
  assert.notEqual(triggerBaseName('Inspections'), a);
  assert.ok(triggerBaseName('x'.repeat(200)).length <= 50);
});

test('MariaDB quoting, URLs and date-times', () => {
  assert.equal(quoteIdentMariadb('odd`name'), '`odd``name`');
  assert.equal(quoteLiteralMariadb("O'Brien\\x"), "'O''Brien\\\\x'");
  assert.deepEqual(connectionOptions({ url: 'mysql://u%40x:p%3Aw@db:3307/shop' }), { host: 'db', port: 3307, user: 'u@x', password: 'p:w', database: 'shop', socketPath: undefined });
  assert.throws(() => connectionOptions({ url: 'postgres://x@y/z' }), /must start with mysql:\/\/ or mariadb:\/\//);
  assert.equal(mariadbDateTimeToIso('2026-01-02 03:04:05.123456'), '2026-01-02T03:04:05.123456Z');
  assert.equal(mariadbDateTimeToIso('0000-00-00 00:00:00'), null);
  assert.equal(isoToMariadbDateTime('2026-01-02T03:04:05.678Z'), '2026-01-02 03:04:05.678');
  assert.equal(isoToMariadbDateTime('2026-01-02T05:04:05+02:00'), '2026-01-02 03:04:05');
  assert.equal(toMariadbParam('2026-01-02T03:04:05Z', { type: 'datetime', dataType: 'datetime' }), '2026-01-02 03:04:05');
  assert.equal(toMariadbParam({ a: 1 }, undefined), '{"a":1}');
  assert.equal(toMariadbParam(true, undefined), 1);
});

test('the column a MariaDB data error names', () => {
  assert.equal(columnOfError("Incorrect integer value: 'x' for column `shop`.`orders`.`qty` at row 1"), 'qty');
  assert.equal(columnOfError("Column 'name' cannot be null"), 'name');
  assert.equal(columnOfError("Unknown column 'nope' in 'field list'"), 'nope');
  assert.equal(columnOfError('Duplicate entry'), undefined);
});
