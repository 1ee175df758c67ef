import { after, test } from 'node:test';
import pg from 'pg';
import { openTriggerDb } from '../../src/connectors/triggers/trigger-db.js';
import { needService, PG_URL, tempDir, uniqueName } from '../helpers/services.js';
import { triggerScenario } from './triggers-harness.js';

const tmp = tempDir();
const schema = uniqueName('trg');
after(async () => {
  tmp.cleanup();
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
});

test('PostgreSQL trigger capture: install twice, drain in order with exact images, prune on ack, uninstall', { skip: await needService('postgres') }, async () => {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.query(`CREATE TABLE ${schema}.items (id int PRIMARY KEY, name text, amount numeric(20,4), at timestamptz)`);
  await c.end();
  const url = `${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const db = openTriggerDb('postgres', { url });
  try {
    await triggerScenario({ db, driver: 'postgres', systemConfig: { url }, table: 'items', dir: tmp.dir });
  } finally {
    await db.close();
  }
});
