/**
 * The `file` connector: a drop-directory source and a batch-file sink for CSV and
 * fixed-width (COBOL copybook) files, in a local directory or over SFTP.
 * docs/connectors/file.md documents every option.
 *
 * @example
 * systems:
 *   county: { driver: file, transport: local, dir: ./out }
 * pipelines:
 *   permits-to-cobol:
 *     from: { system: platform, collection: permits }
 *     to: { system: county, collection: PERMITS, format: fixed, copybook: ./PERMIT.cpy, opField: ACTION,
 *           fileName: 'PERMITS.{yyyyMMddHHmmss}.{seq}.dat', rotate: { records: 1000, interval: 30s } }
 */
import { existsSync, statSync } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import iconv from 'iconv-lite';
import { ConfigError, NotConnectedError, PermanentError, errorMessage } from '../../core/errors.js';
import type { RecordCodec } from '../../formats/copybook/index.js';
import { parseDuration } from '../../core/duration.js';
import { defineConnector, type ReaderContext, type SinkContext, type SourceContext } from '../contract.js';
import { checkEncoding, createCsvEncoder, readCsv } from './csv-format.js';
import { createDropDirSource, type RecordDecoder } from './drop-dir-source.js';
import { checkTemplate, globToRegExp } from './file-names.js';
import { fileSinkSchema, fileSourceSchema, fileSystemSchema, type FileSinkOptions, type FileSourceOptions, type FileSystemConfig } from './file-options.js';
import { createFileReader } from './file-reader.js';
import { createFileSink, type FileEncoder } from './file-sink.js';
import type { FileTransport } from './file-transport.js';
import { createLocalTransport } from './local-transport.js';
import { createSftpTransport } from './sftp-transport.js';
import { jsonLine, readJsonLines } from './jsonl-format.js';
import { createFixedDecoder, createFixedEncoder, loadCodec } from './fixed-width-format.js';

/** Resolve the system's relative paths (local dir, SFTP private key) against the config file's folder. */
function rebaseSystem(cfg: FileSystemConfig, baseDir: string | undefined): FileSystemConfig {
  const base = baseDir ?? process.cwd();
  if (cfg.transport === 'local') return { ...cfg, dir: path.resolve(base, cfg.dir) };
  return cfg.privateKey ? { ...cfg, privateKey: path.resolve(base, cfg.privateKey) } : cfg;
}

/** Resolve a fixed-width format's copybook path against the config file's folder. */
function rebaseOptions<O extends FileSourceOptions | FileSinkOptions>(o: O, baseDir: string | undefined): O {
  return o.format === 'fixed' ? { ...o, copybook: path.resolve(baseDir ?? process.cwd(), o.copybook) } : o;
}

