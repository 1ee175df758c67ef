/**
 * The SQL normaliser of the pushdown engine for PostgreSQL: SQL expressions that compute, inside
 * the database, the canonical token of core/normalize.ts `canonicalToken` for a column value (or
 * for a source value after the supported mapping rules), the row text made of those tokens, and
 * the 64-bit row hash both databases aggregate: `hashtextextended(row text COLLATE "C", 0)`, whose
 * algorithm (PostgreSQL's hash_bytes_extended, Bob Jenkins' lookup3 mix) {@link hashBytesExtended}
 * computes in TypeScript. The TypeScript twin of the whole is {@link pushdownRowHash}; the
 * conformance test (test/integration/reconcile-pushdown-canon.test.ts) proves that they agree.
 *
 * A value the SQL cannot canonicalise exactly (a text that reads as a date-time, whose instant
 * `canonicalToken` computes with JavaScript's calendar arithmetic; a number with a huge exponent;
 * text ending or starting with white space other than the space; a date converter input that is
 * not a plain valid yyyyMMdd; an unknown code) gets the token {@link UNCERTAIN} (chr(3)) instead of
 * a guess: a row whose text holds it is compared in TypeScript by the engine.
 *
 * The expressions are written for a query in three levels (pushdown.ts): the values after the
 * mapping's converters per row, then the tokens over those values, then the hash, each level
 * materialised once per row (`OFFSET 0`), so no expression is evaluated twice.
 */
import { canonicalToken, type NormalizeOptions } from '../../core/normalize.js';
import type { Doc } from '../../core/types.js';
import { quoteIdentDouble, quoteLiteralStandard } from '../../connectors/sql/sql-dialect.js';

const lit = quoteLiteralStandard;

/** The marker of a value the SQL leaves to TypeScript. */
export const UNCERTAIN = 'chr(3)';

/** Code points of JavaScript white space (trim/trimEnd) other than the ASCII controls below 33. */
const UNICODE_WS = [0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff];

/** The first character of `x` (non-empty) may be white space JavaScript trims but `rtrim(x)` does not (or a control character). */
export function oddAt(x: string): string {
  return `(ascii(${x}) < 33 OR (ascii(${x}) >= 160 AND ascii(${x}) IN (${UNICODE_WS.join(', ')})))`;
}

const NUMERIC_SHORT = lit('^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]{1,3})?$');
const NUMERIC_ANY = lit('^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?$');
// canonicalToken's DATETIME, loosely (its \s is any white space): whatever it matches is uncertain
const DATETIME = lit('^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}');

/** How a PostgreSQL column type is canonicalised; null: not supported (the engine falls back). */
export type PgKind = 'int' | 'numeric' | 'bool' | 'instant' | 'text' | 'bpchar' | 'printed';

export function pgKindOf(typname: string): PgKind | null {
  switch (typname) {
    case 'int2': case 'int4': case 'int8': return 'int';
    case 'numeric': return 'numeric';
    case 'bool': return 'bool';
    case 'timestamptz': case 'timestamp': return 'instant';
    case 'text': case 'varchar': case 'name': return 'text';
    case 'bpchar': return 'bpchar';
    // the reader hands these over as PostgreSQL prints them, a text that is never numeric,
    // true/false or a date-time with a time: a plain text token
    case 'date': case 'uuid': return 'printed';
    default: return null;
  }
}

/**
 * canonicalToken of a text value (textToken): right-trimmed; numeric text by value; true/false as
 * 1/0. `ref` is a value column of the query; its right-trimmed text `<ref>_r` and that text
 * left-trimmed `<ref>_t` are columns too (see {@link textPrep}), so neither is computed twice.
 */
export function textTok(ref: string, norm: NormalizeOptions): string {
  const r = `${ref}_r`;
  const t = `${ref}_t`;
  const f = `${ref}_f`;
  const l = `${ref}_l`;
  // f / l: code points of the first (after leading spaces) and last (before trailing spaces) characters
  return `CASE WHEN ${ref} IS NULL THEN 'null' WHEN ${f} = 0 THEN '${norm.emptyIsNull ? 'null' : 's:'}' `
    + `WHEN ${f} >= 65 AND ${l} >= 33 AND ${l} < 127 AND ${f} < 127 THEN CASE WHEN ${t} = 'true' THEN 'n:1' WHEN ${t} = 'false' THEN 'n:0' ELSE 's:' || ${r} END `
    + `WHEN ${oddCode(l)} OR ${oddCode(f)} THEN ${UNCERTAIN} `
    + `WHEN ${f} BETWEEN 48 AND 57 OR ${f} IN (43, 45, 46) THEN CASE WHEN ${t} ~ ${NUMERIC_SHORT} THEN 'n:' || trim_scale(${t}::numeric)::text WHEN ${t} ~ ${NUMERIC_ANY} OR ${t} ~ ${DATETIME} THEN ${UNCERTAIN} ELSE 's:' || ${r} END `
    + `WHEN ${t} = 'true' THEN 'n:1' WHEN ${t} = 'false' THEN 'n:0' ELSE 's:' || ${r} END`;
}

