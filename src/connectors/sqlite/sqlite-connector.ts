/**
 * The `sqlite` connector: a polling source with per-row fingerprints (see
 * ../sql/sql-poll-source.ts) and an upsert/delete sink, over a SQLite file.
 *
 * @example
 * systems:
 *   legacy: { driver: sqlite, path: ./legacy.db, readonly: true }
 * pipelines:
 *   inspections:
 *     from: { system: legacy, collection: INSPECTIONS, poll: 5s, incremental: { column: UPDATED_AT } }
 */
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, errorMessage, NotConnectedError, PermanentError } from '../../core/errors.js';
import { didYouMean } from '../../core/suggest.js';
import { checkSqlColumns, sqlSourceFields } from '../sql/sql-check.js';
import { defineConnector } from '../contract.js';
import { durationSchema, parseDuration } from '../sql/duration.js';
import { createSqlPollSource } from '../sql/sql-poll-source.js';
import { createSqlReader, readerTableSpec } from '../sql/sql-reader.js';
import { sqlPollOptionsSchema, type SqlPollOptions } from '../sql/sql-poll-options.js';
import type { SqlQueryPort } from '../sql/sql-query-port.js';
import { fromBetterSqlite3, openSqlite } from './sqlite-query-port.js';
import { sqliteDialect } from './sqlite-dialect.js';
import { SqliteSink, type SqliteSinkOptions } from './sqlite-sink.js';
import { createTriggerSource, isTriggerMode, withTriggerMode } from '../triggers/trigger-source.js';
import { openSqliteTriggerDb } from './sqlite-trigger-db.js';

export const sqliteSystemSchema = z.strictObject({
  path: z.string().min(1).describe('Path of the SQLite database file (relative to the config file\'s folder).'),
  readonly: z.boolean().default(false).describe('Open read-only; the system can then only be a source (default false).'),
  busyTimeout: durationSchema.default('5s').describe('How long to wait for a lock held by another process (default 5s).'),
});

export const sqliteSinkSchema = z.strictObject({
  mode: z.enum(['upsert', 'insert']).default('upsert').describe('upsert (default): INSERT ... ON CONFLICT(key) DO UPDATE; insert: plain INSERT for append-only tables.'),
  versionField: z.string().min(1).optional().describe('Version fencing: write a row only when this column (a number or timestamp) is newer than the stored one; a stale write is ok-but-skipped.'),
});

export type SqliteSystem = z.input<typeof sqliteSystemSchema>;

/** The database file: relative paths resolve against the config file's folder (else the working directory). */
function fileOf(cfg: SqliteSystem, baseDir?: string): string {
  return path.resolve(baseDir ?? process.cwd(), cfg.path);
}

function busyMs(cfg: SqliteSystem): number {
  return parseDuration(cfg.busyTimeout, 'busyTimeout', 5000);
}

