/**
 * The `mariadb` connector (alias `mysql`): sources by polling with per-row fingerprints
 * (`mode: poll`, default; the shared ../sql/sql-poll-source.ts), by the binlog (`mode: binlog`,
 * ROW format, resumes from the committed GTID or file:position) or by triggers
 * (`mode: triggers`, ../triggers/); a batched upsert/delete sink with optional version fencing.
 *
 * @example
 * systems:
 *   shop: { driver: mariadb, url: "mysql://sync:${SHOP_PW}@db.internal:3306/shop" }
 * pipelines:
 *   orders:
 *     from: { system: shop, collection: orders, mode: binlog }
 */
import { z } from 'zod';
import mysql from 'mysql2/promise';
import { errorMessage, NotConnectedError, PermanentError } from '../../core/errors.js';
import { didYouMean } from '../../core/suggest.js';
import { checkSqlColumns, sqlSourceFields } from '../sql/sql-check.js';
import { defineConnector, type ConnectorDescriptor } from '../contract.js';
import { createSqlPollSource } from '../sql/sql-poll-source.js';
import { createSqlReader, readerTableSpec } from '../sql/sql-reader.js';
import { mariadbDialect } from './mariadb-dialect.js';
import { sqlPollOptionsSchema, type SqlPollOptions } from '../sql/sql-poll-options.js';
import type { SqlQueryPort } from '../sql/sql-query-port.js';
import { createTriggerSource, isTriggerMode, triggerSourceOptionsSchema, type TriggerSourceOptions } from '../triggers/trigger-source.js';
import { openMariadbTriggerDb } from './mariadb-trigger-db.js';
import { connectionOptions, fromMariadbPool, mariadbSystemSchema, openMariadbPool, type MariadbQueryPort, type MariadbSystem } from './mariadb-port.js';
import { MariadbSink, type MariadbSinkOptions } from './mariadb-sink.js';
import { jsonColumnsOf, withJsonColumns } from './mariadb-json.js';
import { binlogOptionsSchema, binlogSettingsProblem, createBinlogSource, type BinlogOptions } from './binlog-source.js';

export const mariadbPollOptionsSchema = sqlPollOptionsSchema.extend({
  // every mode is listed here so a misspelt mode is reported against all three
  mode: z.enum(['poll', 'binlog', 'triggers']).optional().describe('poll (default): per-row fingerprints, needs only SELECT; binlog: the binary log (ROW); triggers: the change-log filled by triggers.'),
}).refine((o) => o.mode === undefined || o.mode === 'poll', { message: 'not a polling source' });

export const mariadbSourceSchema = z.union([mariadbPollOptionsSchema, binlogOptionsSchema, triggerSourceOptionsSchema]);

export type MariadbSourceOptions = TriggerSourceOptions | BinlogOptions | (SqlPollOptions & { mode?: 'poll' });

export const mariadbSinkSchema = z.strictObject({
  mode: z.enum(['upsert', 'insert']).default('upsert').describe('upsert (default): INSERT ... ON DUPLICATE KEY UPDATE; insert: plain INSERT for append-only tables.'),
  versionField: z.string().min(1).optional().describe('Version fencing: write a row only when this column (a number or timestamp) is newer than the stored one.'),
  updateColumns: z.enum(['changed', 'all']).default('changed').describe('changed (default): an update sets only the changed columns; all: every column of the new state.'),
  batchRows: z.number().int().min(1).max(10_000).default(500).describe('Rows per statement (default 500).'),
});

export type MariadbSinkConfig = z.input<typeof mariadbSinkSchema>;

function label(cfg: MariadbSystem): string {
  const c = connectionOptions(cfg);
  return c.socketPath ? `${c.socketPath}/${c.database ?? ''}` : `${c.host}:${c.port}/${c.database ?? ''}`;
}

