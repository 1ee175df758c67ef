/**
 * SQLite as the SQL kit sees it: double-quoted identifiers, `?` placeholders, row values
 * (SQLite >= 3.15), `ON CONFLICT ... DO UPDATE` upserts with `RETURNING` (>= 3.35), and the
 * trigger-capture pieces (change-log DDL, catalogue queries; BLOBs travel in row images as a
 * marker object, see ../triggers/trigger-ddl.ts).
 */
import { normalizeSqlValue, onConflictClause, pruneByIdList, quoteIdentDouble, quoteLiteralStandard, rowTriggerStatements, type SqlDialect } from '../sql/sql-dialect.js';
import { SQLITE_BLOB_MARKER } from '../triggers/capture-names.js';

const q = quoteIdentDouble;

/** The SQLite dialect object. */
export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  quoteIdent: quoteIdentDouble,
  quoteLiteral: quoteLiteralStandard,
  placeholder: () => '?',
  rowValues: true,
  // SQLITE_MAX_VARIABLE_NUMBER is 32766 since 3.32, 999 before: stay below the old limit
  maxParams: 999,
  normalizeValue: normalizeSqlValue,
  upsert: {
    aliasTarget: true,
    clause: (input) => onConflictClause(quoteIdentDouble, 'excluded', input),
    returningKeys: (keyFields) => keyFields.map((k, i) => `CAST(${quoteIdentDouble(k)} AS TEXT) AS k${i}`).join(', '),
  },
  triggers: {
    // a BLOB value (any column may hold one) travels as {"$hms_blob": "<hex>"}, turned into base64 when drained
    captureStatements: async (_db, input) => rowTriggerStatements(input, {
      quote: q,
      literal: quoteLiteralStandard,
      image: (ref, cols) => `json_object(${cols.map((c) => {
        const v = `${ref}.${q(c.name)}`;
        return `${quoteLiteralStandard(c.name)}, CASE WHEN typeof(${v}) = 'blob' THEN json_object('${SQLITE_BLOB_MARKER}', hex(${v})) ELSE ${v} END`;
      }).join(', ')})`,
      body: (stmt) => `BEGIN ${stmt}; END`,
    }),
    uninstallStatements: (base) => [`${base}_ai`, `${base}_au`, `${base}_ad`].map((t) => `DROP TRIGGER IF EXISTS ${q(t)}`),
    pruneStatements: (changelog, ids) => pruneByIdList(sqliteDialect, changelog, ids),
    changelogDdl: (t, index) => [
      `CREATE TABLE IF NOT EXISTS ${t} (id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, op TEXT NOT NULL, pk TEXT, row_data TEXT, old_data TEXT, ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`,
      `CREATE INDEX IF NOT EXISTS ${index} ON ${t} (tbl, id)`,
    ],
    columnsQuery: (name) => ({ sql: 'SELECT name AS c, type AS t FROM pragma_table_info(?) ORDER BY cid', params: [name] }),
    triggersQuery: (like) => ({ sql: "SELECT name AS n FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?", params: [like] }),
    tableExistsQuery: (name) => ({ sql: "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?", params: [name] }),
    triggerNames: (base) => [`${base}_ai`, `${base}_au`, `${base}_ad`],
    selectImage: (c) => c,
    imageConverter: () => null,
    blobMarkers: true,
  },
};
