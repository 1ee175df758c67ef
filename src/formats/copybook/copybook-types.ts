/**
 * Types shared by the copybook parser, the layout and the record codec.
 * The parser produces {@link CopybookItem} trees (what the source says); the layout turns
 * them into {@link LayoutNode} trees (where every byte is).
 */

/** How a field is stored, after resolving USAGE synonyms (COMP-4 = BINARY = COMP, ...). */
export type Usage = 'display' | 'binary' | 'native-binary' | 'packed' | 'float-single' | 'float-double';

/** What a PICTURE string describes. */
export interface Picture {
  /** The PICTURE text as written, e.g. `S9(5)V99`. */
  text: string;
  /** alphanumeric (X, A, editing B 0 /), numeric (9 S V P and an explicit `.`), edited numeric (Z + - * CR DB $ ...). */
  category: 'alphanumeric' | 'alphabetic' | 'numeric' | 'edited';
  /** Character positions (alphanumeric, edited) or digit positions (numeric). */
  size: number;
  /** Digit positions that are stored (9, and Z * for edited pictures). */
  digits: number;
  /** Digits right of the decimal point; P on the left adds to it, P on the right makes it negative. */
  scale: number;
  signed: boolean;
  /** Numeric picture written with an actual `.` (stored as a character). */
  explicitPoint: boolean;
  /** Expanded picture (repetitions written out), e.g. `S99999V99`. */
  expanded: string;
}

/** A level-88 condition name kept as metadata. */
export interface ConditionName {
  name: string;
  values: Array<string | { from: string; to: string }>;
}

/** One data description entry of the copybook, with its children. */
export interface CopybookItem {
  level: number;
  /** Name as written (FILLER for unnamed items). */
  name: string;
  /** 1-based line of the copybook where the entry starts. */
  line: number;
  picture?: Picture;
  /** USAGE written on this entry (groups pass theirs on to children). */
  usage?: Usage;
  sign?: { position: 'leading' | 'trailing'; separate: boolean };
  occurs?: { min: number; max: number; dependingOn?: string };
  redefines?: string;
  renames?: { from: string; thru?: string };
  sync: boolean;
  value?: string;
  blankWhenZero: boolean;
  justified: boolean;
  conditions: ConditionName[];
  children: CopybookItem[];
}

/** A parsed copybook: the 01 / 77 level records plus 66-level RENAMES kept aside. */
export interface Copybook {
  fileName?: string;
  roots: CopybookItem[];
  renames: CopybookItem[];
}

/** Concrete storage of an elementary field. */
export type FieldKind = 'alphanumeric' | 'zoned' | 'edited' | 'packed' | 'binary' | 'float';

/** Resolved storage description of an elementary field. */
export interface FieldType {
  kind: FieldKind;
  usage: Usage;
  picture?: Picture;
  digits: number;
  scale: number;
  signed: boolean;
  signSeparate: boolean;
  signLeading: boolean;
  /** Binary: little-endian (COMP-5 with comp5ByteOrder 'little'). */
  littleEndian: boolean;
  /** Binary: COMP-5 keeps the full binary range instead of the PIC digits. */
  nativeBinary: boolean;
  blankWhenZero: boolean;
  justified: boolean;
}

/** A field or group with its place in the record. */
export interface LayoutNode {
  id: number;
  level: number;
  /** Name as in the output (cobrix style: `-` becomes `_`). */
  name: string;
  /** Name as written in the copybook. */
  cobolName: string;
  /** Dotted path of output names from the record root, without array indices. */
  path: string;
  line: number;
  isGroup: boolean;
  isFiller: boolean;
  /** Byte offset of the first occurrence from the start of the record (fixed layout). */
  offset: number;
  /** Size in bytes of one occurrence (the maximum when it holds variable arrays). */
  size: number;
  occurs?: { min: number; max: number; dependingOn?: LayoutNode; dependingOnName?: string };
  /** Name of the item this one REDEFINES. */
  redefines?: string;
  /** Names of the items that REDEFINE this one. */
  redefinedBy: string[];
  /** True when this node, or an ancestor, shares its bytes with a REDEFINES alternative. */
  inRedefine: boolean;
  /** True when some ODO array depends on this field. */
  isOdoCounter: boolean;
  sync: boolean;
  value?: string;
  conditions: ConditionName[];
  type?: FieldType;
  children: LayoutNode[];
  parent?: LayoutNode;
}