function descriptor(driver: 'mariadb' | 'mysql'): ConnectorDescriptor<MariadbSystem, MariadbSourceOptions, MariadbSinkConfig> {
  return defineConnector<MariadbSystem, MariadbSourceOptions, MariadbSinkConfig>({
    driver,
    description: `${driver === 'mysql' ? 'MySQL (alias of mariadb)' : 'MariaDB / MySQL'}: polling, binlog (ROW) or trigger source; batched upsert/delete sink with version fencing.`,
    systemSchema: mariadbSystemSchema as unknown as z.ZodType<MariadbSystem>,
    sourceSchema: mariadbSourceSchema as unknown as z.ZodType<MariadbSourceOptions>,
    sinkSchema: mariadbSinkSchema as unknown as z.ZodType<MariadbSinkConfig>,

    openTriggerDb: openMariadbTriggerDb,

    fromUrl(url) {
      return { url };
    },

    createSource(ctx) {
      const options = (ctx.options ?? {}) as MariadbSourceOptions;
      if (isTriggerMode(options)) return createTriggerSource(ctx, () => openMariadbTriggerDb(ctx.systemConfig));
      if (options.mode === 'binlog') return createBinlogSource({ ...ctx, options });
      const { mode: _mode, ...pollOptions } = options as SqlPollOptions & { mode?: 'poll' };
      let port: SqlQueryPort | null = null;
      let base: MariadbQueryPort | null = null;
      return createSqlPollSource({
        dialect: mariadbDialect,
        ctx: { ...ctx, options: pollOptions },
        port: async () => {
          if (!port) {
            base = fromMariadbPool(openMariadbPool(ctx.systemConfig, { connectionLimit: 2 }));
            port = withJsonColumns(base, await jsonColumnsOf(base, ctx.collection));
          }
          return port;
        },
        onPollError: async () => {
          const b = base;
          base = null;
          port = null;
          await b?.close().catch(() => {});
        },
        close: async () => {
          const b = base;
          base = null;
          port = null;
          await b?.close();
        },
      });
    },

    createReader(ctx) {
      let port: SqlQueryPort | null = null;
      let base: MariadbQueryPort | null = null;
      const drop = async () => {
        const b = base;
        base = null;
        port = null;
        await b?.close().catch(() => {});
      };
      return createSqlReader({
        ...readerTableSpec(ctx.collection, ctx.keyFields, ctx.options),
        dialect: mariadbDialect,
        // the polling source's port: JSON columns parsed the same way
        port: async () => {
          if (!port) {
            base = fromMariadbPool(openMariadbPool(ctx.systemConfig, { connectionLimit: 2 }));
            port = withJsonColumns(base, await jsonColumnsOf(base, ctx.collection));
          }
          return port;
        },
        onError: drop,
        close: drop,
      });
    },

    createSink(ctx) {
      const o = mariadbSinkSchema.parse(ctx.options ?? {});
      const opts: MariadbSinkOptions = { mode: o.mode, versionField: o.versionField, updateColumns: o.updateColumns, maxRows: o.batchRows };
      const cfg = ctx.systemConfig;
      return new MariadbSink(openMariadbPool(cfg), opts, label(cfg), async (threadId) => {
        const c = await mysql.createConnection({ ...connectionOptions(cfg), connectTimeout: 5000 });
        try {
          await c.query(`KILL QUERY ${Number(threadId)}`);
        } finally {
          await c.end().catch(() => {});
        }
      });
    },

    /**
     * validate: the table exists and has the key, `columns` and `incremental` columns; for
     * `mode: binlog` the binlog is on in ROW format (read-only queries).
     */
    async checkSource(ctx) {
      const options = (ctx.options ?? {}) as MariadbSourceOptions;
      return withPort(ctx.systemConfig, ctx.system, async (port) => {
        const warnings: string[] = [];
        if (options.mode === 'binlog') {
          const problem = binlogSettingsProblem(await port.query('SELECT @@log_bin AS b, @@binlog_format AS f', []), `MariaDB ${label(ctx.systemConfig)} (system "${ctx.system}")`);
          if (problem) throw new PermanentError(problem, { details: { setting: 'log_bin/binlog_format' } });
          const image = await port.query('SELECT @@binlog_row_image AS i', []).catch(() => []);
          const value = String(image[0]?.i ?? 'FULL').toUpperCase();
          if (value !== 'FULL') warnings.push(`binlog_row_image is ${value} on ${label(ctx.systemConfig)}: updates carry only some columns, so the others are not seen as changed; SET GLOBAL binlog_row_image = 'FULL'`);
        }
        if (isTriggerMode(options)) return warnings;
        const { table, columns } = await tableColumns(port, ctx.collection, ctx.system);
        checkSqlColumns(table, columns, ctx.keyFields, options);
        return warnings;
      });
    },

    /** validate: the columns a record of this source holds. */
    async describeSource(ctx) {
      return withPort(ctx.systemConfig, ctx.system, async (port) => {
        const { table, columns } = await tableColumns(port, ctx.collection, ctx.system);
        return sqlSourceFields(table, columns, ctx.keyFields, ctx.options);
      });
    },

    async testConnection(cfg, { system }) {
      const pool = openMariadbPool(cfg, { connectionLimit: 1 });
      try {
        await pool.query('SELECT 1');
      } catch (err) {
        throw new NotConnectedError(`cannot connect to MariaDB ${label(cfg)} of system "${system}": ${errorMessage(err)}`, { cause: err });
      } finally {
        await pool.end();
      }
    },
  });
}

