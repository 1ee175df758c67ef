import { after, test } from 'node:test';
import path from 'node:path';
import { openTriggerDb } from '../../src/connectors/registry.js';
import { tempDir } from '../helpers/services.js';
import { triggerImagesMatchPolling, triggerScenario } from './triggers-harness.js';
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

test('SQLite triggers on a table holding BLOBs: the application still writes; images equal the polling source', async () => {
  const file = path.join(tmp.dir, 'typed.db');
  const app = new Database(file); // the legacy application's connection
  app.pragma('journal_mode = WAL');
  app.exec('CREATE TABLE typed (id INTEGER PRIMARY KEY, raw BLOB, anything, note TEXT, big INTEGER)');
  const db = openTriggerDb('sqlite', { path: file });
  try {
    await triggerImagesMatchPolling({
      db, driver: 'sqlite', systemConfig: { path: file }, table: 'typed', dir: tmp.dir,
      write: async (sql, params) => { app.prepare(sql).run(...params); },
      insert: ['INSERT INTO typed VALUES (1, ?, ?, ?, ?)', [Buffer.from([0, 255, 16]), Buffer.from('x'), 'one', 9007199254740993n]],
      update: ['UPDATE typed SET note = ?, raw = ? WHERE id = 1', ['two', Buffer.from([1, 2])]],
    });
  } finally {
    await db.close();
    app.close();
  }
});
