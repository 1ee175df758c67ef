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
import { errorMessage, NotConnectedError } from '../../core/errors.js';
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
import { binlogOptionsSchema, createBinlogSource, type BinlogOptions } from './binlog-source.js';

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

/** The MariaDB connector descriptor (driver `mariadb`). */
export const mariadbConnector = descriptor('mariadb');
/** The same connector under driver `mysql`. */
export const mysqlConnector = descriptor('mysql');
