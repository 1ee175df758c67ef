/**
 * Mapping: source record -> target record. Renames, converter chains, code tables with a
 * declared behaviour for unknown codes, defaults, and JSONata expressions for the rest.
 * Compiled once (bad converters / expressions are ConfigErrors naming the field); applying
 * it is pure except for JSONata's async evaluate. A failure on a record is a MappingError
 * naming the target field, the source field and the bad value; the engine dead-letters
 * that one job. See docs/mapping.md.
 */
import jsonata from 'jsonata';
import { ConfigError, MappingError } from './errors.js';
import { compileConverterChain, convertValue } from './converters.js';
import type { Doc } from './types.js';
import { didYouMean } from './suggest.js';

/** What to do with a code that is not in `values`. */
export type UnknownCodePolicy = 'error' | 'pass' | 'default';

export interface FieldRuleObject {
  /** Source field (default: the target field's own name). */
  from?: string;
  /** Converter spec or chain, applied left to right (see converters.ts). */
  convert?: string | string[];
  /** Code table: source code (as text) -> target value. Applied after the converters. */
  values?: Record<string, unknown>;
  /** A code not in `values`: `error` (default), `pass` it through unchanged, or use `default`. */
  unknown?: UnknownCodePolicy;
  /** Used when the value is null or missing, and for unknown codes with `unknown: default`. */
  default?: unknown;
  /** JSONata expression over the whole source record, instead of `from`. */
  expr?: string;
  /** A null or missing value is a MappingError. */
  required?: boolean;
  /** Leave the field out of the target record when its value is null. */
  omitIfNull?: boolean;
  /**
   * The source field may be absent from a record (it is then taken as null). Without it (or a
   * `default` or `omitIfNull`), a `from` field missing from the record is a MappingError: a
   * misspelt column must not deliver null silently.
   */
  optional?: boolean;
}

/** A source field name (a rename) or a full rule. */
export type FieldRule = string | FieldRuleObject;

/** Target field name -> rule. */
export type MappingSpec = Record<string, FieldRule>;

export interface CompiledMapping {
  /** Map one source record to a target record. Throws MappingError. */
  apply(doc: Doc): Promise<Doc>;
  /** The target field fed by a source field (renames and `from` rules), if any. */
  targetFieldFor(sourceField: string): string | undefined;
  /** The source field feeding a target field (undefined for expressions). */
  sourceFieldFor(targetField: string): string | undefined;
  /** Target field names, in spec order (empty for the identity mapping). */
  fields: string[];
  /** True for the identity mapping (no spec: all fields copied as they are). */
  identity: boolean;
}

/** A compile-time problem; `path` is relative to the mapping (`["status", "convert"]`). */
export interface MappingIssue {
  path: string[];
  message: string;
}

const RULE_KEYS = ['from', 'convert', 'values', 'unknown', 'default', 'expr', 'required', 'omitIfNull', 'optional'] as const;
const POLICIES: UnknownCodePolicy[] = ['error', 'pass', 'default'];
const MAX_LISTED_CODES = 20;
/**
 * Guardrails per evaluation of one record: a runaway expression (endless recursion, which JSONata
 * turns into an endless loop by tail-call optimisation) would otherwise never settle and starve
 * the whole process, signals included. Past them it is a MappingError for that record only.
 */
export const EXPR_LIMITS = { timeout: 1000, stack: 10_000 } as const;
/** The limits of one mapping's expressions (default {@link EXPR_LIMITS}); tests give each limit alone. */
export interface ExprLimits { timeout: number; stack: number }

interface Compiled {
  target: string;
  from?: string;
  expr?: jsonata.Expression;
  exprText?: string;
  chain?: ReturnType<typeof compileConverterChain>;
  values?: Record<string, unknown>;
  unknown: UnknownCodePolicy;
  hasDefault: boolean;
  default: unknown;
  required: boolean;
  omitIfNull: boolean;
  /** The source field may be absent (`optional`, `default` or `omitIfNull`). */
  mayBeAbsent: boolean;
}

/**
 * Compile a mapping spec. `null`/`undefined` is the identity mapping (all fields copied).
 * @throws ConfigError listing every problem (unknown converters, bad JSONata...) by field.
 * @example
 * const m = compileMapping({ bridgeId: 'BRG_ID', nextDate: { from: 'NEXT_INSP_DT', convert: 'date:yyyyMMdd' } });
 * await m.apply({ BRG_ID: 'B1', NEXT_INSP_DT: '20240301' }) // { bridgeId: 'B1', nextDate: '2024-03-01' }
 */
