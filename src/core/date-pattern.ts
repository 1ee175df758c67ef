/**
 * Fixed-width legacy date/time patterns (`yyyyMMdd`, `CYYMMDD`, `yyyyDDD`, `HHmmss`...):
 * parsing into ISO strings and formatting back. Pure; used by the `date`, `time`,
 * `datetime` converters and their `to...` inverses (see docs/mapping.md).
 */
import { ConfigError, ValidationError } from './errors.js';

type Token = 'yyyy' | 'yy' | 'C' | 'MM' | 'dd' | 'DDD' | 'HH' | 'mm' | 'ss' | 'SSS';
type Part = { token: Token; width: number } | { literal: string };

const TOKENS: Array<[string, Token]> = [
  ['yyyy', 'yyyy'], ['YYYY', 'yyyy'], ['SSS', 'SSS'], ['DDD', 'DDD'], ['yy', 'yy'], ['YY', 'yy'],
  ['MM', 'MM'], ['dd', 'dd'], ['DD', 'dd'], ['HH', 'HH'], ['mm', 'mm'], ['ss', 'ss'], ['C', 'C'],
];
const WIDTH: Record<Token, number> = { yyyy: 4, yy: 2, C: 1, MM: 2, dd: 2, DDD: 3, HH: 2, mm: 2, ss: 2, SSS: 3 };

/** What a pattern holds: a date, a time, or both. */
export type PatternKind = 'date' | 'time' | 'datetime';

export interface DatePattern {
  /** The pattern as written (`yyyyMMdd`). */
  source: string;
  kind: PatternKind;
  parts: Part[];
  /** Total width in characters. */
  width: number;
  /** Two-digit years below the pivot are 20yy, others 19yy (default 50). */
  pivot: number;
  /** Fixed UTC offset (`Z`, `+01:00`) attached to datetimes, or null for a local time. */
  offset: string | null;
  /** IANA time zone (`Europe/Paris`) of the legacy wall-clock times, or null. */
  zone: string | null;
  /** True when the pattern has no literal separators (digits only). */
  digitsOnly: boolean;
}

/**
 * Compile a pattern with options after `@`: `yyMMdd@pivot=40`, `yyyyMMddHHmmss@+01:00`,
 * `yyyyMMddHHmmss@Europe/Paris` (legacy wall-clock times in that zone, daylight saving included).
 * @throws ConfigError naming the bad token and the valid ones.
 */
