/**
 * The config file's schema (zod 4, strict: unknown keys are errors). Every field has a
 * description and, where sensible, a default; scripts/gen-config-docs.ts turns these into
 * docs/config.md and schema/hms-sync.schema.json. Driver-specific keys (of `systems.<name>`
 * and of a pipeline's `from:` / `to:`) are validated by the connector's own schemas in
 * load-config.ts, so they are open here. Resolved (typed, defaulted, in ms) shapes at the end.
 */
import { z } from 'zod';
import { isDuration } from '../core/duration.js';
import { parseBackoff, type BackoffInput, type BackoffPolicy } from '../core/backoff.js';
import type { MappingSpec } from '../core/mapping.js';
import { Cron } from 'croner';

/** Why a cron expression is not valid (null when it is). */
export function cronProblem(expr: string): string | null {
  try {
    new Cron(expr, { paused: true });
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** `250ms`, `5s`, `10m`, `1h`, `1m30s`, or a number of milliseconds. */
export const durationSchema = z
  .union([z.string(), z.number().nonnegative()])
  .superRefine((v, ctx) => {
    if (!isDuration(v)) ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)}; use milliseconds as a number or a number with a unit ms, s, m, h or d (e.g. 250ms, 5s, 10m)` });
  })
  .meta({ title: 'duration', examples: ['250ms', '5s', '10m'] });

const backoffObjectSchema = z.strictObject({
  initial: durationSchema.describe('Ceiling of the first retry delay.'),
  max: durationSchema.describe('Cap of any retry delay.'),
  factor: z.number().min(1).optional().describe('Growth per attempt (default 2).'),
});

/** `exponential 1s..10m`, `exponential 1s..10m x3`, `fixed 5s`, or `{ initial, max, factor }`. */
export const backoffSchema = z.union([z.string(), backoffObjectSchema]).superRefine((v, ctx) => {
  try {
    parseBackoff(v as BackoffInput);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
}).meta({ title: 'backoff', examples: ['exponential 1s..10m', 'fixed 5s'] });

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a name is letters, digits, _ . - (starting with a letter or digit)');

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const fieldRuleSchema = z.union([
  z.string().min(1).describe('Source field name (a rename).'),
  z.strictObject({
    from: z.string().min(1).optional().describe('Source field (default: the target field\'s own name).'),
    convert: z.union([z.string(), z.array(z.string())]).optional().describe('Converter or chain of converters, applied left to right (docs/mapping.md), e.g. "date:yyyyMMdd" or [trim, "decimal:2"].'),
    values: z.record(z.string(), z.unknown()).optional().describe('Code table: legacy code -> value, applied after the converters.'),
    unknown: z.enum(['error', 'pass', 'default']).optional().describe('A code missing from `values`: error (default; the job is dead-lettered), pass it through, or use `default`.'),
    default: z.unknown().optional().describe('Value used when the source value is null or missing, and for unknown codes with `unknown: default`.'),
    expr: z.string().optional().describe('JSONata expression over the whole source record, instead of `from` (e.g. "$substring(NAME, 0, 10)").'),
    required: z.boolean().optional().describe('A null or missing value is a mapping error.'),
    omitIfNull: z.boolean().optional().describe('Leave the field out when its value is null (a field absent from the record is then accepted too).'),
    optional: z.boolean().optional().describe('The source field may be absent from a record (taken as null). Without optional, default or omitIfNull, a `from` field absent from the record is a mapping error (the job is dead-lettered naming the field), so a misspelt column never delivers null silently.'),
  }).describe('A mapping rule.'),
]);

export const mappingSchema = z.record(z.string().min(1), fieldRuleSchema)
  .describe('Target field -> source field name or rule. Leave out to copy every field as it is.');

export const endpointSchema = z.looseObject({
  system: z.string().min(1).describe('Name of a system defined under `systems`.'),
  collection: z.string().min(1).describe('Table, entity set, endpoint path or file set in that system.'),
}).describe('One end of a pipeline. Other keys are options of the system\'s driver (see the driver\'s source or sink options).');

const keyFields = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const deliverySchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(1000).default(20).describe('Attempts before a job is dead-lettered.'),
  backoff: backoffSchema.default('exponential 1s..10m').describe('Retry delay policy: exponential with full jitter and a cap ("exponential 1s..10m", "fixed 5s", or { initial, max, factor }).'),
  batchSize: z.number().int().min(1).max(10_000).default(100).describe('Jobs claimed and handed to the sink at once.'),
  lease: durationSchema.default('10s').describe('How long a claimed job stays locked to its worker without a heartbeat: a delivering worker renews it every lease/3 while the sink call runs (however long that takes), so after a crash (SIGKILL, power loss) its jobs are claimable again at most this long after it, and another running worker takes them within about 1 s more (docs/store.md, Leases and crashed workers).'),
  timeout: durationSchema.default('30s').describe('Time limit of one delivery call to the sink: then the call is cancelled, the batch waits until the call has really ended (so no older write can land after a newer one) and is retried with backoff.'),
  concurrency: z.number().int().min(1).max(1000).default(1).describe('Batches delivered in parallel for this pipeline (per-key order is kept regardless).'),
}).describe('How jobs are delivered to the target.');

export const pipelineSchema = z.strictObject({
  description: z.string().optional().describe('Free text for people.'),
  enabled: z.boolean().default(true).describe('Set false to keep the pipeline in the file without running it.'),
  from: endpointSchema.describe('The source: `{ system, collection, ...source options of its driver }`.'),
  to: endpointSchema.describe('The target: `{ system, collection, ...sink options of its driver }`.'),
  key: keyFields.describe('Key field(s) in the source\'s naming: one name or a list.'),
  targetKey: keyFields.optional().describe('Key field(s) in the target\'s naming (default: the target names the mapping gives the key fields).'),
  map: mappingSchema.nullable().optional().describe('Target field -> source field name or rule (docs/mapping.md). Leave out to copy every field as it is.'),
  debounce: durationSchema.default(0).describe('Trailing debounce window: edits to one key within it are delivered as one delta.'),
  maxWait: durationSchema.optional().describe('Cap of the trailing debounce for a key that keeps changing (default 10 x debounce).'),
  linger: durationSchema.default('5ms').describe('Under load, commits of source batches and claims of jobs are spaced at least this far apart, so each carries more changes (fewer store transactions and sink requests per change); a change arriving after a quiet spell is not delayed. 0 turns it off (default 5ms).'),
  delivery: deliverySchema.prefault({}),
  reconcile: z.strictObject({
    ignore: z.array(z.string().min(1)).default([]).describe('Target fields left out of the comparison (besides the fields the mapping does not write, which are never compared).'),
    settle: durationSchema.optional().describe('How long a key that is changing (a job pending or running, or a change seen within this window) is given before it is confirmed as a discrepancy (default: debounce + 2 x the p99 delivery time, 1s..5m).'),
    emptyIsNull: z.boolean().default(false).describe('Count empty (or all-space) text as null when comparing.'),
    schedule: z.string().min(1).refine((s) => cronProblem(s) === null, { error: (i) => `not a cron expression: ${cronProblem(String(i.input))}; e.g. "0 2 * * *" (02:00 every day)` }).optional().describe('Run the reconciliation on this cron schedule while `hms-sync run` runs (5 fields, or 6 with seconds first; e.g. "0 2 * * *").'),
    timezone: z.string().min(1).refine((tz) => { try { new Intl.DateTimeFormat('en', { timeZone: tz }); return true; } catch { return false; } }, { error: (i) => `unknown time zone ${JSON.stringify(i.input)}; use an IANA name such as Europe/Berlin or UTC` }).optional().describe('Time zone of the schedule (IANA name; default: the machine\'s).'),
    autoRepair: z.boolean().default(false).describe('Repair the discrepancies a run finds without a person (through the pipeline, audited as auto-repair), unless more than maxAutoRepair of the rows differ.'),
    maxAutoRepair: z.union([z.number().int().min(0), z.string().regex(/^\d+(\.\d+)?%$/, 'a percentage such as "1%" or a number of rows')]).default('1%').describe('The auto-repair guard: when more rows than this differ (a number of rows, or a percentage of the larger side), nothing is repaired and the run is reported as refused: a broken mapping must not rewrite a whole table.'),
  }).prefault({}).describe('Reconciliation of this pipeline (docs/reconcile.md).'),
}).describe('One direction: a source collection to a target collection.');

export const systemSchema = z.looseObject({
  driver: z.string().min(1).describe('The connector (sqlite, http, soap...); its other keys are documented per driver.'),
}).describe('A named external system.');

export const configSchema = z.strictObject({
  $schema: z.string().optional().describe('Path or URL of the JSON Schema, for editors.'),
  plugins: z.array(z.string().min(1)).default([]).describe('Connector plug-in modules to load before validation (paths relative to this file, or package names); `hms-sync new <system>` scaffolds one.'),
  store: z.string().default('sqlite:./.hms-sync/state.db').describe('State store: `sqlite:<path>` (embedded, relative to the config file) or a `postgres://` URL.'),
  stateDir: z.string().default('./.hms-sync').describe('Directory for local state (relative to the config file).'),
  sourceFailAfter: durationSchema.default('5m').describe('A source that keeps failing this long counts as failed: `hms-sync status` exits non-zero (it is still retried).'),
  log: z.strictObject({
    level: z.enum(LOG_LEVELS).default('info').describe('Log level.'),
  }).prefault({}).describe('Logging.'),
  server: z.strictObject({
    enabled: z.boolean().default(false).describe('Reserved for the HTTP API and dashboard, which are not built yet: `true` only logs a warning.'),
    host: z.string().default('127.0.0.1').describe('Interface to listen on.'),
    port: z.number().int().min(0).max(65_535).default(8750).describe('TCP port.'),
  }).prefault({}).describe('HTTP API and dashboard (planned; not built yet).'),
  systems: z.record(name, systemSchema).default({}).describe('Named external systems: `<name>: { driver, ...driver keys }`.'),
  pipelines: z.record(name, pipelineSchema).default({}).describe('Named pipelines: `<name>: { from, to, key, map, ... }`.'),
}).describe('hms-sync configuration.');

