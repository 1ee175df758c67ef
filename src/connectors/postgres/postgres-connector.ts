/**
 * The `postgres` connector: a source by logical replication (`mode: logical`, pgoutput) or by
 * polling with per-row fingerprints (`mode: poll`, the default: the shared SQL polling
 * source), and a batched upsert/delete sink with optional version fencing.
 * See docs/connectors/postgres.md.
 *
 * @example
 * systems:
 *   legacy: { driver: postgres, url: "postgres://sync@db:5432/legacy", schema: permits }
 * pipelines:
 *   permits:
 *     from: { system: legacy, collection: permit, mode: logical }
 *     to:   { system: portal, collection: permit, versionField: version }
 */
import pg from 'pg';
import { z } from 'zod';
import { errorMessage, NotConnectedError } from '../../core/errors.js';
import { defineConnector, type SourceContext } from '../contract.js';
import { createSqlPollSource } from '../sql/sql-poll-source.js';
import { createSqlReader, readerTableSpec } from '../sql/sql-reader.js';
import { postgresDialect } from './postgres-dialect.js';
import { sqlPollOptionsSchema, type SqlPollOptions } from '../sql/sql-poll-options.js';
import { clientConfig, createPool, poolQueryPort, postgresSystemSchema, serverLabel, type PostgresSystem } from './pg-connection.js';
import type { SqlQueryPort } from '../sql/sql-query-port.js';
import { PgLogicalSource, pgLogicalOptionsSchema, type PgLogicalOptions } from './pg-logical-source.js';
import { PostgresSink, type PostgresSinkOptions } from './postgres-sink.js';
import { checkWalLevel, describeTable, quoteTable, replicaIdentityProblems, tableRef } from './pg-setup.js';
import { checkSqlColumns, sqlSourceFields } from '../sql/sql-check.js';
import { createTriggerSource, isTriggerMode, triggerSourceOptionsSchema } from '../triggers/trigger-source.js';
import { openPostgresTriggerDb } from './postgres-trigger-db.js';

/** A field schema without its default (the source applies its own defaults when it starts). */
function noDefault(t: z.ZodType): z.ZodType {
  const def = (t as unknown as { _zod: { def: { type: string; innerType?: z.ZodType } } })._zod.def;
  return def.type === 'default' && def.innerType ? def.innerType : t;
}

const pollShape = sqlPollOptionsSchema.shape as Record<string, z.ZodType>;
const logicalShape = Object.fromEntries(Object.entries(pgLogicalOptionsSchema.shape as Record<string, z.ZodType>).filter(([k]) => k !== 'mode'));
const triggerShape = Object.fromEntries(Object.entries(triggerSourceOptionsSchema.shape as Record<string, z.ZodType>).filter(([k]) => k !== 'mode'));
const modeKeys: Record<string, string[]> = { poll: Object.keys(pollShape), logical: Object.keys(logicalShape), triggers: Object.keys(triggerShape) };
const combined: Record<string, z.ZodType> = {
  mode: z.enum(['poll', 'logical', 'triggers']).optional().describe('poll (default): polling with per-row fingerprints, any wal_level; logical: logical replication (pgoutput), needs wal_level = logical; triggers: drain the change-log filled by triggers (`hms-sync triggers install`; there `poll` defaults to 500ms and `batchSize` to 500).'),
};
for (const [k, v] of [...Object.entries(pollShape), ...Object.entries(logicalShape), ...Object.entries(triggerShape)]) combined[k] ??= noDefault(v).optional().describe(v.description ?? '');

/**
 * The `from:` options of a postgres source: one object (so a typo lists every valid key), and
 * each option only with its mode (`mode: triggers` selects trigger capture, src/connectors/triggers/).
 */
export const postgresSourceSchema = z.strictObject(combined).superRefine((o, ctx) => {
  const mode = (o as { mode?: string }).mode ?? 'poll';
  const allowed = new Set(modeKeys[mode] ?? []);
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (k === 'mode' || v === undefined || allowed.has(k)) continue;
    const owners = Object.entries(modeKeys).filter(([, keys]) => keys.includes(k)).map(([m]) => `mode: ${m}`);
    ctx.addIssue({ code: 'custom', path: [k], message: `option "${k}" applies only with ${owners.join(' or ')} (this source has mode: ${mode})` });
  }
});

export type PostgresSourceOptions = PgLogicalOptions | (SqlPollOptions & { mode?: 'poll' });

export const postgresSinkSchema = z.strictObject({
  mode: z.enum(['upsert', 'insert']).default('upsert').describe('upsert (default): INSERT ... ON CONFLICT (key) DO UPDATE; insert: plain INSERT for append-only tables.'),
  versionField: z.string().min(1).optional().describe('Version fencing: write a row only when this column (a number or timestamp) is newer than the stored one.'),
  updateColumns: z.enum(['changed', 'all']).default('changed').describe('changed (default): an update sets only the changed columns; all: every column of the new state.'),
  batchRows: z.number().int().min(1).max(10_000).default(500).describe('Rows per statement (default 500).'),
});

export type PostgresSinkConfig = z.input<typeof postgresSinkSchema>;

