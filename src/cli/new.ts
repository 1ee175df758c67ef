import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { printJson } from './common.js';
import { builtInDrivers, isBuiltInDriver } from '../connectors/registry.js';
import { EXIT } from './exit-codes.js';

const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** The files of a translator plug-in for `system` (kebab-case). */
export function scaffoldFiles(system: string): Record<string, string> {
  const fn = system.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return {
    'translate.mjs': `// Translator for ${system}: turns one delta into what ${system} speaks.
// Here: one CSV line "op,key,field=value;field=value". Change it to your system's format.
/** @param {{ op: 'insert'|'update'|'delete', key: string, changed: Record<string, unknown> }} delta */
export function translate(delta) {
  const esc = (v) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",;\\n=]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  const fields = Object.keys(delta.changed).sort().map((k) => k + '=' + esc(delta.changed[k])).join(';');
  return [delta.op.toUpperCase(), esc(delta.key), fields].join(',') + '\\n';
}
`,
    'translate.test.mjs': `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { translate } from './translate.mjs';

test('${system}: an update becomes one CSV line with only the changed fields', () => {
  const line = translate({ op: 'update', key: '123', changed: { status: 'APPROVED' } });
  assert.equal(line, 'UPDATE,123,status=APPROVED\\n');
});

test('${system}: values with separators are quoted', () => {
  assert.equal(translate({ op: 'insert', key: 'a,b', changed: { note: 'x;y' } }), 'INSERT,"a,b",note="x;y"\\n');
});
`,
    'index.mjs': `// hms-sync connector plug-in for ${system} (scaffolded by \`hms-sync new ${system}\`).
// Register it in hms-sync.yaml:   plugins: [./connectors/${system}/index.mjs]
// and use it as a system:         systems: { ${system}: { driver: ${system}, url: http://... } }
import { defineConnector, z, PermanentError, RetryableError } from 'hms-sync';
import { translate } from './translate.mjs';

/** fetch() reports "fetch failed"; the reason (ECONNREFUSED, a timeout...) is in its cause. */
const why = (err) => err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(err);

const ${fn}Connector = defineConnector({
  driver: '${system}',
  description: '${system} (translator plug-in)',
  systemSchema: z.object({
    url: z.string().url().describe('Endpoint that receives the translated records'),
    timeoutMs: z.number().int().positive().default(10000).describe('Per-request timeout'),
  }).strict(),
  async testConnection(config) {
    let res;
    try {
      res = await fetch(config.url, { method: 'HEAD', signal: AbortSignal.timeout(config.timeoutMs) });
    } catch (err) {
      throw new Error('${system} at ' + config.url + ' is not reachable: ' + why(err));
    }
    if (res.status >= 500) throw new Error('${system} answered HTTP ' + res.status);
  },
  createSink({ systemConfig }) {
    return {
      async write(items, signal) {
        return Promise.all(items.map(async (item) => {
          try {
            const res = await fetch(systemConfig.url, {
              method: 'POST',
              body: translate(item.delta),
              headers: { 'content-type': 'text/csv', 'idempotency-key': item.idempotencyKey },
              signal: AbortSignal.any([signal, AbortSignal.timeout(systemConfig.timeoutMs)]),
            });
            if (res.ok) return { ok: true };
            const why = '${system} answered HTTP ' + res.status + ': ' + (await res.text()).slice(0, 200);
            // 5xx and 429 are worth retrying; other 4xx mean the record itself is wrong.
            return { ok: false, error: res.status >= 500 || res.status === 429 ? new RetryableError(why) : new PermanentError(why) };
          } catch (err) {
            // network errors and timeouts are worth retrying
            return { ok: false, error: new RetryableError('${system} at ' + systemConfig.url + ' did not answer: ' + why(err), { cause: err }) };
          }
        }));
      },
      async close() {},
    };
  },
});

export default ${fn}Connector;
`,
    'README.md': `# ${system} translator

Scaffolded by \`hms-sync new ${system}\`.

- \`translate.mjs\`: delta -> what ${system} speaks. Edit this.
- \`translate.test.mjs\`: run with \`node --test connectors/${system}/*.test.mjs\`.
- \`index.mjs\`: the connector descriptor hms-sync loads. Add to your config:

\`\`\`yaml
plugins: [./connectors/${system}/index.mjs]
systems:
  ${system}: { driver: ${system}, url: http://127.0.0.1:8080/import }
pipelines:
  to-${system}:
    from: { system: my-app, collection: permits }
    to: { system: ${system}, collection: permits }
    key: id
\`\`\`

Queueing, retries, dead letters and per-key order work without any code here.
`,
  };
}

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('new')
    .description('Scaffold a translator plug-in for a new legacy system, with a passing test')
    .argument('<system>', 'system name in kebab-case, e.g. county-housing')
    .option('-d, --dir <dir>', 'parent folder', 'connectors')
    .option('--force', 'overwrite existing files')
    .option('--json', 'print the created files as JSON')
    .addHelpText('after', '\nExample:\n  npx hms-sync new county-housing && node --test connectors/county-housing/*.test.mjs\n')
    .action((system: string, opts: { dir: string; force?: boolean; json?: boolean }) => {
      if (!NAME.test(system)) throw new UsageError(`system name "${system}" must be kebab-case: lower-case letters and digits separated by single dashes, e.g. county-housing`);
      if (isBuiltInDriver(system)) {
        throw new UsageError(`"${system}" is a built-in driver (${builtInDrivers().join(', ')}); a plug-in named after it would shadow it. Name the plug-in after the system it talks to, e.g. county-${system}`);
      }
      const dir = path.resolve(opts.dir, system);
      const files = scaffoldFiles(system);
      const existing = Object.keys(files).filter((f) => existsSync(path.join(dir, f)));
      if (existing.length && !opts.force) throw new UsageError(`${dir} already has ${existing.join(', ')}; pass --force to overwrite`);
      mkdirSync(dir, { recursive: true });
      const created = Object.entries(files).map(([f, text]) => {
        writeFileSync(path.join(dir, f), text);
        return path.join(dir, f);
      });
      if (opts.json) printJson({ system, dir, files: created });
      else process.stdout.write(`created ${created.map((f) => path.relative(process.cwd(), f)).join(', ')}\nnext: edit translate.mjs, run \`node --test ${path.relative(process.cwd(), dir)}/*.test.mjs\`, and add the plug-in to your config (see its README.md)\n`);
      setCode(EXIT.OK);
    });
}
