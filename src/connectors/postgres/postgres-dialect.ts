/**
 * PostgreSQL as the SQL kit sees it: double-quoted identifiers, `$n` placeholders, row values
 * served by the key index, `ON CONFLICT ... DO UPDATE ... RETURNING` upserts, and the
 * trigger-capture pieces (jsonb change-log, catalogue queries, converters that make row images
 * read as the pools of pg-types-map.ts read rows).
 */
import { normalizeSqlValue, onConflictClause, quoteIdentDouble, quoteLiteralStandard, type SqlDialect } from '../sql/sql-dialect.js';
import { textParserFor, timestampToIso, timestamptzToIso } from './pg-types-map.js';

const q = quoteIdentDouble;

/** The PostgreSQL dialect object. */
export const postgresDialect: SqlDialect = {
  name: 'postgres',
  quoteIdent: q,
  quoteLiteral: quoteLiteralStandard,
  placeholder: (n) => `$${n}`,
  rowValues: true,
  // the protocol allows 65535 bound parameters per statement
  maxParams: 30_000,
  normalizeValue: normalizeSqlValue,
  upsert: {
    aliasTarget: true,
    clause: (input) => onConflictClause(q, 'EXCLUDED', input),
    returningKeys: (keyFields, target) => keyFields.map((k, i) => `${target}.${q(k)}::text AS k${i}`).join(', '),
  },
  triggers: {
    changelogDdl: (t, index) => [
      `CREATE TABLE IF NOT EXISTS ${t} (id bigserial PRIMARY KEY, tbl text NOT NULL, op char(1) NOT NULL, pk jsonb, row_data jsonb, old_data jsonb, ts timestamptz NOT NULL DEFAULT clock_timestamp())`,
      `CREATE INDEX IF NOT EXISTS ${index} ON ${t} (tbl, id)`,
    ],
    // arrays by their element type (`_numeric`, `_int4`...), other columns by data_type
    columnsQuery: (name, schema) => ({
      sql: `SELECT column_name AS c, CASE WHEN data_type = 'ARRAY' THEN udt_name ELSE data_type END AS t FROM information_schema.columns WHERE table_name = $1 AND table_schema = ${schema ? '$2' : 'current_schema()'} ORDER BY ordinal_position`,
      params: schema ? [name, schema] : [name],
    }),
    // those writing to this schema's change-log: their functions live in the current schema
    triggersQuery: (like) => ({ sql: 'SELECT t.tgname AS n FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal AND t.tgname LIKE $1 AND p.pronamespace = current_schema()::regnamespace', params: [like] }),
    tableExistsQuery: (name) => ({ sql: 'SELECT 1 AS x FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1', params: [name] }),
    triggerNames: (base) => [`${base}_trg`],
    // jsonb images as text, parsed by parseJsonExact (node-pg would parse them losing exactness)
    selectImage: (c) => `${c}::text AS ${c}`,
    imageConverter(type) {
      if (type === 'timestamp with time zone') return timestamptzToIso;
      if (type === 'timestamp without time zone') return timestampToIso;
      if (type === 'bytea') return textParserFor(17);
      if (type === '_numeric') return textParserFor(1231);
      return null;
    },
    blobMarkers: false,
  },
};
