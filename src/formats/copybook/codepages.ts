/**
 * Code pages for copybook records: EBCDIC (from our own tables, generated from glibc iconv by
 * scripts/gen-codepages.mjs) and the ASCII family (ascii, latin1, utf8).
 *
 * A {@link CodePage} decodes a byte range to a string and encodes a string into a fixed-length
 * byte range, padding with the code page's space. Decoding short fields concatenates a
 * precomputed character per byte; longer fields are mapped into a scratch buffer and converted in
 * one native call (latin1 when every character of the table is below U+0100, else UTF-16).
 * Encoding uses a reverse table from UTF-16 code unit to byte.
 */
import { FormatError } from '../../core/errors.js';
import { EBCDIC_TABLES } from './codepage-tables.js';

/** Decodes and encodes text fields of a record. */
export interface CodePage {
  /** Canonical name (cp037, cp1047, ascii...). */
  name: string;
  /** Decodes bytes buf[start..end) to a string. */
  decode(buf: Uint8Array, start: number, end: number): string;
  /**
   * Writes `text` into out[offset..offset+length), padding the rest with the code page's space
   * (0x40 for EBCDIC, 0x20 otherwise) or `pad`. Throws FormatError when a character has no byte
   * in this code page or when the text does not fit.
   */
  encode(text: string, out: Uint8Array, offset: number, length: number, pad?: number): void;
  /** The byte of the space character (0x40 EBCDIC, 0x20 ASCII family). */
  readonly space?: number;
  /** True for EBCDIC code pages (zoned digits are 0xF0-0xF9). */
  readonly ebcdic?: boolean;
}

/** Options of {@link getCodePage}. */
export interface CodePageOptions {
  /**
   * EBCDIC only: decode 0x15 as LF (U+000A) instead of NEL (U+0085). The mapping of 0x25 is swapped
   * to NEL in exchange, so decoding and encoding stay exact inverses (z/OS UNIX convention).
   */
  nelAsLf?: boolean;
  /**
   * EBCDIC only: decode control characters (U+0000-001F, U+007F-009F) as spaces, as cobrix's
   * non-extended code pages do. Encoding is unaffected.
   */
  controlsAsSpace?: boolean;
}

const EBCDIC_NAMES = Object.keys(EBCDIC_TABLES);
const OTHER_NAMES = ['common', 'ascii', 'latin1', 'utf8'];

/** Canonical names accepted by {@link getCodePage} (aliases such as IBM-037 or 1047 also work). */
export function listCodePages(): string[] {
  return [...EBCDIC_NAMES, ...OTHER_NAMES];
}

const ALIASES: Record<string, string> = {
  'ebcdic-cp-us': 'cp037', 'ebcdic-cp-ca': 'cp037', 'ebcdic-cp-nl': 'cp037', 'ebcdic-cp-wt': 'cp037',
  'cp037_extended': 'cp037', 'cp037-extended': 'cp037',
  'ebcdic-cp-be': 'cp500', 'ebcdic-cp-ch': 'cp500',
  'ebcdic-de-273+euro': 'cp1141', 'ebcdic-us-37+euro': 'cp1140', 'ebcdic-international-500+euro': 'cp1148',
  'us-ascii': 'ascii', 'ansi_x3.4-1968': 'ascii',
  'latin-1': 'latin1', 'iso-8859-1': 'latin1', 'iso8859-1': 'latin1', 'iso_8859-1': 'latin1', 'l1': 'latin1',
  'utf-8': 'utf8',
};

/** Resolves an alias (IBM-037, CP037, 037, ebcdic-cp-us...) to a canonical name, or undefined. */
export function canonicalCodePageName(name: string): string | undefined {
  const s = name.trim().toLowerCase();
  if (EBCDIC_NAMES.includes(s) || OTHER_NAMES.includes(s)) return s;
  if (ALIASES[s]) return ALIASES[s];
  const m = /^(?:ibm|cp|ccsid)?[-_ ]?0*(\d{2,5})$/.exec(s);
  if (m) {
    const n = `cp${m[1]!.padStart(3, '0')}`;
    if (EBCDIC_NAMES.includes(n)) return n;
  }
  return undefined;
}

const cache = new Map<string, CodePage>();

/**
 * Returns the code page called `name` (canonical or alias, case-insensitive).
 * Throws FormatError listing the valid names when it is unknown.
 */
