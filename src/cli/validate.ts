import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { locateConfigPath, nothingToRunIssue, parseConfig } from '../config/load-config.js';
import type { ConfigIssue, ResolvedConfig, ResolvedPipeline } from '../config/schema.js';
import { checkStore, type StoreCheck } from '../config/store-check.js';
import type { SourceDescription } from '../connectors/contract.js';
import { getConnector } from '../connectors/registry.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { sourceFieldRefs } from '../core/mapping.js';
import { didYouMean } from '../core/suggest.js';
import { printJson, resolveConfigFile } from './common.js';
import { EXIT } from './exit-codes.js';
import { loadPluginsFromFile } from '../config/plugins.js';

interface SystemResult { name: string; driver: string; ok: boolean; error?: string }
interface SourceResult { pipeline: string; system: string; ok: boolean; error?: string; warnings: string[]; /** Where the record fields were read; absent when the source cannot describe them. */ fieldsFrom?: string }
/** A mapping or key field the source's records do not have. */
interface FieldFinding { pipeline: string; file: string; line?: number; column?: number; path: string; field: string; severity: 'error' | 'warning'; message: string }

const MAX_LISTED = 30;

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('validate')
    .description('Check a configuration strictly (unknown keys, wrong types, unknown systems), the state store, each system\'s connection, each pipeline\'s source, and the mapping\'s field names against the source\'s real columns')
    .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
    .option('--no-connect', 'only check the file; do not contact the systems or the store')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExit codes: 0 valid and every check passed; 3 configuration errors (in the file, nothing to run, or a mapped or key field the source does not have); 4 the store, a system or a pipeline\'s source failed its check (unreachable, not writable, PostgreSQL at wal_level = replica for mode: logical, a missing table, the MariaDB binlog off...).\n')
    .action(async (configArg: string | undefined, opts: { connect: boolean; json?: boolean }) => {
      const file = resolveConfigFile(configArg);
      await loadPluginsFromFile(file);
      const text = readConfigText(file);
      const { config, issues } = parseConfig(text, { file, env: process.env });
      // the same verdict as `run` on a file with nothing to run (an empty file included)
      const idle = config ? nothingToRunIssue(config) : null;
      if (idle) issues.push({ ...idle, ...locateConfigPath(text, ['pipelines'], true) });
      const valid = issues.length === 0;

      let store: StoreCheck | undefined;
      const systems: SystemResult[] = [];
      const sources: SourceResult[] = [];
      const fields: FieldFinding[] = [];
      if (config && valid && opts.connect) {
        store = await checkStore(config.store).catch((e: unknown) => ({ store: config.store, ok: false, message: errorMessage(e), expected: 0 }));
        for (const s of Object.values(config.systems)) {
          try {
            await getConnector(s.driver).testConnection(s.config, { logger: silentLogger(), system: s.name, baseDir: config.baseDir });
            systems.push({ name: s.name, driver: s.driver, ok: true });
          } catch (err) {
            systems.push({ name: s.name, driver: s.driver, ok: false, error: errorMessage(err) });
          }
        }
        for (const p of Object.values(config.pipelines)) {
          const r = await checkPipelineSource(config, p, systems);
          if (!r) continue;
          sources.push(r.result);
          if (r.description) fields.push(...checkFields(text, file, p, r.description));
        }
      }

      const fieldErrors = fields.filter((f) => f.severity === 'error');
      const failedChecks = (store && !store.ok ? 1 : 0) + systems.filter((s) => !s.ok).length + sources.filter((s) => !s.ok).length;
      const ok = valid && failedChecks === 0 && fieldErrors.length === 0;
      if (opts.json) printJson({ file, ok, valid, issues, store: store ?? null, systems, sources, fields });
      else printHuman({ file, config, issues, store, systems, sources, fields, valid, ok, connect: opts.connect, failedChecks, fieldErrors: fieldErrors.length });
      setCode(!valid || fieldErrors.length ? EXIT.CONFIG : failedChecks ? EXIT.UNREACHABLE : EXIT.OK);
    });
}

/** A pipeline's source check (where its connector has one and its system answered), and the fields its records have. */
async function checkPipelineSource(config: ResolvedConfig, p: ResolvedPipeline, systems: SystemResult[]): Promise<{ result: SourceResult; description: SourceDescription | null } | null> {
  const sys = config.systems[p.from.system];
  const connector = sys ? getConnector(sys.driver) : undefined;
  if (!sys || !connector || (!connector.checkSource && !connector.describeSource) || !systems.find((s) => s.name === sys.name)?.ok) return null;
  const ctx = { system: sys.name, systemConfig: sys.config, collection: p.from.collection, options: p.from.options, keyFields: p.key, logger: silentLogger(), baseDir: config.baseDir };
  let warnings: string[] = [];
  try {
    if (connector.checkSource) warnings = await connector.checkSource(ctx);
  } catch (err) {
    return { result: { pipeline: p.name, system: sys.name, ok: false, error: errorMessage(err), warnings: [] }, description: null };
  }
  let description: SourceDescription | null = null;
  try {
    description = connector.describeSource ? await connector.describeSource(ctx) : null;
  } catch (err) {
    warnings.push(`the fields of its records could not be read, so the mapping's field names are not checked: ${errorMessage(err)}`);
  }
  return { result: { pipeline: p.name, system: sys.name, ok: true, warnings, ...(description ? { fieldsFrom: description.from } : {}) }, description };
}

