/**
 * Config schemas of the `file` driver: the system block (where the files are: a local
 * directory or a directory on an SFTP server) and the per-pipeline `from:` / `to:` options
 * (which files, which format, snapshot or changes, rotation...). docs/connectors/file.md
 * documents every option; keep it in step with this file.
 */
import { z } from 'zod';
import { isDuration } from '../../core/duration.js';

const duration = z.union([z.string(), z.number()]).refine(isDuration, {
  message: 'expected a duration: milliseconds as a number or a string such as 500ms, 5s, 1m, 1h',
});

const localSystem = z.strictObject({
  transport: z.literal('local').describe('Files live in a local (or NFS-mounted) directory.'),
  dir: z.string().min(1).describe('The drop directory (source) or output directory (sink).'),
});

const sftpSystem = z.strictObject({
  transport: z.literal('sftp').describe('Files live on an SFTP server (ssh2-sftp-client).'),
  host: z.string().min(1).describe('SFTP server host name or address.'),
  port: z.number().int().min(1).max(65535).default(22).describe('SFTP port (default 22).'),
  username: z.string().min(1).describe('Login user name.'),
  privateKey: z.string().optional().describe('Path to a private key file (OpenSSH or PEM).'),
  passphrase: z.string().optional().describe('Passphrase of the private key, if it has one.'),
  password: z.string().optional().describe('Password (when no private key is used).'),
  dir: z.string().min(1).describe('Remote directory (absolute, or relative to the login directory).'),
  readyTimeout: duration.default('20s').describe('How long to wait for the SSH handshake (default 20s).'),
  hostFingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]+=*$/, 'expected SHA256:<base64> as printed by ssh-keygen -lf <host key>.pub').optional()
    .describe('Expected SHA256 fingerprint of the server\'s host key (ssh-keygen -lf); the connection is refused when it differs. Without it any host key is accepted.'),
}).refine((s) => s.privateKey !== undefined || s.password !== undefined, {
  message: 'an sftp system needs either privateKey (a path to a key file) or password',
  path: ['privateKey'],
});

/** `systems.<name>` of driver `file` (without `driver`). */
export const fileSystemSchema = z.union([localSystem, sftpSystem]);
export type FileSystemConfig = z.infer<typeof fileSystemSchema>;
export type SftpSystemConfig = z.infer<typeof sftpSystem>;

const opValues = z.strictObject({
  insert: z.string().default('I').describe('Value of the op field for an insert (default I).'),
  update: z.string().default('U').describe('Value of the op field for an update (default U).'),
  delete: z.string().default('D').describe('Value of the op field for a delete (default D).'),
});
export type OpValues = z.infer<typeof opValues>;

const csvFormat = {
  format: z.literal('csv'),
  delimiter: z.string().min(1).default(',').describe('Field delimiter (default ,).'),
  quote: z.string().length(1).default('"').describe('Quote character (default ").'),
  header: z.boolean().default(true).describe('First row holds the column names (default true).'),
  encoding: z.string().default('utf8').describe('Character encoding, any name iconv-lite knows (default utf8).'),
  columns: z.union([z.array(z.string().min(1)), z.record(z.string(), z.string())]).optional()
    .describe('Source: a list of field names (one per column), or a map header name -> field name. Sink: the list of fields to write, in order.'),
};

const fixedFormat = {
  format: z.literal('fixed'),
  copybook: z.string().min(1).describe('Path of the COBOL copybook that describes one record.'),
  codePage: z.string().default('cp037').describe('Code page of the records (default cp037; ascii, latin1, utf8 for ASCII files).'),
  recordFormat: z.enum(['F', 'V', 'VB', 'D']).default('F').describe('F fixed length, V RDW-prefixed, VB blocked with BDW, D line sequential (default F).'),
  codec: z.record(z.string(), z.unknown()).optional().describe('Further codec options passed to createCodec (see docs/copybook.md).'),
  recordFormatOptions: z.record(z.string(), z.unknown()).optional().describe('Further options passed to readRecords / the record writer (RDW byte order, length includes header...).'),
};

const jsonlFormat = {
  format: z.literal('jsonl'),
  encoding: z.string().default('utf8').describe('Character encoding (default utf8).'),
};

