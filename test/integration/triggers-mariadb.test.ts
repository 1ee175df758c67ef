import { after, test } from 'node:test';
import mysql from 'mysql2/promise';
import { openTriggerDb } from '../../src/connectors/triggers/trigger-db.js';
import { MARIADB_URL, needService, tempDir, uniqueName } from '../helpers/services.js';
import { triggerScenario } from './triggers-harness.js';

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