/** One short-lived connection for a check; a failed connect is a NotConnectedError naming the server and system. */
async function withPort<T>(cfg: MariadbSystem, system: string, fn: (port: MariadbQueryPort) => Promise<T>): Promise<T> {
  const port = fromMariadbPool(openMariadbPool(cfg, { connectionLimit: 1 }));
  try {
    try {
      await port.query('SELECT 1', []);
    } catch (err) {
      throw new NotConnectedError(`cannot connect to MariaDB ${label(cfg)} of system "${system}": ${errorMessage(err)}`, { cause: err });
    }
    return await fn(port);
  } finally {
    await port.close().catch(() => {});
  }
}

/** The columns of `table` or `db.table` (default: the connection's database); a missing table is a PermanentError listing the tables there are. */
async function tableColumns(port: MariadbQueryPort, collection: string, system: string): Promise<{ table: string; columns: string[] }> {
  const i = collection.lastIndexOf('.');
  const [schema, name] = i < 0 ? [null, collection] : [collection.slice(0, i), collection.slice(i + 1)];
  const inSchema = schema ? '?' : 'DATABASE()';
  const rows = await port.query(`SELECT COLUMN_NAME AS c FROM information_schema.columns WHERE table_schema = ${inSchema} AND table_name = ? ORDER BY ORDINAL_POSITION`, schema ? [schema, name] : [name]);
  const db = schema ?? String((await port.query('SELECT DATABASE() AS d', []))[0]?.d ?? '');
  const table = `table \`${db}\`.\`${name}\``;
  if (!rows.length) {
    if (!db) throw new PermanentError(`table "${collection}" of system "${system}" names no database: set database (or a /database path in url) on the system, or qualify the collection as db.table`);
    const tables = (await port.query(`SELECT TABLE_NAME AS t FROM information_schema.tables WHERE table_schema = ${inSchema} ORDER BY TABLE_NAME`, schema ? [schema] : [])).map((r) => String(r.t));
    throw new PermanentError(`${table} does not exist${didYouMean(name, tables)} (system "${system}"); ${tables.length ? `the database's tables are ${tables.join(', ')}` : 'the database has no tables'}`, { details: { table: `${db}.${name}` } });
  }
  return { table, columns: rows.map((r) => String(r.c)) };
}

/** The MariaDB connector descriptor (driver `mariadb`). */
export const mariadbConnector = descriptor('mariadb');
/** The same connector under driver `mysql`. */
export const mysqlConnector = descriptor('mysql');