/** The PostgreSQL connector descriptor (driver `postgres`). */
export const postgresConnector = defineConnector<PostgresSystem, PostgresSourceOptions, PostgresSinkConfig>({
  driver: 'postgres',
  description: 'PostgreSQL: logical replication (pgoutput) or polling source, batched upsert/delete sink with version fencing.',
  systemSchema: postgresSystemSchema as unknown as z.ZodType<PostgresSystem>,
  sourceSchema: postgresSourceSchema as unknown as z.ZodType<PostgresSourceOptions>,
  sinkSchema: postgresSinkSchema as unknown as z.ZodType<PostgresSinkConfig>,

  openTriggerDb: openPostgresTriggerDb,

  fromUrl(url) {
    const u = new URL(url);
    const schema = u.searchParams.get('schema');
    if (schema) u.searchParams.delete('schema');
    return { url: u.toString(), ...(schema ? { schema } : {}) };
  },

  createSource(ctx) {
    if (isTriggerMode(ctx.options)) return createTriggerSource(ctx, () => openPostgresTriggerDb(ctx.systemConfig, ctx.baseDir));
    const options = (ctx.options ?? {}) as PostgresSourceOptions;
    if (options.mode === 'logical') {
      const pool = createPool(ctx.systemConfig, { max: 2, baseDir: ctx.baseDir });
      return new PgLogicalSource({
        ctx: ctx as SourceContext<unknown, PgLogicalOptions>,
        pool,
        connection: clientConfig(ctx.systemConfig, ctx.baseDir),
        defaultSchema: ctx.systemConfig.schema ?? 'public',
        server: serverLabel(ctx.systemConfig.url),
      });
    }
    const { mode: _mode, ...pollOptions } = options as SqlPollOptions & { mode?: 'poll' };
    const lazy = lazyPool(ctx.systemConfig, ctx.baseDir, 'poll query');
    return createSqlPollSource({
      dialect: postgresDialect,
      ctx: { ...ctx, options: pollOptions } as SourceContext<unknown, SqlPollOptions>,
      port: lazy.port,
      onPollError: lazy.drop,
      close: lazy.drop,
    });
  },

  createReader(ctx) {
    const lazy = lazyPool(ctx.systemConfig, ctx.baseDir, 'read query');
    return createSqlReader({ ...readerTableSpec(ctx.collection, ctx.keyFields, ctx.options), dialect: postgresDialect, port: lazy.port, onError: lazy.drop, close: lazy.drop });
  },

  createSink(ctx) {
    const o = postgresSinkSchema.parse(ctx.options ?? {});
    const opts: PostgresSinkOptions = { mode: o.mode, versionField: o.versionField, updateColumns: o.updateColumns, maxRows: o.batchRows };
    return new PostgresSink(createPool(ctx.systemConfig, { max: 4, baseDir: ctx.baseDir }), opts, serverLabel(ctx.systemConfig.url));
  },

  /**
   * validate: the table exists and has the key, `columns` and `incremental` columns; for logical
   * mode also wal_level and the replica identity (nothing is created).
   */
  async checkSource(ctx) {
    const options = (ctx.options ?? {}) as { mode?: string };
    const table = tableRef(ctx.collection, ctx.systemConfig.schema ?? 'public');
    return withClient(ctx.systemConfig, ctx.system, ctx.baseDir, async (client) => {
      if (options.mode === 'logical') await checkWalLevel(client, serverLabel(ctx.systemConfig.url));
      const facts = await describeTable(client, table);
      checkSqlColumns(`table ${quoteTable(table)}`, facts.columns, ctx.keyFields, options);
      return options.mode === 'logical' ? replicaIdentityProblems(table, facts, ctx.keyFields) : [];
    });
  },

  /** validate: the columns a record of this source holds. */
  async describeSource(ctx) {
    const table = tableRef(ctx.collection, ctx.systemConfig.schema ?? 'public');
    return withClient(ctx.systemConfig, ctx.system, ctx.baseDir, async (client) => sqlSourceFields(`table ${quoteTable(table)}`, (await describeTable(client, table)).columns, ctx.keyFields, ctx.options));
  },

  async testConnection(cfg, { system, baseDir }) {
    await withClient(cfg, system, baseDir, async (client) => {
      try {
        await client.query('SELECT 1');
      } catch (err) {
        throw new NotConnectedError(`cannot connect to PostgreSQL ${serverLabel(cfg.url)} of system "${system}": ${errorMessage(err)}`, { cause: err });
      }
    });
  },
});

/** One short-lived connection for a check; a failed connect is a NotConnectedError naming the server and system. */
async function withClient<T>(cfg: PostgresSystem, system: string, baseDir: string | undefined, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...clientConfig(cfg, baseDir), connectionTimeoutMillis: 5000 });
  try {
    await client.connect().catch((err: unknown) => {
      throw new NotConnectedError(`cannot connect to PostgreSQL ${serverLabel(cfg.url)} of system "${system}": ${errorMessage(err)}`, { cause: err });
    });
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A small pool opened at the first query and ended (to reconnect) after a failure; a failing
 * query is a NotConnectedError naming the server (`what`: "poll query", "read query").
 */
function lazyPool(systemConfig: PostgresSystem, baseDir: string | undefined, what: string): { port: () => SqlQueryPort; drop: () => Promise<void> } {
  let pool: pg.Pool | null = null;
  const server = serverLabel(systemConfig.url);
  return {
    port: () => {
      pool ??= createPool(systemConfig, { max: 2, baseDir });
      const port = poolQueryPort(pool);
      return {
        ...port,
        query: async (sql: string, params: unknown[]) => {
          try {
            return await port.query(sql, params);
          } catch (err) {
            throw new NotConnectedError(`${what} on PostgreSQL ${server} failed: ${errorMessage(err)}`, { cause: err });
          }
        },
      };
    },
    drop: async () => {
      const p = pool;
      pool = null;
      await p?.end().catch(() => {});
    },
  };
}