export function compileMapping(spec: MappingSpec | null | undefined, opts: { pipeline?: string; limits?: ExprLimits } = {}): CompiledMapping {
  if (spec === null || spec === undefined) return identityMapping();
  const { compiled, issues } = compileRules(spec, opts.limits);
  if (issues.length) {
    const where = opts.pipeline ? `pipeline "${opts.pipeline}" map` : 'map';
    const first = issues[0]!;
    throw new ConfigError(issues.map((i) => `${where}.${i.path.join('.')}: ${i.message}`).join('\n'), { path: first.path.join('.'), details: { issues } });
  }
  const bySource = new Map<string, string>();
  for (const c of compiled) if (c.from !== undefined && !bySource.has(c.from)) bySource.set(c.from, c.target);
  const byTarget = new Map(compiled.map((c) => [c.target, c.from]));
  return {
    identity: false,
    fields: compiled.map((c) => c.target),
    targetFieldFor: (s) => bySource.get(s),
    sourceFieldFor: (t) => byTarget.get(t),
    async apply(doc) {
      const out: Doc = {};
      for (const c of compiled) {
        const v = await applyRule(c, doc);
        if (v === undefined) continue;
        out[c.target] = v;
      }
      return out;
    },
  };
}

/** Check a spec without throwing: every compile-time problem with its path. */
export function checkMapping(spec: unknown): MappingIssue[] {
  if (spec === null || spec === undefined) return [];
  return compileRules(spec as MappingSpec).issues;
}

/**
 * Reverse a code table for the opposite pipeline: `{ A: active }` -> `{ active: 'A' }`.
 * @throws ConfigError when two codes map to the same value (the reverse would be ambiguous)
 *   or a value is not text, a number or a boolean.
 */
export function invertValues(values: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [code, value] of Object.entries(values)) {
    if (value === null || !['string', 'number', 'boolean'].includes(typeof value)) {
      throw new ConfigError(`cannot invert the code table: the value of code "${code}" is ${JSON.stringify(value)}, not text, a number or a boolean`);
    }
    const k = String(value);
    if (Object.hasOwn(out, k)) {
      throw new ConfigError(`cannot invert the code table: codes "${out[k]}" and "${code}" both map to ${JSON.stringify(value)}, so the reverse is ambiguous`);
    }
    out[k] = code;
  }
  return out;
}

function identityMapping(): CompiledMapping {
  return {
    identity: true,
    fields: [],
    targetFieldFor: (s) => s,
    sourceFieldFor: (t) => t,
    apply: async (doc) => ({ ...doc }),
  };
}

