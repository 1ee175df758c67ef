/**
 * The Reader conformance suite (reader-suite.ts) on the SQL connectors, against real servers:
 * SQLite (a temporary file), PostgreSQL and MariaDB (unique table names per run). Also: a Reader
 * row and a polled row of the same record have the same fingerprint, on each database.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import Database from '#better-sqlite3';
import { fingerprint } from '../../src/core/delta.js';
import { silentLogger } from '../../src/core/log.js';
import type { Doc } from '../../src/core/types.js';
import type { ConnectorDescriptor, Reader, Source, SourceState } from '../../src/connectors/contract.js';
import { sqliteConnector } from '../../src/connectors/sqlite/sqlite-connector.js';
import { postgresConnector } from '../../src/connectors/postgres/postgres-connector.js';
import { mariadbConnector } from '../../src/connectors/mariadb/mariadb-connector.js';
import { MARIADB_URL, needService, PG_URL, tempDir, uniqueName } from '../helpers/services.js';
import { chunked, readerConformance, type CollectionSpec, type FixtureCollection } from './reader-suite.js';

const pgSkip = await needService('postgres');
const mariadbSkip = await needService('mariadb');

function openReader(connector: ConnectorDescriptor, systemConfig: unknown, collection: string, keyFields: string[], options: unknown = {}): Promise<Reader> {
  return Promise.resolve(connector.createReader!({ system: 'legacy', systemConfig, collection, options, keyFields, logger: silentLogger() }));
}

// ---- SQLite ----
const dir = tempDir('hms-reader-');
after(() => dir.cleanup());
const sqliteFile = path.join(dir.dir, 'legacy.db');
new Database(sqliteFile).close();

readerConformance('sqlite', () => {
  const db = new Database(sqliteFile);
  db.pragma('journal_mode = WAL');
  return {
    async createCollection(spec: CollectionSpec, rows: Iterable<Doc>): Promise<FixtureCollection> {
      const cols = spec.fields.map((f) => `"${f.name}" ${f.type === 'int' ? 'INTEGER' : 'TEXT'}`).join(', ');
      db.exec(`CREATE TABLE "${spec.name}" (${cols}, PRIMARY KEY (${spec.keyFields.map((k) => `"${k}"`).join(', ')}))`);
      const ins = db.prepare(`INSERT INTO "${spec.name}" (${spec.fields.map((f) => `"${f.name}"`).join(', ')}) VALUES (${spec.fields.map(() => '?').join(', ')})`);
      const insert = async (list: Iterable<Doc>) => {
        for (const part of chunked(list, 10_000)) db.transaction(() => { for (const r of part) ins.run(...spec.fields.map((f) => r[f.name])); })();
      };
      await insert(rows);
      const del = db.prepare(`DELETE FROM "${spec.name}" WHERE ${spec.keyFields.map((k) => `"${k}" = ?`).join(' AND ')}`);
      return {
        insert,
        async remove(keys) { for (const k of keys) del.run(...spec.keyFields.map((f) => k[f])); },
        openReader: () => openReader(sqliteConnector, { path: sqliteFile }, spec.name, spec.keyFields),
        async drop() { db.exec(`DROP TABLE IF EXISTS "${spec.name}"`); },
      };
    },
    async close() { db.close(); },
  };
});

// ---- PostgreSQL ----
readerConformance('postgres', () => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
  return {
    async createCollection(spec, rows) {
      const t = `"${spec.name}"`;
      const cols = spec.fields.map((f) => `"${f.name}" ${f.type === 'int' ? 'integer' : 'text'}`).join(', ');
      await pool.query(`CREATE TABLE ${t} (${cols}, PRIMARY KEY (${spec.keyFields.map((k) => `"${k}"`).join(', ')}))`);
      // one statement per 20,000 rows: arrays of each column, unnested
      const insert = async (list: Iterable<Doc>) => {
        for (const part of chunked(list, 20_000)) {
          const arrays = spec.fields.map((f) => part.map((r) => r[f.name]));
          await pool.query(`INSERT INTO ${t} (${spec.fields.map((f) => `"${f.name}"`).join(', ')}) SELECT * FROM unnest(${spec.fields.map((f, i) => `$${i + 1}::${f.type === 'int' ? 'integer' : 'text'}[]`).join(', ')})`, arrays);
        }
      };
      await insert(rows);
      return {
        insert,
        async remove(keys) {
          for (const k of keys) await pool.query(`DELETE FROM ${t} WHERE ${spec.keyFields.map((f, i) => `"${f}" = $${i + 1}`).join(' AND ')}`, spec.keyFields.map((f) => k[f]));
        },
        openReader: () => openReader(postgresConnector, { url: PG_URL }, spec.name, spec.keyFields),
        async drop() { await pool.query(`DROP TABLE IF EXISTS ${t}`); },
      };
    },
    async close() { await pool.end(); },
  };
}, { skip: pgSkip });

// ---- MariaDB ----
readerConformance('mariadb', () => {
  const pool = mysql.createPool({ uri: MARIADB_URL, connectionLimit: 2 });
  return {
    async createCollection(spec, rows) {
      const t = `\`${spec.name}\``;
      const cols = spec.fields.map((f) => `\`${f.name}\` ${f.type === 'int' ? 'INT' : 'VARCHAR(255)'}`).join(', ');
      await pool.query(`CREATE TABLE ${t} (${cols}, PRIMARY KEY (${spec.keyFields.map((k) => `\`${k}\``).join(', ')})) ENGINE=InnoDB`);
      const insert = async (list: Iterable<Doc>) => {
        for (const part of chunked(list, 2_000)) {
          await pool.query(`INSERT INTO ${t} (${spec.fields.map((f) => `\`${f.name}\``).join(', ')}) VALUES ?`, [part.map((r) => spec.fields.map((f) => r[f.name]))]);
        }
      };
      await insert(rows);
      return {
        insert,
        async remove(keys) {
          for (const k of keys) await pool.query(`DELETE FROM ${t} WHERE ${spec.keyFields.map((f) => `\`${f}\` = ?`).join(' AND ')}`, spec.keyFields.map((f) => k[f]));
        },
        openReader: () => openReader(mariadbConnector, { url: MARIADB_URL }, spec.name, spec.keyFields),
        async drop() { await pool.query(`DROP TABLE IF EXISTS ${t}`); },
      };
    },
    async close() { await pool.end(); },
  };
}, { skip: mariadbSkip });

// ---- A Reader row fingerprints as the polled row of the same record ----

const emptyState: SourceState = {
  scope: 'poll:legacy:t',
  getPosition: async () => null,
  getShadow: async () => new Map(),
  listShadow: async function* () {},
};

/** The rows the polling source reports on its first full scan. */
async function polledDocs(connector: ConnectorDescriptor, systemConfig: unknown, collection: string, keyFields: string[], n: number, options: Record<string, unknown> = {}): Promise<Map<string, Doc>> {
  const source = (await connector.createSource!({ system: 'legacy', systemConfig, collection, options: { poll: '1h', ...options }, keyFields, state: emptyState, logger: silentLogger(), workDir: dir.dir })) as Source;
  const ac = new AbortController();
  const out = new Map<string, Doc>();
  try {
    for await (const b of source.stream(ac.signal)) {
      for (const e of b.events) out.set(e.key, e.after!);
      if (out.size >= n) break;
    }
  } finally {
    ac.abort();
    await source.close();
  }
  return out;
}

