/**
 * Canonical values: what two systems mean by a value, whatever their representation of it.
 *
 * Legacy systems and modern ones write the same value differently: a COBOL DISPLAY field holds
 * `'007.50'`, the PostgreSQL numeric column that receives it hands back `'7.50'`, a JSON API
 * `7.5`; a fixed-width text field comes back padded with spaces; a timestamp is a `Date` on one
 * side and `2026-12-04T10:00:00+01:00` on the other; SQLite and MariaDB hand back booleans as 1/0.
 * Echo suppression, change detection and reconciliation compare values through this one normaliser,
 * so a value that differs only in representation is never taken for a change and never written
 * back over the system that holds it.
 *
 * The rules (docs/concepts.md "Canonical values"):
 * - numbers by value: numbers, bigints and numeric text (`'007.50'`, `' -0.0 '`, `'1e3'`) become a
 *   plain decimal string (`7.5`, `0`, `1000`), exactly, with no float rounding;
 * - booleans as 1 and 0, so `true` equals `1` and `'1'` (and `'true'`);
 * - text right-trimmed of spaces (fixed-width and CHAR(n) padding);
 * - timestamps as instants: a `Date` and an ISO-8601 date-time text with a zone are compared as
 *   the instant they denote, to the microsecond; a date-time text without a zone is read as UTC;
 * - null and absent are the same; empty text is not null unless `emptyIsNull` is set;
 * - binary by content; objects and arrays by their canonical members.
 */

export interface NormalizeOptions {
  /** Empty (or all-space) text counts as null (default false). */
  emptyIsNull?: boolean;
}

const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * The canonical token of a value: equal tokens mean the same value. Tokens are tagged (`n:` number,
 * `s:` text, `t:` instant, `b:` binary) so that the text `'n:1'` never equals the number 1.
 */
export function canonicalToken(value: unknown, opts: NormalizeOptions = {}): string {
  return token(value, opts, 0);
}

/** Whether two values mean the same (see the module comment for the rules). */
export function equivalent(a: unknown, b: unknown, opts: NormalizeOptions = {}): boolean {
  if (a === b) return true;
  return token(a, opts, 0) === token(b, opts, 0);
}

/**
 * Whether two values differ only in representation and in a way that change detection must not
 * report: values of different types (a number and its text, a `Date` and its ISO text, a boolean
 * and 1/0) that mean the same. Two texts are compared exactly (a person changing `'00501'` to
 * `'501'` in a text column made a change), except for trailing spaces.
 */
export function sameAcrossTypes(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'string' && typeof b === 'string') return a.trimEnd() === b.trimEnd();
  return token(a, {}, 0) === token(b, {}, 0);
}

const MAX_DEPTH = 256;

function token(v: unknown, opts: NormalizeOptions, depth: number): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? `n:${decimal(String(v))}` : `n:${String(v)}`;
    case 'bigint':
      return `n:${decimal(v.toString())}`;
    case 'boolean':
      return v ? 'n:1' : 'n:0';
    case 'string':
      return textToken(v, opts);
    case 'object':
      break;
    default:
      return `s:${String(v)}`;
  }
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'null' : `t:${v.getTime()}`;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `b:${Buffer.from(v).toString('base64')}`;
  if (depth >= MAX_DEPTH) return 'deep';
  // a decimal type of a driver (decimal.js, Big): its text is the value
  const o = v as Record<string, unknown>;
  if (!Array.isArray(v) && typeof o.toFixed === 'function' && typeof o.toString === 'function') {
    const s = String(o);
    if (NUMERIC.test(s)) return `n:${decimal(s)}`;
  }
  if (Array.isArray(v)) return `[${v.map((x) => token(x, opts, depth + 1)).join(',')}]`;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined && o[k] !== null).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${token(o[k], opts, depth + 1)}`).join(',')}}`;
}

function textToken(raw: string, opts: NormalizeOptions): string {
  const s = raw.trimEnd();
  if (s === '') return opts.emptyIsNull ? 'null' : 's:';
  const t = s.trimStart();
  if (NUMERIC.test(t)) return `n:${decimal(t)}`;
  if (t === 'true') return 'n:1';
  if (t === 'false') return 'n:0';
  const instant = instantOf(t);
  if (instant !== null) return `t:${instant}`;
  return `s:${s}`;
}

/** Epoch milliseconds (with sub-millisecond digits after a dot) of an ISO date-time text, or null. */
function instantOf(s: string): string | null {
  const m = DATETIME.exec(s);
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  // Date.UTC reads years 0..99 as 1900..1999: set the year on its own
  const at = new Date(Date.UTC(2000, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec ?? 0)));
  at.setUTCFullYear(Number(y));
  let ms = at.getTime();
  if (Number.isNaN(ms)) return null;
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || 0)) * 60_000;
  }
  const f = (frac ?? '').padEnd(3, '0');
  ms += Number(f.slice(0, 3));
  const sub = f.slice(3).replace(/0+$/, '');
  return sub ? `${ms}.${sub}` : String(ms);
}

/**
 * The plain decimal text of a numeric text, exactly: sign, no leading zeros, no trailing
 * fractional zeros, no exponent; zero is `0`.
 */
export function decimal(text: string): string {
  let s = text.trim();
  let neg = false;
  if (s[0] === '+' || s[0] === '-') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  let exp = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) {
    exp = Number(s.slice(e + 1));
    s = s.slice(0, e);
  }
  const dot = s.indexOf('.');
  let int = dot >= 0 ? s.slice(0, dot) : s;
  let frac = dot >= 0 ? s.slice(dot + 1) : '';
  if (exp > 0) {
    frac = frac.padEnd(exp, '0');
    int += frac.slice(0, exp);
    frac = frac.slice(exp);
  } else if (exp < 0) {
    int = int.padStart(-exp + 1, '0');
    frac = int.slice(int.length + exp) + frac;
    int = int.slice(0, int.length + exp);
  }
  int = int.replace(/^0+/, '') || '0';
  frac = frac.replace(/0+$/, '');
  const body = frac ? `${int}.${frac}` : int;
  return neg && body !== '0' ? `-${body}` : body;
}