export function getCodePage(name: string, opts: CodePageOptions = {}): CodePage {
  const canonical = canonicalCodePageName(name);
  if (!canonical) {
    throw new FormatError(`unknown code page "${name}"; valid code pages are ${listCodePages().join(', ')} (aliases like IBM-037, CP1047 or 500 also work)`, { details: { codePage: name } });
  }
  const ebcdic = EBCDIC_NAMES.includes(canonical);
  const nelAsLf = ebcdic && opts.nelAsLf === true;
  const controlsAsSpace = ebcdic && opts.controlsAsSpace === true;
  const key = `${canonical}|${nelAsLf ? 1 : 0}|${controlsAsSpace ? 1 : 0}`;
  let page = cache.get(key);
  if (!page) {
    page = build(canonical, nelAsLf, controlsAsSpace);
    cache.set(key, page);
  }
  return page;
}

function build(name: string, nelAsLf: boolean, controlsAsSpace: boolean): CodePage {
  if (name === 'utf8') return new Utf8CodePage();
  if (name === 'ascii') return new TableCodePage('ascii', unitsFrom((b) => (b < 0x80 ? b : 0xfffd)), 0x20, false);
  if (name === 'latin1') return new TableCodePage('latin1', unitsFrom((b) => b), 0x20, false);
  if (name === 'common') return commonCodePage();
  const base = tableUnits(name);
  const encodeUnits = base.slice();
  if (nelAsLf) {
    encodeUnits[0x15] = 0x0a;
    encodeUnits[0x25] = 0x85;
  }
  const decodeUnits = encodeUnits.slice();
  if (controlsAsSpace) {
    for (let b = 0; b < 256; b++) if (isControl(decodeUnits[b]!)) decodeUnits[b] = 0x20;
  }
  return new TableCodePage(name, decodeUnits, 0x40, true, encodeUnits);
}

function isControl(u: number): boolean {
  return u < 0x20 || (u >= 0x7f && u <= 0x9f);
}

function unitsFrom(f: (b: number) => number): Uint16Array {
  const u = new Uint16Array(256);
  for (let b = 0; b < 256; b++) u[b] = f(b);
  return u;
}

function tableUnits(name: string): Uint16Array {
  const t = EBCDIC_TABLES[name]!.table;
  return unitsFrom((b) => t.charCodeAt(b));
}

/**
 * cobrix's "common" code page: the EBCDIC invariant characters at their cp037 positions, every
 * other byte decoded as a space; 0x0D decodes as LF and 0x25 as CR (as cobrix does), 0x41 (NBSP)
 * as a space, 0x6A as '|' and 0xCA as '-'. Encoding only accepts characters it decodes faithfully
 * (those it shares with cp037).
 */
