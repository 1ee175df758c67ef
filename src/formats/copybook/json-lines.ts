/**
 * JSON text for decoded records: bigint values (integers beyond 2^53) are written as exact
 * JSON numbers; decimal values stay the decimal strings the codec produced.
 */

const TOKENS = /("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

/**
 * Parses JSON keeping every number exact: numbers become their source text (a string), which the
 * codec's encode accepts for every numeric field, so 12345678901234567890 or 0.1 lose nothing.
 */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(text.replace(TOKENS, (m, str: string | undefined) => (str !== undefined ? str : `"${m}"`)));
}

/** A JSON number token a JS number would change: an unsafe integer, or more than 15 significant digits. */
function lossyNumber(token: string): boolean {
  const [mantissa = ''] = token.replace(/^-/, '').split(/[eE]/);
  if (!/[.eE]/.test(token)) return !Number.isSafeInteger(Number(token));
  const significant = mantissa.replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return significant.length > 15 || !Number.isFinite(Number(token));
}

/**
 * Parses JSON like JSON.parse, except that a number a JS number cannot hold exactly
 * (9007199254740993, 12345678901234567890.123456789) becomes its source text, a string, instead
 * of being rounded silently. Every other number stays a number.
 * @example parseJsonLossless('{"a":1,"b":9007199254740993}') // => { a: 1, b: '9007199254740993' }
 */
export function parseJsonLossless(text: string): unknown {
  return JSON.parse(text.replace(TOKENS, (m, str: string | undefined) => (str !== undefined || !lossyNumber(m) ? m : `"${m}"`)));
}

/** Serialises a decoded record as one line of JSON (no trailing newline). */
export function toJsonLine(value: unknown): string {
  return write(value);
}

function write(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'bigint': return v.toString();
    case 'number': return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'string': return JSON.stringify(v);
    case 'boolean': return v ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(v)) return `[${v.map(write).join(',')}]`;
      const parts: string[] = [];
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (x !== undefined) parts.push(`${JSON.stringify(k)}:${write(x)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default: return 'null';
  }
}
