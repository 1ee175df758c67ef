/**
 * Copybook parser: data description entries (levels 01-49, 66, 77, 88) with PICTURE, USAGE,
 * SIGN, OCCURS [DEPENDING ON], REDEFINES, RENAMES, SYNCHRONIZED, VALUE, BLANK WHEN ZERO and
 * JUSTIFIED clauses, built into a tree by level numbers.
 *
 * @example
 * const cb = parseCopybook(text, { fileName: 'customer.cpy' });
 */
import { FormatError } from '../../core/errors.js';
import { tokenize, type SourceFormat, type Token } from './copybook-lexer.js';
import { parsePicture, PictureError } from './copybook-picture.js';
import type { ConditionName, Copybook, CopybookItem, Usage } from './copybook-types.js';

export interface ParseCopybookOptions {
  /** Shown in error messages (default "copybook"). */
  fileName?: string;
  /** 'fixed' (default): columns 1-6 sequence area, 7 indicator, 8-72 text. 'free': whole lines. */
  format?: SourceFormat;
}

const USAGES: Record<string, Usage> = {
  DISPLAY: 'display',
  COMP: 'binary', COMPUTATIONAL: 'binary', 'COMP-0': 'binary', 'COMPUTATIONAL-0': 'binary',
  'COMP-4': 'binary', 'COMPUTATIONAL-4': 'binary', BINARY: 'binary',
  'COMP-5': 'native-binary', 'COMPUTATIONAL-5': 'native-binary', 'COMP-X': 'native-binary',
  'COMP-3': 'packed', 'COMPUTATIONAL-3': 'packed', 'PACKED-DECIMAL': 'packed',
  'COMP-1': 'float-single', 'COMPUTATIONAL-1': 'float-single',
  'COMP-2': 'float-double', 'COMPUTATIONAL-2': 'float-double',
};

const CLAUSE_WORDS = new Set([
  'PIC', 'PICTURE', 'USAGE', 'SIGN', 'LEADING', 'TRAILING', 'OCCURS', 'REDEFINES', 'RENAMES', 'SYNC', 'SYNCHRONIZED',
  'VALUE', 'VALUES', 'BLANK', 'JUST', 'JUSTIFIED', 'GLOBAL', 'EXTERNAL', 'INDEXED', 'ASCENDING', 'DESCENDING', 'DEPENDING',
  ...Object.keys(USAGES),
]);

class Cursor {
  i = 0;
  constructor(readonly tokens: Token[], readonly fileName: string, readonly fixedFormat = true) {}
  peek(offset = 0): Token | undefined { return this.tokens[this.i + offset]; }
  next(): Token | undefined { return this.tokens[this.i++]; }
  peekWord(): string | undefined {
    const t = this.peek();
    return t && t.kind === 'word' ? t.text.toUpperCase() : undefined;
  }
  acceptWord(...words: string[]): string | undefined {
    const w = this.peekWord();
    if (w && words.includes(w)) { this.i++; return w; }
    return undefined;
  }
  lastLine(): number {
    return (this.tokens[this.i] ?? this.tokens[this.i - 1] ?? { line: 0 }).line;
  }
  fail(expected: string, at?: Token, hint = ''): never {
    const t = at ?? this.peek();
    const line = t?.line ?? this.lastLine();
    const found = t ? (t.kind === 'period' ? 'the end of the entry (".")' : `"${t.text}"`) : 'the end of the copybook';
    throw new FormatError(`${this.fileName}:${line}: expected ${expected}, found ${found}${hint}`, { details: { file: this.fileName, line } });
  }
  expectWord(what: string): Token {
    const t = this.peek();
    if (!t || t.kind !== 'word') this.fail(what);
    this.i++;
    return t;
  }
  expectInt(what: string): number {
    const t = this.peek();
    if (!t || t.kind !== 'word' || !/^\d+$/.test(t.text)) this.fail(what);
    this.i++;
    return Number(t.text);
  }
}

/** Parse copybook source text into a tree of items. Throws FormatError naming file:line. */
export function parseCopybook(text: string, options: ParseCopybookOptions = {}): Copybook {
  const fileName = options.fileName ?? 'copybook';
  const cur = new Cursor(tokenize(text, options.format ?? 'fixed', fileName), fileName, (options.format ?? 'fixed') === 'fixed');
  const entries: CopybookItem[] = [];
  while (cur.peek()) {
    if (cur.peek()!.kind === 'period') { cur.next(); continue; }
    const entry = parseEntry(cur);
    if (entry) entries.push(entry);
  }
  return buildTree(entries, fileName);
}

function newItem(level: number, name: string, line: number): CopybookItem {
  return { level, name, line, sync: false, blankWhenZero: false, justified: false, conditions: [], children: [] };
}

