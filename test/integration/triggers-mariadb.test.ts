import { after, test } from 'node:test';
import mysql from 'mysql2/promise';
import { openTriggerDb } from '../../src/connectors/registry.js';
import { MARIADB_URL, needService, tempDir, uniqueName } from '../helpers/services.js';
import { triggerImagesMatchPolling, triggerScenario } from './triggers-harness.js';

const tmp = tempDir();
const database = uniqueName('trg');
after(async () => {
  tmp.cleanup();
  const c = await mysql.createConnection(MARIADB_URL);
  await c.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await c.end();
});

test('MariaDB trigger capture: install twice, drain in order with exact images, prune on ack, uninstall', { skip: await needService('mariadb') }, async () => {
  const c = await mysql.createConnection(MARIADB_URL);
  await c.query(`CREATE DATABASE \`${database}\``);
  await c.query(`CREATE TABLE \`${database}\`.items (id INT PRIMARY KEY, name VARCHAR(100), amount DECIMAL(20,4), at DATETIME(3))`);
  await c.end();
  const u = new URL(MARIADB_URL);
  u.pathname = `/${database}`;
  const db = openTriggerDb('mariadb', { url: u.toString() });
  try {
    await triggerScenario({ db, driver: 'mariadb', systemConfig: { url: u.toString() }, table: 'items', dir: tmp.dir });
  } finally {
    await db.close();
  }
});

test('MariaDB triggers on BLOB, VARBINARY and BIT columns: the application still writes; images equal the polling source', { skip: await needService('mariadb') }, async () => {
  const app = await mysql.createConnection(MARIADB_URL);
  await app.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  await app.query(`CREATE TABLE \`${database}\`.typed (id INT PRIMARY KEY, raw BLOB, vb VARBINARY(100), flags BIT(8), big BIGINT UNSIGNED, amount DECIMAL(10,2), note VARCHAR(20))`);
  const u = new URL(MARIADB_URL);
  u.pathname = `/${database}`;
  const db = openTriggerDb('mariadb', { url: u.toString() });
  const long = Buffer.alloc(300, 0xfe); // base64 longer than TO_BASE64's 76-character lines
  try {
    await triggerImagesMatchPolling({
      db, driver: 'mariadb', systemConfig: { url: u.toString() }, table: 'typed', dir: tmp.dir,
      write: async (sql, params) => { await app.query(sql, params); },
      insert: [`INSERT INTO \`${database}\`.typed VALUES (1, ?, X'00ff', b'10100101', 18446744073709551615, 12.50, 'one')`, [long]],
      update: [`UPDATE \`${database}\`.typed SET note = 'two', vb = X'0102' WHERE id = 1`, []],
    });
  } finally {
    await db.close();
    await app.end();
  }
});