function commonCodePage(): CodePage {
  const cp037 = tableUnits('cp037');
  const kept = new Set(' .<(+|&!$*);-/,%_>?`:#@\'="~^[]{}\\abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split('').map((c) => c.charCodeAt(0)));
  const units = unitsFrom((b) => (kept.has(cp037[b]!) ? cp037[b]! : 0x20));
  units[0x0d] = 0x0a;
  units[0x25] = 0x0d;
  units[0x6a] = 0x7c;
  units[0xca] = 0x2d;
  const encodeUnits = unitsFrom((b) => (units[b] === cp037[b] ? cp037[b]! : 0xfffd));
  return new TableCodePage('common', units, 0x40, true, encodeUnits);
}

/** Fields shorter than this decode by concatenating precomputed one-character strings. */
const SHORT_FIELD = 8;

function grow(have: number, need: number): number {
  return Math.max(need, have * 2);
}

function describeChar(text: string, i: number): string {
  const cp = text.codePointAt(i)!;
  return `"${String.fromCodePoint(cp)}" (U+${cp.toString(16).toUpperCase().padStart(4, '0')})`;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}

function checkRange(name: string, buf: Uint8Array, start: number, end: number): void {
  if (!(start >= 0 && end <= buf.length && start <= end)) {
    throw new FormatError(`code page ${name}: byte range [${start}, ${end}) lies outside the ${buf.length}-byte buffer`, { details: { start, end, length: buf.length } });
  }
}

/** A single-byte code page driven by a 256-entry table. */
class TableCodePage implements CodePage {
  private readonly chars: string[];
  private readonly units: Uint16Array;
  private readonly reverse: Int16Array;
  /** Byte-to-latin1 map when every character of the table is below U+0100 (fastest decoding). */
  private readonly oneByte: Uint8Array | undefined;
  private scratch8 = Buffer.allocUnsafe(256);
  private scratch16 = new Uint16Array(256);
  private scratch16Bytes = Buffer.from(this.scratch16.buffer);

  constructor(
    readonly name: string,
    units: Uint16Array,
    readonly space: number,
    readonly ebcdic: boolean,
    encodeUnits: Uint16Array = units,
  ) {
    this.units = units;
    this.chars = Array.from(units, (u) => String.fromCharCode(u));
    this.oneByte = units.every((u) => u < 0x100) ? Uint8Array.from(units) : undefined;
    this.reverse = new Int16Array(65536).fill(-1);
    // Lowest byte wins when two bytes decode alike; U+FFFD (unmapped) is never encodable.
    for (let b = 255; b >= 0; b--) {
      const u = encodeUnits[b]!;
      if (u !== 0xfffd) this.reverse[u] = b;
    }
    // The space must encode as the code page's space even if another byte also decodes to it.
    this.reverse[0x20] = space;
  }

  decode(buf: Uint8Array, start: number, end: number): string {
    checkRange(this.name, buf, start, end);
    const n = end - start;
    if (n < SHORT_FIELD) {
      let s = '';
      for (let i = start; i < end; i++) s += this.chars[buf[i]!];
      return s;
    }
    // Longer fields: map into a scratch buffer, then one native conversion (no per-byte strings).
    if (this.oneByte) {
      const map = this.oneByte;
      if (this.scratch8.length < n) this.scratch8 = Buffer.allocUnsafe(grow(this.scratch8.length, n));
      const s8 = this.scratch8;
      for (let i = 0; i < n; i++) s8[i] = map[buf[start + i]!]!;
      return s8.toString('latin1', 0, n);
    }
    if (this.scratch16.length < n) {
      this.scratch16 = new Uint16Array(grow(this.scratch16.length, n));
      this.scratch16Bytes = Buffer.from(this.scratch16.buffer);
    }
    const s16 = this.scratch16;
    const units = this.units;
    for (let i = 0; i < n; i++) s16[i] = units[buf[start + i]!]!;
    return this.scratch16Bytes.toString('utf16le', 0, n * 2);
  }

  encode(text: string, out: Uint8Array, offset: number, length: number, pad: number = this.space): void {
    checkRange(this.name, out, offset, offset + length);
    const n = text.length;
    const reverse = this.reverse;
    for (let i = 0; i < n; i++) {
      const b = reverse[text.charCodeAt(i)]!;
      if (b < 0) {
        throw new FormatError(`character ${describeChar(text, i)} at position ${i + 1} of ${quote(text)} has no byte in code page ${this.name}; use a code page that has it or replace the character`, { details: { codePage: this.name, position: i } });
      }
      if (i >= length) break;
      out[offset + i] = b;
    }
    if (n > length) {
      throw new FormatError(`text ${quote(text)} is ${n} characters long and does not fit the ${length}-byte field (code page ${this.name})`, { details: { codePage: this.name, length, textLength: n } });
    }
    if (n < length) out.fill(pad, offset + n, offset + length);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** UTF-8: field lengths are in bytes; a character is never split at the end of a field. */
class Utf8CodePage implements CodePage {
  readonly name = 'utf8';
  readonly space = 0x20;
  readonly ebcdic = false;
  private readonly encoder = new TextEncoder();

  decode(buf: Uint8Array, start: number, end: number): string {
    checkRange(this.name, buf, start, end);
    const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    return b.toString('utf8', start, end);
  }

  encode(text: string, out: Uint8Array, offset: number, length: number, pad: number = this.space): void {
    checkRange(this.name, out, offset, offset + length);
    const m = LONE_SURROGATE.exec(text);
    if (m) {
      throw new FormatError(`character ${describeChar(text, m.index)} at position ${m.index + 1} of ${quote(text)} is a lone surrogate and has no UTF-8 encoding`, { details: { codePage: this.name, position: m.index } });
    }
    const target = out.subarray(offset, offset + length);
    const { read, written } = this.encoder.encodeInto(text, target);
    if (read < text.length) {
      const bytes = Buffer.byteLength(text, 'utf8');
      throw new FormatError(`text ${quote(text)} is ${bytes} bytes long in UTF-8 and does not fit the ${length}-byte field`, { details: { codePage: this.name, length, byteLength: bytes } });
    }
    if (written < length) target.fill(pad, written);
  }
}
