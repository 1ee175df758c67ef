/**
 * Layout: turns the parsed copybook into fields with offsets, sizes and storage types
 * (OCCURS, REDEFINES sharing offsets, SYNCHRONIZED alignment, OCCURS DEPENDING ON at their
 * maximum size), and prints the layout report cobrix prints.
 */
import { FormatError } from '../../core/errors.js';
import type { Copybook, CopybookItem, FieldType, LayoutNode, Usage } from './copybook-types.js';

/** Options that change the byte layout. */
export interface LayoutOptions {
  /** COMP-5 byte order: 'big' (z/OS, default) or 'little' (GnuCOBOL and Micro Focus on x86). */
  comp5ByteOrder?: 'big' | 'little';
  /**
   * Sizes of binary fields by digit count: '2-4-8' (IBM: 1-4 digits 2 bytes, 5-9 4, 10-18 8;
   * default) or '1-2-4-8' (GnuCOBOL's default binary-size: 1-2 digits take 1 byte).
   */
  binarySizes?: '2-4-8' | '1-2-4-8';
}

/** The computed layout of a copybook. */
export interface Layout {
  /** Record roots (01 and 77 levels); several 01 records share offset 0 like REDEFINES. */
  roots: LayoutNode[];
  /** Size of the record in bytes (largest root; ODO arrays at their maximum). */
  size: number;
  /** Every node in source order. */
  nodes: LayoutNode[];
  /** Level-66 RENAMES: alias name with the byte range it covers. */
  renames: Array<{ name: string; from: string; thru?: string; offset: number; size: number }>;
  fileName?: string;
}

/** Name as cobrix shows it: `-` becomes `_`. */
export function outputName(cobolName: string): string {
  return cobolName.replace(/-/g, '_');
}

/** Bytes of a binary field with `digits` digits. */
export function binarySize(digits: number, mode: '2-4-8' | '1-2-4-8' = '2-4-8'): number {
  if (mode === '1-2-4-8' && digits <= 2) return 1;
  if (digits <= 4) return 2;
  if (digits <= 9) return 4;
  if (digits <= 18) return 8;
  // beyond 18 digits, as cobrix does: enough bytes for the digits plus a sign bit
  return Math.ceil((digits * Math.log2(10) + 1) / 8);
}

function fieldType(item: CopybookItem, usage: Usage, sign: CopybookItem['sign'], opts: LayoutOptions, fail: (m: string) => never): { type: FieldType; size: number } {
  const pic = item.picture;
  const base = {
    usage, picture: pic, digits: pic?.digits ?? 0, scale: pic?.scale ?? 0, signed: pic?.signed ?? false,
    signSeparate: false, signLeading: false, littleEndian: false, nativeBinary: false,
    blankWhenZero: item.blankWhenZero, justified: item.justified,
  };
  if (usage === 'float-single' || usage === 'float-double') {
    return { type: { ...base, kind: 'float', signed: true }, size: usage === 'float-single' ? 4 : 8 };
  }
  if (!pic) fail(`${item.name} needs a PIC clause for USAGE ${usage}`);
  if (pic.category === 'alphanumeric' || pic.category === 'alphabetic') {
    if (usage !== 'display') fail(`${item.name} is alphanumeric (PIC ${pic.text}) but has a numeric USAGE; only DISPLAY is valid for text`);
    return { type: { ...base, kind: 'alphanumeric' }, size: pic.size };
  }
  if (pic.category === 'edited') {
    if (usage !== 'display') fail(`${item.name} has an edited PICTURE (${pic.text}) which needs USAGE DISPLAY`);
    return { type: { ...base, kind: 'edited', signed: pic.signed }, size: pic.size };
  }
  switch (usage) {
    case 'display': {
      const signSeparate = !!(sign?.separate && pic.signed);
      const signLeading = sign?.position === 'leading';
      if (sign && !pic.signed) {
        // cobrix accepts SIGN SEPARATE on an unsigned picture and treats the field as signed
        return { type: { ...base, kind: 'zoned', signed: true, signSeparate: sign.separate, signLeading }, size: pic.size + (sign.separate ? 1 : 0) };
      }
      return { type: { ...base, kind: 'zoned', signSeparate, signLeading }, size: pic.size + (signSeparate ? 1 : 0) };
    }
    case 'packed':
      if (pic.explicitPoint) fail(`${item.name} is COMP-3 but its PICTURE ${pic.text} has an actual "."; use V`);
      return { type: { ...base, kind: 'packed' }, size: Math.floor(pic.digits / 2) + 1 };
    case 'binary':
    case 'native-binary': {
      if (pic.explicitPoint) fail(`${item.name} is binary but its PICTURE ${pic.text} has an actual "."; use V`);
      const native = usage === 'native-binary';
      return {
        type: { ...base, kind: 'binary', nativeBinary: native, littleEndian: native && opts.comp5ByteOrder === 'little' },
        size: binarySize(pic.digits, opts.binarySizes),
      };
    }
  }
  fail(`${item.name} has an unsupported USAGE ${usage}`);
}