function parseEntry(cur: Cursor): CopybookItem | undefined {
  const levelTok = cur.peek()!;
  if (levelTok.kind !== 'word' || !/^\d{1,2}$/.test(levelTok.text)) {
    const w = levelTok.text.toUpperCase();
    // compiler directives and copy statements that sometimes sit in copybooks
    if (['EJECT', 'SKIP1', 'SKIP2', 'SKIP3'].includes(w)) { cur.next(); return undefined; }
    if (w === 'COPY' || w === 'REPLACE') cur.fail(`a level number; ${w} statements are not supported, expand them first (e.g. with cobc -E)`, levelTok);
    cur.fail('a level number (01-49, 66, 77 or 88)', undefined, cur.fixedFormat && cur.i === 0 ? '; if the copybook does not leave columns 1-7 to the sequence area and indicator, parse it with format \'free\'' : '');
  }
  cur.next();
  const level = Number(levelTok.text);
  if (!((level >= 1 && level <= 49) || level === 66 || level === 77 || level === 88)) {
    cur.fail('a level number (01-49, 66, 77 or 88)', levelTok);
  }
  let name = 'FILLER';
  const nameTok = cur.peek();
  if (nameTok && nameTok.kind === 'word' && !CLAUSE_WORDS.has(nameTok.text.toUpperCase())) {
    name = nameTok.text.toUpperCase();
    cur.next();
  }
  const item = newItem(level, name, levelTok.line);
  if (level === 88) {
    parseCondition(cur, item);
    return item;
  }
  for (;;) {
    const t = cur.peek();
    if (!t) break; // tolerate a missing final period
    if (t.kind === 'period') { cur.next(); break; }
    if (t.kind === 'word' && /^\d{1,2}$/.test(t.text) && cur.peek(1)?.kind === 'word') {
      // a new entry started without a period: cobrix tolerates it, so do we
      break;
    }
    parseClause(cur, item);
  }
  return item;
}

function parseCondition(cur: Cursor, item: CopybookItem): void {
  if (!cur.acceptWord('VALUE', 'VALUES')) cur.fail('VALUE or VALUES after a level-88 condition name');
  cur.acceptWord('IS', 'ARE');
  const values: ConditionName['values'] = [];
  while (cur.peek() && cur.peek()!.kind !== 'period') {
    const v = cur.next()!;
    if (cur.acceptWord('THRU', 'THROUGH')) {
      const to = cur.next();
      if (!to || to.kind === 'period') cur.fail('the upper value after THRU');
      values.push({ from: v.text, to: to.text });
    } else {
      values.push(v.text);
    }
  }
  cur.next();
  item.conditions.push({ name: item.name, values });
}

function parseClause(cur: Cursor, item: CopybookItem): void {
  const t = cur.peek()!;
  if (t.kind !== 'word') cur.fail('a clause (PIC, USAGE, OCCURS, REDEFINES, VALUE, ...)');
  const w = t.text.toUpperCase();
  cur.next();
  switch (w) {
    case 'PIC':
    case 'PICTURE': {
      cur.acceptWord('IS');
      const pic = cur.next();
      if (!pic || pic.kind !== 'word') cur.fail('a picture string after PIC', pic);
      try {
        item.picture = parsePicture(pic.text);
      } catch (err) {
        if (err instanceof PictureError) throw new FormatError(`${cur.fileName}:${pic.line}: ${err.message}`, { details: { file: cur.fileName, line: pic.line } });
        throw err;
      }
      return;
    }
    case 'USAGE': {
      cur.acceptWord('IS');
      const u = cur.peekWord();
      if (!u || !USAGES[u]) cur.fail(`a usage (${Object.keys(USAGES).join(', ')})`);
      cur.next();
      item.usage = USAGES[u];
      return;
    }
    case 'SIGN': {
      cur.acceptWord('IS');
      const pos = cur.acceptWord('LEADING', 'TRAILING');
      if (!pos) cur.fail('LEADING or TRAILING after SIGN');
      parseSign(cur, item, pos);
      return;
    }
    case 'LEADING':
    case 'TRAILING':
      parseSign(cur, item, w);
      return;
    case 'OCCURS': {
      const first = cur.expectInt('a number after OCCURS');
      let min = first;
      let max = first;
      const hasTo = !!cur.acceptWord('TO');
      if (hasTo) max = cur.expectInt('the maximum after OCCURS m TO');
      cur.acceptWord('TIMES');
      let dependingOn: string | undefined;
      if (cur.acceptWord('DEPENDING')) {
        cur.acceptWord('ON');
        dependingOn = cur.expectWord('the counter field after DEPENDING ON').text.toUpperCase();
      }
      if (dependingOn && min === max && !hasTo) min = 0; // OCCURS n DEPENDING ON x: 0 to n
      if (max < min) cur.fail(`a maximum of at least ${min} in OCCURS ${min} TO ${max}`);
      item.occurs = { min, max, dependingOn };
      // ASCENDING/DESCENDING KEY IS x, INDEXED BY y: metadata we do not need
      while (cur.acceptWord('ASCENDING', 'DESCENDING', 'INDEXED')) {
        cur.acceptWord('KEY', 'BY');
        cur.acceptWord('IS');
        while (cur.peekWord() && !CLAUSE_WORDS.has(cur.peekWord()!) && !/^\d{1,2}$/.test(cur.peekWord()!)) cur.next();
      }
      return;
    }
    case 'REDEFINES':
      item.redefines = cur.expectWord('the name of the redefined item after REDEFINES').text.toUpperCase();
      return;
    case 'RENAMES': {
      const from = cur.expectWord('a field name after RENAMES').text.toUpperCase();
      let thru: string | undefined;
      if (cur.acceptWord('THRU', 'THROUGH')) thru = cur.expectWord('a field name after THRU').text.toUpperCase();
      item.renames = { from, thru };
      return;
    }
    case 'SYNC':
    case 'SYNCHRONIZED':
      item.sync = true;
      cur.acceptWord('LEFT', 'RIGHT');
      return;
    case 'VALUE':
    case 'VALUES': {
      cur.acceptWord('IS', 'ARE');
      const v = cur.next();
      if (!v || v.kind === 'period') cur.fail('a literal after VALUE', v);
      if (v.kind === 'word' && v.text.toUpperCase() === 'ALL' && cur.peek()?.kind === 'string') {
        item.value = `ALL '${cur.next()!.text}'`;
      } else {
        item.value = v.prefix ? `${v.prefix}'${v.text}'` : v.text;
      }
      // VALUE a THRU b, or several values, only appear on level 88; skip any extra literals
      while (cur.peek()?.kind === 'string') cur.next();
      return;
    }
    case 'BLANK':
      cur.acceptWord('WHEN');
      if (!cur.acceptWord('ZERO', 'ZEROS', 'ZEROES')) cur.fail('ZERO after BLANK WHEN');
      item.blankWhenZero = true;
      return;
    case 'JUST':
    case 'JUSTIFIED':
      item.justified = true;
      cur.acceptWord('RIGHT');
      return;
    case 'GLOBAL':
    case 'EXTERNAL':
      return;
    default:
      if (USAGES[w]) { item.usage = USAGES[w]; return; }
      cur.fail('a clause (PIC, USAGE, COMP-3, OCCURS, REDEFINES, SIGN, VALUE, SYNC, ...)', t);
  }
}

