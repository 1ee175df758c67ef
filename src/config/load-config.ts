/**
 * Load a YAML config: parse (keeping positions), substitute `${env:NAME}`, validate against
 * the strict schema and each driver's own schemas, compile mappings, then resolve defaults,
 * durations and relative paths. Every problem is collected and reported as
 * `file:line:col path: message`; nothing falls back silently to a default.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import { parseBackoff, type BackoffInput } from '../core/backoff.js';
import { checkMapping, compileMapping, type MappingSpec } from '../core/mapping.js';
import { redactUrl } from '../core/log.js';
import { didYouMean } from '../core/suggest.js';
import { getConnector, hasConnector, listConnectors, listDrivers } from '../connectors/registry.js';
import { configSchema, type ConfigIssue, type ConfigParsed, type ResolvedConfig, type ResolvedPipeline, type ResolvedSystem } from './schema.js';
import { protectEnvRefs, substituteEnvInDocument, type Env } from './env.js';
import { explainZodIssues, type PathSeg, type PlainIssue } from './zod-issues.js';

export interface ParseConfigOptions {
  /** File name used in messages (and, resolved, as the base of relative paths). */
  file?: string;
  /** Variables for `${env:NAME}` (default: process.env). */
  env?: Env;
  /** Base directory of relative paths when there is no file (default: the working directory). */
  baseDir?: string;
}

/**
 * Parse and validate config text. Collects every issue instead of stopping at the first.
 * @returns the resolved config, or null with the issues (sorted by line).
 */
