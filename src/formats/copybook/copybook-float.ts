/**
 * COMP-1 / COMP-2 floating point: IBM hexadecimal floating point (System/360: sign bit,
 * 7-bit excess-64 exponent of 16, 24- or 56-bit fraction) and IEEE 754 big-endian.
 */

const scratch = new DataView(new ArrayBuffer(8));

/** Reads a big-endian IEEE 754 float of 4 or 8 bytes. */
export function readIeee(buf: Uint8Array, off: number, size: 4 | 8): number {
  for (let i = 0; i < size; i++) scratch.setUint8(i, buf[off + i]!);
  return size === 4 ? scratch.getFloat32(0, false) : scratch.getFloat64(0, false);
}

/** Writes a big-endian IEEE 754 float of 4 or 8 bytes. */
export function writeIeee(value: number, out: Uint8Array, off: number, size: 4 | 8): void {
  if (size === 4) scratch.setFloat32(0, value, false);
  else scratch.setFloat64(0, value, false);
  for (let i = 0; i < size; i++) out[off + i] = scratch.getUint8(i);
}

/** Reads an IBM hexadecimal float of 4 (short) or 8 (long) bytes, rounded to the nearest double. */
export function readIbm(buf: Uint8Array, off: number, size: 4 | 8): number {
  const b0 = buf[off]!;
  const sign = b0 & 0x80 ? -1 : 1;
  const exp = (b0 & 0x7f) - 64;
  let frac: number;
  let fracBits: number;
  if (size === 4) {
    frac = (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
    fracBits = 24;
  } else {
    const hi = (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
    const lo = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
    frac = hi * 4294967296 + lo; // one correctly rounded addition: the nearest double to the 56-bit fraction
    fracBits = 56;
  }
  if (frac === 0) return sign < 0 ? -0 : 0;
  return sign * frac * 2 ** (4 * exp - fracBits);
}

/** Thrown when a value is out of the IBM float range. */
export class FloatRangeError extends Error {}

/** Writes `value` as an IBM hexadecimal float (rounded to nearest). */
export function writeIbm(value: number, out: Uint8Array, off: number, size: 4 | 8): void {
  if (!Number.isFinite(value)) throw new FloatRangeError(`${value} has no IBM hexadecimal float representation`);
  out.fill(0, off, off + size);
  if (value === 0) {
    if (Object.is(value, -0)) out[off] = 0x80;
    return;
  }
  const neg = value < 0;
  const abs = Math.abs(value);
  // abs = m * 2^e with m a 53-bit integer
  scratch.setFloat64(0, abs, false);
  const hi = scratch.getUint32(0, false);
  const lo = scratch.getUint32(4, false);
  const biased = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (biased === 0) e = -1074;
  else { m |= 1n << 52n; e = biased - 1075; }
  const fracBits = size === 4 ? 24 : 56;
  // normalise so that m has exactly fracBits bits, top hex digit non-zero, with e a multiple of 4
  const bits = m.toString(2).length;
  // target: value = F * 2^(4X - fracBits) with 2^(fracBits-4) <= F < 2^fracBits
  // choose X so that the leading 1 bit falls in the top nibble
  const topExp = e + bits; // value < 2^topExp, >= 2^(topExp-1)
  let X = Math.ceil(topExp / 4); // 16^(X-1) <= value < 16^X roughly
  const shift = 4 * X - fracBits - e; // F = m >> shift (or << -shift)
  let F: bigint;
  if (shift > 0) {
    const half = 1n << BigInt(shift - 1);
    const rem = m & ((1n << BigInt(shift)) - 1n);
    F = m >> BigInt(shift);
    if (rem > half || (rem === half && (F & 1n) === 1n)) F += 1n;
  } else {
    F = m << BigInt(-shift);
  }
  if (F >= 1n << BigInt(fracBits)) { F >>= 4n; X += 1; }
  const biasedX = X + 64;
  if (biasedX > 127) throw new FloatRangeError(`${value} is too large for an IBM hexadecimal float`);
  if (biasedX < 0) return; // underflow to zero
  out[off] = (neg ? 0x80 : 0) | biasedX;
  for (let i = size - 1; i >= 1; i--) { out[off + i] = Number(F & 0xffn); F >>= 8n; }
}

/** The shortest decimal that reads back as the same float32 (what Java's Float.toString prints). */
export function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

/** The shortest decimal that encodes to the same IBM short float bytes. */
export function shortestIbm32(x: number, bytes: Uint8Array): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const e = (bytes[0]! & 0x7f) - 64;
  const halfUlp = 2 ** (4 * e - 25);
  const low = 16 ** (e - 1);
  const abs = Math.abs(x);
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    // within half a unit of the 24-bit fraction, and not below the exponent's range: same bytes
    if (Math.abs(y - x) < halfUlp && Math.abs(y) >= low && Math.abs(y) <= abs + halfUlp) return y;
  }
  return x;
}
