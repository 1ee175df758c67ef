/**
 * Turn zod issues into one-sentence messages that quote the bad value and say what is valid
 * (unknown keys list the valid keys, found by walking the schema along the issue's path).
 */
import type { z } from 'zod';
import { didYouMean } from '../core/suggest.js';

export type PathSeg = string | number;

export interface PlainIssue {
  path: PathSeg[];
  message: string;
  /** Point at the key itself (unknown keys), not its value. */
  atKey?: boolean;
}

const SECRET_NAME = /pass(word|phrase)?$|secret|token|api_?key|private_?key|credential|authorization/i;

/**
 * @param isSecret tells which paths hold values that must not be quoted (env-substituted or
 *   secret-looking names).
 */
export function explainZodIssues(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  prefix: PathSeg[],
  isSecret: (path: PathSeg[]) => boolean = () => false,
): PlainIssue[] {
  const out: PlainIssue[] = [];
  const walk = (list: readonly z.core.$ZodIssue[], base: PathSeg[]) => {
    for (const iss of list) {
      const rel = [...base, ...(iss.path as PathSeg[])];
      const path = [...prefix, ...rel];
      const input = (iss as { input?: unknown }).input;
      const show = () => (isSecret(path) || SECRET_NAME.test(String(path.at(-1) ?? '')) ? '[redacted]' : describe(input));
      switch (iss.code) {
        case 'unrecognized_keys': {
          const valid = validKeysAt(schema, rel);
          for (const k of iss.keys) {
            out.push({ path: [...path, k], atKey: true, message: `unknown key "${k}"${valid ? `${didYouMean(k, valid)}; valid keys are ${valid.join(', ')}` : ''}` });
          }
          break;
        }
        case 'invalid_type':
          if (input === undefined) out.push({ path, atKey: true, message: `"${String(path.at(-1) ?? '')}" is required (${expectedName(iss.expected)})` });
          else out.push({ path, message: `expected ${expectedName(iss.expected)}, got ${show()}` });
          break;
        case 'invalid_union': {
          const branches = iss.errors.filter((b) => !(b.length === 1 && b[0]!.code === 'invalid_type' && b[0]!.path.length === 0));
          // explain against the branch the input came closest to (fewest issues), not the first one
          if (branches.length) walk([...branches].sort((a, b) => a.length - b.length)[0]!, rel);
          else if (input === undefined) {
            const expected = iss.errors.map((b) => (b[0]?.code === 'invalid_type' ? expectedName(b[0].expected) : 'another form'));
            out.push({ path, atKey: true, message: `"${String(path.at(-1) ?? '')}" is required (${[...new Set(expected)].join(' or ')})` });
          } else {
            const expected = iss.errors.map((b) => (b[0]?.code === 'invalid_type' ? expectedName(b[0].expected) : 'another form'));
            out.push({ path, message: `expected ${[...new Set(expected)].join(' or ')}, got ${show()}` });
          }
          break;
        }
        case 'invalid_value':
          out.push({ path, message: `expected one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}, got ${show()}` });
          break;
        case 'too_small':
          if ((iss.origin === 'string' || iss.origin === 'array') && Number(iss.minimum) === 1) out.push({ path, message: 'must not be empty' });
          else out.push({ path, message: `${show()} is too small; the minimum is ${String(iss.minimum)}${iss.inclusive === false ? ' (exclusive)' : ''}` });
          break;
        case 'too_big':
          out.push({ path, message: `${show()} is too big; the maximum is ${String(iss.maximum)}` });
          break;
        case 'invalid_format':
          out.push({ path, message: `${show()} is not valid: ${iss.message}` });
          break;
        case 'invalid_key':
          out.push({ path, atKey: true, message: `invalid name "${String(path.at(-1))}": ${iss.issues.map((i) => i.message).join('; ')}` });
          break;
        default:
          out.push({ path, message: iss.message });
      }
    }
  };
  walk(issues, []);
  return out;
}

/** A short quotation of a value for messages. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list (${truncate(JSON.stringify(v))})`;
  if (typeof v === 'object') return `an object (${truncate(JSON.stringify(v))})`;
  return truncate(JSON.stringify(v));
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function expectedName(e: string): string {
  switch (e) {
    case 'string': return 'text';
    case 'number': return 'a number';
    case 'int': return 'a whole number';
    case 'boolean': return 'true or false';
    case 'object': return 'an object (key: value)';
    case 'array': return 'a list';
    case 'record': return 'an object (key: value)';
    default: return e;
  }
}

type Def = { type: string; shape?: Record<string, z.ZodType>; valueType?: z.ZodType; innerType?: z.ZodType; in?: z.ZodType; options?: z.ZodType[]; element?: z.ZodType; getter?: () => z.ZodType };

/** Keys of the object schema found along `path` (through optional, default, unions...). */
export function validKeysAt(schema: z.ZodType, path: readonly PathSeg[]): string[] | undefined {
  const at = (s: z.ZodType | undefined, i: number): string[] | undefined => {
    if (!s) return undefined;
    const def = (s as unknown as { _zod: { def: Def } })._zod.def;
    switch (def.type) {
      case 'optional': case 'nullable': case 'default': case 'prefault': case 'readonly': case 'catch': case 'nonoptional':
        return at(def.innerType, i);
      case 'pipe': return at(def.in, i);
      case 'lazy': return at(def.getter?.(), i);
      case 'union': {
        // every key any form accepts (e.g. the options of each source mode)
        const keys = (def.options ?? []).flatMap((o) => at(o, i) ?? []);
        return keys.length ? [...new Set(keys)] : undefined;
      }
      case 'object':
        if (i === path.length) return Object.keys(def.shape ?? {});
        return at(def.shape?.[String(path[i])], i + 1);
      case 'record': return i === path.length ? undefined : at(def.valueType, i + 1);
      case 'array': return i === path.length ? undefined : at(def.element, i + 1);
      default: return undefined;
    }
  };
  return at(schema, 0);
}
