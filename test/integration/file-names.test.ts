/**
 * Pure helpers of the file connector: glob patterns, file-name templates and config checks.
 * (Kept beside the other file-connector tests; no I/O.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTemplate, globToRegExp, renderTemplate } from '../../src/connectors/file/file-names.js';
import { fileSinkSchema, fileSourceSchema, fileSystemSchema } from '../../src/connectors/file/file-options.js';
import { ConfigError } from '../../src/core/errors.js';

test('globs match whole file names', () => {
  const g = globToRegExp('PERMITS.*.csv');
  assert.ok(g.test('PERMITS.20260101.csv'));
  assert.ok(!g.test('PERMITS.20260101.csv.tmp'));
  assert.ok(!g.test('XPERMITS.1.csv'));
  assert.ok(globToRegExp('file?.[0-9]x').test('fileA.7x'));
  assert.ok(!globToRegExp('file?.[!0-9]x').test('fileA.7x'));
  assert.ok(globToRegExp('a+b(1).dat').test('a+b(1).dat'), 'regex characters are literal');
  assert.throws(() => globToRegExp('bad[.csv'), ConfigError);
});

test('file-name templates: date tokens (UTC by default), padded sequence, collection, name', () => {
  const date = new Date(Date.UTC(2026, 0, 5, 7, 8, 9, 12));
  assert.equal(renderTemplate('PERMITS.{yyyyMMddHHmmss}.{seq}.dat', { date, seq: 7 }), 'PERMITS.20260105070809.7.dat');
  assert.equal(renderTemplate('{collection}_{yyyy-MM-dd}_{HHmmssSSS}_{seq:4}.csv', { date, seq: 42, collection: 'P' }), 'P_2026-01-05_070809012_0042.csv');
  assert.equal(renderTemplate('{yy}{MM}{dd}', { date, seq: 1 }), '260105');
  assert.equal(renderTemplate('{name}.trg', { date, seq: 1, name: 'A.DAT' }), 'A.DAT.trg');
  assert.throws(() => checkTemplate('X.{seqq}.dat', 'fileName'), /unknown token \{seqq\}/);
  checkTemplate('X.{yyyyMMdd}.{seq:6}.{collection}', 'fileName');
});

test('schemas: defaults, strict keys and clear refusals', () => {
  const src = fileSourceSchema.parse({ format: 'csv' });
  assert.ok(src.format === 'csv');
  assert.equal(src.mode, 'changes');
  assert.equal(src.onError, 'fail');
  assert.equal(src.delimiter, ',');
  assert.equal(fileSourceSchema.safeParse({ format: 'csv', onError: 'dead-letter' }).success, true);
  assert.equal(fileSourceSchema.safeParse({ format: 'csv', onError: 'ignore' }).success, false);
  assert.equal(fileSourceSchema.safeParse({ format: 'csv', colums: ['a'] }).success, false, 'unknown keys are errors');
  assert.equal(fileSourceSchema.safeParse({ format: 'xml' }).success, false);
  const fixed = fileSinkSchema.parse({ format: 'fixed', copybook: 'A.cpy' });
  assert.ok(fixed.format === 'fixed');
  assert.equal(fixed.codePage, 'cp037');
  assert.equal(fixed.recordFormat, 'F');
  assert.deepEqual(fixed.rotate, { interval: '1m' });
  assert.equal(fileSinkSchema.safeParse({ format: 'csv', rotate: { interval: 'soon' } }).success, false);
  const sftp = fileSystemSchema.safeParse({ transport: 'sftp', host: 'h', username: 'u', dir: '/in' });
  assert.equal(sftp.success, false);
  assert.match(JSON.stringify(sftp.error?.issues), /privateKey \(a path to a key file\) or password/);
  const ok = fileSystemSchema.parse({ transport: 'sftp', host: 'h', username: 'u', password: 'p', dir: '/in' });
  assert.ok(ok.transport === 'sftp');
  assert.equal(ok.port, 22);
});
