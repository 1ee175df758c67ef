/**
 * `hms-sync demo`: the bridge-inspection story from the seeds on embedded defaults.
 * A SQLite file stands in for the mainframe's INSPECTIONS table (legacy names and codes);
 * a local HTTP receiver stands in for the public dashboard and prints each update.
 */
import { createServer, type Server } from 'node:http';
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { openDatabase, type SqliteDatabase } from '../store/sqlite/sqlite-driver.js';
import type { Command } from 'commander';
import { configError, parseConfig } from '../config/load-config.js';
import { errorMessage, NotConnectedError, NotFoundError, UsageError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { createEngine, type Engine } from '../engine/engine.js';
import { EXIT } from './exit-codes.js';

const SEED_ROWS = [
  { BRG_ID: 'B-0042', BRG_NAME: 'MILL CREEK OVERPASS', NEXT_INSP_DT: '20261201', CODE_STS: 'A' },
  { BRG_ID: 'B-0107', BRG_NAME: 'RIVER ROAD BRIDGE', NEXT_INSP_DT: '20270115', CODE_STS: 'P' },
  { BRG_ID: 'B-0311', BRG_NAME: 'OLD TOWN VIADUCT', NEXT_INSP_DT: '20260930', CODE_STS: 'C' },
];

export function demoConfigYaml(dir: string, port: number, debounce = '2s'): string {
  return `# The bridge-inspection demo (written by \`hms-sync demo\`; run it yourself with \`hms-sync run ${'<this file>'}\`).
store: sqlite:${path.join(dir, 'state.db')}
stateDir: ${dir}
systems:
  mainframe:                     # a SQLite file standing in for the legacy calendar
    driver: sqlite
    path: ${path.join(dir, 'legacy.db')}
  dashboard:                     # the public dashboard's webhook
    driver: http
    url: http://127.0.0.1:${port}
pipelines:
  bridge-schedule:
    from: { system: mainframe, collection: INSPECTIONS, poll: 250ms }
    to: { system: dashboard, collection: bridges, path: "/bridges/{key}", body: delta }
    key: BRG_ID
    map:
      bridgeId: BRG_ID
      name: { from: BRG_NAME, convert: trim }
      nextDate: { from: NEXT_INSP_DT, convert: "date:yyyyMMdd" }
      status: { from: CODE_STS, values: { A: active, C: closed, P: pending } }
    debounce: ${debounce}
    delivery: { maxAttempts: 20, backoff: "exponential 250ms..2s", timeout: 5s }
`;
}

export function openLegacy(dir: string): SqliteDatabase {
  const db = openDatabase(path.join(dir, 'legacy.db'));
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE IF NOT EXISTS INSPECTIONS (
    BRG_ID TEXT PRIMARY KEY, BRG_NAME CHAR(30) NOT NULL, NEXT_INSP_DT CHAR(8) NOT NULL, CODE_STS CHAR(1) NOT NULL)`);
  return db;
}

function editLegacy(dir: string, id: string, sets: Record<string, string>): void {
  const db = openLegacy(dir);
  try {
    const cols = ['BRG_NAME', 'NEXT_INSP_DT', 'CODE_STS'];
    for (const k of Object.keys(sets)) if (!cols.includes(k)) throw new UsageError(`INSPECTIONS has no column "${k}"; columns are ${cols.join(', ')}`);
    const row = db.prepare('SELECT * FROM INSPECTIONS WHERE BRG_ID = ?').get(id) as Record<string, string> | undefined;
    if (!row) {
      const next = { BRG_NAME: 'NEW BRIDGE', NEXT_INSP_DT: '20270101', CODE_STS: 'P', ...sets };
      db.prepare('INSERT INTO INSPECTIONS (BRG_ID, BRG_NAME, NEXT_INSP_DT, CODE_STS) VALUES (?, ?, ?, ?)').run(id, next.BRG_NAME, next.NEXT_INSP_DT, next.CODE_STS);
    } else {
      for (const [k, v] of Object.entries(sets)) db.prepare(`UPDATE INSPECTIONS SET ${k} = ? WHERE BRG_ID = ?`).run(v, id);
    }
  } finally {
    db.close();
  }
}

interface Received { method: string; url: string; body: Record<string, unknown> }

class Receiver {
  server: Server | null = null;
  received: Received[] = [];
  constructor(private readonly out: (s: string) => void) {}
  async listen(port: number): Promise<number> {
    this.server = createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        let body: Record<string, unknown> = {};
        try {
          body = data ? JSON.parse(data) : {};
        } catch {
          body = { raw: data };
        }
        this.received.push({ method: req.method ?? '', url: req.url ?? '', body });
        const changed = (body.changed ?? body) as Record<string, unknown>;
        const state = (body.state ?? body) as Record<string, unknown>;
        const key = String(body.key ?? state.bridgeId ?? req.url);
        const fields = Object.entries(changed).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
        this.out(`  [dashboard] ${req.method} ${req.url}  bridge ${key}: ${fields || '(deleted)'}${state.nextDate ? `  -> next inspection ${state.nextDate}, ${state.status}` : ''}`);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (e: NodeJS.ErrnoException) => {
        const why = e.code === 'EADDRINUSE' ? 'the port is in use by another process' : e.code === 'EACCES' ? 'permission denied' : errorMessage(e);
        reject(new NotConnectedError(`demo: cannot listen on 127.0.0.1:${port} for the demo dashboard: ${why}; pass another --port (0 picks a free one)`, { cause: e }));
      });
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runDemo(opts: { dir: string; port: number; once: boolean; keep: boolean; out?: (s: string) => void }): Promise<void> {
  const out = opts.out ?? ((s: string) => process.stdout.write(`${s}\n`));
  const dir = path.resolve(opts.dir);
  if (!opts.keep && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const db = openLegacy(dir);
  const insert = db.prepare('INSERT OR IGNORE INTO INSPECTIONS (BRG_ID, BRG_NAME, NEXT_INSP_DT, CODE_STS) VALUES (@BRG_ID, @BRG_NAME, @NEXT_INSP_DT, @CODE_STS)');
  for (const r of SEED_ROWS) insert.run(r);
  const receiver = new Receiver(out);
  const port = await receiver.listen(opts.port);
  const file = path.join(dir, 'demo.yaml');
  writeFileSync(file, demoConfigYaml(dir, port));
  const { config, issues } = parseConfig(demoConfigYaml(dir, port), { file, env: process.env });
  if (!config) {
    await receiver.close();
    db.close();
    throw configError(issues);
  }
  const engine: Engine = createEngine({ config, logger: createLogger({ level: process.env.HMS_LOG_LEVEL ?? 'error' }), idlePollMs: 200 });
  let retries = 0;
  engine.on('job:retry', ({ job, error }) => {
    retries++;
    out(`  [hms-sync] delivery of ${job.key} failed (attempt ${job.attempts}): ${error.split('\n')[0]} -> kept in the queue, retrying`);
  });
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  engine.on('job:dead', ({ job, error }) => {
    // loud: an edit that cannot be delivered (e.g. CODE_STS=Z, a code the mapping does not know) is never silent
    out(`  [hms-sync] bridge ${job.key} NOT delivered, dead-lettered as job ${job.id}: ${error.split('\n')[0]}`);
    out(`             see it: npx hms-sync dlq list ${rel(file)}   fix and resend: npx hms-sync dlq replay ${job.id} ${rel(file)} --set CODE_STS=A`);
  });
  const stop = async () => {
    await engine.stop();
    await receiver.close();
    db.close();
  };
  out(`hms-sync demo: legacy "mainframe" table ${path.join(dir, 'legacy.db')} (INSPECTIONS: BRG_ID, NEXT_INSP_DT yyyyMMdd, CODE_STS A/C/P)`);
  out(`               public dashboard receiver on http://127.0.0.1:${port}; config ${file}\n`);
  try {
    await engine.start();
    out('1) Initial sync: the three bridges in the legacy table reach the dashboard, mapped (BRG_ID -> bridgeId, yyyyMMdd -> ISO date, A/C/P -> words):');
    await until('the initial sync', () => receiver.received.length >= 3);

    out('\n2) An inspector edits bridge B-0042 twice within the 2 s debounce window (new date, then new status):');
    const before = receiver.received.length;
    editLegacy(dir, 'B-0042', { NEXT_INSP_DT: '20270301' });
    await new Promise((r) => setTimeout(r, 600));
    editLegacy(dir, 'B-0042', { CODE_STS: 'P' });
    await until('the coalesced update', () => receiver.received.length > before);
    await new Promise((r) => setTimeout(r, 800));
    out(`   -> ${receiver.received.length - before} delivery for two edits: one delta with both fields.`);

    out('\n3) The dashboard goes down; the mainframe closes bridge B-0107 meanwhile:');
    await receiver.close();
    const beforeOutage = receiver.received.length;
    const retriesBefore = retries;
    editLegacy(dir, 'B-0107', { CODE_STS: 'C' });
    await until('a failed delivery attempt', () => retries > retriesBefore);
    out('   The dashboard comes back:');
    await receiver.listen(port);
    await until('the queued change to arrive after the outage', () => receiver.received.length > beforeOutage, 30_000);
    out('   -> nothing lost: the change made during the outage arrived once the dashboard was back.');

    // the receiver has the request before the job is marked done: wait for the ack
    let s: Awaited<ReturnType<typeof engine.store.stats>>[number] | undefined;
    const deadline = Date.now() + 10_000;
    do {
      s = (await engine.store.stats()).find((x) => x.pipeline === 'bridge-schedule');
      if (s && s.running === 0 && s.pending === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    out(`\nQueue: ${s?.done ?? 0} delivered, ${s?.pending ?? 0} pending, ${s?.dead ?? 0} dead.`);
    if (opts.once) return;
    out(`\n4) Your turn. In another terminal, edit the legacy table and watch it arrive here:`);
    out(`     npx hms-sync demo edit B-0042 CODE_STS=C NEXT_INSP_DT=20271231 --dir ${path.relative(process.cwd(), dir) || '.'}`);
    out(`     npx hms-sync status ${rel(file)}`);
    out(`   An edit the mapping cannot translate (try CODE_STS=Z) is dead-lettered and shown here:`);
    out(`     npx hms-sync dlq list ${rel(file)}`);
    out('   Press Ctrl-C to stop.');
    await new Promise<void>((resolve) => {
      const done = () => {
        process.off('SIGINT', done);
        process.off('SIGTERM', done);
        resolve();
      };
      process.on('SIGINT', done);
      process.on('SIGTERM', done);
    });
    out('\nstopping: finishing deliveries in hand...');
  } finally {
    await stop();
  }
  out('stopped cleanly.');
}

export function register(program: Command, setCode: (code: number) => void): void {
  const demo = program
    .command('demo')
    .description('Run the bridge-inspection demo on embedded defaults (no external service): legacy SQLite table -> mapping -> debounce -> queue -> HTTP dashboard')
    .option('--dir <dir>', 'where the demo keeps its files', '.hms-sync/demo')
    .option('--port <port>', 'port of the dashboard receiver (0 = any free port)', '0')
    .option('--once', 'end after the scripted scenes instead of waiting for Ctrl-C')
    .option('--keep', 'keep the previous demo state instead of starting fresh')
    .action(async (opts: { dir: string; port: string; once?: boolean; keep?: boolean }) => {
      await runDemo({ dir: opts.dir, port: Number(opts.port), once: Boolean(opts.once), keep: Boolean(opts.keep) });
      setCode(EXIT.OK);
    });
  demo
    .command('edit')
    .description('Edit (or insert) a bridge in the demo\'s legacy table, as the mainframe would')
    .argument('<BRG_ID>', 'bridge id, e.g. B-0042')
    .argument('<assignments...>', 'COLUMN=VALUE pairs: CODE_STS=A|C|P, NEXT_INSP_DT=yyyyMMdd, BRG_NAME=...')
    .option('--dir <dir>', 'the demo folder', '.hms-sync/demo')
    .action((id: string, assignments: string[], opts: { dir: string }, cmd: Command) => {
      // `--dir` after the subcommand is taken by `demo` itself (it has the option too): use whichever was given
      const parent = cmd.parent;
      const dir = cmd.getOptionValueSource('dir') === 'cli' || parent?.getOptionValueSource('dir') !== 'cli' ? opts.dir : (parent.opts() as { dir: string }).dir;
      const sets: Record<string, string> = {};
      for (const a of assignments) {
        const eq = a.indexOf('=');
        if (eq <= 0) throw new UsageError(`"${a}" is not COLUMN=VALUE`);
        sets[a.slice(0, eq)] = a.slice(eq + 1);
      }
      const abs = path.resolve(dir);
      if (!existsSync(path.join(abs, 'legacy.db'))) throw new NotFoundError(`no demo in ${abs} (no legacy.db there); start it first with \`hms-sync demo --dir ${dir}\``);
      editLegacy(abs, id, sets);
      process.stdout.write(`INSPECTIONS ${id}: ${Object.entries(sets).map(([k, v]) => `${k}=${v}`).join(', ')}\n`);
      setCode(EXIT.OK);
    });
}
