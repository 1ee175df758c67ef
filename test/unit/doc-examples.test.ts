/**
 * Issue 11 item 14: no example in README.md or docs/ can rot. Every ```yaml block must parse as
 * YAML (with `${env:...}` references as the config loader reads them) and pass the config schema
 * (the driver's own schemas included): a whole config as it is, a fragment (a `from:` / `to:`
 * block, a `map:`, a `pipelines:` or `systems:` section) completed into the smallest config
 * around it, with the systems it names given the driver of the page (docs/connectors/<driver>.md).
 * Every ```ts block is compiled by the TypeScript compiler against the package's own types
 * (`hms-sync` resolves to src/index.ts).
 *
 * Markers, as HTML comments on the line before a block (keep both lists short):
 * - `<!-- not-a-config -->`: a YAML block that is deliberately partial (still parsed as YAML);
 * - `<!-- ts-givens: declare const x: T; ... -->`: declarations the snippet assumes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { parseDocument, stringify } from 'yaml';
import { parseConfig } from '../../src/config/load-config.js';
import { protectEnvRefs } from '../../src/config/env.js';
import { listDrivers } from '../../src/connectors/registry.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NOT_A_CONFIG = '<!-- not-a-config -->';
const GIVENS = /^<!-- ts-givens: (.*) -->$/;
/** At most this many YAML blocks may be marked as not a config. */
const MAX_SKIPPED = 4;

interface Block { file: string; line: number; lang: 'yaml' | 'ts'; text: string; marker: string | null }

