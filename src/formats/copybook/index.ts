/**
 * COBOL copybook codec: parse a copybook, compute its layout, decode and encode records,
 * stream-decode files. See docs/copybook.md.
 */
export { parseCopybook, type ParseCopybookOptions } from './copybook-parser.js';
export { computeLayout, layoutReport, binarySize, outputName, describeType, type Layout, type LayoutOptions } from './copybook-layout.js';
export { createCodec, ShortRecordError, type CodecOptions, type DecodeContext, type RecordCodec } from './record-codec.js';
export { decodeStream, encodeStream, type DecodeStreamOptions, type DecodedRecord, type SkippedRecord } from './record-stream.js';
export { canonicalDecimal, toUnscaled, presentDecimal } from './copybook-decimal.js';
export { parsePicture } from './copybook-picture.js';
export { toJsonLine } from './json-lines.js';
export { parseJsonLossless, type LosslessJsonOptions } from '../json/lossless-json.js';
export type { Copybook, CopybookItem, LayoutNode, FieldType, Picture, Usage } from './copybook-types.js';
export { getCodePage, listCodePages, type CodePage } from './codepages.js';
export { readRecords, createRecordWriter, frameRecord, frameRecords, type RecordFormatOptions } from './record-format.js';
