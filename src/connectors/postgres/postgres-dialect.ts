/**
 * PostgreSQL as the SQL kit sees it: double-quoted identifiers, `$n` placeholders, row values
 * served by the key index, `ON CONFLICT ... DO UPDATE ... RETURNING` upserts, and the
 * trigger-capture pieces (jsonb change-log, catalogue queries, converters that make row images
 * read as the pools of pg-types-map.ts read rows).
 */
import { normalizeSqlValue, onConflictClause, quoteIdentDouble, quoteLiteralStandard, type SqlDialect } from '../sql/sql-dialect.js';
import { ConfigError } from '../../core/errors.js';
import { isExactDecimal, type CaptureInput, type CaptureQueryPort } from '../triggers/capture-names.js';
import { textParserFor, timestampToIso, timestamptzToIso } from './pg-types-map.js';

const q = quoteIdentDouble;

const lit = quoteLiteralStandard;

/**
 * One plpgsql function and one AFTER INSERT OR UPDATE OR DELETE trigger. The function runs with
 * the search_path of whoever writes the table (the legacy application), so it names the
 * change-log by the schema it is created in. numeric columns and numeric arrays travel as text
 * (to_jsonb would turn `{1.10}` into `[1.1]`), at most 50 per jsonb_build_object.
 */
async function captureStatements(db: CaptureQueryPort, input: CaptureInput): Promise<string[]> {
  const cs = await db.query('SELECT current_schema() AS s', []);
  const schema = cs[0]?.s;
  if (typeof schema !== 'string' || !schema) throw new ConfigError('the PostgreSQL connection has no current schema (empty search_path); set the system\'s schema option');
  const cl = `${q(schema)}.${input.changelog}`;
  const fn = q(`${input.base}_fn`);
  const trg = q(`${input.base}_trg`);
  const tl = lit(input.table);
  const pk = (ref: string) => `jsonb_build_object(${input.keyFields.map((k) => `${lit(k)}, ${ref}.${q(k)}`).join(', ')})`;
  const numeric = input.columns.filter((c) => isExactDecimal(c.type) || c.type === '_numeric');
  const img = (ref: string) => {
    let out = `to_jsonb(${ref})`;
    for (let i = 0; i < numeric.length; i += 50) out += ` || jsonb_build_object(${numeric.slice(i, i + 50).map((c) => `${lit(c.name)}, ${ref}.${q(c.name)}::text`).join(', ')})`;
    return out;
  };
  return [
    `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $hms$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO ${cl} (tbl, op, pk, row_data) VALUES (${tl}, 'I', ${pk('NEW')}, ${img('NEW')});
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO ${cl} (tbl, op, pk, row_data, old_data) VALUES (${tl}, 'U', ${pk('NEW')}, ${img('NEW')}, ${img('OLD')});
  ELSE
    INSERT INTO ${cl} (tbl, op, pk, old_data) VALUES (${tl}, 'D', ${pk('OLD')}, ${img('OLD')});
  END IF;
  RETURN NULL;
END
$hms$`,
    `DROP TRIGGER IF EXISTS ${trg} ON ${input.qualifiedTable}`,
    `CREATE TRIGGER ${trg} AFTER INSERT OR UPDATE OR DELETE ON ${input.qualifiedTable} FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
  ];
}

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
    captureStatements,
    // DROP TRIGGER ... ON a missing table fails: without the table only the function is dropped
    uninstallStatements: (base, qt, tableExists) => [
      ...(tableExists ? [`DROP TRIGGER IF EXISTS ${q(`${base}_trg`)} ON ${qt}`] : []),
      `DROP FUNCTION IF EXISTS ${q(`${base}_fn`)}()`,
    ],
    tableCheck: (qt) => ({ sql: 'SELECT to_regclass($1) AS r', params: [qt] }),
    pruneStatements: (changelog, ids) => [{ sql: `DELETE FROM ${changelog} WHERE id = ANY($1::bigint[])`, params: [ids] }],
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