/** Every key, `from` and expression field name of a pipeline that its source's records do not have, with a did-you-mean. */
function checkFields(text: string, file: string, p: ResolvedPipeline, d: SourceDescription): FieldFinding[] {
  const have = new Set(d.fields);
  const listed = d.fields.length > MAX_LISTED ? `${d.fields.slice(0, MAX_LISTED).join(', ')}, ... (${d.fields.length} in all)` : d.fields.join(', ') || 'none';
  const out: FieldFinding[] = [];
  const add = (fieldPath: Array<string | number>, field: string, severity: 'error' | 'warning', what: string, atKey = false) => {
    const hint = didYouMean(field, d.fields);
    const tail = severity === 'warning' ? ' (the rule says it may be absent, so records map it to null or its default)' : '';
    out.push({
      pipeline: p.name, file, ...locateConfigPath(text, fieldPath, atKey), path: fieldPath.filter((x) => typeof x === 'string').join('.'), field, severity,
      message: `${what} "${field}", which is not in ${d.from}${hint}; the fields are ${listed}${tail}`,
    });
  };
  p.key.forEach((k, i) => {
    if (!have.has(k)) add(['pipelines', p.name, 'key', ...(p.key.length > 1 ? [i] : [])], k, 'error', 'the key field is');
  });
  for (const ref of sourceFieldRefs(p.map)) {
    if (have.has(ref.field)) continue;
    const at = ['pipelines', p.name, 'map', ...ref.path];
    const what = ref.via === 'expr' ? 'the expression reads' : ref.via === 'target' ? `the rule has no \`from\`, so it reads the source field of its own name,` : 'the source field is';
    add(at, ref.field, ref.optional ? 'warning' : 'error', what, ref.via === 'target');
  }
  return out;
}

function printHuman(r: {
  file: string; config: ResolvedConfig | null; issues: ConfigIssue[]; store?: StoreCheck; systems: SystemResult[]; sources: SourceResult[]; fields: FieldFinding[];
  valid: boolean; ok: boolean; connect: boolean; failedChecks: number; fieldErrors: number;
}): void {
  const w = (line: string) => process.stdout.write(`${line}\n`);
  const at = (i: { file?: string; line?: number; column?: number }) => `${i.file ?? r.file}${i.line ? `:${i.line}${i.column ? `:${i.column}` : ''}` : ''}`;
  for (const i of r.issues) w(`${at(i)} ${i.path || '(root)'}: ${i.message}`);
  if (r.store) w(`${r.store.ok ? 'ok     ' : 'FAILED '} store: ${r.store.message}`);
  for (const s of r.systems) w(`${s.ok ? 'ok     ' : 'FAILED '} system ${s.name} (${s.driver})${s.error ? `: ${s.error}` : ''}`);
  for (const s of r.sources) {
    w(`${s.ok ? 'ok     ' : 'FAILED '} source of pipeline ${s.pipeline} (system ${s.system})${s.error ? `: ${s.error}` : ''}${s.ok ? (s.fieldsFrom ? `; mapping fields checked against ${s.fieldsFrom}` : '; its record fields cannot be described, mapping fields not checked') : ''}`);
    for (const x of s.warnings) w(`warning source of pipeline ${s.pipeline}: ${x}`);
  }
  for (const f of r.fields) w(`${f.severity === 'error' ? 'FAILED ' : 'warning'} ${at(f)} ${f.path}: ${f.message}`);
  const counts = r.config ? `${Object.keys(r.config.pipelines).length} pipelines, ${Object.keys(r.config.systems).length} systems` : '';
  if (!r.valid) w(`${r.file}: ${r.issues.length} error${r.issues.length === 1 ? '' : 's'}`);
  else if (!r.ok) {
    const parts = [r.fieldErrors ? `${r.fieldErrors} mapping or key field${r.fieldErrors === 1 ? '' : 's'} the source does not have` : '', r.failedChecks ? `${r.failedChecks} check${r.failedChecks === 1 ? '' : 's'} failed` : ''].filter(Boolean);
    w(`${r.file}: the file is well-formed (${counts}), but ${parts.join(' and ')}`);
  } else w(`${r.file}: configuration is valid (${counts})${r.connect ? '' : '; the store, the connections and the sources\' fields not checked (--no-connect)'}`);
}

/** The config file's text; a missing or unreadable file is a ConfigError (exit 3), not a crash. */
function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ConfigError(code === 'ENOENT' ? `config file ${file} not found` : `cannot read config file ${file}: ${(e as Error).message}`, { file, cause: e });
  }
}