const sourceCommon = {
  pattern: z.string().optional().describe('Glob of the file names to pick up (default: the collection name). * and ? are supported.'),
  mode: z.enum(['snapshot', 'changes']).default('changes').describe('snapshot: each file is the full data set (diffed against the shadow); changes: each record is a change.'),
  opField: z.string().optional().describe('changes mode: the field holding the operation (values per opValues); absent or empty means upsert.'),
  opValues: opValues.default({ insert: 'I', update: 'U', delete: 'D' }),
  trigger: z.string().optional().describe('Suffix of a trigger file (e.g. .done or .trg): a file is read only once <name><suffix> exists. Without it, a file is read once its size and mtime are stable across two checks.'),
  stableChecks: z.number().int().min(1).default(2).describe('Number of consecutive scans that must see the same size and mtime before a file is read (default 2).'),
  pollInterval: duration.optional().describe('How often the directory is scanned (default 1s local, 5s sftp).'),
  maxDeletes: z.number().int().min(0).optional().describe('snapshot mode: a file that would delete more keys than this fails (to failed/) before anything is applied, a guard against truncated or empty extracts.'),
  batchSize: z.number().int().min(1).default(1000).describe('Records per batch handed to the engine (default 1000).'),
  onError: z.enum(['fail', 'skip', 'dead-letter']).default('fail').describe('A record that cannot be decoded: fail moves the whole file to failed/ (nothing applied); skip applies the rest and reports it in <file>.rejects.jsonl; dead-letter applies the rest and turns each bad record into a dead letter (hms-sync dlq) with its error, to fix and replay.'),
  processedDir: z.string().default('processed').describe('Sub-directory for files read successfully (default processed).'),
  failedDir: z.string().default('failed').describe('Sub-directory for files that failed (default failed).'),
};

/** Extra keys of a pipeline's `from:` block for driver `file`. */
export const fileSourceSchema = z.discriminatedUnion('format', [
  z.strictObject({ ...sourceCommon, ...csvFormat }),
  z.strictObject({ ...sourceCommon, ...fixedFormat }),
  z.strictObject({ ...sourceCommon, ...jsonlFormat }),
]);
export type FileSourceOptions = z.infer<typeof fileSourceSchema>;

const rotate = z.strictObject({
  records: z.number().int().min(1).optional().describe('Close the file after this many records.'),
  bytes: z.number().int().min(1).optional().describe('Close the file once it reaches this many bytes.'),
  interval: duration.optional().describe('Close the file this long after it was opened (also when no further writes come).'),
});

const sinkCommon = {
  fileName: z.string().optional().describe('File name template: {yyyyMMddHHmmss} style date tokens, {seq} or {seq:6}, {collection}. Default: the collection when it has {tokens}, else <collection>.{yyyyMMddHHmmss}.{seq}.'),
  rotate: rotate.default({ interval: '1m' }).describe('When to close a file and start the next (default: every minute).'),
  trigger: z.string().optional().describe('Trigger file name template written after each data file, {name} is the data file name (e.g. {name}.trg).'),
  opField: z.string().optional().describe('Field that receives the operation (values per opValues); without it deletes cannot be written and are rejected.'),
  opValues: opValues.default({ insert: 'I', update: 'U', delete: 'D' }),
  utc: z.boolean().default(true).describe('Date tokens in file names use UTC (default true) or local time.'),
  neutraliseFormulas: z.boolean().default(true).describe('CSV: prefix cells starting with = + - @ tab or CR with a quote so spreadsheets do not run them (default true).'),
};

/** Extra keys of a pipeline's `to:` block for driver `file`. */
export const fileSinkSchema = z.discriminatedUnion('format', [
  z.strictObject({ ...sinkCommon, ...csvFormat }),
  z.strictObject({ ...sinkCommon, ...fixedFormat }),
  z.strictObject({ ...sinkCommon, ...jsonlFormat }),
]);
export type FileSinkOptions = z.infer<typeof fileSinkSchema>;
export type CsvOptions = Extract<FileSourceOptions, { format: 'csv' }>;
export type FixedOptions = Extract<FileSourceOptions, { format: 'fixed' }>;