export function compilePattern(spec: string, kind: PatternKind): DatePattern {
  const [pattern = '', options = ''] = splitOnce(spec, '@');
  const parts: Part[] = [];
  for (let i = 0; i < pattern.length;) {
    const hit = TOKENS.find(([text]) => pattern.startsWith(text, i));
    if (hit) {
      parts.push({ token: hit[1], width: WIDTH[hit[1]] });
      i += hit[0].length;
    } else if (/[A-Za-z]/.test(pattern[i]!)) {
      throw new ConfigError(`unknown letter "${pattern[i]}" in ${kind} pattern "${pattern}"; patterns are made of yyyy, yy, C (IBM i century digit), MM, dd, DDD (day of year), HH, mm, ss, SSS and separators`);
    } else {
      parts.push({ literal: pattern[i]! });
      i++;
    }
  }
  const has = (t: Token) => parts.some((p) => 'token' in p && p.token === t);
  const hasDate = (has('yyyy') || has('yy')) && (has('DDD') || (has('MM') && has('dd')));
  const hasTime = has('HH') && has('mm');
  if (has('C') && !has('yy')) throw new ConfigError(`${kind} pattern "${pattern}" uses C (century) without yy`);
  if ((kind === 'date' || kind === 'datetime') && !hasDate) {
    throw new ConfigError(`${kind} pattern "${pattern}" must contain a year (yyyy or yy) and either MM and dd or DDD (e.g. yyyyMMdd, CYYMMDD, yyyyDDD)`);
  }
  if ((kind === 'time' || kind === 'datetime') && !hasTime) {
    throw new ConfigError(`${kind} pattern "${pattern}" must contain HH and mm (e.g. HHmmss)`);
  }
  if (kind === 'time' && hasDate) throw new ConfigError(`time pattern "${pattern}" contains a date; use datetime:${pattern}`);
  let pivot = 50;
  let offset: string | null = null;
  let zone: string | null = null;
  for (const opt of options ? options.split(',').map((o) => o.trim()) : []) {
    const pv = /^pivot=(\d{1,2})$/.exec(opt);
    const tz = /^(?:tz=)?(Z|[+-]\d{2}:?\d{2})$/.exec(opt);
    if (pv) pivot = Number(pv[1]);
    else if (tz && kind === 'datetime') offset = normaliseOffset(tz[1]!);
    else if (kind === 'datetime' && /^(?:tz=)?[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/.test(opt)) zone = checkZone(opt.replace(/^tz=/, ''), spec);
    else throw new ConfigError(`unknown option "${opt}" in ${kind} converter "${spec}"; valid options are pivot=NN (two-digit year window)${kind === 'datetime' ? ', a fixed UTC offset such as Z or +01:00, or an IANA time zone such as Europe/Paris' : ''}`);
  }
  const width = parts.reduce((n, p) => n + ('token' in p ? p.width : p.literal.length), 0);
  if (offset && zone) throw new ConfigError(`${kind} converter "${spec}" gives both a fixed offset and a time zone; give one`);
  return { source: pattern, kind, parts, width, pivot, offset, zone, digitsOnly: parts.every((p) => 'token' in p) };
}

interface Fields { year: number; month: number; day: number; hour: number; minute: number; second: number; ms: number }

/**
 * Legacy text -> ISO: `YYYY-MM-DD`, `HH:mm:ss`, or `YYYY-MM-DDTHH:mm:ss[.sss][offset]`.
 * Blank values, and for dates all-zero or all-nine values (legacy "no date"), give null.
 * @throws ValidationError quoting the value and the expected form.
 */
export function parseWithPattern(value: unknown, p: DatePattern): string | null {
  if (value === null || value === undefined) return null;
  let text: string;
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (typeof value === 'number' && (!Number.isInteger(value) || value < 0)) throw bad(value, p, 'a number must be a whole non-negative number');
    text = String(value);
    if (p.digitsOnly) text = text.padStart(p.width, '0');
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    throw bad(value, p, `expected text or a number, got ${typeof value}`);
  }
  if (text === '') return null;
  if (p.kind !== 'time') {
    const digits = text.replace(/\D/g, '');
    if (digits !== '' && (/^0+$/.test(digits) || /^9+$/.test(digits))) return null;
  }
  if (text.length !== p.width) throw bad(value, p, `expected ${p.width} characters`);
  const f: Fields = { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, ms: 0 };
  let century: number | null = null;
  let yy: number | null = null;
  let doy: number | null = null;
  let pos = 0;
  for (const part of p.parts) {
    if ('literal' in part) {
      if (text.slice(pos, pos + part.literal.length) !== part.literal) throw bad(value, p, `expected "${part.literal}" at position ${pos + 1}`);
      pos += part.literal.length;
      continue;
    }
    const chunk = text.slice(pos, pos + part.width);
    if (!/^\d+$/.test(chunk)) throw bad(value, p, `"${chunk}" at position ${pos + 1} is not digits (${part.token})`);
    const n = Number(chunk);
    pos += part.width;
    switch (part.token) {
      case 'yyyy': f.year = n; break;
      case 'yy': yy = n; break;
      case 'C': century = n; break;
      case 'MM': f.month = n; break;
      case 'dd': f.day = n; break;
      case 'DDD': doy = n; break;
      case 'HH': f.hour = n; break;
      case 'mm': f.minute = n; break;
      case 'ss': f.second = n; break;
      case 'SSS': f.ms = n; break;
    }
  }
  if (yy !== null) f.year = century !== null ? 1900 + century * 100 + yy : yy < p.pivot ? 2000 + yy : 1900 + yy;
  if (doy !== null) {
    const len = isLeap(f.year) ? 366 : 365;
    if (doy < 1 || doy > len) throw bad(value, p, `day of year ${doy} is out of range 1..${len} for ${f.year}`);
    const d = new Date(Date.UTC(f.year, 0, doy));
    f.month = d.getUTCMonth() + 1;
    f.day = d.getUTCDate();
  }
  const problem = checkFields(f, p.kind);
  if (problem) throw bad(value, p, problem);
  const date = `${pad(f.year, 4)}-${pad(f.month, 2)}-${pad(f.day, 2)}`;
  const time = `${pad(f.hour, 2)}:${pad(f.minute, 2)}:${pad(f.second, 2)}${p.parts.some((x) => 'token' in x && x.token === 'SSS') ? `.${pad(f.ms, 3)}` : ''}`;
  if (p.kind === 'date') return date;
  if (p.kind === 'time') return time;
  if (p.zone) {
    const wall = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second, f.ms);
    return `${date}T${time}${formatOffset(zoneOffsetForWallClock(p.zone, wall))}`;
  }
  return `${date}T${time}${p.offset ?? ''}`;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})/;
