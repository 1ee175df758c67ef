/**
 * `${env:NAME}` and `${env:NAME:-default}` substitution in config values, done on the YAML
 * syntax tree so each missing variable is reported with its line. `$${env:NAME}` is a
 * literal `${env:NAME}`. A plain (unquoted) scalar that is exactly one reference takes the
 * variable's type: `port: ${env:PORT}` with PORT=8080 gives the number 8080.
 * References may stand unquoted even inside flow maps (`{ password: ${env:PW} }`, where
 * YAML would read the braces as syntax): {@link protectEnvRefs} hides them before parsing.
 */
import { isPair, isScalar, isSeq, visit, type Document, type Scalar } from 'yaml';

const REF = /\$(\$?)\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE = /^\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

export type Env = Record<string, string | undefined>;

export interface EnvProblem {
  /** Key path of the value (`systems.db.password`). */
  path: Array<string | number>;
  /** Character offset of the value in the file. */
  offset: number | undefined;
  message: string;
}

/**
 * Before parsing: replace every `${env:...}` in the raw text with a placeholder of the same
 * length made of plain-scalar characters, so positions stay exact and YAML flow syntax does
 * not trip over the braces. {@link substituteEnvInDocument} puts the references back.
 */
export function protectEnvRefs(text: string): { text: string; placeholders: Map<string, string> } {
  const placeholders = new Map<string, string>();
  let i = 0;
  const out = text.replace(/(?<!\$)\$\{env:[^}\n]*\}/g, (ref) => {
    const head = `$~${i++}`;
    if (head.length > ref.length) return ref;
    const ph = head.padEnd(ref.length, '~');
    placeholders.set(ph, ref);
    return ph;
  });
  return { text: out, placeholders };
}

function restore(value: string, placeholders: Map<string, string>): string {
  if (!placeholders.size || !value.includes('$~')) return value;
  let v = value;
  for (const [ph, ref] of [...placeholders].sort((a, b) => b[0].length - a[0].length)) v = v.split(ph).join(ref);
  return v;
}

/**
 * Substitute references in one string.
 * @returns the new text and the names of variables that are not set (and have no default).
 */
export function substituteEnvString(text: string, env: Env): { value: string; missing: string[]; malformed: boolean } {
  const missing: string[] = [];
  const value = text.replace(REF, (_all, escape: string, name: string, fallback: string | undefined) => {
    if (escape) return `\${env:${name}${fallback !== undefined ? `:-${fallback}` : ''}}`;
    const v = env[name];
    if (v !== undefined) return v;
    if (fallback !== undefined) return fallback;
    missing.push(name);
    return '';
  });
  const malformed = text.replace(REF, '').includes('${env:');
  return { value, missing, malformed };
}

export interface SubstituteOptions {
  /**
   * Substitute only the values whose key path this accepts; references elsewhere stay as
   * written and an unset variable there is no problem. Commands that read one part of the
   * config (the store) resolve only that part, so an unset delivery secret does not stop them.
   */
  only?: (path: ReadonlyArray<string | number>) => boolean;
}

/**
 * Replace references in every string scalar of the document, in place.
 * @returns the problems found and the key paths whose values came from the environment
 *   (callers keep those values out of error messages: they are often secrets).
 */
export function substituteEnvInDocument(doc: Document, env: Env, placeholders: Map<string, string> = new Map(), opts: SubstituteOptions = {}): { problems: EnvProblem[]; fromEnv: Set<string> } {
  const problems: EnvProblem[] = [];
  const fromEnv = new Set<string>();
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (typeof node.value !== 'string') return;
      const original = restore(node.value, placeholders);
      node.value = original;
      if (!original.includes('${env:')) return;
      const path = pathOf(ancestors, node);
      if (opts.only && !opts.only(path)) return; // not needed by the caller: left as written, never reported
      const { value, missing, malformed } = substituteEnvString(original, env);
      const offset = node.range?.[0];
      for (const name of missing) {
        problems.push({ path, offset, message: `environment variable "${name}" is not set (write \${env:${name}:-default} to give a default)` });
      }
      if (malformed) {
        problems.push({ path, offset, message: `malformed environment reference in ${JSON.stringify(original)}; write \${env:NAME} or \${env:NAME:-default} (NAME: letters, digits, _)` });
      }
      if (value !== original) fromEnv.add(path.join('.'));
      node.value = typed(node, original, value);
    },
  });
  return { problems, fromEnv };
}

function typed(node: Scalar, original: string, value: string): unknown {
  if (node.type !== 'PLAIN' || !WHOLE.test(original)) return value;
  if (/^-?\d+(?:\.\d+)?$/.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  return value;
}

function pathOf(ancestors: readonly unknown[], node: unknown): Array<string | number> {
  const path: Array<string | number> = [];
  for (let i = 0; i < ancestors.length; i++) {
    const a = ancestors[i];
    const next = ancestors[i + 1] ?? node;
    if (isPair(a)) {
      if (a.key === next) return path; // a scalar used as a key: not substituted into a value path
      path.push(isScalar(a.key) ? String(a.key.value) : String(a.key));
    } else if (isSeq(a)) {
      path.push(a.items.indexOf(next as never));
    }
  }
  return path;
}
