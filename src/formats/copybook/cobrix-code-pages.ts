/**
 * cobrix's flavour of the EBCDIC code pages, for reading files the way cobrix does (and for
 * its conformance fixtures): cobrix decodes C1 control characters (U+0080-009F) as spaces and
 * swaps 0x0D / 0x25 (CR / LF); its basic cp037 decodes every control character as a space.
 * Text fields are trimmed on the space byte (0x40) before decoding, so a C1 control decoded as a
 * space at the edge of a field stays, as in cobrix's output.
 * Encoding is the standard code page's.
 */
import { getCodePage, type CodePage } from './codepages.js';

/** Returns the code page `name` as cobrix decodes it (`cp037_extended` keeps C0 controls). */
export function cobrixCodePage(name: string, opts: { nelAsLf?: boolean } = {}): CodePage {
  const lower = name.trim().toLowerCase();
  if (lower === 'common') return getCodePage('common');
  const extended = /_?ext(ended)?$/.test(lower);
  const baseName = lower.replace(/[-_]?ext(ended)?$/, '');
  const basic = baseName === 'cp037' && !extended;
  const base = getCodePage(baseName, { nelAsLf: opts.nelAsLf, controlsAsSpace: basic });
  if (!base.ebcdic) return base;
  const probe = new Uint8Array(256).map((_, i) => i);
  const units = new Uint16Array(256);
  const text = base.decode(probe, 0, 256);
  for (let i = 0; i < 256; i++) {
    const u = text.charCodeAt(i);
    units[i] = u >= 0x80 && u <= 0x9f && i !== 0x15 ? 0x20 : u; // cobrix keeps NEL (0x15)
  }
  if (!opts.nelAsLf) units[0x15] = 0x85; // NEL survives even in cobrix's basic cp037
  units[0x0d] = 0x0a;
  units[0x25] = 0x0d;
  const td = new TextDecoder('utf-16le');
  return {
    name: basic ? 'cp037 (cobrix basic)' : `${baseName}${extended ? '_extended' : ''} (cobrix)`,
    space: base.space,
    ebcdic: true,
    decode(buf, start, end) {
      const n = end - start;
      if (n <= 16) {
        let s = '';
        for (let i = start; i < end; i++) s += String.fromCharCode(units[buf[i]!]!);
        return s;
      }
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = units[buf[start + i]!]!;
      return td.decode(out);
    },
    encode: (t, out, offset, length, pad) => base.encode(t, out, offset, length, pad),
  };
}