async function readDocs(reader: Reader): Promise<Map<string, Doc>> {
  const out = new Map<string, Doc>();
  try {
    for await (const page of reader.scan({ limit: 2 })) for (const r of page.rows) out.set(r.key, r.doc);
  } finally {
    await reader.close();
  }
  return out;
}

function assertSameFingerprints(polled: Map<string, Doc>, read: Map<string, Doc>, n: number) {
  assert.equal(read.size, n);
  assert.deepEqual([...read.keys()].sort(), [...polled.keys()].sort());
  for (const [k, doc] of read) {
    assert.deepEqual(doc, polled.get(k), `row ${k}`);
    assert.equal(fingerprint(doc), fingerprint(polled.get(k)), `fingerprint of row ${k}`);
  }
}

test('sqlite: a Reader row has the fingerprint of the polled row (integers, 64-bit, text "007", real, blob, null; columns/where options)', async () => {
  const db = new Database(sqliteFile);
  const t = uniqueName('fp');
  db.exec(`CREATE TABLE ${t} (id INTEGER PRIMARY KEY, code TEXT, big INTEGER, amount REAL, raw BLOB, note TEXT, hidden TEXT)`);
  const ins = db.prepare(`INSERT INTO ${t} VALUES (?, ?, ?, ?, ?, ?, ?)`);
  ins.run(1, '007', 9007199254740993n, 12.5, Buffer.from([0, 255]), null, 'x');
  ins.run(2, 'A', 5, 0.1, null, 'ü', 'y');
  ins.run(3, 'B', -9007199254740993n, -1, Buffer.alloc(0), '', 'z');
  db.close();
  const cfg = { path: sqliteFile };
  assertSameFingerprints(await polledDocs(sqliteConnector, cfg, t, ['id'], 3), await readDocs(await openReader(sqliteConnector, cfg, t, ['id'])), 3);
  const options = { columns: ['code', 'big'], where: "hidden <> 'y'" };
  assertSameFingerprints(await polledDocs(sqliteConnector, cfg, t, ['id'], 2, options), await readDocs(await openReader(sqliteConnector, cfg, t, ['id'], { poll: '1s', ...options })), 2);
});

