/**
 * Operation inputs in WSDL mode: an `input:` mapping (element name -> template string,
 * nested objects and lists allowed) compiled once and evaluated per delta into the argument
 * object the soap package serialises.
 *
 * A leaf that is exactly one `{{path}}` keeps the raw value: undefined omits the element
 * (so an update sends only what changed), null sends xsi:nil, anything else its text.
 * A leaf with other text around the tags renders as a string.
 */
import { ConfigError } from '../../core/errors.js';
import { compileTemplate, valueText, type CompiledTemplate, type TemplateScope } from './soap-template.js';

type CompiledInput = (scope: TemplateScope) => unknown;

/** Compile an input mapping; `where` is its config path (e.g. `to.operations.update.input`). */
export function compileInput(input: unknown, where: string, allowedRoots?: readonly string[]): CompiledInput {
  if (typeof input === 'string') {
    const t: CompiledTemplate = compileTemplate(input, where, allowedRoots);
    if (t.singlePath) {
      return (scope) => {
        const v = t.resolve(scope);
        if (v === undefined) return undefined;
        if (v === null) return null;
        return valueText(v);
      };
    }
    return (scope) => t.render(scope) // escaped text: soap escapes again, so undo ours first
      .replace(/&(lt|gt|quot|apos|amp);/g, (_m, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);
  }
  if (typeof input === 'number' || typeof input === 'boolean') return () => String(input);
  if (input === null) return () => null;
  if (Array.isArray(input)) {
    const items = input.map((v, i) => compileInput(v, `${where}[${i}]`, allowedRoots));
    return (scope) => items.map((f) => f(scope)).filter((v) => v !== undefined);
  }
  if (typeof input === 'object') {
    const fields = Object.entries(input as Record<string, unknown>).map(([k, v]) => [k, compileInput(v, `${where}.${k}`, allowedRoots)] as const);
    return (scope) => {
      const out: Record<string, unknown> = {};
      for (const [k, f] of fields) {
        const v = f(scope);
        if (v !== undefined) out[k] = v;
      }
      return out;
    };
  }
  throw new ConfigError(`${where}: ${JSON.stringify(input)} is not a valid input value; use a template string, a number, a boolean, null, an object or a list`, { path: where });
}