function markdownFiles(): string[] {
  const out = ['README.md'];
  const walk = (dir: string) => {
    for (const e of readdirSync(path.join(ROOT, dir)).sort()) {
      const rel = path.join(dir, e);
      if (statSync(path.join(ROOT, rel)).isDirectory()) walk(rel);
      else if (e.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  return out;
}

function blocks(): Block[] {
  const out: Block[] = [];
  for (const file of markdownFiles()) {
    const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const m = /^(\s*)```(yaml|yml|ts|typescript)\s*$/.exec(lines[i]!);
      if (!m) continue;
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !/^\s*```\s*$/.test(lines[j]!)) body.push(lines[j++]!.slice(m[1]!.length));
      let k = i - 1;
      while (k >= 0 && lines[k]!.trim() === '') k--;
      const prev = k >= 0 ? lines[k]!.trim() : '';
      out.push({ file, line: i + 1, lang: m[2]!.startsWith('y') ? 'yaml' : 'ts', text: body.join('\n'), marker: prev.startsWith('<!--') ? prev : null });
      i = j;
    }
  }
  return out;
}

const ALL = blocks();
const where = (b: Block) => `${b.file}:${b.line}`;

/** A plausible value for every `${env:NAME}` the examples use (a signing secret must look like one). */
const env = new Proxy({} as Record<string, string>, {
  get: (_t, name) => (typeof name !== 'string' ? undefined : /SECRET/.test(name) ? `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}` : /PORT/.test(name) ? '8080' : 'example'),
  has: () => true,
});

/** The smallest system block of each driver, for systems a fragment names but does not define. */
const MINIMAL_SYSTEM: Record<string, Record<string, unknown>> = {
  sqlite: { driver: 'sqlite', path: './example.db' },
  postgres: { driver: 'postgres', url: 'postgres://sync@db.example/legacy' },
  mariadb: { driver: 'mariadb', url: 'mysql://sync@db.example/shop' },
  mysql: { driver: 'mysql', url: 'mysql://sync@db.example/shop' },
  http: { driver: 'http', url: 'https://api.example.org' },
  soap: { driver: 'soap', wsdl: './example.wsdl' },
  file: { driver: 'file', transport: 'local', dir: './files' },
};
const OTHER_END = { system: 'example_other', collection: 'example' };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The driver a page documents (docs/connectors/<driver>.md), else sqlite. */
function pageDriver(file: string): string {
  const m = /docs\/connectors\/([a-z]+)\.md$/.exec(file.replaceAll(path.sep, '/'));
  return m && MINIMAL_SYSTEM[m[1]!] ? m[1]! : 'sqlite';
}

/**
 * A fragment completed into a whole config (`completed`: something was added), or null when the
 * block is not recognisable. A system a fragment names without defining it gets the page's driver
 * when its end carries driver options, else sqlite (a table is both a source and a sink); a block
 * of system keys on a connector page becomes one system of that driver.
 */
function completeConfig(js: Obj, file: string): { config: Obj; completed: boolean } | null {
  const driver = pageDriver(file);
  const whole = 'pipelines' in js || 'systems' in js || 'store' in js;
  let completed = !whole;
  let pipelines: Obj;
  if (whole) pipelines = isObj(js.pipelines) ? { ...js.pipelines } : {};
  else if ('from' in js || 'to' in js || 'map' in js) pipelines = { example: { ...js } };
  else if (file.includes('connectors/')) return { config: { systems: { example: { ...MINIMAL_SYSTEM[driver], ...js } } }, completed: true };
  else return null;
  const systems: Obj = isObj(js.systems) ? { ...js.systems } : {};
  const named = new Map<string, string>();
  for (const [name, p] of Object.entries(pipelines)) {
    if (!isObj(p)) continue;
    const q: Obj = { ...p };
    // a fragment shows one end: the other end is an sqlite table
    if (q.from === undefined || q.to === undefined || q.key === undefined) completed = true;
    q.from ??= { ...OTHER_END };
    q.to ??= { ...OTHER_END };
    for (const end of [q.from, q.to]) {
      if (!isObj(end) || typeof end.system !== 'string') continue;
      const hasOptions = Object.keys(end).some((k) => k !== 'system' && k !== 'collection');
      if (!named.has(end.system) || hasOptions) named.set(end.system, hasOptions && end.system !== OTHER_END.system ? driver : 'sqlite');
    }
    if (q.key === undefined) {
      const rules = isObj(q.map) ? Object.entries(q.map) : [];
      const rename = rules.map(([t, r]) => (typeof r === 'string' ? r : isObj(r) && typeof r.from === 'string' ? r.from : isObj(r) && r.expr === undefined ? t : undefined)).find(Boolean);
      q.key = rename ?? 'id';
    }
    pipelines[name] = q;
  }
  for (const [name, d] of named) {
    if (name in systems) continue;
    systems[name] = MINIMAL_SYSTEM[d]!;
    completed = true;
  }
  return { config: whole ? { ...js, systems, pipelines } : { systems, pipelines }, completed };
}

test('the examples are found (README and docs), and the not-a-config list stays short', () => {
  const yaml = ALL.filter((b) => b.lang === 'yaml');
  assert.ok(yaml.some((b) => b.file === 'README.md'), 'the README configuration example is among them');
  assert.ok(yaml.length >= 20, `found ${yaml.length} YAML blocks`);
  assert.ok(ALL.some((b) => b.lang === 'ts'));
  const skipped = yaml.filter((b) => b.marker === NOT_A_CONFIG).map(where);
  assert.ok(skipped.length <= MAX_SKIPPED, `too many blocks marked ${NOT_A_CONFIG}: ${skipped.join(', ')}`);
  // a marker must sit on a block of its kind, not lose its block
  for (const b of ALL) {
    if (b.marker === NOT_A_CONFIG) assert.equal(b.lang, 'yaml', `${where(b)}: ${NOT_A_CONFIG} marks a YAML block`);
    if (b.marker && GIVENS.test(b.marker)) assert.equal(b.lang, 'ts', `${where(b)}: ts-givens marks a TypeScript block`);
  }
  assert.ok(listDrivers().every((d) => d in MINIMAL_SYSTEM), 'every built-in driver has a minimal system for fragments');
});

for (const b of ALL.filter((x) => x.lang === 'yaml')) {
  test(`YAML example ${where(b)} parses and passes the config schema`, () => {
    const doc = parseDocument(protectEnvRefs(b.text).text, { uniqueKeys: true });
    assert.deepEqual(doc.errors.map((e) => e.message.split('\n')[0]), [], `${where(b)} is not valid YAML`);
    if (b.marker === NOT_A_CONFIG) return;
    const js = doc.toJS() as unknown;
    const onlyComments = js === null || js === undefined;
    if (onlyComments) return; // a comment-only block (the schema modeline) has nothing to check
    assert.ok(isObj(js), `${where(b)}: a YAML example is a mapping (or mark it ${NOT_A_CONFIG})`);
    const r = completeConfig(js, b.file);
    assert.ok(r, `${where(b)}: not a config nor a recognisable fragment (keys ${Object.keys(js).join(', ')}); mark it ${NOT_A_CONFIG} if it is deliberately partial`);
    // a whole config is checked as written (its own line numbers); a fragment as the smallest config around it
    const { issues } = parseConfig(r.completed ? stringify(r.config) : b.text, { env, baseDir: ROOT });
    assert.deepEqual(issues.map((i) => `${r.completed ? '' : `line ${i.line} `}${i.path}: ${i.message}`), [], `${where(b)} fails the config schema${r.completed ? ' (as a fragment completed into a config)' : ''}`);
  });
}

test('TypeScript examples compile against the package\'s own types', () => {
  const snippets = ALL.filter((b) => b.lang === 'ts');
  const files = new Map<string, string>();
  snippets.forEach((b, n) => {
    const givens = b.marker ? GIVENS.exec(b.marker)?.[1] ?? '' : '';
    // at the repository root, so `./src/...` imports resolve as the docs say
    files.set(path.join(ROOT, `__doc_example_${n}.ts`), `${givens}\n${b.text}\nexport {};\n`);
  });
  const { config } = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, ROOT);
  const options: ts.CompilerOptions = {
    ...parsed.options,
    noEmit: true,
    declaration: false,
    sourceMap: false,
    noUnusedLocals: false,
    noUnusedParameters: false,
    paths: { 'hms-sync': ['./src/index.ts'] },
    baseUrl: ROOT,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => files.has(path.resolve(f)) || fileExists.call(host, f);
  host.readFile = (f) => files.get(path.resolve(f)) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, ...rest) => {
    const text = files.get(path.resolve(f));
    return text !== undefined ? ts.createSourceFile(f, text, lang) : getSourceFile.call(host, f, lang, ...rest);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const problems: string[] = [];
  for (const sf of program.getSourceFiles()) {
    const i = [...files.keys()].indexOf(path.resolve(sf.fileName));
    if (i < 0) continue;
    const b = snippets[i]!;
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      const line = d.start !== undefined ? sf.getLineAndCharacterOfPosition(d.start).line : 0; // line 0 holds the givens
      problems.push(`${b.file}:${b.line + line} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    }
  }
  assert.deepEqual(problems, [], 'every TypeScript example compiles');
});