function compileRules(spec: MappingSpec, limits: ExprLimits = EXPR_LIMITS): { compiled: Compiled[]; issues: MappingIssue[] } {
  const issues: MappingIssue[] = [];
  const compiled: Compiled[] = [];
  if (typeof spec !== 'object' || Array.isArray(spec)) {
    return { compiled, issues: [{ path: [], message: `a mapping must be an object of targetField: rule, got ${JSON.stringify(spec)}` }] };
  }
  if (Object.keys(spec).length === 0) issues.push({ path: [], message: 'the mapping is empty; leave `map` out to copy every field as it is' });
  for (const [target, rule] of Object.entries(spec)) {
    const issue = (message: string, ...sub: string[]) => issues.push({ path: [target, ...sub], message });
    if (typeof rule === 'string') {
      if (rule.trim() === '') issue('the source field name is empty');
      compiled.push({ target, from: rule, unknown: 'error', hasDefault: false, default: undefined, required: false, omitIfNull: false, mayBeAbsent: false });
      continue;
    }
    if (rule === null || typeof rule !== 'object' || Array.isArray(rule)) {
      issue(`a rule must be a source field name or an object with ${RULE_KEYS.join(', ')}; got ${JSON.stringify(rule)}`);
      continue;
    }
    const before = issues.length;
    for (const k of Object.keys(rule)) {
      if (!(RULE_KEYS as readonly string[]).includes(k)) issue(`unknown key "${k}"${didYouMean(k, RULE_KEYS)}; valid keys are ${RULE_KEYS.join(', ')}`, k);
    }
    const c: Compiled = {
      target,
      unknown: rule.unknown ?? 'error',
      hasDefault: Object.hasOwn(rule, 'default'),
      default: rule.default,
      required: rule.required === true,
      omitIfNull: rule.omitIfNull === true,
      mayBeAbsent: rule.optional === true || rule.omitIfNull === true || Object.hasOwn(rule, 'default'),
    };
    if (rule.from !== undefined && rule.expr !== undefined) issue('give either `from` or `expr`, not both', 'expr');
    if (rule.expr !== undefined) {
      if (typeof rule.expr !== 'string') issue(`expr must be a JSONata expression as text, got ${JSON.stringify(rule.expr)}`, 'expr');
      else {
        try {
          c.expr = jsonata(rule.expr, { ...limits });
          c.exprText = rule.expr;
          c.expr.registerFunction('convert', (v: unknown, s: string) => convertValue(v, s), '<xs:x>');
        } catch (e) {
          const err = e as { message?: string; position?: number; token?: string };
          issue(`invalid JSONata expression ${JSON.stringify(rule.expr)}: ${err.message ?? String(e)}${err.position !== undefined ? ` (at character ${err.position})` : ''}`, 'expr');
        }
      }
    } else {
      if (rule.from !== undefined && (typeof rule.from !== 'string' || rule.from.trim() === '')) issue(`from must be a source field name, got ${JSON.stringify(rule.from)}`, 'from');
      c.from = typeof rule.from === 'string' ? rule.from : target;
    }
    if (rule.convert !== undefined) {
      const list = typeof rule.convert === 'string' ? [rule.convert] : rule.convert;
      if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
        issue(`convert must be a converter name or a list of them, got ${JSON.stringify(rule.convert)}`, 'convert');
      } else {
        try {
          c.chain = compileConverterChain(list);
        } catch (e) {
          issue((e as Error).message, 'convert');
        }
      }
    }
    if (rule.values !== undefined) {
      if (rule.values === null || typeof rule.values !== 'object' || Array.isArray(rule.values)) issue(`values must be a code table (an object of code: value), got ${JSON.stringify(rule.values)}`, 'values');
      else c.values = rule.values;
    }
    if (rule.unknown !== undefined) {
      if (!POLICIES.includes(rule.unknown)) issue(`unknown must be one of ${POLICIES.join(', ')}, got ${JSON.stringify(rule.unknown)}`, 'unknown');
      else if (rule.values === undefined) issue('`unknown` only applies to a code table; add `values`', 'unknown');
      else if (rule.unknown === 'default' && !c.hasDefault) issue('`unknown: default` needs a `default` value', 'unknown');
    }
    for (const flag of ['required', 'omitIfNull', 'optional'] as const) {
      if (rule[flag] !== undefined && typeof rule[flag] !== 'boolean') issue(`${flag} must be true or false, got ${JSON.stringify(rule[flag])}`, flag);
    }
    if (issues.length === before) compiled.push(c);
  }
  return { compiled, issues };
}

/** Returns the target value, or undefined to leave the field out. */
async function applyRule(c: Compiled, doc: Doc): Promise<unknown> {
  const source = c.expr ? `expression ${c.exprText}` : (c.from as string);
  let value: unknown;
  if (c.expr) {
    try {
      value = await c.expr.evaluate(doc);
    } catch (e) {
      throw new MappingError(c.target, `expression ${JSON.stringify(c.exprText)} failed: ${(e as Error).message ?? String(e)}`, { cause: e });
    }
    if (Array.isArray(value) && (value as { sequence?: boolean }).sequence) value = [...value];
  } else {
    const from = c.from as string;
    if (!Object.hasOwn(doc, from)) {
      if (!c.mayBeAbsent) {
        const present = Object.keys(doc);
        const listed = present.length > MAX_LISTED_CODES ? `${present.slice(0, MAX_LISTED_CODES).join(', ')}, ... (${present.length} in all)` : present.join(', ') || 'none';
        throw new MappingError(
          c.target,
          `source field "${from}" is not in the record${didYouMean(from, present)}; the record has ${listed} (set optional: true, a default or omitIfNull if it may be absent)`,
          { details: { source: from, missing: true } },
        );
      }
      value = null;
    } else value = doc[from];
  }
  if (value === undefined) value = null;
  if (c.chain) {
    const r = c.chain.run(value);
    if ('error' in r) {
      throw new MappingError(c.target, `${r.error.message} (from ${source}, converter "${r.spec}")`, { cause: r.error, details: { value: r.input, source } });
    }
    value = r.value === undefined ? null : r.value;
  }
  if (c.values && value !== null) {
    if (typeof value === 'object') {
      throw new MappingError(c.target, `${JSON.stringify(value)} from ${source} is not a code (a code table needs text or a number)`, { details: { value, source } });
    }
    const code = String(value);
    if (Object.hasOwn(c.values, code)) value = c.values[code];
    else if (c.unknown === 'default') value = c.default;
    else if (c.unknown === 'error') {
      const codes = Object.keys(c.values);
      const known = codes.length > MAX_LISTED_CODES ? `${codes.slice(0, MAX_LISTED_CODES).join(', ')}, ... (${codes.length} in all)` : codes.join(', ');
      throw new MappingError(
        c.target,
        `code ${JSON.stringify(code)} from ${source} is not in the code table; known codes are ${known} (set unknown: pass or default to accept it)`,
        { details: { value: code, source } },
      );
    }
  }
  if (value === null || value === undefined) {
    if (c.hasDefault) return c.default;
    if (c.required) throw new MappingError(c.target, `a value is required but ${source} is null or missing`, { details: { source } });
    return c.omitIfNull ? undefined : null;
  }
  return value;
}

