/**
 * Record codec: decodes a record's bytes to a JSON-ready object and encodes such an object back
 * to bytes, following the copybook layout (groups, OCCURS, OCCURS DEPENDING ON, REDEFINES,
 * multi-segment selection). Decimals stay exact (decimal strings or bigint).
 *
 * @example
 * const codec = createCodec(parseCopybook(text), { codePage: 'cp037' });
 * const doc = codec.decode(recordBytes, { recordNumber: 1 });
 * const bytes = codec.encode(doc);
 */
import { ConfigError, FormatError } from '../../core/errors.js';
import { getCodePage, type CodePage } from './codepages.js';
import { cobrixCodePage } from './cobrix-code-pages.js';
import type { DecimalMode } from './copybook-decimal.js';
import { createFieldCodec, FieldError, type FieldCodec, type FieldEnv } from './copybook-fields.js';
import { computeLayout, layoutReport, outputName, type Layout, type LayoutOptions } from './copybook-layout.js';
import type { Copybook, LayoutNode } from './copybook-types.js';

/** Options of {@link createCodec}; every one has a default. */
export interface CodecOptions extends LayoutOptions {
  /** Code page name (cp037 default; cp500, cp1047, cp273, cp1140, cp1141, cp1148, cp875, common, ascii, latin1, utf8) or a CodePage. */
  codePage?: string | CodePage;
  /** EBCDIC: decode 0x15 as LF instead of NEL (default false). */
  nelAsLf?: boolean;
  /** EBCDIC: decode control characters as spaces, like cobrix's non-extended code pages (default false). */
  controlsAsSpace?: boolean;
  /** 'standard' (default): IBM code pages as glibc defines them; 'cobrix': decode text as cobrix does (C1 controls as spaces, 0x0D/0x25 swapped, basic cp037; cp037_extended). */
  codePageFlavor?: 'standard' | 'cobrix';
  /** COMP-1 / COMP-2 format: 'ibm' hexadecimal float (default) or 'ieee754'. */
  floatFormat?: 'ibm' | 'ieee754';
  /** COMP-1 / COMP-2 byte order: 'big' (default) or 'little' (GnuCOBOL on x86 stores native IEEE floats). */
  floatByteOrder?: 'big' | 'little';
  /** Trim text fields: 'both' (default), 'left', 'right' or 'none'. */
  trim?: 'both' | 'left' | 'right' | 'none';
  /** 'collapse' (default): the 01 group's children are top-level keys; 'keep': `{ RECORD: {...} }`. */
  rootPolicy?: 'collapse' | 'keep';
  /** Values with decimals: 'string' (default, exact: "12.50") or 'number' (a JS number when it has at most 15 digits). */
  decimals?: DecimalMode;
  /** Zoned decimals: accept an overpunched sign only in its declared position and only on signed fields (default false). */
  strictSignOverpunch?: boolean;
  /** ASCII zoned decimals: how encode writes a sign: 'gnucobol' ('p'-'y' for negatives, default) or 'ibm' ({ A-I } J-R). */
  asciiOverpunch?: 'gnucobol' | 'ibm';
  /**
   * Binary (COMP, COMP-4, BINARY) values encode accepts: 'pic' (default) up to the PICTURE's digits, as
   * TRUNC(STD) programs read them; 'binary' the full range of the bytes (TRUNC(BIN); COMP-5 always does).
   */
  binaryRange?: 'pic' | 'binary';
  /** Sign nibble encode writes for unsigned COMP-3 fields: 'F' (default, what IBM compilers write) or 'C'. */
  unsignedPackedSign?: 'F' | 'C';
  /** OCCURS DEPENDING ON arrays take only the space of their live elements (cobrix variable_size_occurs; default false). */
  variableSizeOccurs?: boolean;
  /** Field whose value selects the REDEFINES alternative that applies to a record (multi-segment files). */
  segmentField?: string;
  /** Segment id (the trimmed value of segmentField) to the name of the REDEFINES alternative it selects. */
  segments?: Record<string, string>;
  /** Invalid numeric data: 'error' (default) throws FormatError; 'null' decodes it as null (cobrix behaviour). */
  invalidValues?: 'error' | 'null';
  /** Include FILLER fields in decoded records (default false). */
  keepFiller?: boolean;
  /** Records shorter than the layout are padded with spaces instead of failing (line sequential files; default false). */
  padShortRecords?: boolean;
}

