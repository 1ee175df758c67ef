/**
 * Copybook source reader: applies the reference format (sequence area in columns 1-6,
 * indicator in column 7, program text in columns 8-72) or free format, joins continuation
 * lines and splits the text into tokens that remember their line.
 */
import { FormatError } from '../../core/errors.js';

/** Source layout of the copybook text. */
export type SourceFormat = 'fixed' | 'free';

export interface Token {
  /** 'word' (names, keywords, numbers, picture strings), 'string' (quoted literal), 'period'. */
  kind: 'word' | 'string' | 'period';
  /** For literals with a prefix (X'0A', N'..', Z'..'): the prefix, upper case. */
  prefix?: string;
  text: string;
  line: number;
}

interface Segment { text: string; line: number }

function expandTabs(line: string): string {
  if (!line.includes('\t')) return line;
  let out = '';
  for (const ch of line) {
    if (ch === '\t') out += ' '.repeat(8 - (out.length % 8));
    else out += ch;
  }
  return out;
}

/** Split the source into program-text segments, one per line, with continuations merged. */
function sourceSegments(text: string, format: SourceFormat): Segment[] {
  const lines = text.split(/\r\n|\r|\n/);
  const segs: Segment[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = expandTabs(lines[i]!);
    const lineNo = i + 1;
    if (format === 'free') {
      const trimmed = raw.trimStart();
      if (trimmed.startsWith('*') || trimmed.startsWith('/')) continue;
      const inline = raw.indexOf('*>');
      segs.push({ text: inline >= 0 ? raw.slice(0, inline) : raw, line: lineNo });
      continue;
    }
    const indicator = raw.length > 6 ? raw[6]! : ' ';
    if (indicator === '*' || indicator === '/') continue;
    if ((indicator === 'D' || indicator === 'd') && (raw[7] ?? ' ') === ' ') continue; // debugging line
    // like cobrix, text that starts in column 7 (e.g. "      01 RECORD.") is read as program text
    const textFromIndicator = indicator !== ' ' && indicator !== '-';
    let body = raw.slice(textFromIndicator ? 6 : 7, 72);
    const inline = body.indexOf('*>');
    if (inline >= 0) body = body.slice(0, inline);
    if (indicator === '-') {
      const prev = segs[segs.length - 1];
      if (!prev) throw new FormatError(`line ${lineNo}: continuation line (indicator "-") with nothing to continue`);
      const openQuote = unclosedQuote(prev.text);
      if (openQuote) {
        // a continued literal: the previous line runs to column 72; this one resumes after its first quote
        const q = body.indexOf(openQuote);
        prev.text = prev.text.padEnd(65, ' ') + (q >= 0 ? body.slice(q + 1) : body.trimStart());
      } else {
        prev.text = prev.text.trimEnd() + body.trimStart();
      }
      continue;
    }
    segs.push({ text: body, line: lineNo });
  }
  return segs;
}

function unclosedQuote(text: string): string | undefined {
  let open: string | undefined;
  for (const ch of text) {
    if (open) { if (ch === open) open = undefined; }
    else if (ch === '"' || ch === "'") open = ch;
  }
  return open;
}

/** Tokenize copybook source text. `fileName` only feeds error messages. */
export function tokenize(text: string, format: SourceFormat = 'fixed', fileName = 'copybook'): Token[] {
  const tokens: Token[] = [];
  let segs: Segment[];
  try {
    segs = sourceSegments(text, format);
  } catch (err) {
    if (err instanceof FormatError) throw new FormatError(`${fileName}:${err.message.replace(/^line /, '')}`);
    throw err;
  }
  for (const seg of segs) {
    const s = seg.text;
    let i = 0;
    let prefix: string | undefined;
    while (i < s.length) {
      const ch = s[i]!;
      if (ch === ' ' || ch === ',' || ch === ';') { i++; continue; }
      if (ch === '"' || ch === "'") {
        let j = i + 1;
        let lit = '';
        for (;;) {
          if (j >= s.length) throw new FormatError(`${fileName}:${seg.line}: the literal ${s.slice(i, i + 20)}... has no closing ${ch}`);
          if (s[j] === ch) {
            if (s[j + 1] === ch) { lit += ch; j += 2; continue; }
            break;
          }
          lit += s[j];
          j++;
        }
        tokens.push(prefix ? { kind: 'string', text: lit, line: seg.line, prefix } : { kind: 'string', text: lit, line: seg.line });
        prefix = undefined;
        i = j + 1;
        continue;
      }
      let j = i;
      while (j < s.length && s[j] !== ' ') {
        if ((s[j] === '"' || s[j] === "'") && j > i) break;
        j++;
      }
      let word = s.slice(i, j);
      i = j;
      // X'0A', N'..', G'..', Z'..': the literal is read by the next turn and carries the prefix
      if (/^[XxNnGgZz]$/.test(word) && (s[i] === '"' || s[i] === "'")) {
        prefix = word.toUpperCase();
        continue;
      }
      let period = false;
      if (word.endsWith('.')) { word = word.slice(0, -1); period = true; }
      while (word.endsWith(',') || word.endsWith(';')) word = word.slice(0, -1);
      if (word) tokens.push({ kind: 'word', text: word, line: seg.line });
      if (period) tokens.push({ kind: 'period', text: '.', line: seg.line });
    }
  }
  return tokens;
}