/** The config file as written (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The config after schema defaults (durations still as written). */
export type ConfigParsed = z.output<typeof configSchema>;

/** One problem found in a config file; all are collected, not just the first. */
export interface ConfigIssue {
  file?: string;
  /** 1-based. */
  line?: number;
  /** 1-based. */
  column?: number;
  /** Field path, e.g. `pipelines.bridge.map.status.convert`. */
  path: string;
  message: string;
}

export interface ResolvedSystem {
  name: string;
  driver: string;
  /** Parsed by the driver's systemSchema (without `driver`). */
  config: unknown;
}

export interface ResolvedEndpoint {
  system: string;
  collection: string;
  /** Extra keys parsed by the driver's sourceSchema / sinkSchema ({} when it has none). */
  options: unknown;
}

export interface ResolvedDelivery {
  maxAttempts: number;
  backoff: BackoffPolicy;
  batchSize: number;
  leaseMs: number;
  timeoutMs: number;
  concurrency: number;
}

export interface ResolvedPipeline {
  name: string;
  enabled: boolean;
  description?: string;
  from: ResolvedEndpoint;
  to: ResolvedEndpoint;
  /** Source key fields. */
  key: string[];
  /** Target key fields (same length as key). */
  targetKey: string[];
  /** null = identity mapping. */
  map: MappingSpec | null;
  debounceMs: number;
  maxWaitMs: number;
  /** Least spacing of capture commits and of claims under load (ms). */
  lingerMs: number;
  delivery: ResolvedDelivery;
  reconcile: { ignore: string[]; settleMs?: number; emptyIsNull: boolean; schedule?: string; timezone?: string; autoRepair: boolean; maxAutoRepair: number | string };
}

export interface ResolvedConfig {
  /** Absolute path of the config file, when loaded from one. */
  file?: string;
  /** Absolute directory that relative paths in the config resolve against (the file's directory). Connectors with file paths in their options resolve them against it. */
  baseDir: string;
  /** `sqlite:/abs/path.db` or a postgres URL. */
  store: string;
  /** Absolute directory. */
  stateDir: string;
  logLevel: string;
  /** A source retrying this long (ms) counts as failed (`sourceFailAfter`, default 5 minutes). */
  sourceFailAfterMs: number;
  server: { enabled: boolean; host: string; port: number };
  systems: Record<string, ResolvedSystem>;
  pipelines: Record<string, ResolvedPipeline>;
}