/** A system's local folder is a folder, or can be created (its nearest existing parent is a writable folder). */
async function checkLocalDir(dir: string, system: string): Promise<void> {
  let at = dir;
  while (!existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  if (!statSync(at).isDirectory()) throw new NotConnectedError(`cannot use the directory ${dir} of system "${system}": ${at} is not a directory`, { details: { dir } });
  if (at !== dir) {
    try {
      await access(at, constants.W_OK | constants.X_OK);
    } catch (e) {
      throw new NotConnectedError(`cannot use the directory ${dir} of system "${system}": it does not exist and ${at} is not writable, so it cannot be created (${errorMessage(e)})`, { cause: e, details: { dir } });
    }
    return;
  }
  try {
    await access(dir, constants.R_OK | constants.X_OK);
  } catch (e) {
    throw new NotConnectedError(`cannot use the directory ${dir} of system "${system}": it is not readable by this user (${errorMessage(e)})`, { cause: e, details: { dir } });
  }
}

/** A local drop folder must exist, be a directory, and be readable and writable (files move to processed/ and failed/). */
async function checkDropDir(dir: string, system: string): Promise<void> {
  let st;
  try {
    st = await stat(dir);
  } catch (e) {
    throw new PermanentError(`the drop folder ${dir} of system "${system}" does not exist (${errorMessage(e)}); create it or fix systems.${system}.dir`, { cause: e, details: { dir } });
  }
  if (!st.isDirectory()) throw new PermanentError(`the drop folder ${dir} of system "${system}" is not a directory; fix systems.${system}.dir`, { details: { dir } });
  try {
    await access(dir, constants.R_OK | constants.X_OK);
  } catch (e) {
    throw new PermanentError(`the drop folder ${dir} of system "${system}" is not readable by this user (${errorMessage(e)})`, { cause: e, details: { dir } });
  }
  try {
    await access(dir, constants.W_OK);
  } catch (e) {
    throw new PermanentError(`the drop folder ${dir} of system "${system}" is not writable by this user, so read files cannot be moved to processed/ or failed/ (${errorMessage(e)})`, { cause: e, details: { dir } });
  }
}

/** Top-level field names of a decoded record (the children of a collapsed 01 group; FILLER left out). */
function copybookFields(codec: RecordCodec): string[] {
  const out = new Set<string>();
  const keepFiller = codec.options.keepFiller;
  for (const root of codec.layout().roots) {
    const items = codec.options.rootPolicy === 'collapse' && root.isGroup && !root.occurs ? root.children : [root];
    for (const n of items) if (keepFiller || !n.isFiller) out.add(n.name);
  }
  return [...out];
}

/** The first row of a CSV stream (the header), decoded as the source decodes it; null for an empty file. Reads no further. */
async function readCsvHeader(input: Readable, o: Extract<FileSourceOptions, { format: 'csv' }>): Promise<string[] | null> {
  const parser = parse({ delimiter: o.delimiter, quote: o.quote, bom: true, skip_empty_lines: true, to_line: 1, relax_column_count: true });
  input.on('error', (e) => parser.destroy(e));
  const decoded = input.pipe(iconv.decodeStream(o.encoding));
  decoded.on('error', (e: Error) => parser.destroy(e));
  decoded.pipe(parser);
  try {
    for await (const row of parser as AsyncIterable<string[]>) return row;
    return null;
  } finally {
    input.destroy();
  }
}

/** The transport for a system block. */
export function createTransport(cfg: FileSystemConfig): FileTransport {
  return cfg.transport === 'local' ? createLocalTransport(cfg.dir) : createSftpTransport(cfg);
}

async function decoderFor(o: FileSourceOptions): Promise<RecordDecoder> {
  if (o.format === 'csv') {
    checkEncoding(o.encoding);
    return (input) => readCsv(input, o);
  }
  if (o.format === 'jsonl') {
    checkEncoding(o.encoding);
    return (input) => readJsonLines(input, o);
  }
  return createFixedDecoder(o);
}

async function encoderFor(o: FileSinkOptions): Promise<FileEncoder> {
  if (o.format === 'csv') {
    const fields = Array.isArray(o.columns) ? [...o.columns] : o.columns ? Object.keys(o.columns) : null;
    if (!fields) throw new ConfigError('a CSV file sink needs columns: the list of fields to write, in order (or a map field -> header name)', { path: 'to.columns' });
    if (o.opField && !fields.includes(o.opField)) fields.unshift(o.opField);
    const csv = createCsvEncoder({ ...o, eol: '\n' }, fields);
    return { header: () => csv.header(), record: (doc) => csv.rows([doc]) };
  }
  if (o.format === 'jsonl') {
    checkEncoding(o.encoding);
    return { header: () => Buffer.alloc(0), record: (doc) => jsonLine(doc, o.encoding) };
  }
  return createFixedEncoder(o);
}

/** The file connector descriptor (driver `file`). */
export const fileConnector = defineConnector<FileSystemConfig, FileSourceOptions, FileSinkOptions>({
  driver: 'file',
  description: 'Fixed-width (COBOL copybook), CSV and JSON lines files: drop-directory source and batch-file sink, local or over SFTP.',
  systemSchema: fileSystemSchema as unknown as import('zod').ZodType<FileSystemConfig>,
  sourceSchema: fileSourceSchema as unknown as import('zod').ZodType<FileSourceOptions>,
  sinkSchema: fileSinkSchema as unknown as import('zod').ZodType<FileSinkOptions>,

  fromUrl(url) {
    // file:./drop, file:///abs/dir, sftp://user@host:22/dir (key or password then set in config)
    if (url.startsWith('sftp://')) {
      const u = new URL(url);
      return { transport: 'sftp', host: u.hostname, port: Number(u.port || 22), username: decodeURIComponent(u.username), ...(u.password ? { password: decodeURIComponent(u.password) } : {}), dir: decodeURIComponent(u.pathname) || '.' };
    }
    const m = /^file:(?:\/\/)?(.*)$/.exec(url);
    return { transport: 'local', dir: m ? m[1]! : url };
  },

  async createSource(rawCtx: SourceContext<FileSystemConfig, FileSourceOptions>) {
    const ctx = { ...rawCtx, systemConfig: rebaseSystem(rawCtx.systemConfig, rawCtx.baseDir), options: rebaseOptions(rawCtx.options, rawCtx.baseDir) };
    const o = ctx.options;
    if (o.opField && o.mode === 'snapshot') throw new ConfigError(`opField "${o.opField}" applies to mode: changes only; a snapshot file has no operations (deletes are found by what is missing)`, { path: 'from.opField' });
    if (o.maxDeletes !== undefined && o.mode !== 'snapshot') throw new ConfigError('maxDeletes applies to mode: snapshot only (a changes file deletes only what it says)', { path: 'from.maxDeletes' });
    const decode = await decoderFor(o);
    const pollMs = o.pollInterval !== undefined ? parseDuration(o.pollInterval) : ctx.systemConfig.transport === 'local' ? 1000 : 5000;
    return createDropDirSource(ctx, createTransport(ctx.systemConfig), decode, {
      pattern: globToRegExp(o.pattern ?? ctx.collection),
      mode: o.mode,
      keyFields: ctx.keyFields,
      opField: o.opField,
      opValues: o.opValues,
      trigger: o.trigger,
      stableChecks: o.stableChecks,
      pollMs,
      batchSize: o.batchSize,
      onError: o.onError,
      maxDeletes: o.maxDeletes,
      processedDir: o.processedDir,
      failedDir: o.failedDir,
    });
  },

  async createReader(rawCtx: ReaderContext<FileSystemConfig, FileSourceOptions>) {
    const o = rebaseOptions(rawCtx.options, rawCtx.baseDir);
    if (o.mode !== 'snapshot') throw new ConfigError(`the file reader of ${rawCtx.system}/${rawCtx.collection} reads snapshot files (mode: snapshot); mode "${o.mode}" files list operations, not the rows of the collection`, { path: 'from.mode' });
    return createFileReader(createTransport(rebaseSystem(rawCtx.systemConfig, rawCtx.baseDir)), {
      pattern: globToRegExp(o.pattern ?? rawCtx.collection),
      keyFields: rawCtx.keyFields,
      opValues: o.opValues,
      trigger: o.trigger,
      onError: o.onError,
      processedDir: o.processedDir,
      decode: await decoderFor(o),
      logger: rawCtx.logger,
    });
  },

  async createSink(rawCtx: SinkContext<FileSystemConfig, FileSinkOptions>) {
    const ctx = { ...rawCtx, systemConfig: rebaseSystem(rawCtx.systemConfig, rawCtx.baseDir), options: rebaseOptions(rawCtx.options, rawCtx.baseDir) };
    const o = ctx.options;
    // A bare collection name would give every file the same name: add a timestamp and a sequence.
    const fileName = o.fileName ?? (ctx.collection.includes('{') ? ctx.collection : `${ctx.collection}.{yyyyMMddHHmmss}.{seq}`);
    checkTemplate(fileName, 'fileName');
    if (o.trigger) checkTemplate(o.trigger, 'trigger');
    const sys = ctx.systemConfig;
    return createFileSink({
      transport: createTransport(sys),
      localDir: sys.transport === 'local' ? path.resolve(sys.dir) : null,
      workDir: ctx.workDir,
      encoder: await encoderFor(o),
      logger: ctx.logger,
      options: { fileName, collection: ctx.collection, rotate: o.rotate, trigger: o.trigger, opField: o.opField, opValues: o.opValues, utc: o.utc },
    });
  },

  /**
   * validate: a local drop folder exists and is readable and writable (read files move to
   * processed/); the copybook of a fixed-width source loads; a CSV source's encoding is known.
   */
  async checkSource(rawCtx) {
    const sys = rebaseSystem(rawCtx.systemConfig, rawCtx.baseDir);
    const o = rebaseOptions(rawCtx.options, rawCtx.baseDir);
    if (sys.transport === 'local') await checkDropDir(sys.dir, rawCtx.system);
    if (o.format === 'fixed') await loadCodec(o);
    else checkEncoding(o.encoding);
    return [];
  },

  /**
   * validate: the fields of a record: a CSV source's `columns`, else the header of the oldest
   * file waiting in the drop folder (none: unknown); a fixed-width source's copybook fields.
   */
  async describeSource(rawCtx) {
    const o = rebaseOptions(rawCtx.options, rawCtx.baseDir);
    if (o.format === 'fixed') {
      const codec = await loadCodec(o);
      return { fields: copybookFields(codec), from: `the fields of the copybook ${o.copybook}` };
    }
    if (o.format !== 'csv') return null;
    if (Array.isArray(o.columns)) return { fields: [...o.columns], from: 'from.columns' };
    if (!o.header) return null;
    const t = createTransport(rebaseSystem(rawCtx.systemConfig, rawCtx.baseDir));
    try {
      await t.connect();
      const pattern = globToRegExp(o.pattern ?? rawCtx.collection);
      const file = (await t.list('')).filter((e) => e.isFile && pattern.test(e.name)).sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name))[0];
      if (!file) return null;
      const header = await readCsvHeader(await t.read(file.name), o);
      if (!header) return null;
      const map = o.columns && !Array.isArray(o.columns) ? o.columns : {};
      return { fields: header.map((h) => map[h] ?? h), from: `the header of ${t.where}/${file.name}` };
    } finally {
      await t.close();
    }
  },

  async testConnection(rawCfg, ctx) {
    const sys = rebaseSystem(rawCfg, ctx.baseDir);
    // A local folder is checked without being created (connect() would create it): a misspelt
    // drop folder must not turn into an empty one; a sink's missing folder only needs to be creatable.
    if (sys.transport === 'local') return checkLocalDir(sys.dir, ctx.system);
    const t = createTransport(sys);
    try {
      await t.connect();
      await t.list('');
    } catch (e) {
      throw e instanceof NotConnectedError ? e : new NotConnectedError(`cannot use the directory ${t.where}: ${errorMessage(e)}`, { cause: e });
    } finally {
      await t.close();
    }
  },
});