/**
 * Computes offsets and sizes. Throws FormatError (with file:line) for REDEFINES of an unknown
 * or non-adjacent item, an unknown DEPENDING ON field, or a REDEFINES larger than its target
 * when that target is not a level-01 record.
 */
export function computeLayout(copybook: Copybook, opts: LayoutOptions = {}): Layout {
  const fileName = copybook.fileName ?? 'copybook';
  const nodes: LayoutNode[] = [];
  let nextId = 0;
  const build = (item: CopybookItem, parent: LayoutNode | undefined, usage: Usage, sign: CopybookItem['sign']): LayoutNode => {
    const fail = (m: string): never => { throw new FormatError(`${fileName}:${item.line}: ${m}`, { details: { file: fileName, line: item.line } }); };
    const name = outputName(item.name);
    const node: LayoutNode = {
      id: nextId++, level: item.level, name, cobolName: item.name, path: parent && parent.path ? `${parent.path}.${name}` : name,
      line: item.line, isGroup: item.children.length > 0, isFiller: item.name === 'FILLER', offset: 0, size: 0,
      redefines: item.redefines, redefinedBy: [], inRedefine: false, isOdoCounter: false, sync: item.sync,
      value: item.value, conditions: item.conditions, children: [],
    };
    // not enumerable, so a layout serialises to JSON without cycles
    Object.defineProperty(node, 'parent', { value: parent, enumerable: false });
    if (item.occurs) {
      if (item.level === 1 || item.level === 77) fail(`OCCURS is not allowed on level ${item.level} item ${item.name}`);
      node.occurs = { min: item.occurs.min, max: item.occurs.max, dependingOnName: item.occurs.dependingOn };
    }
    nodes.push(node);
    const u = item.usage ?? usage;
    const s = item.sign ?? sign;
    if (node.isGroup) {
      for (const c of item.children) node.children.push(build(c, node, u, s));
    } else {
      const { type, size } = fieldType(item, u, s, opts, fail);
      node.type = type;
      node.size = size;
    }
    return node;
  };
  const roots = copybook.roots.map((r) => build(r, undefined, r.usage ?? 'display', r.sign));
  // a record root's own name is not part of the paths (collapse_root shape); keep it only for multiple roots
  const byName = new Map<string, LayoutNode[]>();
  for (const n of nodes) byName.set(n.cobolName, [...(byName.get(n.cobolName) ?? []), n]);

  const place = (node: LayoutNode, offset: number): number => {
    offset = alignFor(node, offset);
    node.offset = offset;
    if (node.isGroup) {
      let end = offset;
      let setStart = offset;
      node.children.forEach((c, i) => {
        if (c.redefines) {
          const failAt = (m: string): never => { throw new FormatError(`${fileName}:${c.line}: ${m}`, { details: { file: fileName, line: c.line } }); };
          const target = node.children.slice(0, i).find((x) => x.cobolName === c.redefines);
          if (!target) failAt(`${c.cobolName} REDEFINES ${c.redefines}, which is not an earlier item at the same level of ${node.cobolName}`);
          const prev = node.children[i - 1]!;
          if (prev.cobolName !== c.redefines && prev.redefines !== c.redefines) failAt(`${c.cobolName} REDEFINES ${c.redefines} but does not follow it directly (only other REDEFINES of it may come between)`);
          target!.redefinedBy.push(c.cobolName);
        } else {
          setStart = end; // a new item starts after everything so far, REDEFINES included
        }
        end = Math.max(end, place(c, setStart));
      });
      node.size = end - offset;
      // inter-occurrence slack bytes: every occurrence keeps its SYNCHRONIZED items aligned
      const align = node.occurs ? maxAlign(node) : 1;
      if (align > 1) node.size = Math.ceil(node.size / align) * align;
    }
    return node.offset + node.size * (node.occurs ? node.occurs.max : 1);
  };
  let size = 0;
  for (const r of roots) size = Math.max(size, place(r, 0));

  const markRedefine = (n: LayoutNode, inside: boolean): void => {
    n.inRedefine = inside || !!n.redefines || n.redefinedBy.length > 0;
    for (const c of n.children) markRedefine(c, n.inRedefine);
  };
  for (const r of roots) markRedefine(r, roots.length > 1); // several records share offset 0

  for (const n of nodes) {
    if (!n.occurs?.dependingOnName) continue;
    const candidates = byName.get(n.occurs.dependingOnName) ?? [];
    const counter = candidates.find((c) => !c.isGroup);
    if (!counter) throw new FormatError(`${fileName}:${n.line}: ${n.cobolName} OCCURS DEPENDING ON ${n.occurs.dependingOnName}, which is not an elementary field of the copybook`, { details: { file: fileName, line: n.line } });
    if (counter.type?.kind === 'alphanumeric' || counter.type?.kind === 'float') throw new FormatError(`${fileName}:${n.line}: ${n.cobolName} OCCURS DEPENDING ON ${counter.cobolName}, which is not an integer field`, { details: { file: fileName, line: n.line } });
    n.occurs.dependingOn = counter;
    counter.isOdoCounter = true;
  }
  const renames = copybook.renames.map((r) => {
    const from = byName.get(r.renames!.from)?.[0];
    const thru = r.renames!.thru ? byName.get(r.renames!.thru)?.[0] : from;
    if (!from || !thru) throw new FormatError(`${fileName}:${r.line}: ${r.name} RENAMES ${r.renames!.from}${r.renames!.thru ? ` THRU ${r.renames!.thru}` : ''}, which is not a field of the copybook`, { details: { file: fileName, line: r.line } });
    return { name: outputName(r.name), from: r.renames!.from, thru: r.renames!.thru, offset: from.offset, size: thru.offset + thru.size - from.offset };
  });
  return { roots, size, nodes, renames, fileName: copybook.fileName };
}

