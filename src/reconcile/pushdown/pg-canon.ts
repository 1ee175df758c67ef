/**
 * The SQL normaliser of the pushdown engine for PostgreSQL: SQL expressions that compute, inside
 * the database, the canonical token of core/normalize.ts `canonicalToken` for a column value (or
 * for a source value after the supported mapping rules), and the per-row hash both databases
 * aggregate. The TypeScript twin is {@link pushdownRowHash}; the conformance test
 * (test/integration/reconcile-pushdown-canon.test.ts) proves that the two agree on golden rows.
 *
 * A value the SQL cannot canonicalise exactly (a text that reads as a date-time, whose instant
 * `canonicalToken` computes with JavaScript's calendar arithmetic; a number with a huge exponent;
 * a date converter input that is not a plain valid yyyyMMdd; an unknown code) sets the row's
 * `uncertain` flag instead of guessing: the engine compares such rows in TypeScript.
 */
import { createHash } from 'node:crypto';
import { canonicalToken, type NormalizeOptions } from '../../core/normalize.js';
import type { Doc } from '../../core/types.js';
import { quoteIdentDouble, quoteLiteralStandard } from '../../connectors/sql/sql-dialect.js';

/** The characters JavaScript's trim/trimEnd remove (ECMAScript WhiteSpace and LineTerminator). */
export const JS_WHITESPACE = '\t\n\u000b\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';