/** A code point JavaScript trims as white space but `rtrim(x)` does not (or a control character). */
function oddCode(c: string): string {
  return `(${c} < 33 OR (${c} >= 160 AND ${c} IN (${UNICODE_WS.join(', ')})))`;
}

/** The columns {@link textTok} reads besides `ref` itself, over `ref`. */
export function textPrep(ref: string): Array<[string, string]> {
  const r = `rtrim(${ref}::text)`;
  return [[`${ref}_r`, r], [`${ref}_t`, `ltrim(${r})`], [`${ref}_f`, `ascii(ltrim(${r}))`], [`${ref}_l`, `ascii(right(${r}, 1))`]];
}

/**
 * canonicalToken of the result of `date:yyyyMMdd` over the trimmed text `ref`: YYYY-MM-DD text, or
 * `nullTok` when it means no date. `<ref>_n` is the text as an integer when it is 8 digits (see
 * {@link yyyyMMddPrep}).
 */
export function yyyyMMddTok(ref: string, nullTok: string): string {
  const n = `${ref}_n`;
  const y = `(${n} / 10000)`;
  const m = `(${n} / 100 % 100)`;
  const d = `(${n} % 100)`;
  const leap = `((${y} % 4 = 0 AND ${y} % 100 <> 0) OR ${y} % 400 = 0)`;
  const dim = `CASE WHEN ${m} IN (4, 6, 9, 11) THEN 30 WHEN ${m} = 2 THEN CASE WHEN ${leap} THEN 29 ELSE 28 END ELSE 31 END`;
  // a year below 100 is read by Date.UTC as 19yy: left to TypeScript, as is every other shape
  const ok = `(${y} >= 100 AND ${m} BETWEEN 1 AND 12 AND ${d} BETWEEN 1 AND ${dim})`;
  return `CASE WHEN ${ref} IS NULL THEN ${nullTok} WHEN ${n} IS NOT NULL THEN CASE WHEN ${n} IN (0, 99999999) THEN ${nullTok} `
    + `WHEN ${ok} THEN 's:' || substr(${ref}, 1, 4) || '-' || substr(${ref}, 5, 2) || '-' || substr(${ref}, 7, 2) ELSE ${UNCERTAIN} END WHEN ${ref} = '' THEN ${nullTok} ELSE ${UNCERTAIN} END`;
}

/** The column {@link yyyyMMddTok} reads besides `ref`. */
export function yyyyMMddPrep(ref: string): Array<[string, string]> {
  return [[`${ref}_n`, `CASE WHEN ${ref} ~ '^[0-9]{8}$' THEN ${ref}::int END`]];
}

/** canonicalToken of a column value as the PostgreSQL Reader reads it (pg-types-map.ts). */
export function columnTok(col: string, kind: PgKind, norm: NormalizeOptions): string {
  switch (kind) {
    case 'int':
      return `coalesce('n:' || ${col}::text, 'null')`;
    case 'numeric':
      // NaN and the infinities are read as text, which is not numeric text
      return `CASE WHEN ${col} IS NULL THEN 'null' WHEN ${col} IN ('NaN', 'Infinity', '-Infinity') THEN 's:' || ${col}::text ELSE 'n:' || trim_scale(${col})::text END`;
    case 'bool':
      return `CASE WHEN ${col} IS NULL THEN 'null' WHEN ${col} THEN 'n:1' ELSE 'n:0' END`;
    case 'instant': {
      // the Reader reads an ISO text (UTC; a timestamp without zone is read as UTC), canonicalised to
      // epoch ms [.sub-ms]; infinities as text; BC and five-digit years are printed: left to TypeScript
      const us = `(extract(epoch from ${col}) * 1000000)`;
      const ms = `floor(${us} / 1000)`;
      const sub = `(${us} - ${ms} * 1000)::int`;
      return `CASE WHEN ${col} IS NULL THEN 'null' WHEN NOT isfinite(${col}) THEN 's:' || ${col}::text WHEN ${us} NOT BETWEEN -59011459200000000 AND 253402300799999999 THEN ${UNCERTAIN} `
        + `ELSE 't:' || ${ms}::bigint::text || CASE WHEN ${sub} = 0 THEN '' ELSE '.' || rtrim(lpad(${sub}::text, 3, '0'), '0') END END`;
    }
    case 'text': case 'bpchar':
      // bpchar::text drops the padding, which canonicalToken trims anyway
      return textTok(col, norm);
    case 'printed':
      return `coalesce('s:' || ${col}::text, 'null')`;
  }
}