const ISO_TIME = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;
const ISO_DATETIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * ISO -> legacy text in the pattern. Dates take `YYYY-MM-DD` (a datetime's date part is used),
 * times `HH:mm[:ss[.sss]]`, datetimes `YYYY-MM-DDTHH:mm[:ss[.sss]][Z|±hh:mm]` (converted to the
 * pattern's offset when both have one; otherwise the wall-clock time as written). null stays null.
 */
export function formatWithPattern(value: unknown, p: DatePattern): string | null {
  if (value === null || value === undefined) return null;
  let text: string;
  if (value instanceof Date) text = value.toISOString();
  else if (typeof value === 'string') text = value.trim();
  else throw badIso(value, p, `expected ISO text, got ${typeof value}`);
  if (text === '') return null;
  const f: Fields = { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, ms: 0 };
  if (p.kind === 'date') {
    const m = ISO_DATE.exec(text);
    if (!m || (text.length > 10 && !/^[T ]/.test(text.slice(10)))) throw badIso(value, p, 'expected YYYY-MM-DD');
    [f.year, f.month, f.day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  } else if (p.kind === 'time') {
    const m = ISO_TIME.exec(text);
    if (!m) throw badIso(value, p, 'expected HH:mm or HH:mm:ss');
    [f.hour, f.minute, f.second, f.ms] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0), fraction(m[4])];
  } else {
    const m = ISO_DATETIME.exec(text);
    if (!m) throw badIso(value, p, 'expected YYYY-MM-DDTHH:mm:ss with an optional offset');
    [f.year, f.month, f.day, f.hour, f.minute, f.second, f.ms] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0', '0'].map(Number) as [number, number, number, number, number, number, number];
    f.ms = fraction(m[7]);
    const problem = checkFields(f, 'datetime');
    if (problem) throw badIso(value, p, problem);
    if (m[8] && (p.offset || p.zone)) {
      const instant = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second, f.ms) - offsetMinutes(m[8]) * 60_000;
      const target = p.zone ? zoneOffsetAt(p.zone, instant) : offsetMinutes(p.offset!);
      const d = new Date(instant + target * 60_000);
      [f.year, f.month, f.day, f.hour, f.minute, f.second, f.ms] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()];
    }
  }
  const problem = checkFields(f, p.kind);
  if (problem) throw badIso(value, p, problem);
  let out = '';
  for (const part of p.parts) {
    if ('literal' in part) {
      out += part.literal;
      continue;
    }
    switch (part.token) {
      case 'yyyy': out += pad(f.year, 4); break;
      case 'yy': {
        const hasC = p.parts.some((x) => 'token' in x && x.token === 'C');
        const lo = hasC ? 1900 : 1900 + p.pivot;
        const hi = hasC ? 2899 : 1999 + p.pivot;
        if (f.year < lo || f.year > hi) throw badIso(value, p, `year ${f.year} does not fit a two-digit year (window ${lo}..${hi})`);
        out += pad(f.year % 100, 2);
        break;
      }
      case 'C': out += String(Math.floor((f.year - 1900) / 100)); break;
      case 'MM': out += pad(f.month, 2); break;
      case 'dd': out += pad(f.day, 2); break;
      case 'DDD': out += pad(dayOfYear(f), 3); break;
      case 'HH': out += pad(f.hour, 2); break;
      case 'mm': out += pad(f.minute, 2); break;
      case 'ss': out += pad(f.second, 2); break;
      case 'SSS': out += pad(f.ms, 3); break;
    }
  }
  return out;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function checkFields(f: Fields, kind: PatternKind): string | null {
  if (kind !== 'time') {
    if (f.month < 1 || f.month > 12) return `month ${f.month} is out of range 1..12`;
    const days = new Date(Date.UTC(f.year, f.month, 0)).getUTCDate();
    if (f.day < 1 || f.day > days) return `day ${f.day} is out of range 1..${days} for ${MONTHS[f.month - 1]} ${f.year}`;
  }
  if (kind !== 'date') {
    if (f.hour > 23) return `hour ${f.hour} is out of range 0..23`;
    if (f.minute > 59) return `minute ${f.minute} is out of range 0..59`;
    if (f.second > 59) return `second ${f.second} is out of range 0..59`;
  }
  return null;
}

