/**
 * Config schemas of the soap connector: the `systems.<name>` block, a pipeline's `to:` block
 * (sink) and `from:` block (source). docs/connectors/soap.md documents every option.
 */
import path from 'node:path';
import { z } from 'zod';

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `250ms`, `5s`, `2m`, `1h` or a number of milliseconds -> milliseconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = DURATION_RE.exec(value.trim());
  if (!m) throw new Error(`"${value}" is not a duration; use e.g. 500ms, 5s, 2m or 1h`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/** A duration option: `5s`, `500ms`, `2m`, `1h`, or milliseconds as a number. */
export const durationSchema = z.union([
  z.number().int().nonnegative(),
  z.string().regex(DURATION_RE, 'a duration such as 500ms, 5s, 2m or 1h'),
]).transform((v) => parseDuration(v));

/** One fault override rule: the first rule whose patterns all match decides. */
export const faultRuleSchema = z.object({
  match: z.object({
    faultcode: z.string().optional().describe('Substring (case-insensitive) or /regex/flags matched against the fault code, e.g. "Client" or "/^soap:Server\\.Lock/"'),
    faultstring: z.string().optional().describe('Substring (case-insensitive) or /regex/flags matched against the fault text'),
  }).strict().refine((m) => m.faultcode !== undefined || m.faultstring !== undefined, 'give faultcode and/or faultstring'),
  retry: z.boolean().describe('true: retry the job with backoff; false: dead-letter it at once'),
  retryAfter: durationSchema.optional().describe('With retry: true, wait at least this long before the next attempt'),
}).strict();
export type FaultRule = z.output<typeof faultRuleSchema>;

/** The `systems.<name>` block of a `driver: soap` system. */
export const soapSystemSchema = z.object({
  wsdl: z.string().min(1).optional().describe('WSDL file path (relative to the working directory) or http(s) URL; omit for template mode'),
  url: z.string().url().optional().describe('Endpoint URL; overrides the WSDL service address; required in template mode'),
  soapVersion: z.enum(['1.1', '1.2']).default('1.1').describe('SOAP envelope version: 1.1 (text/xml + SOAPAction) or 1.2 (application/soap+xml; action=...)'),
  timeout: durationSchema.default(30_000).describe('Per-call timeout (connect + response); a timeout is retryable'),
  maxResponseBytes: z.number().int().positive().default(10 * 1024 * 1024).describe('Responses larger than this are refused (default 10 MiB)'),
  basicAuth: z.object({
    username: z.string(),
    password: z.string(),
  }).strict().optional().describe('HTTP basic authentication'),
  wsSecurity: z.object({
    username: z.string(),
    password: z.string(),
    passwordType: z.enum(['text', 'digest']).default('text').describe('PasswordText or PasswordDigest (base64(sha1(nonce + created + password)))'),
    nonce: z.boolean().default(true).describe('Send a Nonce (always sent with digest)'),
    timestamp: z.boolean().default(true).describe('Send a wsu:Timestamp (Created/Expires)'),
    mustUnderstand: z.boolean().default(false).describe('Mark the Security header mustUnderstand'),
  }).strict().optional().describe('WS-Security UsernameToken header'),
  tls: z.object({
    cert: z.string().optional().describe('Client certificate (PEM file path); give it together with key'),
    key: z.string().optional().describe('Client private key (PEM file path)'),
    ca: z.string().optional().describe('CA bundle (PEM file path) to verify the server with, instead of the system CAs'),
    passphrase: z.string().optional().describe('Passphrase of the private key'),
    rejectUnauthorized: z.boolean().default(true).describe('Verify the server certificate (never turn off in production)'),
  }).strict().refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'give cert and key together (or neither, to only trust ca)', path: ['cert'] })
    .optional().describe('TLS for https endpoints: a client certificate (mutual TLS) and/or a private CA'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra HTTP headers on every call'),
  faults: z.array(faultRuleSchema).default([]).describe('Fault classification overrides for every pipeline of this system'),
}).strict().refine((s) => s.wsdl !== undefined || s.url !== undefined, { message: 'give wsdl (WSDL mode) or url (template mode)', path: ['url'] });
export type SoapSystemConfig = z.output<typeof soapSystemSchema>;

/** Values of an `input:` mapping: template strings, nested objects, or lists of those. */
export type InputMapping = { [name: string]: InputValue };
export type InputValue = string | number | boolean | null | InputMapping | InputValue[];

