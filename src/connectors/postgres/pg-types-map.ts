/**
 * PostgreSQL text values -> JSON doc values, exactly, by type OID. Used by the logical
 * replication decoder (pgoutput sends the text form) and by the pg pools of the poll source
 * and the sink, so both PostgreSQL sources produce the same values:
 *
 * | type                         | doc value                                                    |
 * |------------------------------|--------------------------------------------------------------|
 * | int2, int4, oid              | number                                                       |
 * | int8                         | number when within +-2^53-1, else decimal string            |
 * | numeric, money               | string, exactly as stored ("12.3400"), never a float        |
 * | float4, float8               | number ("NaN", "Infinity" stay strings)                      |
 * | bool                         | boolean                                                      |
 * | json, jsonb                  | parsed JSON; numbers a double cannot hold exactly as strings |
 * | bytea                        | base64 string                                                |
 * | timestamptz                  | ISO 8601 in UTC with Z, microseconds kept ("...T10:00:00.123456Z") |
 * | timestamp                    | ISO 8601 without zone ("2024-05-01T10:00:00.000")            |
 * | date, time, timetz, interval | string as PostgreSQL prints it                               |
 * | arrays of the above          | arrays (nested for multi-dimensional), NULL elements -> null |
 * | anything else (uuid, enums)  | string                                                       |
 */

import { parseJsonLossless } from '../../formats/json/lossless-json.js';

export type TextParser = (text: string) => unknown;

const identity: TextParser = (s) => s;

function parseInt8(s: string): unknown {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : s;
}

function parseFloatText(s: string): unknown {
  const n = Number(s);
  return Number.isFinite(n) ? n : s;
}

function parseBytea(s: string): unknown {
  if (s.startsWith('\\x')) return Buffer.from(s.slice(2), 'hex').toString('base64');
  // escape format (bytea_output = escape): octal escapes and doubled backslashes
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') {
      if (s[i + 1] === '\\') { out.push(0x5c); i++; continue; }
      out.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
      continue;
    }
    out.push(s.charCodeAt(i));
  }
  return Buffer.from(out).toString('base64');
}

const TS_RE = /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?( BC)?$/;

/** `2024-05-01 12:00:00.123456+02` -> `2024-05-01T10:00:00.123456Z` (infinity and BC stay as text). */
export function timestamptzToIso(s: string): string {
  const m = TS_RE.exec(s);
  if (!m || m[12] || !m[8]) return s;
  const frac = (m[7] ?? '').padEnd(6, '0');
  const ms = Number(frac.slice(0, 3));
  const off = (m[8] === '-' ? -1 : 1) * ((Number(m[9]) * 60 + Number(m[10] ?? 0)) * 60 + Number(m[11] ?? 0));
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms) - off * 1000;
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return s;
  const micros = frac.slice(3);
  const iso = d.toISOString();
  return micros === '000' ? iso : `${iso.slice(0, -1)}${micros}Z`;
}

/** `2024-05-01 12:00:00.5` -> `2024-05-01T12:00:00.500` (no zone: a local wall-clock time). */
export function timestampToIso(s: string): string {
  const m = TS_RE.exec(s);
  if (!m || m[12] || m[8]) return s;
  const frac = (m[7] ?? '').padEnd(3, '0');
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${frac}`;
}

/** Parse an array literal (`{1,2,NULL,"a,b"}`, nested, optional `[1:2]=` bounds) with an element parser. */
export function parseArrayLiteral(text: string, element: TextParser): unknown {
  let s = text;
  if (s.startsWith('[')) s = s.slice(s.indexOf('=') + 1);
  let i = 0;
  const parseList = (): unknown[] => {
    const out: unknown[] = [];
    i++; // '{'
    if (s[i] === '}') { i++; return out; }
    for (;;) {
      if (s[i] === '{') out.push(parseList());
      else if (s[i] === '"') {
        let v = '';
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\') i++;
          v += s[i++];
        }
        i++;
        out.push(element(v));
      } else {
        let j = i;
        while (j < s.length && s[j] !== ',' && s[j] !== '}') j++;
        const raw = s.slice(i, j).trim();
        i = j;
        out.push(raw === 'NULL' ? null : element(raw));
      }
      if (s[i] === ',') { i++; continue; }
      i++; // '}'
      return out;
    }
  };
  if (s[0] !== '{') return text;
  return parseList();
}

const SCALAR: Record<number, TextParser> = {
  16: (s) => s === 't' || s === 'true',
  20: parseInt8,
  21: Number,
  23: Number,
  26: Number,
  700: parseFloatText,
  701: parseFloatText,
  1700: identity,
  790: identity,
  114: (s) => parseJsonLossless(s),
  3802: (s) => parseJsonLossless(s),
  17: parseBytea,
  1184: timestamptzToIso,
  1114: timestampToIso,
};

/** Array type OID -> element type OID for the common built-in arrays. */
const ARRAY_OF: Record<number, number> = {
  1000: 16, 1016: 20, 1005: 21, 1007: 23, 1028: 26, 1021: 700, 1022: 701, 1231: 1700, 791: 790,
  199: 114, 3807: 3802, 1001: 17, 1185: 1184, 1115: 1114, 1182: 1082, 1183: 1083, 1270: 1266, 1187: 1186,
  1009: 25, 1015: 1043, 1014: 1042, 1003: 19, 2951: 2950, 1002: 18, 1041: 869, 651: 650, 1040: 829,
};

/** The parser for a type OID (unknown types: the text itself). */
export function textParserFor(oid: number): TextParser {
  const scalar = SCALAR[oid];
  if (scalar) return scalar;
  const elem = ARRAY_OF[oid];
  if (elem !== undefined) {
    const p = SCALAR[elem] ?? identity;
    return (s) => parseArrayLiteral(s, p);
  }
  return identity;
}

/** Whether the type OID is one of the array types {@link textParserFor} knows. */
export function isArrayType(oid: number): boolean {
  return ARRAY_OF[oid] !== undefined;
}

/** A `types` override for node-postgres clients and pools, so queries return the same values. */
export const pgDocTypes = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (format === 'binary') return (v: string) => v;
    return textParserFor(oid);
  },
};
