/**
 * JSON text for decoded records: bigint values (integers beyond 2^53) are written as exact
 * JSON numbers; decimal values stay the decimal strings the codec produced. Reading JSON back
 * exactly: parseJsonLossless in formats/json/lossless-json.ts.
 */

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