const inputSchema = z.record(z.string(), z.unknown()).describe('Operation input: element name -> template string (nested objects allowed)');

/** How one op (insert, update, delete) is delivered. */
export const operationSpecSchema = z.object({
  operation: z.string().optional().describe('WSDL mode: the WSDL operation to call, e.g. UpdatePermit'),
  input: inputSchema.optional().describe('WSDL mode: the operation input; default: key fields + changed fields (update), full state (insert), key fields (delete)'),
  wrap: z.string().optional().describe('WSDL mode, default input only: nest the fields under this element, e.g. Permit'),
  template: z.string().optional().describe('Template mode: XML body template (see docs/connectors/soap.md)'),
  templateFile: z.string().optional().describe('Template mode: file holding the XML body template'),
  soapAction: z.string().optional().describe('SOAPAction (1.1) / action (1.2); template mode default: empty'),
}).strict();
export type OperationSpec = z.output<typeof operationSpecSchema>;

/** Extra keys of a pipeline's `to:` block for a soap system. */
export const soapSinkSchema = z.object({
  operations: z.object({
    insert: operationSpecSchema.optional(),
    update: operationSpecSchema.optional(),
    delete: operationSpecSchema.optional(),
    upsert: operationSpecSchema.optional().describe('Used for insert and update when those are not given'),
  }).strict().describe('Per op: the WSDL operation and its input, or an XML body template'),
  faults: z.array(faultRuleSchema).default([]).describe('Fault overrides for this pipeline, checked before the system\'s'),
}).strict();
export type SoapSinkOptions = z.output<typeof soapSinkSchema>;

/** Extra keys of a pipeline's `from:` block for a soap system (WSDL mode only). */
export const soapSourceSchema = z.object({
  poll: durationSchema.default(5000).describe('Time between polls'),
  operation: z.string().describe('The WSDL operation that lists records, e.g. GetPermits'),
  input: inputSchema.default({}).describe('Its input; {{position}} is the last position ("" on a full scan), {{page}} the page'),
  rowsPath: z.string().describe('Dotted path of the records in the response, e.g. Permits.Permit'),
  emptyListMayBeMissing: z.boolean().default(false).describe('Read a full-scan response that lacks the list element (e.g. no Permits at all) as an empty list, deleting every known record. Default false: such a response is an error when records are known, so a typo in rowsPath or a glitch never deletes everything'),
  nextPagePath: z.string().optional().describe('Dotted path of the next page value in the response; absent or empty ends the scan'),
  firstPage: z.string().default('1').describe('Value of {{page}} for the first page'),
  positionField: z.string().optional().describe('Record field whose highest value becomes the next {{position}} (e.g. Seq); without it every poll is a full scan'),
  fullScanEvery: durationSchema.optional().describe('With positionField: also do a full scan this often, to see deletes (default: only at start without a position)'),
  maxPages: z.number().int().positive().default(10_000).describe('Stop a scan after this many pages (guards against a server that never ends)'),
  getByKey: z.object({
    operation: z.string(),
    input: inputSchema.describe('Operation input; {{key}} and {{keys.<field>}} are the key'),
    rowPath: z.string().describe('Dotted path of the record in the response, e.g. Permit'),
  }).strict().optional().describe('Operation that reads one record by key (reconciliation, conflict checks)'),
}).strict();
export type SoapSourceOptions = z.output<typeof soapSourceSchema>;

/**
 * The system config with its file paths (a WSDL file, TLS PEM files) resolved against
 * `baseDir` (the config file's folder; default: the working directory). URLs stay as they are.
 */
export function resolveSystemPaths(cfg: SoapSystemConfig, baseDir: string | undefined): SoapSystemConfig {
  const base = baseDir ?? process.cwd();
  const abs = (p: string): string => path.resolve(base, p);
  return {
    ...cfg,
    ...(cfg.wsdl && !/^https?:\/\//i.test(cfg.wsdl) ? { wsdl: abs(cfg.wsdl) } : {}),
    ...(cfg.tls ? { tls: { ...cfg.tls, ...(cfg.tls.cert ? { cert: abs(cfg.tls.cert) } : {}), ...(cfg.tls.key ? { key: abs(cfg.tls.key) } : {}), ...(cfg.tls.ca ? { ca: abs(cfg.tls.ca) } : {}) } } : {}),
  };
}
