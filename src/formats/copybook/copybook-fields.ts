/**
 * Codecs of elementary fields: text (through the code page), zoned decimal (overpunched sign
 * in the EBCDIC and ASCII conventions, SIGN SEPARATE, explicit point), edited numbers, packed
 * decimal (COMP-3), binary (COMP / COMP-4 / BINARY big-endian, COMP-5 either byte order) and
 * floating point (COMP-1 / COMP-2, IBM hexadecimal or IEEE 754). Decimals stay exact.
 */
import type { CodePage } from './codepages.js';
import { presentDecimal, type Unscaled } from './copybook-decimal.js';
import { editedCodec } from './copybook-edited.js';
import { FieldError, absText, describeBytes, digitChecker, hex, unscaledOf, type FieldCodec, type FieldEnv } from './copybook-field-support.js';
import { FloatRangeError, readIbm, readIeee, shortestFloat32, shortestIbm32, writeIbm, writeIeee } from './copybook-float.js';
import type { FieldType } from './copybook-types.js';

export { FieldError, type FieldCodec, type FieldEnv } from './copybook-field-support.js';
export { formatEdited } from './copybook-edited.js';

/** Builds the codec of one field. */
export function createFieldCodec(type: FieldType, size: number, env: FieldEnv): FieldCodec {
  switch (type.kind) {
    case 'alphanumeric': return textCodec(type, size, env);
    case 'zoned': return zonedCodec(type, size, env);
    case 'edited': return editedCodec(type, size, env);
    case 'packed': return packedCodec(type, size, env);
    case 'binary': return binaryCodec(type, size, env);
    case 'float': return floatCodec(type, size, env);
  }
}

function trimText(s: string, trim: FieldEnv['trim']): string {
  switch (trim) {
    case 'both': return s.trim() === s ? s : s.replace(/^ +| +$/g, '');
    case 'left': return s.replace(/^ +/, '');
    case 'right': return s.replace(/ +$/, '');
    default: return s;
  }
}

/** Trim as Java's String.trim does (every character up to U+0020), used with cobrix's lossy code pages. */
function trimControls(s: string, trim: FieldEnv['trim']): string {
  /* eslint-disable no-control-regex -- trimming control characters is the point */
  switch (trim) {
    case 'both': return s.replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, '');
    case 'left': return s.replace(/^[\x00-\x20]+/, '');
    case 'right': return s.replace(/[\x00-\x20]+$/, '');
    default: return s;
  }
  /* eslint-enable no-control-regex */
}

function textCodec(type: FieldType, size: number, env: FieldEnv): FieldCodec {
  const cp = env.codePage;
  const space = cp.space ?? (cp.ebcdic ? 0x40 : 0x20);
  // trimming the space byte before decoding is faster and, for code pages where only that byte
  // decodes to U+0020, the same; lossy pages (cobrix common / basic) map many bytes to spaces
  const lossy = /common|basic/.test(cp.name);
  const byteTrim = env.trim !== 'none' && !lossy;
  return {
    size,
    decode(buf, off) {
      if (!byteTrim) return lossy ? trimControls(cp.decode(buf, off, off + size), env.trim) : trimText(cp.decode(buf, off, off + size), env.trim);
      let start = off;
      let end = off + size;
      if (env.trim === 'both' || env.trim === 'left') while (start < end && buf[start] === space) start++;
      if (env.trim === 'both' || env.trim === 'right') while (end > start && buf[end - 1] === space) end--;
      return start === end ? '' : cp.decode(buf, start, end);
    },
    encode(value, out, off) {
      if (value === undefined || value === null) { out.fill(space, off, off + size); return; }
      let text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' ? String(value) : undefined;
      if (text === undefined) throw new FieldError(`${JSON.stringify(value)} is not text; expected a string`);
      if (type.justified && text.length < size) text = ' '.repeat(size - text.length) + text;
      try {
        cp.encode(text, out, off, size);
      } catch (err) {
        throw new FieldError(err instanceof Error ? err.message : String(err));
      }
    },
  };
}

interface SignBytes { plus: number; minus: number; point: number; space: number; zero: number }

function signBytes(cp: CodePage): SignBytes {
  const tmp = new Uint8Array(5);
  cp.encode('+-. 0', tmp, 0, 5);
  return { plus: tmp[0]!, minus: tmp[1]!, point: tmp[2]!, space: tmp[3]!, zero: tmp[4]! };
}

/** Value of an ASCII overpunched sign character: [digit, negative] or undefined. */
function asciiOverpunch(b: number): [number, boolean] | undefined {
  if (b >= 0x30 && b <= 0x39) return [b - 0x30, false];
  if (b === 0x7b) return [0, false];
  if (b >= 0x41 && b <= 0x49) return [b - 0x40, false];
  if (b === 0x7d) return [0, true];
  if (b >= 0x4a && b <= 0x52) return [b - 0x49, true];
  if (b >= 0x70 && b <= 0x79) return [b - 0x70, true];
  return undefined;
}