test('postgres: a Reader row has the fingerprint of the polled row (int8, numeric, timestamptz, timestamp, bytea, jsonb, arrays)', { skip: pgSkip }, async () => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
  const t = uniqueName('fp');
  try {
    await pool.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, code text, amount numeric(10,4), at timestamptz, local timestamp, day date, raw bytea, doc jsonb, nums numeric[], flag boolean)`);
    await pool.query(`INSERT INTO ${t} VALUES
      (9007199254740993, '007', 12.3400, '2024-05-01T10:00:00.123456Z', '2024-05-01 10:00:00', '2024-05-01', '\\x00ff', '{"a": 12345678901234567890}', '{1.10,2}', true),
      (2, 'A', null, null, null, null, null, null, null, null)`);
    const cfg = { url: PG_URL };
    assertSameFingerprints(await polledDocs(postgresConnector, cfg, t, ['id'], 2), await readDocs(await openReader(postgresConnector, cfg, t, ['id'])), 2);
  } finally {
    await pool.query(`DROP TABLE IF EXISTS ${t}`).catch(() => {});
    await pool.end();
  }
});

test('mariadb: a Reader row has the fingerprint of the polled row (BIGINT, DECIMAL, DATETIME, TIMESTAMP, DATE, BLOB, JSON)', { skip: mariadbSkip }, async () => {
  const pool = mysql.createPool({ uri: MARIADB_URL, connectionLimit: 1 });
  const t = uniqueName('fp');
  try {
    await pool.query(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, code VARCHAR(10), amount DECIMAL(10,4), at DATETIME(6), ts TIMESTAMP(3) NULL, day DATE, raw BLOB, doc JSON, flag TINYINT(1))`);
    await pool.query(`INSERT INTO ${t} VALUES (9007199254740993, '007', 12.34, '2024-05-01 10:00:00.123456', '2024-05-01 10:00:00.5', '2024-05-01', X'00ff', '{"a": 12345678901234567890}', 1), (2, 'A', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    const cfg = { url: MARIADB_URL };
    assertSameFingerprints(await polledDocs(mariadbConnector, cfg, t, ['id'], 2), await readDocs(await openReader(mariadbConnector, cfg, t, ['id'])), 2);
  } finally {
    await pool.query(`DROP TABLE IF EXISTS ${t}`).catch(() => {});
    await pool.end();
  }
});
