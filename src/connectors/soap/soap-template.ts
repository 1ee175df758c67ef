/**
 * A tiny mustache-like template language for SOAP bodies and operation inputs. Every value
 * is XML-escaped; there is no raw output. Syntax:
 *
 *   {{path}}                         value at a dotted path (key, op, state.status, keys.PermitNumber ...)
 *   {{#each path}}...{{/each}}       repeat for every field of the object at path; inside,
 *                                    {{@name}} is the field name and {{@value}} its value
 *   {{#if path}}...{{/if}}           render when the value is present (not undefined, null or "")
 *
 * null/undefined render as "", numbers and booleans as text, objects as JSON.
 * @example
 *   compileTemplate('<PermitUpdate><PermitNumber>{{key}}</PermitNumber>{{#each changed}}<Field name="{{@name}}">{{@value}}</Field>{{/each}}</PermitUpdate>', 'update.template')
 *     .render({ key: '123', changed: { status: 'APPROVED' } })
 *   // => '<PermitUpdate><PermitNumber>123</PermitNumber><Field name="status">APPROVED</Field></PermitUpdate>'
 */
import { ConfigError } from '../../core/errors.js';
import { stableStringify } from '../../core/delta.js';
import { escapeXml } from './xml-safety.js';

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'var'; path: string[]; src: string }
  | { kind: 'each' | 'if'; path: string[]; src: string; children: Node[] };

/** The variables a template sees. */
export type TemplateScope = Record<string, unknown>;

export interface CompiledTemplate {
  /** Render with every value XML-escaped (PermanentError on characters XML 1.0 cannot carry). */
  render(scope: TemplateScope): string;
  /** When the template is exactly one `{{path}}`, that path (used to keep raw values). */
  readonly singlePath: string[] | null;
  /** Resolve the single path against a scope (raw, unescaped value). */
  resolve(scope: TemplateScope): unknown;
}

const TAG = /\{\{\s*([#/]?)(\w+|@?[\w.-]+)(?:\s+([@\w.-]+))?\s*\}\}/g;

function lineCol(src: string, offset: number): string {
  const before = src.slice(0, offset).split('\n');
  return `line ${before.length}, column ${before[before.length - 1]!.length + 1}`;
}

/** Compile a template; `where` names it in errors (e.g. `to.operations.update.template`). */
export function compileTemplate(src: string, where: string, allowedRoots?: readonly string[]): CompiledTemplate {
  const root: Node[] = [];
  const stack: Array<{ node: Extract<Node, { kind: 'each' | 'if' }> | null; children: Node[]; at: number }> = [{ node: null, children: root, at: 0 }];
  let last = 0;
  const fail = (offset: number, msg: string): never => {
    throw new ConfigError(`${where}: ${msg} at ${lineCol(src, offset)}`, { path: where });
  };
  const checkPath = (p: string, offset: number, inEach: boolean): string[] => {
    const parts = p.split('.');
    if (parts.some((x) => x === '')) fail(offset, `"${p}" is not a valid path`);
    if (parts[0]!.startsWith('@')) {
      if (!inEach || !['@name', '@value'].includes(parts[0]!)) fail(offset, `"${p}" is only valid inside {{#each}} ({{@name}}, {{@value}})`);
    } else if (allowedRoots && !allowedRoots.includes(parts[0]!)) {
      fail(offset, `unknown variable "${parts[0]}"; known: ${allowedRoots.join(', ')}`);
    }
    return parts;
  };
  for (const m of src.matchAll(TAG)) {
    const top = stack[stack.length - 1]!;
    if (m.index > last) top.children.push({ kind: 'text', text: src.slice(last, m.index) });
    last = m.index + m[0].length;
    const [, sigil, word, arg] = m;
    const inEach = stack.some((s) => s.node?.kind === 'each');
    if (sigil === '#') {
      if (word !== 'each' && word !== 'if') fail(m.index, `unknown block "{{#${word}}}"; use {{#each path}} or {{#if path}}`);
      if (!arg) fail(m.index, `{{#${word}}} needs a path, e.g. {{#${word} changed}}`);
      const node = { kind: word as 'each' | 'if', path: checkPath(arg!, m.index, inEach), src: arg!, children: [] as Node[] };
      top.children.push(node);
      stack.push({ node, children: node.children, at: m.index });
    } else if (sigil === '/') {
      if (stack.length === 1 || top.node!.kind !== word) fail(m.index, `"{{/${word}}}" does not close an open {{#${word}}}`);
      stack.pop();
    } else {
      if (arg) fail(m.index, `unexpected "${arg}" in "${m[0]}"`);
      top.children.push({ kind: 'var', path: checkPath(word!, m.index, inEach), src: word! });
    }
  }
  if (stack.length > 1) fail(stack[stack.length - 1]!.at, `{{#${stack[stack.length - 1]!.node!.kind}}} is never closed`);
  if (last < src.length) root.push({ kind: 'text', text: src.slice(last) });
  const unbalanced = /\{\{|\}\}/.exec(root.filter((n) => n.kind === 'text').map((n) => (n as { text: string }).text).join(''));
  if (unbalanced) fail(0, `stray "${unbalanced[0]}" (a tag that is not {{path}}, {{#each path}}, {{#if path}} or {{/...}})`);

  const singlePath = root.length === 1 && root[0]!.kind === 'var' ? root[0]!.path : null;
  return {
    singlePath,
    render: (scope) => renderNodes(root, scope, where),
    resolve: (scope) => (singlePath ? lookup(scope, singlePath) : undefined),
  };
}

/** Value at a dotted path (undefined when any step is missing). */
export function lookup(scope: unknown, path: readonly string[]): unknown {
  let cur: unknown = scope;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** A value as template text (before escaping). */
export function valueText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString();
  return stableStringify(v);
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

function renderNodes(nodes: Node[], scope: TemplateScope, where: string): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'text') out += n.text;
    else if (n.kind === 'var') out += escapeXml(valueText(lookup(scope, n.path)), n.src.startsWith('@') ? `${String(scope['@each'])}.${String(scope['@name'])}` : n.src);
    else if (n.kind === 'if') {
      if (present(lookup(scope, n.path))) out += renderNodes(n.children, scope, where);
    } else {
      const obj = lookup(scope, n.path);
      if (obj === null || obj === undefined) continue;
      const entries = Array.isArray(obj) ? obj.map((v, i) => [String(i), v] as const) : typeof obj === 'object' ? Object.entries(obj as object) : [];
      for (const [name, value] of entries) out += renderNodes(n.children, { ...scope, '@each': n.src, '@name': name, '@value': value }, where);
    }
  }
  return out;
}