/** Value of an EBCDIC zoned byte in a sign position: [digit, negative] or undefined. */
function ebcdicOverpunch(b: number): [number, boolean] | undefined {
  const d = b & 0x0f;
  if (d > 9) return undefined;
  const zone = b >> 4;
  if (zone === 0xf || zone === 0xc || zone === 0xa || zone === 0xe) return [d, false];
  if (zone === 0xd || zone === 0xb) return [d, true];
  return undefined;
}

function zonedCodec(type: FieldType, size: number, env: FieldEnv): FieldCodec {
  const ebcdic = !!env.codePage.ebcdic;
  const sb = signBytes(env.codePage);
  const { digits, scale, signed, signSeparate, signLeading } = type;
  const explicitPoint = !!type.picture?.explicitPoint;
  const overpunchAt = signed && !signSeparate ? (signLeading ? 'first' : 'last') : 'none';
  const digitZone = ebcdic ? 0xf0 : 0x30;
  const readOverpunch = ebcdic ? ebcdicOverpunch : asciiOverpunch;
  const big = digits > 15;
  const checkDigits = digitChecker(digits, signed);

  const fast = (buf: Uint8Array, off: number): Unscaled | undefined => {
    let start = off;
    let end = off + size;
    let neg = false;
    if (signSeparate) {
      const s = signLeading ? buf[start++]! : buf[--end]!;
      if (s === sb.minus) neg = true;
      else if (s !== sb.plus) return undefined;
    }
    let acc = 0;
    let str = '';
    for (let p = start; p < end; p++) {
      const b = buf[p]!;
      let d: number;
      if ((b & 0xf0) === digitZone && (b & 0x0f) <= 9) {
        d = b & 0x0f;
      } else if (explicitPoint && b === sb.point) {
        continue;
      } else if ((overpunchAt === 'last' && p === end - 1) || (overpunchAt === 'first' && p === start)) {
        const o = readOverpunch(b);
        if (!o) return undefined;
        d = o[0];
        if (o[1]) neg = true;
      } else if (!signed && p === end - 1 && !env.strictSignOverpunch) {
        const o = readOverpunch(b);
        if (!o || o[1]) return undefined;
        d = o[0];
      } else {
        return undefined;
      }
      if (big) str += d;
      else acc = acc * 10 + d;
    }
    if (big) {
      const v = BigInt(str || '0');
      return neg ? -v : v;
    }
    return neg ? -acc : acc;
  };

  const lenient = (buf: Uint8Array, off: number): Unscaled | null => {
    const text = env.codePage.decode(buf, off, off + size).trim();
    if (text === '') return null;
    let neg = false;
    let body = text;
    if (/^[+-]/.test(body)) { neg = body[0] === '-'; body = body.slice(1).trimStart(); }
    else if (/[+-]$/.test(body)) { neg = body.endsWith('-'); body = body.slice(0, -1).trimEnd(); }
    const punch = (ch: string, position: string): string => {
      const o = asciiOverpunch(ch.charCodeAt(0));
      if (!o) throw new FieldError(`"${text}" ${describeBytes(buf, off, size)} is not a valid zoned decimal: "${ch}" is neither a digit nor an overpunched sign; expected digits with the sign in the ${position} position`);
      if (o[1]) neg = true;
      return String(o[0]);
    };
    if (body.length && !/\d/.test(body[body.length - 1]!) && body[body.length - 1] !== '.') body = body.slice(0, -1) + punch(body[body.length - 1]!, 'last');
    if (body.length && !/\d/.test(body[0]!) && body[0] !== '.') body = punch(body[0]!, 'first') + body.slice(1);
    if (!/^\d*\.?\d*$/.test(body) || !/\d/.test(body)) throw new FieldError(`"${text}" ${describeBytes(buf, off, size)} is not a valid zoned decimal for PIC ${type.picture?.text}; expected ${digits} digit(s)`);
    body = body.replace('.', '');
    const v = BigInt(body);
    return neg ? -v : v;
  };

  return {
    size,
    decode(buf, off) {
      let u = fast(buf, off);
      if (u === undefined) {
        let blank = true;
        for (let i = 0; i < size; i++) if (buf[off + i] !== sb.space) { blank = false; break; }
        if (blank) return null;
        if (env.strictSignOverpunch) throw new FieldError(`invalid zoned decimal ${describeBytes(buf, off, size)} for PIC ${type.picture?.text}${signSeparate ? ` SIGN ${signLeading ? 'LEADING' : 'TRAILING'} SEPARATE` : ''}; expected ${digits} digit(s)${overpunchAt === 'none' ? '' : ` with the sign overpunched on the ${overpunchAt} digit`}`);
        u = lenient(buf, off) ?? undefined;
        if (u === undefined) return null;
      }
      if (!signed && u < 0 && env.strictSignOverpunch) throw new FieldError(`zoned decimal ${describeBytes(buf, off, size)} is negative but PIC ${type.picture?.text} is unsigned`);
      return presentDecimal(u, scale, env.decimals);
    },
    encode(value, out, off) {
      if (value === null || (value === undefined && type.blankWhenZero)) { out.fill(sb.space, off, off + size); return; }
      const u = value === undefined ? 0 : unscaledOf(value, scale);
      checkDigits(u, value);
      if (u == 0 && type.blankWhenZero) { out.fill(sb.space, off, off + size); return; } // 0 or 0n
      const neg = u < 0;
      const digitText = absText(u).padStart(digits, '0');
      let p = off;
      if (signSeparate && signLeading) out[p++] = neg ? sb.minus : sb.plus;
      const pointAfter = explicitPoint ? digits - scale : -1;
      const firstDigitPos = p;
      for (let i = 0; i < digits; i++) {
        if (i === pointAfter) out[p++] = sb.point;
        out[p++] = digitZone | (digitText.charCodeAt(i) - 48);
      }
      if (signSeparate && !signLeading) out[p++] = neg ? sb.minus : sb.plus;
      if (overpunchAt !== 'none') {
        const at = overpunchAt === 'first' ? firstDigitPos : (explicitPoint && pointAfter === digits ? p - 2 : p - 1);
        const d = out[at]! & 0x0f;
        if (ebcdic) out[at] = (neg ? 0xd0 : 0xc0) | d;
        else if (neg) out[at] = env.asciiOverpunch === 'gnucobol' ? 0x70 + d : (d === 0 ? 0x7d : 0x49 + d);
        else if (env.asciiOverpunch === 'ibm') out[at] = d === 0 ? 0x7b : 0x40 + d;
      }
    },
  };
}