/** Alignment of a SYNCHRONIZED binary or float item (its size: 2, 4 or 8), else 1. */
function alignOf(node: LayoutNode): number {
  if (!node.sync || node.isGroup || !node.type || (node.type.kind !== 'binary' && node.type.kind !== 'float')) return 1;
  return node.size >= 8 ? 8 : node.size >= 4 ? 4 : 2;
}

/** Largest alignment among a group's SYNCHRONIZED descendants. */
function maxAlign(node: LayoutNode): number {
  return node.children.reduce((m, c) => Math.max(m, c.isGroup ? maxAlign(c) : alignOf(c)), 1);
}

/** SYNCHRONIZED binary and float items start at a multiple of their size from the record start. */
function alignFor(node: LayoutNode, offset: number): number {
  const align = alignOf(node);
  return align > 1 ? Math.ceil(offset / align) * align : offset;
}

/** Short type description used by the layout report ("X(10)", "S9(5)V99 COMP-3", "COMP-1"...). */
export function describeType(node: LayoutNode): string {
  const t = node.type;
  if (!t) return node.occurs ? `group[${node.occurs.max}]` : 'group';
  const usage: Record<Usage, string> = { display: '', binary: ' COMP', 'native-binary': ' COMP-5', packed: ' COMP-3', 'float-single': 'COMP-1', 'float-double': 'COMP-2' };
  if (t.kind === 'float') return usage[t.usage];
  const sign = t.signSeparate ? ` SIGN ${t.signLeading ? 'LEADING' : 'TRAILING'} SEPARATE` : t.signLeading ? ' SIGN LEADING' : '';
  return `${t.picture?.text ?? ''}${usage[t.usage]}${sign}`;
}

/**
 * The layout report in cobrix's format: level and name indented by depth, attributes
 * (R = REDEFINES, r = redefined, [] = OCCURS, D = DEPENDING ON counter), field number, start,
 * end (1-based, inclusive) and length. With `types`, a last column gives each field's
 * PICTURE and USAGE ({@link describeType}), which cobrix's report does not show.
 */
export function layoutReport(layout: Layout, opts: { types?: boolean } = {}): string {
  const lines = [`-------- FIELD LEVEL/NAME --------- --ATTRIBS--    FLD  START     END  LENGTH${opts.types ? '  TYPE' : ''}`, ''];
  // One space between columns even when a number outgrows cobrix's 6-character width.
  const col = (v: number) => ` ${String(v).padStart(6)}`;
  let fld = 0;
  const walk = (n: LayoutNode, depth: number) => {
    fld++;
    const attrs = `${n.redefines ? 'R' : ''}${n.redefinedBy.length ? 'r' : ''}${n.occurs ? '[]' : ''}${n.isOdoCounter ? 'D' : ''}`;
    const label = `${' '.repeat(depth * 2)}${n.level} ${n.name}`;
    const len = n.size * (n.occurs ? n.occurs.max : 1);
    lines.push(`${label.padEnd(36)}${attrs.padEnd(12)}${col(fld)}${col(n.offset + 1)}${col(n.offset + len)}${col(len)}${opts.types ? `  ${describeType(n)}` : ''}`);
    for (const c of n.children) walk(c, depth + 1);
  };
  for (const r of layout.roots) walk(r, 0);
  return lines.join('\n') + '\n';
}
