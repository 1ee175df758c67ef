import { after, test } from 'node:test';
import pg from 'pg';
import { openTriggerDb } from '../../src/connectors/registry.js';
import { needService, PG_URL, tempDir, uniqueName } from '../helpers/services.js';
import { triggerImagesMatchPolling, triggerScenario } from './triggers-harness.js';

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

test('PostgreSQL triggers: an application on another search_path still writes; bytea, numeric arrays, int8 and json images equal the polling source', { skip: await needService('postgres') }, async () => {
  const app = new pg.Client({ connectionString: PG_URL }); // the legacy application: default search_path
  await app.connect();
  const url = `${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const db = openTriggerDb('postgres', { url });
  try {
    await app.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await app.query(`CREATE TABLE ${schema}.typed (id int PRIMARY KEY, raw bytea, nums numeric(6,2)[], big int8, amount numeric(10,2), at timestamptz, doc jsonb, tags text[], note text)`);
    await triggerImagesMatchPolling({
      db, driver: 'postgres', systemConfig: { url: PG_URL, schema }, table: 'typed', dir: tmp.dir,
      write: async (sql, params) => { await app.query(sql, params); },
      insert: [`INSERT INTO ${schema}.typed VALUES (1, '\\x00ff10', '{1.10,2.20}', 9007199254740993, 12.50, '2024-05-01 12:00:00.123456+02', '{"n": 1, "s": "x"}', '{a,"b c",NULL}', 'one')`, []],
      update: [`UPDATE ${schema}.typed SET note = 'two', raw = '\\x0102' WHERE id = 1`, []],
    });
  } finally {
    await db.close();
    await app.end();
  }
});