function packedCodec(type: FieldType, size: number, env: FieldEnv): FieldCodec {
  const { digits, scale, signed } = type;
  const big = size * 2 - 1 > 15;
  const unsignedNibble = env.unsignedPackedSign === 'C' ? 0x0c : 0x0f;
  const checkDigits = digitChecker(digits, signed);
  return {
    size,
    decode(buf, off) {
      let acc = 0;
      let str = '';
      const last = off + size - 1;
      for (let p = off; p < last; p++) {
        const b = buf[p]!;
        const hi = b >> 4;
        const lo = b & 0x0f;
        if (hi > 9 || lo > 9) throw new FieldError(`invalid packed decimal ${describeBytes(buf, off, size)}: byte ${hex(b)} at +${p - off} holds a nibble above 9`, p - off);
        if (big) str += String.fromCharCode(48 + hi, 48 + lo);
        else acc = acc * 100 + hi * 10 + lo;
      }
      const b = buf[last]!;
      const hi = b >> 4;
      const sign = b & 0x0f;
      if (hi > 9) throw new FieldError(`invalid packed decimal ${describeBytes(buf, off, size)}: byte ${hex(b)} at +${size - 1} holds a digit nibble above 9`, size - 1);
      let neg: boolean;
      if (sign === 0xd || sign === 0xb) neg = true;
      else if (sign === 0xc || sign === 0xf || sign === 0xa || sign === 0xe) neg = false;
      else throw new FieldError(`invalid packed decimal ${describeBytes(buf, off, size)}: sign nibble ${sign.toString(16).toUpperCase()} in the last byte; expected C, D or F`, size - 1);
      if (neg && !signed && env.strictSignOverpunch) throw new FieldError(`packed decimal ${describeBytes(buf, off, size)} is negative but PIC ${type.picture?.text} is unsigned`, size - 1);
      let u: Unscaled;
      if (big) { const v = BigInt(str + String.fromCharCode(48 + hi)); u = neg ? -v : v; }
      else { const v = acc * 10 + hi; u = neg ? -v : v; }
      return presentDecimal(u, scale, env.decimals);
    },
    encode(value, out, off) {
      const u = value === undefined || value === null ? 0 : unscaledOf(value, scale);
      checkDigits(u, value);
      const neg = u < 0;
      const signNibble = !signed ? unsignedNibble : neg ? 0x0d : 0x0c;
      if (typeof u === 'number') {
        // digits from the right, two per byte, without building a string
        let v = neg ? -u : u;
        out[off + size - 1] = ((v % 10) << 4) | signNibble;
        v = Math.floor(v / 10);
        for (let i = size - 2; i >= 0; i--) {
          const lo = v % 10;
          v = Math.floor(v / 10);
          out[off + i] = ((v % 10) << 4) | lo;
          v = Math.floor(v / 10);
        }
        return;
      }
      const ds = absText(u).padStart(size * 2 - 1, '0');
      for (let i = 0; i < size - 1; i++) out[off + i] = ((ds.charCodeAt(2 * i) - 48) << 4) | (ds.charCodeAt(2 * i + 1) - 48);
      out[off + size - 1] = ((ds.charCodeAt(size * 2 - 2) - 48) << 4) | signNibble;
    },
  };
}