const lit = quoteLiteralStandard;
const WS = lit(JS_WHITESPACE);
// canonicalToken's NUMERIC, with a short exponent (numeric input of 1e99999 overflows); a longer one is uncertain
const NUMERIC_SHORT = lit('^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]{1,3})?$');
const NUMERIC_ANY = lit('^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?$');
// canonicalToken's DATETIME (case-insensitive there too; its \s is JavaScript's white space)
const DATETIME = lit(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?[${JS_WHITESPACE}]*(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$`);

/** A token expression (text, never NULL) and, when it can be, the condition under which it is uncertain. */
export interface Tok {
  sql: string;
  unc: string | null;
}

/** How a PostgreSQL column type is canonicalised; null: not supported (the engine falls back). */
export type PgKind = 'int' | 'numeric' | 'bool' | 'instant' | 'text' | 'bpchar' | 'textlike';

export function pgKindOf(typname: string): PgKind | null {
  switch (typname) {
    case 'int2': case 'int4': case 'int8': return 'int';
    case 'numeric': return 'numeric';
    case 'bool': return 'bool';
    case 'timestamptz': case 'timestamp': return 'instant';
    case 'text': case 'varchar': case 'name': return 'text';
    case 'bpchar': return 'bpchar';
    // the reader hands these over as PostgreSQL prints them: their text goes through the text rules
    case 'date': case 'time': case 'uuid': return 'textlike';
    default: return null;
  }
}

/** canonicalToken of a text value (textToken): right-trimmed; numeric text by value; true/false as 1/0. */
export function textTok(e: string, norm: NormalizeOptions): Tok {
  const r = `rtrim(${e}, ${WS})`;
  const t = `ltrim(${r}, ${WS})`;
  const sql = `CASE WHEN ${e} IS NULL THEN 'null' WHEN ${r} = '' THEN '${norm.emptyIsNull ? 'null' : 's:'}' `
    + `WHEN ${t} ~ ${NUMERIC_SHORT} THEN 'n:' || trim_scale(${t}::numeric)::text `
    + `WHEN ${t} = 'true' THEN 'n:1' WHEN ${t} = 'false' THEN 'n:0' ELSE 's:' || ${r} END`;
  const unc = `(${e} IS NOT NULL AND (${t} ~* ${DATETIME} OR (${t} ~ ${NUMERIC_ANY} AND ${t} !~ ${NUMERIC_SHORT})))`;
  return { sql, unc };
}

/** canonicalToken of a column value as the PostgreSQL Reader reads it (pg-types-map.ts). */
export function columnTok(col: string, kind: PgKind, norm: NormalizeOptions): Tok {
  switch (kind) {
    case 'int':
      return { sql: `CASE WHEN ${col} IS NULL THEN 'null' ELSE 'n:' || ${col}::text END`, unc: null };
    case 'numeric':
      // NaN and the infinities are read as text, which is not numeric text
      return { sql: `CASE WHEN ${col} IS NULL THEN 'null' WHEN ${col}::text IN ('NaN', 'Infinity', '-Infinity') THEN 's:' || ${col}::text ELSE 'n:' || trim_scale(${col})::text END`, unc: null };
    case 'bool':
      return { sql: `CASE WHEN ${col} IS NULL THEN 'null' WHEN ${col} THEN 'n:1' ELSE 'n:0' END`, unc: null };
    case 'instant': {
      // the Reader reads an ISO text (UTC; a timestamp without zone is read as UTC), canonicalised to epoch ms [.sub-ms]
      const us = `(extract(epoch from ${col}) * 1000000)`;
      const ms = `floor(${us} / 1000)`;
      const sub = `(${us} - ${ms} * 1000)::int`;
      const sql = `CASE WHEN ${col} IS NULL THEN 'null' WHEN NOT isfinite(${col}) THEN 's:' || ${col}::text `
        + `ELSE 't:' || ${ms}::bigint::text || CASE WHEN ${sub} = 0 THEN '' ELSE '.' || rtrim(lpad(${sub}::text, 3, '0'), '0') END END`;
      // BC and five-digit years are read as PostgreSQL prints them: leave them to TypeScript
      const unc = `(${col} IS NOT NULL AND isfinite(${col}) AND (extract(year from ${col}) < 1 OR extract(year from ${col}) > 9999))`;
      return { sql, unc };
    }
    case 'text': case 'textlike':
      return textTok(`${col}::text`, norm);
    case 'bpchar':
      // bpchar::text drops the padding, which canonicalToken trims anyway
      return textTok(`${col}::text`, norm);
  }
}

/** The SQL token literal of a JavaScript value (a code table's or a default's). */
export function literalTok(v: unknown, norm: NormalizeOptions): string {
  return lit(canonicalToken(v, norm));
}

/** Concatenate a row's tokens the way {@link pushdownRowText} does; `ck` is the key's token. */
export function rowTextSql(ck: string, toks: Tok[]): string {
  const parts = [ck, `chr(2)`];
  for (const t of toks) parts.push(t.sql, 'chr(1)');
  return parts.join(' || ');
}

/** The signed 64-bit row hash: the first 16 hex digits of md5 of the row text. */
export function rowHashSql(text: string): string {
  return `('x' || substr(md5(${text}), 1, 16))::bit(64)::bigint`;
}

export function uncertainSql(toks: Tok[]): string {
  const u = toks.map((t) => t.unc).filter((x): x is string => x !== null);
  return u.length ? `CASE WHEN ${u.join(' OR ')} THEN 1 ELSE 0 END` : '0';
}

export const qi = quoteIdentDouble;

/** The row text the SQL builds: key token, \u0002, then each compared field's token and \u0001. */
export function pushdownRowText(doc: Doc, keyFields: readonly string[], fields: readonly string[], norm: NormalizeOptions = {}): string {
  let s = keyFields.map((f) => canonicalToken(doc[f], norm)).join('\u0001') + '\u0002';
  for (const f of fields) s += `${canonicalToken(doc[f], norm)}\u0001`;
  return s;
}

/** The TypeScript twin of {@link rowHashSql} over {@link pushdownRowText}, as a signed 64-bit bigint. */
export function pushdownRowHash(doc: Doc, keyFields: readonly string[], fields: readonly string[], norm: NormalizeOptions = {}): bigint {
  const hex = createHash('md5').update(pushdownRowText(doc, keyFields, fields, norm), 'utf8').digest('hex').slice(0, 16);
  return BigInt.asIntN(64, BigInt(`0x${hex}`));
}
