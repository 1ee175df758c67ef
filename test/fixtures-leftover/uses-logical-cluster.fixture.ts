// Fixture for test/e2e/run-tests-leftovers.test.ts (not a test of the suite): uses the second
// PostgreSQL cluster of test/helpers/pg-logical.ts, then fails when FIXTURE_FAIL=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { needLogicalPg } from '../helpers/pg-logical.js';

test('uses the logical cluster on 5433', async () => {
  const { url, skip } = await needLogicalPg();
  assert.equal(skip, false, String(skip));
  assert.match(url, /:5433\//);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  assert.equal((await c.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level, 'logical');
  await c.end();
  assert.notEqual(process.env.FIXTURE_FAIL, '1', 'this run fails on purpose, after using the cluster');
});