/** Context of one decode call. */
export interface DecodeContext {
  /** 1-based record number, used in error messages. */
  recordNumber?: number;
}

/** A compiled copybook. */
export interface RecordCodec {
  /** Decodes one record. Throws FormatError naming record number, field path and byte offset. */
  decode(record: Uint8Array, ctx?: DecodeContext): Record<string, unknown>;
  /** Decodes the record that starts at `offset` and reports how many bytes it takes (variable-size OCCURS). */
  decodeAt(buf: Uint8Array, offset: number, ctx?: DecodeContext): { value: Record<string, unknown>; length: number };
  /** Encodes one record (missing fields get spaces or zeros). Throws FormatError naming the field path. */
  encode(doc: Record<string, unknown>, ctx?: DecodeContext): Buffer;
  /** The computed layout. */
  layout(): Layout;
  /** The layout report (cobrix format). */
  layoutReport(opts?: { types?: boolean }): string;
  /** Bytes of a record (ODO arrays at their maximum). */
  readonly recordSize: number;
  /** True when records vary in size (variableSizeOccurs with OCCURS DEPENDING ON). */
  readonly variableSize: boolean;
  /** The resolved options. */
  readonly options: Readonly<Required<Pick<CodecOptions, 'floatFormat' | 'trim' | 'rootPolicy' | 'decimals' | 'strictSignOverpunch' | 'variableSizeOccurs' | 'invalidValues' | 'keepFiller' | 'padShortRecords'>>> & { codePage: string };
}

interface CNode {
  node: LayoutNode;
  key: string;
  codec?: FieldCodec;
  children: CNode[];
  hidden: boolean;
  /** Name (cobol, upper case) of a segment alternative, when this node is one. */
  segmentName?: string;
  align: number;
  /** Children grouped into REDEFINES sets (an item and the alternatives that follow it), with their largest static span. */
  sets: Array<{ items: CNode[]; span: number; hasSegment: boolean }>;
  /** What encode writes when the field is missing (from its VALUE clause, else undefined). */
  defaultValue: unknown;
}

interface State {
  buf: Uint8Array;
  end: number;
  recordNumber: number | undefined;
  counters: Array<number | undefined>;
  indices: number[];
  segment: string | undefined;
  pending: Map<number, { pos: number; cn: CNode }>;
}

class ShortRecordError extends FormatError {}

function validateOptions(o: CodecOptions): void {
  const oneOf = (key: keyof CodecOptions, values: readonly unknown[]) => {
    const v = o[key];
    if (v !== undefined && !values.includes(v)) throw new ConfigError(`copybook option ${key} is ${JSON.stringify(v)}; valid values are ${values.map((x) => JSON.stringify(x)).join(', ')}`, { path: key });
  };
  oneOf('floatFormat', ['ibm', 'ieee754']);
  oneOf('trim', ['both', 'left', 'right', 'none']);
  oneOf('rootPolicy', ['collapse', 'keep']);
  oneOf('decimals', ['string', 'number']);
  oneOf('comp5ByteOrder', ['big', 'little']);
  oneOf('binarySizes', ['2-4-8', '1-2-4-8']);
  oneOf('asciiOverpunch', ['gnucobol', 'ibm']);
  oneOf('invalidValues', ['error', 'null']);
  oneOf('codePageFlavor', ['standard', 'cobrix']);
  oneOf('unsignedPackedSign', ['F', 'C']);
  oneOf('binaryRange', ['pic', 'binary']);
  oneOf('floatByteOrder', ['big', 'little']);
  if (o.segments && !o.segmentField) throw new ConfigError('copybook option segments needs segmentField (the field holding the segment id)', { path: 'segments' });
}

