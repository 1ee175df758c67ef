/**
 * The one JSON parser of hms-sync that never rounds a number. `JSON.parse` turns
 * `9007199254740993` into 9007199254740992 and `0.10000000000000000001` into 0.1 without a
 * word; legacy systems carry such values (account numbers, NUMERIC(38,10) amounts), and
 * hms-sync carries exact decimals as strings. Used for trigger row images, PostgreSQL and
 * MariaDB JSON columns, webhook and REST bodies, JSON lines files, and copybook encode input.
 *
 * Two modes:
 * - `numbers: 'lossless'` (default): a number literal stays a JS number when the number prints
 *   back to the same decimal value (`String(Number(text))` equals the literal once both are in
 *   canonical form: `1.50` = `1.5`, `1e3` = `1000`, `0.30000000000000004` round-trips). Any
 *   other literal (an integer beyond 2^53, more digits than a double keeps, `1e400`, `1e-400`)
 *   becomes its source text, a string.
 * - `numbers: 'text'`: every number literal becomes its source text (`1.50` stays `"1.50"`,
 *   `1e3` stays `"1e3"`), for callers that need the digits as written (the copybook encoder,
 *   which writes a PIC X field with the text as given).
 *
 * Strings, keys, true/false/null are untouched; invalid JSON throws the SyntaxError of
 * `JSON.parse` (a malformed number such as `01` or `1.2.3` is never turned into a string).
 *
 * @example parseJsonLossless('{"a":1,"b":9007199254740993}') // => { a: 1, b: '9007199254740993' }
 * @example parseJsonLossless('[1.50, 1e3]', { numbers: 'text' }) // => ['1.50', '1e3']
 */

export interface LosslessJsonOptions {
  /** `lossless` (default): only numbers a double would change become strings. `text`: all numbers do. */
  numbers?: 'lossless' | 'text';
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** Parse JSON text; numbers per {@link LosslessJsonOptions} (default: lossless). */
export function parseJsonLossless(text: string, opts: LosslessJsonOptions = {}): unknown {
  const all = opts.numbers === 'text';
  let out = '';
  let last = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) { // a string: skip to its closing quote
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92) i += 2;
        else if (d === 34) break;
        else i++;
      }
      continue;
    }
    if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < n && isNumberChar(text.charCodeAt(j))) j++;
      const lit = text.slice(i, j);
      if (JSON_NUMBER.test(lit) && (all || !exactAsDouble(lit))) {
        out += `${text.slice(last, i)}"${lit}"`;
        last = j;
      }
      i = j - 1;
    }
  }
  return JSON.parse(last === 0 ? text : out + text.slice(last));
}

/** Digits, `.`, `e`, `E`, `+`, `-`: what a number literal (or a malformed one) is made of. */
function isNumberChar(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 46 || c === 101 || c === 69 || c === 43 || c === 45;
}

/** True when the JSON number literal `lit` is held exactly by a JS number (see the module comment). */
export function exactAsDouble(lit: string): boolean {
  // fast path: a plain integer of at most 15 digits always fits
  if (lit.length <= 15 && !/[.eE]/.test(lit)) return true;
  const v = Number(lit);
  if (!Number.isFinite(v)) return false;
  return canonical(String(v)) === canonical(lit);
}

/**
 * A decimal literal (`-12.50`, `1.5e-7`, `1e+21`) as `sign digits e exponent` with no leading or
 * trailing zeros in the digits, so two spellings of the same value compare equal; zero is `0`.
 */
function canonical(lit: string): string {
  const m = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(lit);
  if (!m) return lit;
  const int = m[2] ?? '';
  const frac = m[3] ?? '';
  let digits = int + frac;
  let exp = (m[4] ? Number(m[4]) : 0) - frac.length;
  const lead = /^0*/.exec(digits)![0].length;
  digits = digits.slice(lead);
  if (digits === '') return '0';
  const trail = /0*$/.exec(digits)![0].length;
  if (trail) {
    digits = digits.slice(0, digits.length - trail);
    exp += trail;
  }
  return `${m[1]}${digits}e${exp}`;
}
