/**
 * PICTURE string analysis: expands repetitions (`9(5)`), classifies the picture
 * (alphanumeric, numeric, edited numeric) and counts digits, scale (V and P) and sign.
 */
import type { Picture } from './copybook-types.js';

/** Thrown for a picture string the parser cannot read; the parser adds file and line. */
export class PictureError extends Error {}

/** IBM Enterprise COBOL's largest elementary item (134,217,727 bytes); larger counts are typos. */
const MAX_REPEAT = 134_217_727;

const EDIT_SYMBOLS = /[Z*+\-$,B0/]|CR|DB/;

/** Expand `X(3)9(2)` to `XXX99`; upper-cases the text. */
export function expandPicture(text: string): string {
  const src = text.toUpperCase();
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (ch === '(') {
      const close = src.indexOf(')', i);
      if (close < 0) throw new PictureError(`unclosed "(" in PICTURE "${text}"`);
      const count = Number(src.slice(i + 1, close).trim());
      if (!Number.isInteger(count) || count < 1) throw new PictureError(`repetition count "${src.slice(i + 1, close)}" in PICTURE "${text}" is not a positive integer`);
      if (count > MAX_REPEAT) throw new PictureError(`repetition count ${count} in PICTURE "${text}" is larger than ${MAX_REPEAT}, the largest item COBOL allows`);
      const prev = out[out.length - 1];
      if (prev === undefined) throw new PictureError(`PICTURE "${text}" starts with a repetition count`);
      out += prev.repeat(count - 1);
      i = close;
    } else {
      out += ch;
    }
  }
  return out;
}

/** Parse a PICTURE string such as `S9(7)V99`, `X(10)`, `PPP9(5)`, `Z(6)VZZ-`, `9(6).99-`. */
export function parsePicture(text: string): Picture {
  const expanded = expandPicture(text);
  if (!expanded) throw new PictureError('empty PICTURE string');
  if (/^[XAB0/9]+$/.test(expanded) && /[XA]/.test(expanded)) {
    const alphabetic = /^[AB]+$/.test(expanded);
    return { text, category: alphabetic ? 'alphabetic' : 'alphanumeric', size: expanded.length, digits: 0, scale: 0, signed: false, explicitPoint: false, expanded };
  }
  if (/^S?[9VP.]+$/.test(expanded)) return numericPicture(text, expanded);
  if (/^[9VZ*+\-$,.B0/CRDBS]+$/.test(expanded) && EDIT_SYMBOLS.test(expanded.replace(/^S/, ''))) return editedPicture(text, expanded);
  throw new PictureError(`PICTURE "${text}" is not valid; expected X/A for text, 9 S V P for numbers or Z + - . , CR DB for edited numbers`);
}

function numericPicture(text: string, expanded: string): Picture {
  const signed = expanded.startsWith('S');
  const body = signed ? expanded.slice(1) : expanded;
  if (body.includes('S')) throw new PictureError(`S may only start PICTURE "${text}"`);
  if ((body.match(/[V.]/g) ?? []).length > 1) throw new PictureError(`PICTURE "${text}" has more than one decimal point (V or .)`);
  const digits = (body.match(/9/g) ?? []).length;
  if (digits === 0) throw new PictureError(`PICTURE "${text}" has no digit positions (9)`);
  const point = body.search(/[V.]/);
  const firstNine = body.indexOf('9');
  const lastNine = body.lastIndexOf('9');
  let scale = point >= 0 ? (body.slice(point + 1).match(/9/g) ?? []).length : 0;
  const pLeft = (body.slice(0, firstNine).match(/P/g) ?? []).length;
  const pRight = (body.slice(lastNine + 1).match(/P/g) ?? []).length;
  if (pLeft && pRight) throw new PictureError(`PICTURE "${text}" has P on both sides of its digits`);
  if (/9P+9/.test(body)) throw new PictureError(`P must be at the left or the right end of PICTURE "${text}"`);
  if (pLeft) scale = digits + pLeft;
  if (pRight) scale = -pRight;
  const explicitPoint = body.includes('.');
  return { text, category: 'numeric', size: digits + (explicitPoint ? 1 : 0), digits, scale, signed, explicitPoint, expanded };
}

function editedPicture(text: string, expanded: string): Picture {
  let body = expanded;
  let size = 0;
  let digits = 0;
  let scale = 0;
  let afterPoint = false;
  let signed = false;
  let firstSignSeen = false;
  let firstCurrencySeen = false;
  body = body.replace(/CR|DB/g, () => { signed = true; size += 2; return ''; });
  for (const ch of body) {
    if (ch === 'V') { afterPoint = true; continue; }
    if (ch === 'S') { signed = true; continue; }
    size++;
    if (ch === '.') { afterPoint = true; continue; }
    let isDigit = ch === '9' || ch === 'Z' || ch === '*';
    if (ch === '+' || ch === '-') {
      signed = true;
      if (firstSignSeen) isDigit = true;
      firstSignSeen = true;
    }
    if (ch === '$') {
      if (firstCurrencySeen) isDigit = true;
      firstCurrencySeen = true;
    }
    if (isDigit) {
      digits++;
      if (afterPoint) scale++;
    }
  }
  if (digits === 0) throw new PictureError(`edited PICTURE "${text}" has no digit positions`);
  return { text, category: 'edited', size, digits, scale, signed, explicitPoint: expanded.includes('.'), expanded };
}
