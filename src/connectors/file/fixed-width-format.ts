/**
 * Fixed-width records described by a COBOL copybook (placeholder until the codec lands).
 */
import { ConfigError } from '../../core/errors.js';
import type { RecordDecoder } from './drop-dir-source.js';
import type { FileEncoder } from './file-sink.js';
import type { FixedOptions } from './file-options.js';

/** The format keys of a fixed-width source or sink. */
export type FixedFormatOptions = Pick<FixedOptions, 'copybook' | 'codePage' | 'recordFormat' | 'codec' | 'recordFormatOptions'>;

export async function createFixedDecoder(_o: FixedFormatOptions): Promise<RecordDecoder> {
  throw new ConfigError('fixed-width files need the copybook codec');
}

export async function createFixedEncoder(_o: FixedFormatOptions): Promise<FileEncoder> {
  throw new ConfigError('fixed-width files need the copybook codec');
}
