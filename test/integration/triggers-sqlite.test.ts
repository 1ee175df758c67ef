import { after, test } from 'node:test';
import path from 'node:path';
import { openTriggerDb } from '../../src/connectors/triggers/trigger-db.js';
import { tempDir } from '../helpers/services.js';
import { triggerScenario } from './triggers-harness.js';
import Database from '#better-sqlite3';

const tmp = tempDir();
after(() => tmp.cleanup());

test('SQLite trigger capture: install twice, drain in order with exact images, prune on ack, uninstall', async () => {
  const file = path.join(tmp.dir, 'legacy.db');
  const setup = new Database(file);
  setup.pragma('journal_mode = WAL');
  setup.exec('CREATE TABLE "ITEMS" (id INTEGER PRIMARY KEY, name TEXT, amount TEXT, at TEXT)');
  setup.close();
  const db = openTriggerDb('sqlite', { path: file });
  try {
    await triggerScenario({ db, driver: 'sqlite', systemConfig: { path: file }, table: 'ITEMS', dir: tmp.dir });
  } finally {
    await db.close();
  }
});
