/**
 * Value converters for mappings: legacy dates and times, implied decimals, numbers, text
 * clean-up, booleans. Each is named in config as `name` or `name:args` and composes in a
 * chain (`convert: [trim, "date:yyyyMMdd"]`). Most have an inverse (`date` / `toDate`) for
 * the reverse pipeline. null passes through every converter unchanged.
 * Pure; a bad spec throws ConfigError at compile time, a bad value ValidationError at run time.
 * The catalogue below is the source of docs/mapping.md's converter table.
 */
import { ConfigError, ValidationError } from './errors.js';
import { compilePattern, formatWithPattern, parseWithPattern } from './date-pattern.js';
import { didYouMean } from './suggest.js';

/** A compiled converter: one value in, one value out. Throws ValidationError on bad input. */
export type Converter = (value: unknown) => unknown;

export interface ConverterInfo {
  name: string;
  /** How it is written in config. */
  syntax: string;
  description: string;
  /** `input -> output` example. */
  example: string;
  /** The converter that undoes it, when there is one. */
  inverse?: string;
}

type Factory = (args: string, spec: string) => Converter;

interface Entry extends ConverterInfo {
  make: Factory;
}

const ENTRIES: Entry[] = [
  {
    name: 'date', syntax: 'date:<pattern>[@pivot=NN]', inverse: 'toDate',
    description: 'Legacy date text or number -> ISO `YYYY-MM-DD`. Patterns: yyyyMMdd, yyMMdd, ddMMyyyy, MMddyyyy, yyyy-MM-dd, yyyyDDD (Julian), CYYMMDD (IBM i), any fixed-width mix of yyyy yy C MM dd DDD and separators. Two-digit years below the pivot (default 50) are 20yy. Blank, all-zero and all-nine values mean "no date" -> null. Impossible dates (20230231) are errors.',
    example: '"20240229" -> "2024-02-29"',
    make: (args) => { const p = compilePattern(args || 'yyyyMMdd', 'date'); return (v) => parseWithPattern(v, p); },
  },
  {
    name: 'toDate', syntax: 'toDate:<pattern>[@pivot=NN]', inverse: 'date',
    description: 'ISO date (or the date part of an ISO datetime) -> legacy date text in the pattern.',
    example: '"2024-02-29" -> "20240229"',
    make: (args) => { const p = compilePattern(args || 'yyyyMMdd', 'date'); return (v) => formatWithPattern(v, p); },
  },
  {
    name: 'time', syntax: 'time:<pattern>', inverse: 'toTime',
    description: 'Legacy time (HHmmss, HHmm, HH:mm...) -> `HH:mm:ss`. Blank -> null; 000000 is midnight.',
    example: '"0930" -> "09:30:00"',
    make: (args) => { const p = compilePattern(args || 'HHmmss', 'time'); return (v) => parseWithPattern(v, p); },
  },
  {
    name: 'toTime', syntax: 'toTime:<pattern>', inverse: 'time',
    description: 'ISO time `HH:mm[:ss]` -> legacy time text in the pattern.',
    example: '"09:30:00" -> "0930"',
    make: (args) => { const p = compilePattern(args || 'HHmmss', 'time'); return (v) => formatWithPattern(v, p); },
  },
  {
    name: 'datetime', syntax: 'datetime:<pattern>[@<offset or zone>]', inverse: 'toDatetime',
    description: 'Legacy timestamp -> ISO `YYYY-MM-DDTHH:mm:ss` without a zone, or with the offset given after @: fixed (`@Z`, `@+01:00`) or the offset in force in an IANA time zone (`@Europe/Paris`, daylight saving included). Same "no date" rule as date.',
    example: '"20240229143000" -> "2024-02-29T14:30:00"',
    make: (args) => { const p = compilePattern(args || 'yyyyMMddHHmmss', 'datetime'); return (v) => parseWithPattern(v, p); },
  },
  {
    name: 'toDatetime', syntax: 'toDatetime:<pattern>[@<offset or zone>]', inverse: 'datetime',
    description: 'ISO datetime -> legacy timestamp. With @offset or @zone, a value carrying its own offset is first converted to that offset or to the wall-clock time of that zone; otherwise the wall-clock time is written as given.',
    example: '"2024-02-29T14:30:00" -> "20240229143000"',
    make: (args) => { const p = compilePattern(args || 'yyyyMMddHHmmss', 'datetime'); return (v) => formatWithPattern(v, p); },
  },
  {
    name: 'decimal', syntax: 'decimal:<scale>', inverse: 'toDecimal',
    description: 'Implied decimals: an integer (text or number) with <scale> implied decimal places -> an exact decimal STRING (never a float). Leading zeros are dropped; leading or trailing sign (+/-) accepted. A value that already has a decimal point is taken as already scaled and normalised to <scale> places. Blank -> null.',
    example: '"0012345" -> "123.45" (decimal:2)',
    make: (args, spec) => { const scale = intArg(args, spec, 'scale', 0, 30); return (v) => parseImplied(v, scale); },
  },
  {
    name: 'toDecimal', syntax: 'toDecimal:<scale>[:<width>]', inverse: 'decimal',
    description: 'Decimal (string or number) -> implied-decimal digits with <scale> places, zero-padded to <width> digits if given (a minus sign is prefixed). More significant decimals than <scale> is an error (no silent rounding).',
    example: '"123.45" -> "12345" (toDecimal:2); "-1.5" -> "-0000150" (toDecimal:2:7)',
    make: (args, spec) => {
      const [s = '', w] = args.split(':');
      const scale = intArg(s, spec, 'scale', 0, 30);
      const width = w === undefined ? undefined : intArg(w, spec, 'width', 1, 64);
      return (v) => formatImplied(v, scale, width);
    },
  },
  {
    name: 'number', syntax: 'number', inverse: 'string',
    description: 'Text -> JS number. Blank -> null. Not a finite number is an error, and so is an integer beyond 2^53 (it cannot be represented exactly; use decimal:0 to keep it as an exact string).',
    example: '" 42.5" -> 42.5',
    make: noArgs('number', (v) => toNumber(v, false)),
  },
  {
    name: 'integer', syntax: 'integer', inverse: 'string',
    description: 'Text or number -> a whole JS number (leading zeros allowed, "12.00" accepted). A fraction or an integer beyond 2^53 is an error. Blank -> null.',
    example: '"00042" -> 42',
    make: noArgs('integer', (v) => toNumber(v, true)),
  },
  {
    name: 'string', syntax: 'string',
    description: 'Any value -> text (numbers and booleans as written, objects as JSON).',
    example: '42 -> "42"',
    make: noArgs('string', toStringValue),
  },
  { name: 'trim', syntax: 'trim', description: 'Strip spaces at both ends (fixed-width fields). Non-text passes through.', example: '" A12  " -> "A12"', make: noArgs('trim', textOp((s) => s.trim())) },
  { name: 'trimStart', syntax: 'trimStart', description: 'Strip leading spaces.', example: '"  7" -> "7"', make: noArgs('trimStart', textOp((s) => s.trimStart())) },
  { name: 'trimEnd', syntax: 'trimEnd', description: 'Strip trailing spaces.', example: '"AB   " -> "AB"', make: noArgs('trimEnd', textOp((s) => s.trimEnd())) },
  {
    name: 'pad', syntax: 'pad:<width>[:<char>]', inverse: 'trimEnd',
    description: 'Pad on the right to <width> with <char> (default a space), as fixed-width legacy fields expect. Longer values are an error (use truncate first to cut).',
    example: '"AB" -> "AB   " (pad:5)',
    make: (args, spec) => padConverter(args, spec, 'end'),
  },
  {
    name: 'padStart', syntax: 'padStart:<width>[:<char>]', inverse: 'trimStart',
    description: 'Pad on the left to <width> with <char> (default a space; `padStart:8:0` for zero-filled numbers). Longer values are an error.',
    example: '123 -> "00000123" (padStart:8:0)',
    make: (args, spec) => padConverter(args, spec, 'start'),
  },
  {
    name: 'truncate', syntax: 'truncate:<width>',
    description: 'Cut text to at most <width> characters.',
    example: '"ABCDEFG" -> "ABC" (truncate:3)',
    make: (args, spec) => { const n = intArg(args, spec, 'width', 0, 1_000_000); return textOp((s) => s.slice(0, n)); },
  },
  { name: 'upper', syntax: 'upper', description: 'Upper-case text.', example: '"abc" -> "ABC"', make: noArgs('upper', textOp((s) => s.toUpperCase())) },
  { name: 'lower', syntax: 'lower', description: 'Lower-case text.', example: '"ABC" -> "abc"', make: noArgs('lower', textOp((s) => s.toLowerCase())) },
  {
    name: 'boolean', syntax: 'boolean[:<true>/<false>]', inverse: 'toBoolean',
    description: 'Flag -> true/false. With `Y/N`, "Y" is true and "N" false (surrounding spaces ignored, any other value is an error). Without arguments: true/false, "true"/"false", 1/0, "Y"/"N". Blank -> null.',
    example: '"Y" -> true (boolean:Y/N)',
    make: (args, spec) => { const pair = flagPair(args, spec); return (v) => toBoolean(v, pair, spec); },
  },
  {
    name: 'toBoolean', syntax: 'toBoolean:<true>/<false>', inverse: 'boolean',
    description: 'true/false -> the legacy flag text.',
    example: 'true -> "Y" (toBoolean:Y/N)',
    make: (args, spec) => {
      const pair = flagPair(args || 'true/false', spec);
      return (v) => fromBoolean(v, pair!);
    },
  },
  {
    name: 'nullIf', syntax: 'nullIf:<literal>',
    description: 'null when the value, as text, equals <literal> exactly (e.g. a legacy placeholder); otherwise unchanged. `nullIf:` (empty literal) turns "" into null.',
    example: '"N/A" -> null (nullIf:N/A)',
    make: (args) => (v) => (v !== null && v !== undefined && toStringValue(v) === args ? null : v),
  },
];

