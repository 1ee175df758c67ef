/**
 * MariaDB / MySQL as the SQL kit sees it: backtick identifiers, `?` placeholders (mysql2 binds
 * them client-side), no row-value comparisons (MariaDB does not serve `(a, b) > (?, ?)` from the
 * index; the kit expands them), `ON DUPLICATE KEY UPDATE` upserts (no RETURNING), and the
 * trigger-capture pieces (LONGTEXT change-log, information_schema queries, converters for
 * DATETIME/TIMESTAMP and base64 bytes in row images).
 */
import { normalizeSqlValue, pruneByIdList, rowTriggerStatements, type SqlDialect } from '../sql/sql-dialect.js';
import { isExactDecimal } from '../triggers/capture-names.js';
import { mariadbDateTimeToIso, quoteIdentMariadb, quoteLiteralMariadb } from './mariadb-port.js';

const q = quoteIdentMariadb;

/**
 * MariaDB columns whose values are bytes: JSON_OBJECT cannot hold them (the row image would not
 * be valid utf8mb4 and the application's own write would fail), so they travel as base64, as
 * the polling and binlog modes carry them.
 */
export function isMariadbBinary(type: string): boolean {
  return /^(tinyblob|blob|mediumblob|longblob|binary|varbinary|bit|geometry|point|linestring|polygon|multipoint|multilinestring|multipolygon|geometrycollection)$/.test(type);
}

/** The MariaDB / MySQL dialect object. */
export const mariadbDialect: SqlDialect = {
  name: 'mariadb',
  quoteIdent: q,
  quoteLiteral: quoteLiteralMariadb,
  placeholder: () => '?',
  rowValues: false,
  // bound client-side: the limit is the packet size, not a parameter count
  maxParams: 10_000,
  normalizeValue: normalizeSqlValue,
  upsert: {
    aliasTarget: false,
    clause({ keyFields, updateColumns, columns, versionField: vf }) {
      // assignments run left to right and later ones see updated values: the version goes LAST
      const newer = vf ? `(${q(vf)} IS NULL OR ${q(vf)} < VALUES(${q(vf)}))` : null;
      const sets = updateColumns.filter((c) => c !== vf).map((c) => `${q(c)} = ${newer ? `IF(${newer}, VALUES(${q(c)}), ${q(c)})` : `VALUES(${q(c)})`}`);
      if (vf && columns.includes(vf)) sets.push(`${q(vf)} = IF(${newer}, VALUES(${q(vf)}), ${q(vf)})`);
      // a no-op assignment keeps "insert or ignore" semantics when nothing is to be updated
      return `ON DUPLICATE KEY UPDATE ${sets.length ? sets.join(', ') : `${q(keyFields[0]!)} = ${q(keyFields[0]!)}`}`;
    },
    returningKeys: () => null,
  },
  triggers: {
    // DECIMAL as text and bytes as base64; TIMESTAMP (read in the writing session's zone) in UTC
    captureStatements: async (_db, input) => rowTriggerStatements(input, {
      quote: q,
      literal: quoteLiteralMariadb,
      image: (ref, cols) => `JSON_OBJECT(${cols.map((c) => {
        const v = `${ref}.${q(c.name)}`;
        let val = v;
        if (isExactDecimal(c.type)) val = `CAST(${v} AS CHAR)`;
        else if (isMariadbBinary(c.type)) val = `TO_BASE64(${v})`; // its line breaks (every 76) are removed when drained
        else if (c.type === 'timestamp') val = `CONVERT_TZ(${v}, @@session.time_zone, '+00:00')`;
        return `${quoteLiteralMariadb(c.name)}, ${val}`;
      }).join(', ')})`,
      body: (stmt) => stmt,
    }),
    uninstallStatements: (base) => [`${base}_ai`, `${base}_au`, `${base}_ad`].map((t) => `DROP TRIGGER IF EXISTS ${q(t)}`),
    pruneStatements: (changelog, ids) => pruneByIdList(mariadbDialect, changelog, ids),
    changelogDdl: (t, index) => [`CREATE TABLE IF NOT EXISTS ${t} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, tbl VARCHAR(255) NOT NULL, op CHAR(1) NOT NULL, pk LONGTEXT NULL, row_data LONGTEXT NULL, old_data LONGTEXT NULL, ts TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), KEY ${index} (tbl, id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`],
    columnsQuery: (name, schema) => ({
      sql: `SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = ? AND table_schema = ${schema ? '?' : 'DATABASE()'} ORDER BY ordinal_position`,
      params: schema ? [name, schema] : [name],
    }),
    triggersQuery: (like) => ({ sql: 'SELECT trigger_name AS n FROM information_schema.triggers WHERE trigger_schema = DATABASE() AND trigger_name LIKE ?', params: [like] }),
    tableExistsQuery: (name) => ({ sql: 'SELECT 1 AS x FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', params: [name] }),
    triggerNames: (base) => [`${base}_ai`, `${base}_au`, `${base}_ad`],
    selectImage: (c) => c,
    imageConverter(type) {
      if (type === 'datetime' || type === 'timestamp') return mariadbDateTimeToIso;
      if (isMariadbBinary(type)) return (v) => v.replace(/\s+/g, ''); // TO_BASE64 line breaks
      return null;
    },
    blobMarkers: false,
  },
};
