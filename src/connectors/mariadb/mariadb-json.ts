/**
 * MariaDB's JSON type is LONGTEXT with a `json_valid()` check: the driver returns text. The
 * JSON columns of a table are found from that check (MySQL's native JSON type is already
 * parsed by mysql2) and parsed exactly (big numbers stay strings).
 */
import { parseJsonLossless } from '../../formats/json/lossless-json.js';
import type { SqlQueryPort } from '../sql/sql-query-port.js';

/** Names of the columns of `table` declared JSON on MariaDB (json_valid check constraints). */
export async function jsonColumnsOf(port: SqlQueryPort, table: string): Promise<Set<string>> {
  const i = table.lastIndexOf('.');
  const [schema, name] = i < 0 ? [null, table] : [table.slice(0, i), table.slice(i + 1)];
  const out = new Set<string>();
  try {
    const rows = await port.query(
      `SELECT CHECK_CLAUSE AS c FROM information_schema.CHECK_CONSTRAINTS WHERE TABLE_NAME = ? AND CONSTRAINT_SCHEMA = ${schema ? '?' : 'DATABASE()'}`,
      schema ? [name, schema] : [name],
    );
    for (const r of rows) {
      const m = /json_valid\(`((?:[^`]|``)+)`\)/i.exec(String(r.c ?? ''));
      if (m) out.add(m[1]!.replaceAll('``', '`'));
    }
  } catch {
    // MySQL < 8.0.16 has no CHECK_CONSTRAINTS table; its JSON type needs nothing here
  }
  return out;
}

/** Parse a JSON column value (text) exactly; invalid text is kept as it is. */
export function parseJsonColumn(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return parseJsonLossless(v);
  } catch {
    return v;
  }
}

/** A port whose rows have their JSON columns parsed. */
export function withJsonColumns(port: SqlQueryPort, columns: Set<string>): SqlQueryPort {
  if (columns.size === 0) return port;
  return {
    ...port,
    async query(sql, params) {
      const rows = await port.query(sql, params);
      for (const r of rows) for (const c of columns) if (c in r) r[c] = parseJsonColumn(r[c]);
      return rows;
    },
  };
}