/** A source field a mapping reads, and where in the mapping it is named. */
export interface SourceFieldRef {
  /** Path in the mapping: `["status", "from"]`, `["status"]` for a rename or a rule without `from`, `["total", "expr"]`. */
  path: string[];
  /** The source field name. */
  field: string;
  /** `from`, a rename (`target: FIELD`), the target's own name (a rule without `from`), or a field an expression reads. */
  via: 'from' | 'rename' | 'target' | 'expr';
  /**
   * The rule says the field may be absent (`optional: true`; for `from` rules also `default` or
   * `omitIfNull`): a source without it is a warning for `validate`, not an error.
   */
  optional: boolean;
}

/**
 * The source fields a mapping spec reads, for checking them against a source's real columns
 * (`hms-sync validate`). An expression contributes the fields it reads at the record's top level
 * (`NAME`, `$.NAME`, `ADDR` of `ADDR.CITY`); names inside filters, nested steps and functions
 * are relative to other contexts and are not listed. Rules that do not compile are skipped.
 */
export function sourceFieldRefs(spec: MappingSpec | null | undefined): SourceFieldRef[] {
  if (spec === null || spec === undefined || typeof spec !== 'object') return [];
  const out: SourceFieldRef[] = [];
  for (const [target, rule] of Object.entries(spec)) {
    if (typeof rule === 'string') {
      if (rule) out.push({ path: [target], field: rule, via: 'rename', optional: false });
      continue;
    }
    if (rule === null || typeof rule !== 'object') continue;
    const mayBeAbsent = rule.optional === true || rule.omitIfNull === true || Object.hasOwn(rule, 'default');
    if (typeof rule.expr === 'string') {
      let ast: unknown;
      try {
        ast = jsonata(rule.expr).ast();
      } catch {
        continue;
      }
      for (const field of new Set(expressionRootFields(ast))) out.push({ path: [target, 'expr'], field, via: 'expr', optional: rule.optional === true });
    } else if (rule.expr === undefined) {
      if (typeof rule.from === 'string') out.push({ path: [target, 'from'], field: rule.from, via: 'from', optional: mayBeAbsent });
      else if (rule.from === undefined) out.push({ path: [target], field: target, via: 'target', optional: mayBeAbsent });
    }
  }
  return out;
}

type AstNode = { type?: string; value?: unknown; steps?: AstNode[] } & Record<string, unknown>;

/** Field names a JSONata expression reads from the top level of its input. */
export function expressionRootFields(ast: unknown): string[] {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const n = node as AstNode;
    if (n.type === 'name' && typeof n.value === 'string') {
      out.push(n.value);
      return;
    }
    if (n.type === 'path' && Array.isArray(n.steps)) {
      const [first, second] = n.steps;
      // `$.NAME`: the context variable, then a name
      const head = first?.type === 'variable' && first.value === '' ? second : first;
      if (head?.type === 'name' && typeof head.value === 'string') out.push(head.value);
      else if (head && head.type !== 'name') walk(head);
      return; // later steps, filters and stages read other contexts
    }
    if (n.type === 'lambda') return; // its body runs on whatever it is applied to
    for (const [k, v] of Object.entries(n)) {
      if (k === 'position' || k === 'value' || k === 'type') continue;
      walk(v);
    }
  };
  walk(ast);
  return out;
}