/** The value a missing field is encoded with, from its VALUE clause (SPACES, ZEROS or a literal). */
function defaultValue(node: LayoutNode): unknown {
  const v = node.value;
  if (v === undefined) return undefined;
  const u = v.toUpperCase();
  if (/^SPACES?$/.test(u)) return node.type?.kind === 'alphanumeric' ? '' : null;
  if (/^ZERO(S|ES)?$/.test(u)) return node.type?.kind === 'alphanumeric' ? '0'.repeat(node.size) : 0;
  // figurative constants for bytes and prefixed literals (X'00') are not text: left as spaces
  const all = /^ALL '(.+)'$/s.exec(v);
  if (all && node.type?.kind === 'alphanumeric') return all[1]!.repeat(Math.ceil(node.size / all[1]!.length)).slice(0, node.size);
  if (/^(HIGH|LOW)-VALUES?$|^QUOTES?$|^NULLS?$|^[XNGZ]'|^ALL /.test(u)) return undefined;
  return v;
}

/** Compiles a parsed copybook into a record codec. Throws ConfigError for bad options. */
export function createCodec(copybook: Copybook, options: CodecOptions = {}): RecordCodec {
  validateOptions(options);
  const codePage = typeof options.codePage === 'object'
    ? options.codePage
    : options.codePageFlavor === 'cobrix'
      ? cobrixCodePage(options.codePage ?? 'common', { nelAsLf: options.nelAsLf })
      : getCodePage(options.codePage ?? 'cp037', { nelAsLf: options.nelAsLf, controlsAsSpace: options.controlsAsSpace });
  const env: FieldEnv = {
    codePage,
    floatFormat: options.floatFormat ?? 'ibm',
    decimals: options.decimals ?? 'string',
    trim: options.trim ?? 'both',
    strictSignOverpunch: options.strictSignOverpunch ?? false,
    asciiOverpunch: options.asciiOverpunch ?? 'gnucobol',
    unsignedPackedSign: options.unsignedPackedSign ?? 'F',
    binaryRange: options.binaryRange ?? 'pic',
    floatByteOrder: options.floatByteOrder ?? 'big',
  };
  const resolved = {
    codePage: codePage.name, floatFormat: env.floatFormat, trim: env.trim, rootPolicy: options.rootPolicy ?? 'collapse',
    decimals: env.decimals, strictSignOverpunch: env.strictSignOverpunch, variableSizeOccurs: options.variableSizeOccurs ?? false,
    invalidValues: options.invalidValues ?? 'error', keepFiller: options.keepFiller ?? false, padShortRecords: options.padShortRecords ?? false,
  } as const;
  const layout = computeLayout(copybook, options);
  const variable = resolved.variableSizeOccurs && layout.nodes.some((n) => n.occurs?.dependingOn);
  const space = codePage.space ?? (codePage.ebcdic ? 0x40 : 0x20);
  const invalidAsNull = resolved.invalidValues === 'null';

  const findNode = (name: string, what: string): LayoutNode => {
    const wanted = name.toUpperCase();
    const n = layout.nodes.find((x) => x.cobolName === wanted || x.name.toUpperCase() === wanted || x.path.toUpperCase() === wanted);
    if (!n) throw new ConfigError(`${what} "${name}" is not a field of the copybook; fields are: ${layout.nodes.slice(0, 30).map((x) => x.name).join(', ')}${layout.nodes.length > 30 ? ', ...' : ''}`, { path: what });
    return n;
  };
  const segmentNode = options.segmentField ? findNode(options.segmentField, 'segmentField') : undefined;
  const segmentTargets = new Map<string, string>(); // segment id -> COBOL name
  for (const [id, alt] of Object.entries(options.segments ?? {})) {
    const n = findNode(alt, 'segments');
    if (!n.redefines && !n.redefinedBy.length) throw new ConfigError(`segment "${id}" selects ${alt}, which neither REDEFINES nor is redefined; name one of the REDEFINES alternatives`, { path: `segments.${id}` });
    segmentTargets.set(id, n.cobolName);
  }
  const segmentNames = new Set(segmentTargets.values());

  const compile = (node: LayoutNode): CNode => {
    const cn: CNode = {
      node, key: node.name, children: node.children.map(compile), hidden: node.isFiller && !resolved.keepFiller,
      segmentName: segmentNames.has(node.cobolName) ? node.cobolName : undefined,
      align: node.sync && node.type && (node.type.kind === 'binary' || node.type.kind === 'float') ? (node.size >= 8 ? 8 : node.size >= 4 ? 4 : 2) : 1,
      sets: [],
      defaultValue: defaultValue(node),
    };
    if (node.type) cn.codec = createFieldCodec(node.type, node.size, env);
    for (const c of cn.children) {
      const span = c.node.size * (c.node.occurs ? c.node.occurs.max : 1);
      const last = cn.sets[cn.sets.length - 1];
      if (c.node.redefines && last) {
        last.items.push(c);
        last.span = Math.max(last.span, span);
        last.hasSegment ||= !!c.segmentName;
      } else {
        cn.sets.push({ items: [c], span, hasSegment: !!c.segmentName });
      }
    }
    return cn;
  };
  const roots = layout.roots.map(compile);
  const counterSlots = layout.nodes.length;

  /** Field path with array indices; `selfIndexed` false when the node's own index is not on the stack yet. */
  const pathOf = (node: LayoutNode, st: State, selfIndexed = true): string => {
    const chain: LayoutNode[] = [];
    for (let n: LayoutNode | undefined = node; n; n = n.parent) chain.unshift(n);
    if (resolved.rootPolicy === 'collapse' && chain.length > 1) chain.shift();
    const indexed = (n: LayoutNode) => !!n.occurs && (selfIndexed || n !== node);
    let k = st.indices.length - chain.filter(indexed).length;
    return chain.map((n) => (indexed(n) && st.indices[k] !== undefined ? `${n.name}[${st.indices[k++]}]` : n.name)).join('.');
  };
  const where = (st: State) => (st.recordNumber !== undefined ? `record ${st.recordNumber}, ` : '');
  const fieldError = (cn: CNode, st: State, pos: number, err: FieldError): FormatError =>
    new FormatError(`${where(st)}field ${pathOf(cn.node, st)} at byte offset ${pos + err.at}: ${err.message}`, {
      details: { recordNumber: st.recordNumber, field: pathOf(cn.node, st), offset: pos + err.at },
    });

  // ---------------------------------------------------------------- decode
  const decodeField = (cn: CNode, st: State, pos: number): unknown => {
    const size = cn.node.size;
    if (pos + size > st.end) {
      throw new ShortRecordError(`${st.recordNumber !== undefined ? `record ${st.recordNumber}` : 'the record'} is ${st.end} bytes long but field ${pathOf(cn.node, st)} needs bytes ${pos} to ${pos + size - 1} (the copybook needs ${variable ? 'at least ' : ''}${layout.size} bytes)`, {
        details: { recordNumber: st.recordNumber, field: pathOf(cn.node, st), offset: pos, recordLength: st.end },
      });
    }
    let v: unknown;
    try {
      v = cn.codec!.decode(st.buf, pos);
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      if ((cn.node.inRedefine || invalidAsNull) && !cn.node.isOdoCounter) v = null;
      else throw fieldError(cn, st, pos, err);
    }
    if (cn.node.isOdoCounter) st.counters[cn.node.id] = v === null ? 0 : Number(v);
    if (segmentNode && cn.node === segmentNode) st.segment = v === null || v === undefined ? '' : String(v).trim();
    return v;
  };

  const odoCount = (cn: CNode, st: State, pos: number): number => {
    const occ = cn.node.occurs!;
    if (!occ.dependingOn) return occ.max;
    const c = st.counters[occ.dependingOn.id];
    if (c === undefined || !Number.isInteger(c) || c < 0 || c > occ.max || c < occ.min) {
      throw new FormatError(`${where(st)}field ${pathOf(cn.node, st, false)} at byte offset ${pos}: OCCURS DEPENDING ON ${occ.dependingOn.name} = ${c ?? 'undefined'} is outside ${occ.min} TO ${occ.max}`, {
        details: { recordNumber: st.recordNumber, field: pathOf(cn.node, st, false), offset: pos, count: c },
      });
    }
    return c;
  };

  const selectedSegment = (st: State, pos: number): string => {
    const id = st.segment ?? '';
    const target = segmentTargets.get(id);
    if (!target) {
      throw new FormatError(`${where(st)}segment id ${JSON.stringify(id)} in field ${segmentNode!.name} (before byte offset ${pos}) has no layout; known segment ids: ${[...segmentTargets.keys()].map((k) => JSON.stringify(k)).join(', ')}`, {
        details: { recordNumber: st.recordNumber, field: segmentNode!.name, offset: pos, segment: id },
      });
    }
    return target;
  };

  const decodeItem = (cn: CNode, st: State, pos: number, out: Record<string, unknown>): number => {
    if (cn.align > 1) pos = Math.ceil(pos / cn.align) * cn.align;
    const node = cn.node;
    if (node.occurs) {
      const count = odoCount(cn, st, pos);
      const arr: unknown[] = new Array(count);
      let p = pos;
      st.indices.push(0);
      for (let i = 0; i < count; i++) {
        st.indices[st.indices.length - 1] = i;
        if (!variable) p = pos + i * node.size;
        if (node.isGroup) {
          const obj: Record<string, unknown> = {};
          p = decodeGroup(cn, st, p, obj);
          arr[i] = obj;
        } else {
          arr[i] = decodeField(cn, st, p);
          p += node.size;
        }
      }
      st.indices.pop();
      if (!cn.hidden) out[cn.key] = arr;
      return variable ? p : pos + node.size * node.occurs.max;
    }
    if (node.isGroup) {
      const obj: Record<string, unknown> = {};
      const end = decodeGroup(cn, st, pos, obj);
      if (!cn.hidden) out[cn.key] = obj;
      return variable ? end : pos + node.size;
    }
    const v = decodeField(cn, st, pos);
    if (!cn.hidden) out[cn.key] = v;
    return pos + node.size;
  };

  const decodeGroup = (cn: CNode, st: State, pos: number, out: Record<string, unknown>): number => {
    let end = pos;
    let setStart = pos;
    for (const c of cn.children) {
      if (!c.node.redefines) setStart = end;
      let cEnd: number;
      if (c.segmentName && c.segmentName !== selectedSegment(st, setStart)) {
        cEnd = setStart + c.node.size * (c.node.occurs ? c.node.occurs.max : 1);
      } else {
        cEnd = decodeItem(c, st, setStart, out);
      }
      if (cEnd > end) end = cEnd;
    }
    return end;
  };

  const newState = (buf: Uint8Array, end: number, ctx?: DecodeContext): State => ({
    buf, end, recordNumber: ctx?.recordNumber, counters: new Array(counterSlots), indices: [], segment: undefined, pending: new Map(),
  });

  const decodeRoots = (st: State, pos: number): { value: Record<string, unknown>; length: number } => {
    const value: Record<string, unknown> = {};
    let end = pos;
    for (const r of roots) {
      let e: number;
      if (resolved.rootPolicy === 'collapse' && r.node.isGroup && !r.node.occurs) e = decodeGroup(r, st, pos, value);
      else e = decodeItem(r, st, pos, value);
      end = Math.max(end, e);
    }
    return { value, length: end - pos };
  };

  const padded = (record: Uint8Array): Uint8Array => {
    if (!resolved.padShortRecords || record.length >= layout.size) return record;
    const b = Buffer.alloc(layout.size, space);
    b.set(record, 0);
    return b;
  };

  // ---------------------------------------------------------------- encode
  const encodeError = (cn: CNode, st: State, pos: number, err: unknown, selfIndexed = true): FormatError => {
    const msg = err instanceof Error ? err.message : String(err);
    const field = pathOf(cn.node, st, selfIndexed);
    return new FormatError(`${where(st)}field ${field} at byte offset ${pos}: ${msg}`, { details: { recordNumber: st.recordNumber, field, offset: pos } });
  };

  const encodeField = (cn: CNode, st: State, pos: number, value: unknown): void => {
    if (value === undefined) value = cn.defaultValue;
    const node = cn.node;
    if (node.isOdoCounter) {
      if (value === undefined || value === null) {
        st.pending.set(node.id, { pos, cn });
        st.counters[node.id] = undefined;
        return;
      }
      const n = Number(value);
      st.counters[node.id] = n;
    }
    try {
      cn.codec!.encode(value, st.buf as Buffer, pos);
    } catch (err) {
      if (err instanceof FieldError || err instanceof FormatError) throw encodeError(cn, st, pos, err);
      throw err;
    }
    if (segmentNode && node === segmentNode) st.segment = value === null || value === undefined ? '' : String(value).trim();
  };

  const encodeItem = (cn: CNode, st: State, pos: number, value: unknown): number => {
    if (cn.align > 1) pos = Math.ceil(pos / cn.align) * cn.align;
    const node = cn.node;
    if (node.occurs) {
      if (value !== undefined && value !== null && !Array.isArray(value)) throw encodeError(cn, st, pos, new Error(`expected an array (OCCURS ${node.occurs.max}), got ${typeof value}`), false);
      const arr = (value ?? []) as unknown[];
      let count = node.occurs.max;
      const dep = node.occurs.dependingOn;
      if (dep) {
        const pending = st.pending.get(dep.id);
        if (pending) {
          st.pending.delete(dep.id);
          encodeField(pending.cn, st, pending.pos, arr.length);
        }
        count = st.counters[dep.id] ?? arr.length;
        if (arr.length !== count && value !== undefined) throw encodeError(cn, st, pos, new Error(`has ${arr.length} element(s) but its DEPENDING ON field ${dep.name} is ${count}`), false);
        if (count > node.occurs.max || count < node.occurs.min) throw encodeError(cn, st, pos, new Error(`${dep.name} = ${count} is outside OCCURS ${node.occurs.min} TO ${node.occurs.max}`), false);
      } else if (arr.length > count) {
        throw encodeError(cn, st, pos, new Error(`has ${arr.length} elements but OCCURS ${count} allows at most ${count}`), false);
      }
      let p = pos;
      st.indices.push(0);
      for (let i = 0; i < count; i++) {
        st.indices[st.indices.length - 1] = i;
        if (!variable) p = pos + i * node.size;
        const el = arr[i];
        if (node.isGroup) p = encodeGroup(cn, st, p, (el ?? {}) as Record<string, unknown>);
        else { encodeField(cn, st, p, el); p += node.size; }
      }
      st.indices.pop();
      return variable ? p : pos + node.size * node.occurs.max;
    }
    if (node.isGroup) {
      if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value))) throw encodeError(cn, st, pos, new Error(`expected an object for group ${node.name}, got ${Array.isArray(value) ? 'an array' : typeof value}`));
      const end = encodeGroup(cn, st, pos, (value ?? {}) as Record<string, unknown>);
      return variable ? end : pos + node.size;
    }
    encodeField(cn, st, pos, value);
    return pos + node.size;
  };

  const encodeGroup = (cn: CNode, st: State, pos: number, obj: Record<string, unknown>): number => {
    let end = pos;
    for (const set of cn.sets) {
      const start = end;
      let chosen = set.items[0]!;
      if (set.items.length > 1) {
        const seg = set.hasSegment ? set.items.find((x) => x.segmentName === selectedSegment(st, start)) : undefined;
        chosen = seg ?? set.items.find((x) => obj[x.key] !== undefined && obj[x.key] !== null) ?? chosen;
      }
      const cEnd = encodeItem(chosen, st, start, chosen.hidden ? undefined : obj[chosen.key]);
      end = variable ? cEnd : Math.max(cEnd, start + set.span);
    }
    return end;
  };

  const collapsed = (r: CNode) => resolved.rootPolicy === 'collapse' && r.node.isGroup && !r.node.occurs;
  const rootPresent = (r: CNode, doc: Record<string, unknown>) => (collapsed(r) ? r.children.some((c) => doc[c.key] !== undefined) : doc[r.key] !== undefined);

  const codec: RecordCodec = {
    recordSize: layout.size,
    variableSize: variable,
    options: resolved,
    decode(record, ctx) {
      const buf = padded(record);
      return decodeRoots(newState(buf, buf.length, ctx), 0).value;
    },
    decodeAt(buf, offset, ctx) {
      return decodeRoots(newState(buf, buf.length, ctx), offset);
    },
    encode(doc, ctx) {
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new FormatError(`${ctx?.recordNumber !== undefined ? `record ${ctx.recordNumber}: ` : ''}expected an object to encode, got ${Array.isArray(doc) ? 'an array' : doc === null ? 'null' : typeof doc}`);
      const buf = Buffer.allocUnsafe(layout.size).fill(space); // pooled: cheaper than alloc for small records
      const st = newState(buf, buf.length, ctx);
      let end = 0;
      // several 01 records share the bytes like REDEFINES: write the first one the document has fields of
      const r = roots.length > 1 ? roots.find((x) => rootPresent(x, doc)) ?? roots[0]! : roots[0]!;
      end = collapsed(r) ? encodeGroup(r, st, 0, doc) : encodeItem(r, st, 0, doc[r.key]);
      for (const { pos, cn } of st.pending.values()) encodeField(cn, st, pos, 0);
      return variable ? buf.subarray(0, end) : buf;
    },
    layout: () => layout,
    layoutReport: (opts) => layoutReport(layout, opts),
  };
  return codec;
}

export { ShortRecordError, outputName };