function binaryCodec(type: FieldType, size: number, env: FieldEnv): FieldCodec {
  const { digits, scale, signed, littleEndian, nativeBinary } = type;
  const bits = BigInt(size * 8);
  const read = (buf: Uint8Array, off: number): Unscaled => {
    if (!littleEndian) {
      if (size === 2) { const v = (buf[off]! << 8) | buf[off + 1]!; return signed ? (v << 16) >> 16 : v; }
      if (size === 4) { const v = (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!; return signed ? v : v >>> 0; }
      if (size === 1) { const v = buf[off]!; return signed ? (v << 24) >> 24 : v; }
    }
    let v = 0n;
    if (littleEndian) for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[off + i]!);
    else for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(buf[off + i]!);
    if (signed) v = BigInt.asIntN(size * 8, v);
    return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
  };
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  const checkDigits = digitChecker(digits, signed);
  const checkPic = !nativeBinary && env.binaryRange === 'pic';
  const minNum = Number(min);
  const maxNum = Number(max);
  const rangeError = (value: unknown) => new FieldError(`${JSON.stringify(String(value))} does not fit a ${signed ? 'signed' : 'unsigned'} ${size}-byte binary field (${min} to ${max} unscaled)`);
  return {
    size,
    decode: (buf, off) => presentDecimal(read(buf, off), scale, env.decimals),
    encode(value, out, off) {
      const u = value === undefined || value === null ? 0 : unscaledOf(value, scale);
      if (checkPic) checkDigits(u, value);
      else if (!signed && u < 0) throw new FieldError(`${JSON.stringify(String(value))} is negative but the PICTURE has no S; expected 0 or more`);
      if (typeof u === 'number' && size <= 4) {
        if (u < minNum || u > maxNum) throw rangeError(value);
        let v = u < 0 ? u + 2 ** (size * 8) : u;
        if (littleEndian) for (let i = 0; i < size; i++) { out[off + i] = v & 0xff; v = Math.floor(v / 256); }
        else for (let i = size - 1; i >= 0; i--) { out[off + i] = v & 0xff; v = Math.floor(v / 256); }
        return;
      }
      const b = BigInt(u);
      if (b < min || b > max) throw rangeError(value);
      let v = BigInt.asUintN(size * 8, b);
      if (littleEndian) for (let i = 0; i < size; i++) { out[off + i] = Number(v & 0xffn); v >>= 8n; }
      else for (let i = size - 1; i >= 0; i--) { out[off + i] = Number(v & 0xffn); v >>= 8n; }
    },
  };
}

function floatCodec(type: FieldType, size: number, env: FieldEnv): FieldCodec {
  const width = size as 4 | 8;
  const ibm = env.floatFormat === 'ibm';
  const little = env.floatByteOrder === 'little';
  const scratch = new Uint8Array(8);
  const read = (buf: Uint8Array, off: number): number => {
    if (ibm) {
      const v = readIbm(buf, off, width);
      return width === 4 ? shortestIbm32(v, buf.subarray(off, off + 4)) : v;
    }
    const v = readIeee(buf, off, width);
    return width === 4 ? shortestFloat32(v) : v;
  };
  return {
    size,
    decode(buf, off) {
      if (!little) return read(buf, off);
      for (let i = 0; i < width; i++) scratch[i] = buf[off + width - 1 - i]!;
      return read(scratch, 0);
    },
    encode(value, out, off) {
      const n = value === undefined || value === null ? 0 : typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : typeof value === 'bigint' ? Number(value) : NaN;
      if (Number.isNaN(n)) throw new FieldError(`${JSON.stringify(value)} is not a number; expected a number for ${type.usage === 'float-single' ? 'COMP-1' : 'COMP-2'}`);
      const target = little ? scratch : out;
      const at = little ? 0 : off;
      try {
        if (ibm) writeIbm(n, target, at, width);
        else writeIeee(n, target, at, width);
      } catch (err) {
        if (err instanceof FloatRangeError) throw new FieldError(err.message);
        throw err;
      }
      if (little) for (let i = 0; i < width; i++) out[off + i] = scratch[width - 1 - i]!;
    },
  };
}