function dayOfYear(f: Fields): number {
  return Math.round((Date.UTC(f.year, f.month - 1, f.day) - Date.UTC(f.year, 0, 1)) / 86_400_000) + 1;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function fraction(digits: string | undefined): number {
  return digits ? Math.floor(Number(`0.${digits}`) * 1000 + 1e-9) : 0;
}

function normaliseOffset(o: string): string {
  if (o === 'Z') return 'Z';
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(o)!;
  return `${m[1]}${m[2]}:${m[3]}`;
}

function checkZone(zone: string, spec: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone;
  } catch {
    throw new ConfigError(`unknown time zone "${zone}" (in "${spec}"); use an IANA name such as Europe/Paris or America/New_York, or a fixed offset such as +01:00`);
  }
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** Offset of `zone` from UTC, in minutes, at the instant `utcMs`. */
function zoneOffsetAt(zone: string, utcMs: number): number {
  let fmt = zoneFormats.get(zone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    zoneFormats.set(zone, fmt);
  }
  const parts: Record<string, number> = {};
  for (const part of fmt.formatToParts(new Date(utcMs))) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return Math.round((wall - Math.floor(utcMs / 1000) * 1000) / 60_000);
}

/**
 * Offset of a wall-clock time in `zone`. In the autumn overlap the earlier (summer) offset is
 * used; a time skipped in spring takes the offset in force before the change.
 */
function zoneOffsetForWallClock(zone: string, wallAsUtc: number): number {
  const first = zoneOffsetAt(zone, wallAsUtc);
  const second = zoneOffsetAt(zone, wallAsUtc - first * 60_000);
  if (first === second) {
    const earlier = zoneOffsetAt(zone, wallAsUtc - first * 60_000 - 3_600_000);
    // Autumn overlap: the same wall-clock time also exists with the earlier (larger) offset.
    if (earlier > first && zoneOffsetAt(zone, wallAsUtc - earlier * 60_000) === earlier) return earlier;
    return first;
  }
  return Math.max(first, second) === zoneOffsetAt(zone, wallAsUtc - Math.max(first, second) * 60_000) ? Math.max(first, second) : Math.min(first, second);
}

function formatOffset(minutes: number): string {
  if (minutes === 0) return 'Z';
  const a = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${pad(Math.floor(a / 60), 2)}:${pad(a % 60, 2)}`;
}

function offsetMinutes(o: string): number {
  if (o === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(o)!;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function bad(value: unknown, p: DatePattern, why: string): ValidationError {
  return new ValidationError(`${JSON.stringify(value)} is not a valid ${p.kind} in the form ${p.source}: ${why}`);
}

function badIso(value: unknown, p: DatePattern, why: string): ValidationError {
  return new ValidationError(`${JSON.stringify(value)} is not a valid ISO ${p.kind} (to write as ${p.source}): ${why}`);
}
