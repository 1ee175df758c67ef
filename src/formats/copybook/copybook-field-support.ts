/**
 * What every field codec shares: the error type, the settings, the codec interface, and the
 * conversions of input values to unscaled integers with their digit checks.
 */
import type { CodePage } from './codepages.js';
import { DecimalError, pow10, toUnscaled, toUnscaledNumber, type DecimalMode, type Unscaled } from './copybook-decimal.js';

/** A field could not be decoded or encoded; `at` is the byte offset inside the field. */
export class FieldError extends Error {
  constructor(message: string, readonly at = 0) { super(message); }
}

/** Settings every field codec shares. */
export interface FieldEnv {
  codePage: CodePage;
  floatFormat: 'ibm' | 'ieee754';
  decimals: DecimalMode;
  trim: 'both' | 'left' | 'right' | 'none';
  strictSignOverpunch: boolean;
  /** How ASCII zoned decimals carry a sign when encoding: GnuCOBOL ('p'-'y' negative) or IBM letters ({A-I }J-R). */
  asciiOverpunch: 'gnucobol' | 'ibm';
  /** Sign nibble encode writes for unsigned COMP-3: F (IBM's default) or C. */
  unsignedPackedSign: 'F' | 'C';
  /** Binary encode accepts values up to the PIC digits ('pic', like TRUNC(STD)) or the full binary range ('binary', like TRUNC(BIN)). */
  binaryRange: 'pic' | 'binary';
  /** Byte order of COMP-1 / COMP-2: big (mainframe) or little (GnuCOBOL on x86 stores native floats). */
  floatByteOrder: 'big' | 'little';
}

/** Decoder and encoder of one elementary field of `size` bytes. */
export interface FieldCodec {
  size: number;
  decode(buf: Uint8Array, off: number): unknown;
  /** `value` undefined writes the field's default (spaces or zero). */
  encode(value: unknown, out: Uint8Array, off: number): void;
}

/** A byte as `0x1A`. */
export const hex = (b: number) => `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;

/** A field's bytes as a COBOL hex literal (`x'1A2C'`), cut after 16 bytes. */
export function describeBytes(buf: Uint8Array, off: number, size: number): string {
  const n = Math.min(size, 16);
  let s = '';
  for (let i = 0; i < n; i++) s += buf[off + i]!.toString(16).toUpperCase().padStart(2, '0');
  return `x'${s}${size > n ? '...' : ''}'`;
}

/** The unscaled value: a number when it is short (fast path), a bigint otherwise. */
export function unscaledOf(value: unknown, scale: number): Unscaled {
  const fast = toUnscaledNumber(value, scale);
  if (fast !== undefined) return fast;
  try {
    return toUnscaled(value, scale);
  } catch (err) {
    if (err instanceof DecimalError) throw new FieldError(err.message);
    throw err;
  }
}

/** Digits of the absolute value. */
export const absText = (u: Unscaled): string => (typeof u === 'number' ? Math.abs(u) : u < 0n ? -u : u).toString();

function digitError(u: Unscaled, digits: number, value: unknown): FieldError {
  if (u < 0) return new FieldError(`${JSON.stringify(String(value))} is negative but the PICTURE has no S; expected 0 or more`);
  return new FieldError(`${JSON.stringify(String(value))} needs more than the ${digits} digit(s) the PICTURE holds`);
}

/** A check that a value fits the PICTURE's digits (and sign), built once per field. */
export function digitChecker(digits: number, signed: boolean): (u: Unscaled, value: unknown) => void {
  const numLimit = digits < 16 ? 10 ** digits : Infinity;
  const bigLimit = pow10(digits);
  return (u, value) => {
    if (typeof u === 'number') {
      if (u < 0 ? !signed || -u >= numLimit : u >= numLimit) throw digitError(u, digits, value);
    } else if (u < 0n ? !signed || -u >= bigLimit : u >= bigLimit) {
      throw digitError(u, digits, value);
    }
  };
}