const BY_NAME = new Map(ENTRIES.map((e) => [e.name, e]));
BY_NAME.set('padEnd', BY_NAME.get('pad')!);

/** The converter catalogue (for docs and error messages). */
export const CONVERTERS: readonly ConverterInfo[] = ENTRIES.map(({ make: _make, ...info }) => info);

/** Names accepted before the first `:` of a converter spec. */
export function listConverterNames(): string[] {
  return [...BY_NAME.keys()];
}

/**
 * Compile one converter spec (`trim`, `date:yyyyMMdd`, `padStart:8:0`).
 * @throws ConfigError for an unknown name or bad arguments, listing what is valid.
 */
export function compileConverter(spec: string): Converter {
  if (typeof spec !== 'string' || spec.trim() === '') {
    throw new ConfigError(`converter ${JSON.stringify(spec)} is not a converter name; known converters are ${listConverterNames().join(', ')}`);
  }
  // Arguments are kept as written: `nullIf:ABC  ` compares with the trailing spaces.
  const text = spec.trimStart();
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  const args = colon < 0 ? '' : text.slice(colon + 1);
  const entry = BY_NAME.get(name);
  if (!entry) throw new ConfigError(`unknown converter "${name}"${didYouMean(name, listConverterNames())}; known converters are ${listConverterNames().join(', ')}`);
  return entry.make(args, text);
}

