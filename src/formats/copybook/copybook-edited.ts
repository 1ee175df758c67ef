/**
 * Edited numeric pictures (Z * + - . , B 0 / $ CR DB): decoded leniently from their text,
 * encoded by formatting the value through the picture.
 */
import { presentDecimal } from './copybook-decimal.js';
import { FieldError, digitChecker, unscaledOf, type FieldCodec, type FieldEnv } from './copybook-field-support.js';
import type { FieldType } from './copybook-types.js';

/** Codec of an edited numeric field. */
export function editedCodec(type: FieldType, size: number, env: FieldEnv): FieldCodec {
  const pic = type.picture!;
  const { scale, digits } = type;
  const hasNine = pic.expanded.includes('9');
  const checkDigits = digitChecker(digits, true);
  return {
    size,
    decode(buf, off) {
      const text = env.codePage.decode(buf, off, off + size);
      const t = text.trim();
      if (t === '' || /^\*+$/.test(t.replace(/[.,]/g, ''))) return hasNine ? null : presentDecimal(0, scale, env.decimals);
      const neg = /-|CR|DB/.test(t);
      const ds = t.replace(/[^0-9]/g, '');
      if (!/^[-+$*,.\s0-9]*(CR|DB)?[-+]?$/.test(t.replace(/^[-+]/, '')) || ds === '') {
        throw new FieldError(`"${text}" does not match the edited PICTURE ${pic.text}; expected digits, spaces and the picture's sign and punctuation`);
      }
      const u = ds.length > 15 ? BigInt(ds) : Number(ds);
      return presentDecimal(neg ? -u : u, scale, env.decimals);
    },
    encode(value, out, off) {
      if (value === null) { env.codePage.encode('', out, off, size); return; }
      const u = value === undefined ? 0n : BigInt(unscaledOf(value, scale));
      checkDigits(u, value);
      if (!pic.signed && u < 0n) throw new FieldError(`${JSON.stringify(String(value))} is negative but PIC ${pic.text} has no sign position`);
      if (u === 0n && type.blankWhenZero) { env.codePage.encode('', out, off, size); return; }
      env.codePage.encode(formatEdited(pic.expanded, u, digits, scale), out, off, size);
    },
  };
}

/** Formats an unscaled value through an edited picture (9 Z * . , B 0 / + - CR DB $). */
export function formatEdited(expanded: string, u: bigint, digits: number, scale: number): string {
  const neg = u < 0n;
  const ds = (neg ? -u : u).toString().padStart(digits, '0');
  const isZero = u === 0n;
  let di = 0;
  let suppress = true;
  let out = '';
  let signSeen = false;
  let currencySeen = false;
  const floating: number[] = [];
  let floatChar = '';
  const src = expanded.replace(/^S/, '');
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (ch === 'V') { if (!isZero) suppress = false; continue; }
    if (ch === 'C' && src[i + 1] === 'R') { out += neg ? 'CR' : '  '; i++; continue; }
    if (ch === 'D' && src[i + 1] === 'B') { out += neg ? 'DB' : '  '; i++; continue; }
    let digitPos = ch === '9' || ch === 'Z' || ch === '*';
    if (ch === '+' || ch === '-') {
      if (!signSeen) {
        signSeen = true;
        if (src.slice(i + 1).startsWith(ch)) { floatChar = neg ? '-' : ch === '+' ? '+' : ' '; out += ' '; continue; }
        out += neg ? '-' : ch === '+' ? '+' : ' ';
        continue;
      }
      digitPos = true;
    }
    if (ch === '$') {
      if (!currencySeen) {
        currencySeen = true;
        if (src[i + 1] === '$') { floatChar = '$'; out += ' '; continue; }
        out += '$';
        continue;
      }
      digitPos = true;
    }
    if (digitPos) {
      const d = ds[di++]!;
      if (ch === '9' || d !== '0') suppress = false;
      if (suppress) {
        if (ch !== 'Z' && ch !== '*') floating.push(out.length);
        out += ch === '*' ? '*' : ' ';
      } else {
        out += d;
      }
      continue;
    }
    if (ch === '.') { out += suppress && isZero ? ' ' : '.'; if (!isZero) suppress = false; continue; }
    if (ch === ',') { out += suppress ? ' ' : ','; continue; }
    if (ch === 'B') { out += ' '; continue; }
    out += ch; // '0' and '/' insert themselves
  }
  if (floatChar && floatChar !== ' ') {
    // the floating symbol sits just left of the first digit shown
    const firstDigit = out.search(/[0-9]/);
    const at = firstDigit < 0 ? out.length - 1 : firstDigit - 1;
    if (at >= 0) out = out.slice(0, at) + floatChar + out.slice(at + 1);
  }
  void scale;
  return out;
}
