/**
 * File-name helpers: glob patterns for the drop directory and name templates for the sink
 * (`PERMITS.{yyyyMMddHHmmss}.{seq}.dat`). Pure functions.
 */
import { ConfigError } from '../../core/errors.js';

/**
 * A glob (`*` any run of characters, `?` one character, `[abc]` a class) as an anchored
 * RegExp over a bare file name.
 * @example globToRegExp('PERMITS.*.csv').test('PERMITS.20260101.csv') // => true
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) throw new ConfigError(`file pattern "${glob}" has an unclosed "[" at position ${i + 1}; close it or escape it`);
      re += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const DATE_TOKEN = /^(yyyy|yy|MM|dd|HH|mm|ss|SSS|[^a-zA-Z])+$/;

function formatDate(pattern: string, d: Date, utc: boolean): string {
  const parts = {
    yyyy: utc ? d.getUTCFullYear() : d.getFullYear(),
    MM: (utc ? d.getUTCMonth() : d.getMonth()) + 1,
    dd: utc ? d.getUTCDate() : d.getDate(),
    HH: utc ? d.getUTCHours() : d.getHours(),
    mm: utc ? d.getUTCMinutes() : d.getMinutes(),
    ss: utc ? d.getUTCSeconds() : d.getSeconds(),
    SSS: utc ? d.getUTCMilliseconds() : d.getMilliseconds(),
  };
  return pattern.replace(/yyyy|yy|MM|dd|HH|mm|ss|SSS/g, (t) => {
    if (t === 'yy') return String(parts.yyyy % 100).padStart(2, '0');
    const v = parts[t as keyof typeof parts];
    return String(v).padStart(t === 'yyyy' ? 4 : t === 'SSS' ? 3 : 2, '0');
  });
}

/** Throws a ConfigError when a file-name template has an unknown `{token}`. */
export function checkTemplate(template: string, what: string): void {
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    const t = m[1]!;
    if (t === 'seq' || /^seq:\d+$/.test(t) || t === 'collection' || t === 'name' || DATE_TOKEN.test(t)) continue;
    throw new ConfigError(`${what} "${template}" has an unknown token {${t}}; use date tokens such as {yyyyMMddHHmmss}, {seq}, {seq:6}, {collection} or {name}`);
  }
}

/**
 * Expand a file-name template.
 * @example renderTemplate('PERMITS.{yyyyMMddHHmmss}.{seq:4}.dat', { date, seq: 7 }) // => 'PERMITS.20260101120000.0007.dat'
 */
export function renderTemplate(template: string, v: { date: Date; seq: number; utc?: boolean; collection?: string; name?: string }): string {
  return template.replace(/\{([^}]*)\}/g, (_m, t: string) => {
    if (t === 'seq') return String(v.seq);
    if (t.startsWith('seq:')) return String(v.seq).padStart(Number(t.slice(4)), '0');
    if (t === 'collection') return v.collection ?? '';
    if (t === 'name') return v.name ?? '';
    return formatDate(t, v.date, v.utc ?? true);
  });
}