/** The SQLite connector descriptor (driver `sqlite`). */
export const sqliteConnector = defineConnector<SqliteSystem, SqlPollOptions, z.input<typeof sqliteSinkSchema>>({
  driver: 'sqlite',
  description: 'SQLite database file: polling source with per-row fingerprints, reader, upsert/delete sink.',
  systemSchema: sqliteSystemSchema as unknown as z.ZodType<SqliteSystem>,
  // `mode: triggers` selects trigger capture (src/connectors/triggers/)
  sourceSchema: withTriggerMode(sqlPollOptionsSchema) as unknown as z.ZodType<SqlPollOptions>,
  sinkSchema: sqliteSinkSchema as unknown as z.ZodType<z.input<typeof sqliteSinkSchema>>,

  openTriggerDb: openSqliteTriggerDb,

  fromUrl(url) {
    // sqlite:./legacy.db, sqlite:///abs/path.db, file:legacy.db or a bare path
    const m = /^(?:sqlite|file):(?:\/\/)?(.*)$/.exec(url);
    return { path: m ? m[1]! : url };
  },

  createSource(ctx) {
    if (isTriggerMode(ctx.options)) return createTriggerSource(ctx, () => openSqliteTriggerDb(ctx.systemConfig, ctx.baseDir));
    const lazy = lazyPort(ctx.system, fileOf(ctx.systemConfig, ctx.baseDir), busyMs(ctx.systemConfig));
    // the handle is dropped after a failure: the file may have been replaced or removed
    return createSqlPollSource({ dialect: sqliteDialect, ctx, port: lazy.port, onPollError: lazy.drop, close: lazy.drop });
  },

  createReader(ctx) {
    const lazy = lazyPort(ctx.system, fileOf(ctx.systemConfig, ctx.baseDir), busyMs(ctx.systemConfig));
    // the file may have been replaced or removed: reopen on the next query
    return createSqlReader({ ...readerTableSpec(ctx.collection, ctx.keyFields, ctx.options), dialect: sqliteDialect, port: lazy.port, onError: lazy.drop, close: lazy.drop });
  },

  createSink(ctx) {
    if (ctx.systemConfig.readonly) throw new ConfigError(`system "${ctx.system}" is read-only (readonly: true) and cannot be a target`, { path: `systems.${ctx.system}.readonly` });
    const file = fileOf(ctx.systemConfig, ctx.baseDir);
    // The file must exist: a mistyped path must not silently create an empty database.
    let db;
    try {
      db = openSqlite(file, { readonly: false, busyTimeoutMs: busyMs(ctx.systemConfig) });
    } catch (err) {
      throw new NotConnectedError(`cannot open SQLite database ${JSON.stringify(file)} of system "${ctx.system}" for writing: ${errorMessage(err)}`, { cause: err });
    }
    const options = sqliteSinkSchema.parse(ctx.options ?? {}) as SqliteSinkOptions;
    return new SqliteSink(db, options, JSON.stringify(file));
  },

  /** validate: the table exists and has the key, `columns` and `incremental` columns (read-only). */
  async checkSource(ctx) {
    if (isTriggerMode(ctx.options)) return [];
    const { table, columns } = tableColumns(ctx.system, fileOf(ctx.systemConfig, ctx.baseDir), ctx.collection, busyMs(ctx.systemConfig));
    checkSqlColumns(table, columns, ctx.keyFields, ctx.options);
    return [];
  },

  /** validate: the columns a record of this source holds. */
  async describeSource(ctx) {
    const { table, columns } = tableColumns(ctx.system, fileOf(ctx.systemConfig, ctx.baseDir), ctx.collection, busyMs(ctx.systemConfig));
    return sqlSourceFields(table, columns, ctx.keyFields, ctx.options);
  },

  async testConnection(cfg, { system, baseDir }) {
    const file = fileOf(cfg, baseDir);
    let db;
    try {
      db = openSqlite(file, { readonly: true, busyTimeoutMs: busyMs(cfg) });
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (err) {
      throw new NotConnectedError(`cannot open SQLite database ${JSON.stringify(file)} of system "${system}": ${errorMessage(err)}`, { cause: err });
    } finally {
      db?.close();
    }
  },
});

/**
 * The columns of a table (or view) of the file, opened read-only; `schema.table` is tried as one
 * name first, then as an attached schema and a table. A missing table is a PermanentError
 * listing the tables there are.
 */
function tableColumns(system: string, file: string, collection: string, busyTimeoutMs: number): { table: string; columns: string[] } {
  let db;
  try {
    db = openSqlite(file, { readonly: true, busyTimeoutMs });
  } catch (err) {
    throw new NotConnectedError(`cannot open SQLite database ${JSON.stringify(file)} of system "${system}": ${errorMessage(err)}`, { cause: err });
  }
  try {
    const names = (sql: string, ...params: string[]) => (db.prepare(sql).all(...params) as Array<{ name: string }>).map((r) => r.name);
    let columns = names('SELECT name FROM pragma_table_info(?)', collection);
    const dot = collection.indexOf('.');
    if (!columns.length && dot > 0) columns = names('SELECT name FROM pragma_table_info(?, ?)', collection.slice(dot + 1), collection.slice(0, dot));
    const table = `table "${collection}" of ${JSON.stringify(file)}`;
    if (!columns.length) {
      const tables = names("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name");
      throw new PermanentError(`${table} does not exist${didYouMean(collection, tables)} (system "${system}"); ${tables.length ? `its tables are ${tables.join(', ')}` : 'the database has no tables'}`, { details: { table: collection } });
    }
    return { table, columns };
  } finally {
    db.close();
  }
}

/** A read-only handle on the file, opened at the first query and dropped (to reopen) after a failure. */
function lazyPort(system: string, file: string, busyTimeoutMs: number): { port: () => SqlQueryPort; drop: () => Promise<void> } {
  let port: (SqlQueryPort & { close(): Promise<void> }) | null = null;
  return {
    port: () => {
      if (!port) {
        try {
          port = fromBetterSqlite3(openSqlite(file, { readonly: true, busyTimeoutMs }));
        } catch (err) {
          throw new NotConnectedError(`cannot open SQLite database ${JSON.stringify(file)} of system "${system}": ${errorMessage(err)}`, { cause: err });
        }
      }
      return port;
    },
    drop: async () => {
      const p = port;
      port = null;
      await p?.close();
    },
  };
}