export function parseConfig(text: string, opts: ParseConfigOptions = {}): { config: ResolvedConfig | null; issues: ConfigIssue[] } {
  const lineCounter = new LineCounter();
  const protectedText = protectEnvRefs(text);
  const doc = parseDocument(protectedText.text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const locate = (offset: number | undefined) => (offset === undefined ? {} : { line: lineCounter.linePos(offset).line, column: lineCounter.linePos(offset).col });
  const syntax = [...doc.errors, ...doc.warnings.filter((w) => w.code !== 'TAG_RESOLVE_FAILED')];
  if (doc.errors.length) {
    const issues = syntax.map((e) => ({
      file: opts.file,
      line: e.linePos?.[0].line,
      column: e.linePos?.[0].col,
      path: '',
      message: `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
    }));
    return { config: null, issues };
  }
  const { problems, fromEnv } = substituteEnvInDocument(doc, opts.env ?? process.env, protectedText.placeholders);
  const issues: ConfigIssue[] = problems.map((p) => ({ file: opts.file, ...locate(p.offset), path: formatPath(p.path), message: p.message }));
  const raw = (doc.toJS({ maxAliasCount: 100 }) ?? {}) as unknown;
  const isSecret = (p: PathSeg[]) => fromEnv.has(p.join('.'));
  // a field whose ${env:...} is unset was already reported; its empty value failing the schema is noise
  const envBad = new Set(issues.map((i) => i.path));
  const add = (list: PlainIssue[]) => {
    for (const i of list) if (!envBad.has(formatPath(i.path))) issues.push({ file: opts.file, ...locate(offsetOf(doc, i.path, i.atKey === true)), path: formatPath(i.path), message: i.message });
  };

  const parsed = configSchema.safeParse(raw, { reportInput: true });
  const schemaIssues = parsed.success ? [] : explainZodIssues(parsed.error.issues, configSchema, [], isSecret);
  add(schemaIssues);
  const bad = new Set(schemaIssues.map((i) => formatPath(i.path)));
  const badUnder = (p: PathSeg[]) => {
    const s = formatPath(p);
    return [...bad].some((b) => b === s || b.startsWith(`${s}.`) || b.startsWith(`${s}[`) || s.startsWith(`${b}.`));
  };

  const semantic = checkSemantics(isObject(raw) ? raw : {}, isSecret, badUnder);
  add(semantic.issues);
  if (issues.length || !parsed.success) return { config: null, issues: sortIssues(issues) };
  const baseDir = opts.file ? path.dirname(path.resolve(opts.file)) : path.resolve(opts.baseDir ?? process.cwd());
  return { config: resolve(parsed.data, semantic, baseDir, opts.file), issues: [] };
}

/**
 * Read, parse and validate a config file.
 * @throws ConfigError whose message lists every issue as `file:line:col path: message`.
 */
export async function loadConfig(file: string, opts: Omit<ParseConfigOptions, 'file'> = {}): Promise<ResolvedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ConfigError(code === 'ENOENT' ? `config file ${file} not found` : `cannot read config file ${file}: ${(e as Error).message}`, { file, cause: e });
  }
  const { config, issues } = parseConfig(text, { ...opts, file });
  if (!config) throw configError(issues);
  return config;
}

/**
 * Line and column (1-based) of the node at a field path in config text (of its key with
 * `atKey`), else of its nearest existing parent; `{}` when the text does not parse.
 */
export function locateConfigPath(text: string, fieldPath: PathSeg[], atKey = false): { line?: number; column?: number } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(protectEnvRefs(text).text, { lineCounter, uniqueKeys: false });
  if (doc.errors.length) return {};
  const offset = offsetOf(doc, fieldPath, atKey);
  if (offset === undefined) return {};
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/**
 * Why a valid config gives `run` nothing to do (no pipelines, or none enabled), or null. `run`
 * and `validate` give the same verdict on it (exit 3).
 */
export function nothingToRunIssue(config: ResolvedConfig): ConfigIssue | null {
  if (Object.values(config.pipelines).some((p) => p.enabled)) return null;
  const n = Object.keys(config.pipelines).length;
  return {
    ...(config.file !== undefined ? { file: config.file } : {}),
    path: 'pipelines',
    message: `${config.file ?? 'the configuration'} has ${n ? `no enabled pipelines (${n} with enabled: false)` : 'no pipelines'}: nothing to run; add one under \`pipelines:\` (docs/config.md)`,
  };
}

/** One issue as `file:line:col path: message`. */
export function formatConfigIssue(i: ConfigIssue): string {
  const where = [i.file ?? 'config', i.line, i.column].filter((x) => x !== undefined).join(':');
  return `${where} ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/** A ConfigError listing every issue, one per line (`details.issues` holds them as data). */
export function configError(issues: ConfigIssue[]): ConfigError {
  const first = issues[0];
  return new ConfigError(issues.map(formatConfigIssue).join('\n'), { file: first?.file, line: first?.line, path: first?.path, details: { issues } });
}

// ---------------------------------------------------------------------------------------

interface Semantics {
  issues: PlainIssue[];
  systems: Record<string, ResolvedSystem>;
  options: Record<string, { from: unknown; to: unknown; targetKey?: string[] }>;
}

type Obj = Record<string, unknown>;

function checkSemantics(raw: Obj, isSecret: (p: PathSeg[]) => boolean, badUnder: (p: PathSeg[]) => boolean): Semantics {
  const issues: PlainIssue[] = [];
  const out: Semantics = { issues, systems: {}, options: {} };
  const drivers = () => (listDrivers().length ? `registered drivers are ${listDrivers().join(', ')}` : 'no drivers are registered');

  if (typeof raw.store === 'string' && !/^(sqlite:|postgres(ql)?:\/\/)/.test(raw.store)) {
    issues.push({ path: ['store'], message: `unknown store ${JSON.stringify(redactUrl(raw.store))}; use sqlite:<path> (e.g. sqlite:./.hms-sync/state.db) or a postgres:// URL` });
  }

  const systems = isObject(raw.systems) ? raw.systems : {};
  const driverOf: Record<string, string | undefined> = {};
  for (const [name, sys] of Object.entries(systems)) {
    if (!isObject(sys) || typeof sys.driver !== 'string') continue;
    driverOf[name] = sys.driver;
    if (!hasConnector(sys.driver)) {
      issues.push({ path: ['systems', name, 'driver'], message: `unknown driver ${JSON.stringify(sys.driver)}${didYouMean(sys.driver, listDrivers())}; ${drivers()}` });
      continue;
    }
    const desc = getConnector(sys.driver);
    const { driver: _driver, ...rest } = sys;
    const r = safeParse(desc.systemSchema, rest);
    if ('thrown' in r) issues.push({ path: ['systems', name], message: `driver "${sys.driver}" failed to validate its keys: ${r.thrown}` });
    else if (r.success) out.systems[name] = { name, driver: sys.driver, config: r.data };
    else issues.push(...explainZodIssues(r.error.issues, desc.systemSchema, ['systems', name], isSecret));
  }
  const systemNames = Object.keys(systems);

  const pipelines = isObject(raw.pipelines) ? raw.pipelines : {};
  for (const [pname, p] of Object.entries(pipelines)) {
    if (!isObject(p)) continue;
    const base: PathSeg[] = ['pipelines', pname];
    const opts: { from: unknown; to: unknown; targetKey?: string[] } = { from: {}, to: {} };
    out.options[pname] = opts;
    for (const end of ['from', 'to'] as const) {
      const e = p[end];
      if (!isObject(e) || typeof e.system !== 'string') continue;
      const role = end === 'from' ? 'source' : 'sink';
      if (!(e.system in systems)) {
        issues.push({ path: [...base, end, 'system'], message: `unknown system ${JSON.stringify(e.system)}${didYouMean(e.system, systemNames)}; ${systemNames.length ? `defined systems are ${systemNames.join(', ')}` : 'no systems are defined under `systems`'}` });
        continue;
      }
      const driver = driverOf[e.system];
      if (!driver || !hasConnector(driver)) continue;
      const desc = getConnector(driver);
      if (!(role === 'source' ? desc.createSource : desc.createSink)) {
        const able = listConnectors().filter((d) => (role === 'source' ? d.createSource : d.createSink)).map((d) => d.driver).sort();
        issues.push({ path: [...base, end, 'system'], message: `system "${e.system}" (driver "${driver}") cannot be a ${role}; drivers that can: ${able.join(', ') || 'none registered'}` });
        continue;
      }
      const { system: _s, collection: _c, ...extra } = e;
      const schema = role === 'source' ? desc.sourceSchema : desc.sinkSchema;
      if (schema) {
        const r = safeParse(schema as z.ZodType, extra);
        if ('thrown' in r) issues.push({ path: [...base, end], message: `driver "${driver}" failed to validate its ${role} options: ${r.thrown}` });
        else if (r.success) opts[end] = r.data;
        else issues.push(...explainZodIssues(r.error.issues, schema as z.ZodType, [...base, end], isSecret));
      } else {
        for (const k of Object.keys(extra)) {
          issues.push({ path: [...base, end, k], atKey: true, message: `unknown key "${k}"; driver "${driver}" has no ${role} options (valid keys are system, collection)` });
        }
      }
    }

    const keyList = toList(p.key);
    let mapping: ReturnType<typeof compileMapping> | null = null;
    if (isObject(p.map)) {
      // Check the fields the schema accepted, so every field's problems are reported at once.
      const sound = Object.fromEntries(Object.entries(p.map).filter(([f]) => !badUnder([...base, 'map', f])));
      const found = Object.keys(p.map).length && !Object.keys(sound).length ? [] : checkMapping(sound);
      for (const i of found) issues.push({ path: [...base, 'map', ...i.path], message: i.message, atKey: i.path.length === 1 });
      if (!found.length && !badUnder([...base, 'map'])) mapping = compileMapping(p.map as MappingSpec, { pipeline: pname });
    }
    if (keyList) {
      const tk = toList(p.targetKey);
      if (tk) {
        if (tk.length !== keyList.length) issues.push({ path: [...base, 'targetKey'], message: `targetKey has ${tk.length} field(s) but key has ${keyList.length}; give one target field per key field` });
        opts.targetKey = tk;
      } else if (mapping || p.map === undefined || p.map === null) {
        const m = mapping ?? compileMapping(null);
        const mapped = keyList.map((k) => m.targetFieldFor(k));
        keyList.forEach((k, i) => {
          if (mapped[i] === undefined) {
            issues.push({ path: [...base, 'key'], message: `key field "${k}" is not mapped to any target field (map: ${m.fields.join(', ')}); map it by name or set targetKey` });
          }
        });
        opts.targetKey = mapped.filter((x): x is string => x !== undefined);
      }
    }
    if (!badUnder([...base, 'debounce']) && !badUnder([...base, 'maxWait']) && p.maxWait !== undefined) {
      const d = parseDuration((p.debounce ?? 0) as string | number);
      const w = parseDuration(p.maxWait as string | number);
      if (w < d) issues.push({ path: [...base, 'maxWait'], message: `maxWait (${w} ms) is shorter than debounce (${d} ms); it must be at least the debounce window` });
    }
    // a scheduled reconciliation reads both sides: say now when one cannot be read
    const rec = p.reconcile as { schedule?: unknown; autoRepair?: unknown } | undefined;
    if (rec && (rec.schedule !== undefined || rec.autoRepair === true)) {
      for (const end of ['from', 'to'] as const) {
        const driver = (systems[(p[end] as { system?: string } | undefined)?.system ?? ''] as { driver?: string } | undefined)?.driver;
        if (driver && hasConnector(driver) && !getConnector(driver).createReader) {
          issues.push({ path: [...base, 'reconcile', rec.schedule !== undefined ? 'schedule' : 'autoRepair'], message: `reconciliation reads both sides, and the ${end === 'from' ? 'source' : 'target'} system "${(p[end] as { system: string }).system}" (driver "${driver}") cannot be read; remove the schedule or reconcile a pipeline whose systems have a Reader` });
        }
      }
    }
  }
  return out;
}

function resolve(data: ConfigParsed, sem: Semantics, baseDir: string, file: string | undefined): ResolvedConfig {
  const abs = (p: string) => path.resolve(baseDir, p);
  const store = data.store.startsWith('sqlite:') && !/^sqlite::memory:?$/.test(data.store) ? `sqlite:${abs(data.store.slice('sqlite:'.length))}` : data.store;
  const pipelines: Record<string, ResolvedPipeline> = {};
  for (const [name, p] of Object.entries(data.pipelines)) {
    const opts = sem.options[name]!;
    const debounceMs = parseDuration(p.debounce);
    pipelines[name] = {
      name,
      enabled: p.enabled,
      ...(p.description !== undefined ? { description: p.description } : {}),
      from: { system: p.from.system, collection: p.from.collection, options: opts.from },
      to: { system: p.to.system, collection: p.to.collection, options: opts.to },
      key: toList(p.key)!,
      targetKey: opts.targetKey!,
      map: (p.map ?? null) as MappingSpec | null,
      debounceMs,
      maxWaitMs: p.maxWait !== undefined ? parseDuration(p.maxWait) : debounceMs * 10,
      lingerMs: parseDuration(p.linger),
      delivery: {
        maxAttempts: p.delivery.maxAttempts,
        backoff: parseBackoff(p.delivery.backoff as BackoffInput),
        batchSize: p.delivery.batchSize,
        leaseMs: parseDuration(p.delivery.lease),
        timeoutMs: parseDuration(p.delivery.timeout),
        concurrency: p.delivery.concurrency,
      },
      reconcile: { ignore: p.reconcile.ignore, ...(p.reconcile.settle !== undefined ? { settleMs: parseDuration(p.reconcile.settle) } : {}), emptyIsNull: p.reconcile.emptyIsNull, ...(p.reconcile.schedule !== undefined ? { schedule: p.reconcile.schedule } : {}), ...(p.reconcile.timezone !== undefined ? { timezone: p.reconcile.timezone } : {}), autoRepair: p.reconcile.autoRepair, maxAutoRepair: p.reconcile.maxAutoRepair },
    };
  }
  return {
    ...(file !== undefined ? { file: path.resolve(file) } : {}),
    baseDir,
    store,
    stateDir: abs(data.stateDir),
    logLevel: data.log.level,
    sourceFailAfterMs: parseDuration(data.sourceFailAfter),
    server: { ...data.server },
    systems: sem.systems,
    pipelines,
  };
}

/** Character offset of the node at `path` (or of its key), else of the nearest existing parent. */
function offsetOf(doc: Document, p: PathSeg[], atKey: boolean): number | undefined {
  for (let n = p.length; n >= 0; n--) {
    const sub = p.slice(0, n);
    if (atKey && n === p.length && n > 0) {
      const parent = sub.length > 1 ? doc.getIn(sub.slice(0, -1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((it) => (isScalar(it.key) ? String(it.key.value) : String(it.key)) === String(sub.at(-1)));
        if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
      }
      continue;
    }
    const node = n === 0 ? doc.contents : doc.getIn(sub, true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return range[0];
  }
  return undefined;
}

function formatPath(p: readonly PathSeg[]): string {
  return p.reduce<string>((s, seg) => (typeof seg === 'number' ? `${s}[${seg}]` : s ? `${s}.${seg}` : String(seg)), '');
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues
    .filter((i) => {
      const k = `${i.line}:${i.column}:${i.path}:${i.message}`;
      return seen.has(k) ? false : (seen.add(k), true);
    })
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/** A connector's schema might be async or throw: that is reported, never a crash. */
function safeParse(schema: z.ZodType, value: unknown): ReturnType<z.ZodType['safeParse']> | { thrown: string } {
  try {
    return schema.safeParse(value, { reportInput: true });
  } catch (e) {
    return { thrown: e instanceof Error ? e.message : String(e) };
  }
}

function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function toList(v: unknown): string[] | undefined {
  if (typeof v === 'string' && v) return [v];
  if (Array.isArray(v) && v.length && v.every((x) => typeof x === 'string' && x)) return v as string[];
  return undefined;
}
