/**
 * JSON parsing that keeps numbers exact: a number literal that a JS double cannot hold exactly
 * (an integer beyond 2^53, a decimal with more digits than a double keeps) becomes its decimal
 * string, as the rest of hms-sync carries exact decimals. Row images written by triggers
 * (to_jsonb, JSON_OBJECT, json_object) go through this.
 */

/** True when `Number(text)` prints back as the same number (no precision lost). */
function exactAsDouble(text: string): boolean {
  const n = Number(text);
  if (!Number.isFinite(n)) return false;
  if (/^-?\d+$/.test(text)) return Number.isSafeInteger(n);
  // compare canonical forms: strip trailing zeros of the fraction and a leading +
  const norm = (s: string) => {
    let [int, frac = ''] = s.replace(/^\+/, '').toLowerCase().split('e')[0]!.split('.');
    frac = frac.replace(/0+$/, '');
    int = int!.replace(/^(-?)0+(?=\d)/, '$1');
    return frac ? `${int}.${frac}` : int;
  };
  if (/e/i.test(text)) return true; // exponent notation: already a float by intent
  return norm(String(n)) === norm(text);
}

/**
 * `JSON.parse` that turns inexact number literals into strings (`12345678901234567890`,
 * `0.10000000000000000001`). Values that fit a double stay numbers.
 */
export function parseJsonExact(text: string): unknown {
  let out = '';
  let last = 0;
  let changed = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) { // string: skip to its closing quote
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92) i += 2;
        else if (d === 34) break;
        else i++;
      }
      continue;
    }
    if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < n && /[0-9.eE+-]/.test(text[j]!)) j++;
      const lit = text.slice(i, j);
      if (!exactAsDouble(lit)) {
        out += `${text.slice(last, i)}"${lit}"`;
        last = j;
        changed = true;
      }
      i = j - 1;
    }
  }
  return JSON.parse(changed ? out + text.slice(last) : text);
}