/** The SQL token literal of a JavaScript value (a code table's or a default's). */
export function literalTok(v: unknown, norm: NormalizeOptions): string {
  return lit(canonicalToken(v, norm));
}

/** The row text: the key's token, chr(2), then each compared field's token and chr(1) (one concat call: no intermediate texts). */
export function rowTextSql(keyTok: string, toks: string[]): string {
  return `concat(${[keyTok, 'chr(2)', ...toks.flatMap((t) => [t, 'chr(1)'])].join(', ')})`;
}

/** The signed 64-bit row hash of a row text. */
export function rowHashSql(text: string): string {
  return `hashtextextended(${text} COLLATE "C", 0)`;
}

export const qi = quoteIdentDouble;

/** The row text the SQL builds (see {@link rowTextSql}), from a doc. */
export function pushdownRowText(doc: Doc, keyFields: readonly string[], fields: readonly string[], norm: NormalizeOptions = {}): string {
  let s = keyFields.map((f) => canonicalToken(doc[f], norm)).join('\u0001') + '\u0002';
  for (const f of fields) s += `${canonicalToken(doc[f], norm)}\u0001`;
  return s;
}

const rot = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

/**
 * PostgreSQL's `hash_bytes_extended` (hashtextextended of a deterministic collation's text), as a
 * signed 64-bit bigint: Bob Jenkins' lookup3 mixing of 12-byte blocks (little-endian words), the
 * length folded into the initial state, the high word `b` and the low word `c` of the final state.
 */
export function hashBytesExtended(buf: Uint8Array, seed = 0n): bigint {
  let len = buf.length;
  let a = (0x9e3779b9 + len + 3923095) >>> 0;
  let b = a;
  let c = a;
  const mix = () => {
    a = (a - c) >>> 0; a = (a ^ rot(c, 4)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 6)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 8)) >>> 0; b = (b + a) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rot(c, 16)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 19)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 4)) >>> 0; b = (b + a) >>> 0;
  };
  if (seed !== 0n) {
    a = (a + Number((seed >> 32n) & 0xffffffffn)) >>> 0;
    b = (b + Number(seed & 0xffffffffn)) >>> 0;
    mix();
  }
  const word = (i: number) => (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) >>> 0;
  let i = 0;
  while (len >= 12) {
    a = (a + word(i)) >>> 0;
    b = (b + word(i + 4)) >>> 0;
    c = (c + word(i + 8)) >>> 0;
    mix();
    i += 12;
    len -= 12;
  }
  // the last 0..11 bytes; the lowest byte of c stays free
  const k = (j: number) => buf[i + j]!;
  if (len >= 11) c = (c + ((k(10) << 24) >>> 0)) >>> 0;
  if (len >= 10) c = (c + (k(9) << 16)) >>> 0;
  if (len >= 9) c = (c + (k(8) << 8)) >>> 0;
  if (len >= 8) b = (b + ((k(7) << 24) >>> 0)) >>> 0;
  if (len >= 7) b = (b + (k(6) << 16)) >>> 0;
  if (len >= 6) b = (b + (k(5) << 8)) >>> 0;
  if (len >= 5) b = (b + k(4)) >>> 0;
  if (len >= 4) a = (a + ((k(3) << 24) >>> 0)) >>> 0;
  if (len >= 3) a = (a + (k(2) << 16)) >>> 0;
  if (len >= 2) a = (a + (k(1) << 8)) >>> 0;
  if (len >= 1) a = (a + k(0)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 24)) >>> 0;
  return BigInt.asIntN(64, (BigInt(b) << 32n) | BigInt(c));
}

/** The TypeScript twin of {@link rowHashSql} over {@link pushdownRowText}. */
export function pushdownRowHash(doc: Doc, keyFields: readonly string[], fields: readonly string[], norm: NormalizeOptions = {}): bigint {
  return hashBytesExtended(Buffer.from(pushdownRowText(doc, keyFields, fields, norm), 'utf8'));
}
