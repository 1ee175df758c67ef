/**
 * Exact decimal helpers: fields are decoded to an unscaled integer (number while it has at most
 * 15 digits, bigint beyond) and a scale; values never pass through binary floating point.
 */

/** Unscaled integer: number for up to 15 digits, bigint beyond. */
export type Unscaled = number | bigint;

const POW10: bigint[] = [];
for (let i = 0n, p = 1n; i <= 80n; i++, p *= 10n) POW10.push(p);

/** 10^n as a bigint (n up to 80). */
export function pow10(n: number): bigint {
  return POW10[n] ?? 10n ** BigInt(n);
}

/** Output form of decimal values with digits after the point. */
export type DecimalMode = 'string' | 'number';

/**
 * Turns an unscaled integer and a scale into the output value:
 * - scale 0 or negative (P on the right): an integer, a number when safe, a bigint otherwise;
 * - positive scale: a decimal string with exactly `scale` decimals ("-12.50"), or with
 *   mode 'number' a JS number when it has at most 15 significant digits (string otherwise).
 */
export function presentDecimal(u: Unscaled, scale: number, mode: DecimalMode): number | bigint | string {
  if (scale === 0) {
    if (typeof u === 'number') return u === 0 ? 0 : u;
    return u >= -9007199254740991n && u <= 9007199254740991n ? Number(u) : u;
  }
  if (scale < 0) {
    const v = BigInt(u) * pow10(-scale);
    return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
  }
  const neg = u < 0;
  let digits = (neg ? -u : u).toString();
  if (digits.length <= scale) digits = '0'.repeat(scale - digits.length + 1) + digits;
  const str = `${neg ? '-' : ''}${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  if (mode === 'number' && digits.replace(/^0+/, '').length <= 15) return Number(str);
  return str;
}

/** Thrown by {@link toUnscaled}; the record codec adds the field path and record number. */
export class DecimalError extends Error {}

const DEC_RE = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * Converts an input value (number, bigint, decimal string) to the unscaled integer for `scale`
 * (value * 10^scale), exactly. Throws DecimalError when it has more decimals than the scale
 * allows or is not a number at all.
 */
export function toUnscaled(value: unknown, scale: number): bigint {
  if (typeof value === 'bigint') {
    if (scale >= 0) return value * pow10(scale);
    return shiftDown(value, -scale, value);
  }
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new DecimalError(`${value} is not a finite number`);
    if (Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER) {
      const b = BigInt(value);
      return scale >= 0 ? b * pow10(scale) : shiftDown(b, -scale, value);
    }
    text = String(value);
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    throw new DecimalError(`${JSON.stringify(value) ?? String(value)} is not a number; expected a number, a bigint or a decimal string such as "-12.50"`);
  }
  const m = DEC_RE.exec(text);
  if (!m || (!m[2] && !m[3])) throw new DecimalError(`${JSON.stringify(value)} is not a decimal number; expected digits with an optional sign and decimal point, such as "-12.50"`);
  const intPart = m[2] ?? '';
  const frac = m[3] ?? '';
  const exp = (m[4] ? Number(m[4]) : 0) - frac.length;
  let mant = BigInt((intPart + frac) || '0');
  if (m[1] === '-') mant = -mant;
  const shift = exp + scale;
  if (shift >= 0) return mant * pow10(shift);
  return shiftDown(mant, -shift, value);
}

function shiftDown(v: bigint, n: number, original: unknown): bigint {
  const p = pow10(n);
  if (v % p !== 0n) throw new DecimalError(`${typeof original === 'string' ? JSON.stringify(original) : String(original)} has more precision than the PICTURE can hold`);
  return v / p;
}

const POW10_NUM = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
const FAST_DEC = /^(-?)(\d{1,15})(?:\.(\d{1,15}))?$/;

/**
 * Fast path of {@link toUnscaled}: the unscaled value as a safe integer number when the input is
 * a plain integer or short decimal (at most 15 digits once scaled), else undefined (use toUnscaled).
 */
export function toUnscaledNumber(value: unknown, scale: number): number | undefined {
  if (scale < 0 || scale > 15) return undefined;
  let text: string;
  if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      const v = value * POW10_NUM[scale]!;
      return Number.isSafeInteger(v) ? v + 0 : undefined; // + 0 turns -0 into 0
    }
    text = String(value);
  } else if (typeof value === 'string') {
    text = value;
  } else {
    return undefined;
  }
  const m = FAST_DEC.exec(text);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  if (frac.length > scale || m[2]!.length + scale > 15) return undefined;
  const v = Number(m[2]! + frac) * POW10_NUM[scale - frac.length]!;
  return m[1] && v !== 0 ? -v : v;
}

/** Compares two decimal texts or numbers exactly (used by tests): canonical form without trailing zeros. */
export function canonicalDecimal(value: unknown): string {
  const text = typeof value === 'string' ? value.trim() : String(value);
  const m = DEC_RE.exec(text);
  if (!m) return text;
  const exp = (m[4] ? Number(m[4]) : 0);
  const all = (m[2] ?? '') + (m[3] ?? '');
  let digits = all.replace(/^0+/, '');
  const pointPos = (m[2] ?? '').length - (all.length - digits.length) + exp;
  // pointPos: digits before the decimal point in `digits`
  if (!digits) return '0';
  while (digits.endsWith('0') && digits.length > pointPos) digits = digits.slice(0, -1);
  let out: string;
  if (pointPos <= 0) out = `0.${'0'.repeat(-pointPos)}${digits}`;
  else if (pointPos >= digits.length) out = digits + '0'.repeat(pointPos - digits.length);
  else out = `${digits.slice(0, pointPos)}.${digits.slice(pointPos)}`;
  return (m[1] === '-' ? '-' : '') + out;
}