/** Compile a chain; values flow left to right. A single spec is a chain of one. */
export function compileConverterChain(specs: string | readonly string[]): { specs: string[]; run: (value: unknown) => { value: unknown } | { error: Error; spec: string; input: unknown } } {
  const list = typeof specs === 'string' ? [specs] : [...specs];
  const fns = list.map((s) => compileConverter(s));
  return {
    specs: list,
    run(value) {
      let v = value;
      for (let i = 0; i < fns.length; i++) {
        try {
          v = fns[i]!(v);
        } catch (error) {
          return { error: error instanceof Error ? error : new Error(String(error)), spec: list[i]!, input: v };
        }
      }
      return { value: v };
    },
  };
}

/** Convenience: apply a converter spec (or chain) to one value. Throws ValidationError. */
export function convertValue(value: unknown, specs: string | readonly string[]): unknown {
  const r = compileConverterChain(specs).run(value);
  if ('error' in r) throw r.error;
  return r.value;
}

// ---------------------------------------------------------------------------------------

function noArgs(name: string, fn: Converter): Factory {
  return (args) => {
    if (args !== '') throw new ConfigError(`converter "${name}" takes no arguments, got "${name}:${args}"`);
    return fn;
  };
}

function intArg(text: string, spec: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(`converter "${spec}" needs a whole number ${what} between ${min} and ${max}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function textOp(fn: (s: string) => string): Converter {
  return (v) => (typeof v === 'string' ? fn(v) : v);
}

function padConverter(args: string, spec: string, side: 'start' | 'end'): Converter {
  const [w = '', ...rest] = args.split(':');
  const width = intArg(w, spec, 'width', 1, 1_000_000);
  const fill = rest.length ? rest.join(':') : ' ';
  if ([...fill].length !== 1) throw new ConfigError(`converter "${spec}": the pad character must be exactly one character, got ${JSON.stringify(fill)}`);
  return (v) => {
    if (v === null || v === undefined) return v;
    const s = toStringValue(v) as string;
    if (s.length > width) throw new ValidationError(`${JSON.stringify(s)} is ${s.length} characters, longer than the width ${width} of ${spec} (add truncate:${width} before it to cut)`);
    return side === 'start' ? s.padStart(width, fill) : s.padEnd(width, fill);
  };
}

function toStringValue(v: unknown): unknown {
  if (v === null || v === undefined) return v;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

const NUMBER_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function toNumber(v: unknown, integer: boolean): number | null {
  if (v === null || v === undefined) return null;
  let n: number;
  let text: string;
  if (typeof v === 'number') {
    n = v;
    text = String(v);
  } else if (typeof v === 'bigint') {
    text = v.toString();
    n = Number(v);
  } else if (typeof v === 'string') {
    text = v.trim();
    if (text === '') return null;
    if (!NUMBER_TEXT.test(text)) throw new ValidationError(`${JSON.stringify(v)} is not a number`);
    n = Number(text);
  } else {
    throw new ValidationError(`${JSON.stringify(v)} is not a number (it is a ${typeof v})`);
  }
  if (!Number.isFinite(n)) throw new ValidationError(`${JSON.stringify(v)} is not a finite number`);
  const looksIntegral = /^[+-]?\d+(?:\.0*)?$/.test(text) || (typeof v === 'bigint');
  if (integer && !Number.isInteger(n)) throw new ValidationError(`${JSON.stringify(v)} is not a whole number`);
  if ((looksIntegral || integer) && !Number.isSafeInteger(n)) {
    throw new ValidationError(`${JSON.stringify(typeof v === 'bigint' ? text : v)} is an integer beyond 2^53 that a JS number cannot hold exactly; use decimal:0 to keep it as an exact string`);
  }
  return n === 0 ? 0 : n;
}

const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?([+-]?)$/;

function splitDecimal(v: unknown, what: string): { neg: boolean; int: string; frac: string | null } | null {
  if (v === null || v === undefined) return null;
  let text: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ValidationError(`${JSON.stringify(v)} is not a finite number (${what})`);
    text = Number.isInteger(v) ? BigInt(v).toString() : String(v);
    if (/e/i.test(text)) text = v.toFixed(20).replace(/0+$/, '');
  } else if (typeof v === 'bigint') {
    text = v.toString();
  } else if (typeof v === 'string') {
    text = v.trim();
    if (text === '') return null;
  } else {
    throw new ValidationError(`${JSON.stringify(v)} is not a number (${what})`);
  }
  const m = DECIMAL_TEXT.exec(text);
  if (!m || (m[1] && m[4]) || (m[2] === '' && !m[3])) {
    throw new ValidationError(`${JSON.stringify(v)} is not a decimal number (${what}); expected digits with an optional sign and decimal point`);
  }
  return { neg: m[1] === '-' || m[4] === '-', int: m[2] ?? '', frac: m[3] === undefined ? null : m[3] };
}

function parseImplied(v: unknown, scale: number): string | null {
  const d = splitDecimal(v, `decimal:${scale}`);
  if (!d) return null;
  let int: string;
  let frac: string;
  if (d.frac !== null) {
    frac = d.frac;
    if (frac.length > scale) {
      if (/[1-9]/.test(frac.slice(scale))) throw new ValidationError(`${JSON.stringify(v)} has more than ${scale} decimal places (decimal:${scale})`);
      frac = frac.slice(0, scale);
    }
    frac = frac.padEnd(scale, '0');
    int = d.int;
  } else {
    const digits = d.int.padStart(scale + 1, '0');
    int = digits.slice(0, digits.length - scale);
    frac = digits.slice(digits.length - scale);
  }
  int = int.replace(/^0+(?=\d)/, '') || '0';
  const zero = /^0*$/.test(int + frac);
  return `${d.neg && !zero ? '-' : ''}${int}${scale > 0 ? `.${frac}` : ''}`;
}

function formatImplied(v: unknown, scale: number, width: number | undefined): string | null {
  const spec = `toDecimal:${scale}${width === undefined ? '' : `:${width}`}`;
  let d = splitDecimal(v, spec);
  if (!d) return null;
  if (typeof v === 'number' && d.frac !== null && d.frac.length > scale) {
    // A float such as 0.1 + 0.2: accept when it is the nearest double of a value with `scale` places.
    const fixed = v.toFixed(scale);
    if (Math.abs(Number(fixed) - v) <= Math.abs(v) * 4 * Number.EPSILON) d = splitDecimal(fixed, spec)!;
  }
  let frac = d.frac ?? '';
  if (frac.length > scale) {
    if (/[1-9]/.test(frac.slice(scale))) throw new ValidationError(`${JSON.stringify(v)} has more than ${scale} decimal places and would lose precision (${spec})`);
    frac = frac.slice(0, scale);
  }
  let digits = (d.int + frac.padEnd(scale, '0')).replace(/^0+(?=\d)/, '') || '0';
  const zero = /^0+$/.test(digits);
  if (width !== undefined) {
    if (digits.length > width) throw new ValidationError(`${JSON.stringify(v)} needs ${digits.length} digits, more than the width ${width} (${spec})`);
    digits = digits.padStart(width, '0');
  }
  return `${d.neg && !zero ? '-' : ''}${digits}`;
}

type FlagPair = { t: string; f: string } | null;

function flagPair(args: string, spec: string): FlagPair {
  if (args === '') return null;
  const parts = args.split('/');
  if (parts.length !== 2 || parts[0] === parts[1]) {
    throw new ConfigError(`converter "${spec}" needs two different flags as <true>/<false>, e.g. boolean:Y/N`);
  }
  return { t: parts[0]!, f: parts[1]! };
}

function toBoolean(v: unknown, pair: FlagPair, spec: string): boolean | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v;
  const s = typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : undefined;
  if (s === '') return null;
  if (pair) {
    if (s === pair.t.trim()) return true;
    if (s === pair.f.trim()) return false;
    throw new ValidationError(`${JSON.stringify(v)} is neither "${pair.t}" (true) nor "${pair.f}" (false) (${spec})`);
  }
  if (s === 'true' || s === '1' || s === 'Y') return true;
  if (s === 'false' || s === '0' || s === 'N') return false;
  throw new ValidationError(`${JSON.stringify(v)} is not a boolean; expected true/false, 1/0 or Y/N (or give the flags: boolean:Y/N)`);
}

function fromBoolean(v: unknown, pair: { t: string; f: string }): string | null {
  if (v === null || v === undefined) return null;
  if (v === true || v === 'true') return pair.t;
  if (v === false || v === 'false') return pair.f;
  throw new ValidationError(`${JSON.stringify(v)} is not a boolean (true or false) to write as ${pair.t}/${pair.f}`);
}
