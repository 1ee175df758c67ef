/**
 * CSV records in and out: csv-parse / csv-stringify with iconv-lite for encodings, header
 * mapping, per-record errors (a bad row is reported, the rest of the file continues) and
 * spreadsheet formula neutralisation on export.
 */
import type { Readable } from 'node:stream';
import { parse, type CsvError } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import iconv from 'iconv-lite';
import { ConfigError } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';

/** One record read from a file: a document, or the reason it could not be read. */
export interface ParsedRecord {
  /** 1-based record number in the file (header not counted). */
  no: number;
  doc?: Doc;
  error?: string;
  /** Where it is: `line 12` or `byte offset 4096`. */
  where: string;
}

export interface CsvFormatOptions {
  delimiter: string;
  quote: string;
  header: boolean;
  encoding: string;
  columns?: string[] | Record<string, string>;
}

/** Throws a ConfigError when iconv-lite does not know the encoding. */
export function checkEncoding(encoding: string): void {
  if (!iconv.encodingExists(encoding)) {
    throw new ConfigError(`unknown CSV encoding "${encoding}"; use a name iconv-lite knows, such as utf8, latin1, cp1252, utf16le`);
  }
}

/** Stream the records of a CSV file (bounded memory: one record at a time). */
export async function* readCsv(input: Readable, opts: CsvFormatOptions): AsyncGenerator<ParsedRecord> {
  checkEncoding(opts.encoding);
  let columns: boolean | string[] | ((header: string[]) => string[]);
  let fromLine = 1;
  if (Array.isArray(opts.columns)) {
    columns = opts.columns;
    if (opts.header) fromLine = 2;
  } else if (opts.columns) {
    const map = opts.columns;
    columns = (header: string[]) => header.map((h) => map[h] ?? h);
  } else if (opts.header) {
    columns = true;
  } else {
    throw new ConfigError('a CSV format with header: false needs columns: a list of field names, one per column');
  }
  // csv-parse reports skipped records ahead of the records it still buffers: order by line.
  const skipped: Array<{ line: number; error: string }> = [];
  let no = 0;
  const parser = parse({
    delimiter: opts.delimiter,
    quote: opts.quote,
    columns,
    from_line: fromLine,
    bom: true,
    skip_empty_lines: true,
    info: true,
    skip_records_with_error: true,
    on_skip: (err: CsvError | undefined) => {
      skipped.push({ line: (err as { lines?: number } | undefined)?.lines ?? 0, error: err?.message ?? 'unreadable CSV record' });
      return undefined;
    },
  });
  input.on('error', (e) => parser.destroy(e));
  const decoded = input.pipe(iconv.decodeStream(opts.encoding));
  decoded.on('error', (e: Error) => parser.destroy(e));
  decoded.pipe(parser);
  for await (const item of parser as AsyncIterable<{ record: Doc; info: { lines: number } }>) {
    while (skipped.length && skipped[0]!.line < item.info.lines) {
      const sk = skipped.shift()!;
      yield { no: ++no, error: sk.error, where: `line ${sk.line}` };
    }
    no++;
    yield { no, doc: item.record, where: `line ${item.info.lines}` };
  }
  for (const sk of skipped) yield { no: ++no, error: sk.error, where: `line ${sk.line}` };
}

const FORMULA_START = new Set(['=', '+', '-', '@', '\t', '\r']);
const PLAIN_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Neutralise a cell a spreadsheet would run as a formula (OWASP "CSV injection"): a value
 * starting with = + - @ tab or CR gets a leading `'`. Plain numbers such as `-12.5` are kept.
 * @example neutraliseFormula('=HYPERLINK("http://x")') // => `'=HYPERLINK("http://x")`
 */
export function neutraliseFormula(cell: string): string {
  if (cell.length === 0 || !FORMULA_START.has(cell[0]!)) return cell;
  if (PLAIN_NUMBER.test(cell)) return cell;
  return `'${cell}`;
}

/** A document value as a CSV cell: null -> empty, objects as JSON, dates as ISO text. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

export interface CsvEncoderOptions extends CsvFormatOptions {
  neutraliseFormulas: boolean;
  /** Line ending of each row (default \n). */
  eol?: string;
}

/** Turns documents into encoded CSV bytes for a file; `fields` fixes the column order. */
export interface CsvEncoder {
  fields: string[];
  header(): Buffer;
  rows(docs: Doc[]): Buffer;
}

export function createCsvEncoder(opts: CsvEncoderOptions, fields: string[]): CsvEncoder {
  checkEncoding(opts.encoding);
  const headerNames = Array.isArray(opts.columns) || !opts.columns ? fields : fields.map((f) => (opts.columns as Record<string, string>)[f] ?? f);
  const encode = (rows: string[][]) => iconv.encode(
    stringify(rows, { delimiter: opts.delimiter, quote: opts.quote, record_delimiter: opts.eol ?? '\n', eof: true }),
    opts.encoding,
  );
  return {
    fields,
    header: () => (opts.header ? encode([headerNames]) : Buffer.alloc(0)),
    rows: (docs) => encode(docs.map((d) => fields.map((f) => {
      const text = cellText(d[f]);
      return opts.neutraliseFormulas ? neutraliseFormula(text) : text;
    }))),
  };
}