function parseSign(cur: Cursor, item: CopybookItem, pos: string): void {
  const separate = !!cur.acceptWord('SEPARATE');
  if (separate) cur.acceptWord('CHARACTER');
  item.sign = { position: pos === 'LEADING' ? 'leading' : 'trailing', separate };
}

function buildTree(entries: CopybookItem[], fileName: string): Copybook {
  const roots: CopybookItem[] = [];
  const renames: CopybookItem[] = [];
  const stack: CopybookItem[] = [];
  let last: CopybookItem | undefined;
  const fail = (e: CopybookItem, msg: string): never => {
    throw new FormatError(`${fileName}:${e.line}: ${msg}`, { details: { file: fileName, line: e.line } });
  };
  for (const e of entries) {
    if (e.level === 88) {
      if (!last) fail(e, `condition name ${e.name} (level 88) must follow a data item`);
      last!.conditions.push(...e.conditions);
      continue;
    }
    if (e.level === 66) {
      if (!e.renames) fail(e, `level 66 item ${e.name} needs a RENAMES clause`);
      renames.push(e);
      continue;
    }
    if (e.level === 1 || e.level === 77) {
      stack.length = 0;
      roots.push(e);
      stack.push(e);
      last = e;
      continue;
    }
    while (stack.length && stack[stack.length - 1]!.level >= e.level) stack.pop();
    const parent = stack[stack.length - 1];
    if (!parent) {
      // copybooks without an 01 level: every top-level item becomes a root
      roots.push(e);
    } else {
      if (parent.picture || parent.level === 77) fail(e, `${e.name} (level ${e.level}) is nested under ${parent.name}, which has a PICTURE and so cannot have subordinate items`);
      parent.children.push(e);
    }
    stack.push(e);
    last = e;
  }
  if (!roots.length) throw new FormatError(`${fileName}: no data description entries found (expected lines like "01 RECORD." in columns 8-72)`);
  for (const r of roots) validate(r, fileName);
  return { fileName, roots, renames };
}

function validate(item: CopybookItem, fileName: string): void {
  const fail = (msg: string): never => {
    throw new FormatError(`${fileName}:${item.line}: ${msg}`, { details: { file: fileName, line: item.line } });
  };
  if (item.children.length === 0) {
    const floating = item.usage === 'float-single' || item.usage === 'float-double';
    if (!item.picture && !floating && !item.renames) fail(`elementary item ${item.name} needs a PIC clause (or USAGE COMP-1 / COMP-2)`);
  } else if (item.picture) {
    fail(`group item ${item.name} cannot have a PIC clause`);
  }
  for (const c of item.children) validate(c, fileName);
}
