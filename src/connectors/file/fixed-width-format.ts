/**
 * Fixed-width records described by a COBOL copybook, through the copybook codec
 * (src/formats/copybook): EBCDIC or ASCII, framed as F, V (RDW), VB (BDW) or D (lines).
 * Field names are the copybook's with `-` turned into `_` (PERMIT-NO -> PERMIT_NO).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ConfigError, errorMessage } from '../../core/errors.js';
import { createCodec, createRecordWriter, decodeStream, frameRecord, parseCopybook, type CodecOptions, type RecordCodec, type RecordFormatOptions, type SkippedRecord } from '../../formats/copybook/index.js';
import type { Doc } from '../../core/types.js';
import type { ParsedRecord } from './csv-format.js';
import type { RecordDecoder } from './drop-dir-source.js';
import type { FileEncoder } from './file-sink.js';
import type { FixedOptions } from './file-options.js';

/** The format keys of a fixed-width source or sink. */
export type FixedFormatOptions = Pick<FixedOptions, 'copybook' | 'codePage' | 'recordFormat' | 'codec' | 'recordFormatOptions'>;

/** Parse the copybook file and build its codec (paths are relative to the working directory). */
export async function loadCodec(o: FixedFormatOptions): Promise<RecordCodec> {
  const file = path.resolve(o.copybook);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read the copybook "${o.copybook}" (${file}): ${errorMessage(e)}`, { path: 'copybook', cause: e });
  }
  const copybook = parseCopybook(text, { fileName: o.copybook });
  return createCodec(copybook, { ...(o.codec as CodecOptions | undefined), codePage: o.codePage });
}

/** Record framing options for the codec's record size; undefined lets decodeStream size records by the copybook. */
export function recordFormatOf(o: FixedFormatOptions, codec: RecordCodec): RecordFormatOptions | undefined {
  const extra = (o.recordFormatOptions ?? {}) as Record<string, unknown>;
  switch (o.recordFormat) {
    case 'F': return codec.variableSize ? undefined : { format: 'F', recordLength: codec.recordSize, ...extra } as RecordFormatOptions;
    case 'V': return { format: 'V', ...extra } as RecordFormatOptions;
    case 'VB': return { format: 'VB', ...extra } as RecordFormatOptions;
    case 'D': return { format: 'D', ...extra } as RecordFormatOptions;
  }
}

/** A decoder of fixed-width files: bad records come back as errors with record number and byte offset. */
export async function createFixedDecoder(o: FixedFormatOptions): Promise<RecordDecoder> {
  const codec = await loadCodec(o);
  const recordFormat = recordFormatOf(o, codec);
  return async function* decode(input: Readable): AsyncGenerator<ParsedRecord> {
    const skipped: SkippedRecord[] = [];
    let last = 0;
    try {
      for await (const r of decodeStream(input, codec, { recordFormat, onError: 'skip', onSkip: (s) => skipped.push(s) })) {
        while (skipped.length) {
          const s = skipped.shift()!;
          yield { no: s.recordNumber, error: s.error.message, where: `byte offset ${s.offset}` };
        }
        last = r.recordNumber;
        yield { no: r.recordNumber, doc: r.value, where: `byte offset ${r.offset}` };
      }
      for (const s of skipped) { last = s.recordNumber; yield { no: s.recordNumber, error: s.error.message, where: `byte offset ${s.offset}` }; }
    } catch (e) {
      // A framing error (truncated record, bad RDW) ends the file: the rest cannot be located.
      for (const s of skipped) { last = s.recordNumber; yield { no: s.recordNumber, error: s.error.message, where: `byte offset ${s.offset}` }; }
      yield { no: last + 1, error: `${errorMessage(e)} (the rest of the file cannot be read)`, where: `after record ${last}` };
    }
  };
}

/** An encoder that writes documents as copybook records, framed per the record format. */
export async function createFixedEncoder(o: FixedFormatOptions): Promise<FileEncoder> {
  const codec = await loadCodec(o);
  const fmt = recordFormatOf(o, codec) ?? { format: 'F', recordLength: codec.recordSize };
  // Any field name of the layout, at any depth: a document key matching none is surely a typo.
  const names = new Set(codec.layout().nodes.map((n) => n.name));
  const unknownFields = (doc: Doc) => Object.keys(doc).filter((k) => !names.has(k));
  if (fmt.format === 'VB') {
    // Blocks end with each write() batch so every batch is durable on its own.
    return {
      header: () => Buffer.alloc(0),
      record: (doc) => codec.encode(doc),
      frame(records) {
        const w = createRecordWriter(fmt);
        return Buffer.concat([...records.flatMap((r) => w.write(r)), ...w.end()]);
      },
      unknownFields,
    };
  }
  if (fmt.format === 'F' && codec.variableSize) {
    return { header: () => Buffer.alloc(0), record: (doc) => codec.encode(doc), unknownFields };
  }
  return { header: () => Buffer.alloc(0), record: (doc) => frameRecord(codec.encode(doc), fmt), unknownFields };
}
