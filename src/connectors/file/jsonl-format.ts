/**
 * JSON lines (one JSON object per line), the shape modern platforms export: read line by line
 * with bounded memory; a line that is not a JSON object is a bad record with its line number.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import type { Doc } from '../../core/types.js';
import { checkEncoding, type ParsedRecord } from './csv-format.js';
import { parseJsonLossless } from '../../formats/json/lossless-json.js';

/** Stream the records of a JSON lines file; blank lines are ignored. */
export async function* readJsonLines(input: Readable, opts: { encoding: string }): AsyncGenerator<ParsedRecord> {
  checkEncoding(opts.encoding);
  const text = input.pipe(iconv.decodeStream(opts.encoding));
  input.on('error', (e) => text.emit('error', e));
  const lines = createInterface({ input: text, crlfDelay: Infinity });
  let line = 0;
  let no = 0;
  for await (const raw of lines) {
    line++;
    const s = raw.trim();
    if (s === '') continue;
    no++;
    let v: unknown;
    try {
      v = parseJsonLossless(s);
    } catch (e) {
      yield { no, error: `not valid JSON (${(e as Error).message})`, where: `line ${line}` };
      continue;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      yield { no, error: `expected a JSON object, got ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`, where: `line ${line}` };
      continue;
    }
    yield { no, doc: v as Doc, where: `line ${line}` };
  }
}

/** One document as a JSON line (bigints as strings). */
export function jsonLine(doc: Doc, encoding: string): Buffer {
  return iconv.encode(`${JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`, encoding);
}
