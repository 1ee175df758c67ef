/**
 * `hms-sync reconcile <pipeline> [config]`: compare both sides of a pipeline and put what differs
 * in the review queue; `hms-sync review list|show|repair|ignore|assign`: work through it.
 * See docs/reconcile.md.
 */
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { createLogger } from '../core/log.js';
import { UsageError } from '../core/errors.js';
import { openStore } from '../store/open-store.js';
import { runReconcile, type ReconcileProgress, type ReconcileSummary } from '../reconcile/reconcile.js';
import { renderReport } from '../reconcile/report.js';
import { autoRepair } from '../reconcile/schedule.js';
import { assignDiscrepancy, ignoreDiscrepancy, listDiscrepancies, repairDiscrepancies, showDiscrepancy } from '../reconcile/review.js';
import { DISCREPANCY_CLASSES, DISCREPANCY_STATUSES, type DiscrepancyClass, type DiscrepancyStatus } from '../store/review-store.js';
import { actor, loadConfigArg, openStoreFor, printJson, printTable } from './common.js';
import { EXIT } from './exit-codes.js';

function progressReporter(json: boolean): { update(p: ReconcileProgress): void; stop(): void } {
  let last = 0;
  if (process.stderr.isTTY && !json) {
    const bar = new cliProgress.SingleBar({ format: 'reconcile {phase} [{bar}] {value}/{total} rows | {rate} rows/s | {candidates} to confirm', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      update(p) {
        const rows = p.phase === 'source' ? p.sourceRows : p.targetRows;
        const rate = Math.round(((p.sourceRows + p.targetRows) * 1000) / Math.max(1, p.elapsedMs));
        const payload = { phase: p.phase.padEnd(7), rate, candidates: p.candidates };
        if (!started) { bar.start(p.total ?? rows, rows, payload); started = true; }
        bar.setTotal(Math.max(p.total ?? rows, rows));
        bar.update(rows, payload);
      },
      stop() { if (started) bar.stop(); },
    };
  }
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 1000) return;
      last = now;
      // JSON lines on stderr without a terminal (scripts, CI logs)
      process.stderr.write(`${JSON.stringify({ progress: 'reconcile', ...p })}\n`);
    },
    stop() {},
  };
}

function printSummary(s: ReconcileSummary): void {
  const c = s.counts;
  process.stdout.write(`reconcile ${s.pipeline}: ${s.sourceRows} source rows, ${s.targetRows} target rows, ${s.fields.length} fields compared, ${s.durationMs} ms (${s.rowsPerSecond} rows/s)\n`);
  process.stdout.write(`  engine: ${s.engine === 'pushdown' ? 'SQL pushdown (both databases hashed key ranges)' : `streamed${s.engineNote ? ` (${s.engineNote})` : ''}`}\n`);
  if (s.discrepancies === 0) process.stdout.write('  the two sides agree\n');
  else process.stdout.write(`  ${s.discrepancies} discrepancies: ${c.missing} missing in target, ${c.extra} extra in target, ${c.different} different, ${c.duplicate} duplicate keys, ${c.unmappable} unmappable\n`);
  const fields = Object.entries(s.fieldCounts).sort((a, b) => b[1] - a[1]);
  if (fields.length) process.stdout.write(`  fields that differ: ${fields.map(([f, n]) => `${f} (${n})`).join(', ')}\n`);
  if (s.settled) process.stdout.write(`  ${s.settled} differences were changes on their way and settled\n`);
  if (s.unsettled.length) process.stdout.write(`  ${s.unsettled.length} keys were still changing and are not reported; the next run looks again: ${s.unsettled.slice(0, 5).join(', ')}${s.unsettled.length > 5 ? ', ...' : ''}\n`);
  process.stdout.write(`  review queue: ${s.opened} opened, ${s.updated - s.ignored} still open, ${s.ignored} ignored, ${s.closed} closed${s.open ? ` - \`hms-sync review list --pipeline ${s.pipeline}\`` : ''}\n`);
}

const parseLimit = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--limit "${v}" must be a positive whole number`);
  return n;
};

function checkClass(v?: string): DiscrepancyClass | undefined {
  if (v !== undefined && !DISCREPANCY_CLASSES.includes(v as DiscrepancyClass)) throw new UsageError(`--class "${v}" is not a discrepancy class; valid classes are ${DISCREPANCY_CLASSES.join(', ')}`);
  return v as DiscrepancyClass | undefined;
}

function checkStatus(v?: string): DiscrepancyStatus | undefined {
  if (v !== undefined && !DISCREPANCY_STATUSES.includes(v as DiscrepancyStatus)) throw new UsageError(`--status "${v}" is not a review status; valid statuses are ${DISCREPANCY_STATUSES.join(', ')}`);
  return v as DiscrepancyStatus | undefined;
}

/**
 * For the review commands that only read or annotate the queue (list, show, ignore, assign): the
 * store alone, so an unset delivery secret elsewhere in the config does not stop them.
 */
async function withStoreOnly<T>(configArg: string | undefined, fn: (ctx: { store: Awaited<ReturnType<typeof openStore>> }) => Promise<T>): Promise<T> {
  const store = await openStoreFor({ config: configArg });
  try {
    return await fn({ store });
  } finally {
    await store.close();
  }
}

async function withConfigStore<T>(configArg: string | undefined, fn: (ctx: { config: Awaited<ReturnType<typeof loadConfigArg>>; store: Awaited<ReturnType<typeof openStore>> }) => Promise<T>): Promise<T> {
  const config = await loadConfigArg(configArg);
  const store = await openStore(config.store);
  try {
    return await fn({ config, store });
  } finally {
    await store.close();
  }
}

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('reconcile')
    .description('Compare both sides of a pipeline (through its mapping, values normalised) and put what differs in the review queue')
    .argument('<pipeline>', 'pipeline to reconcile')
    .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
    .option('--keys <keys>', 'only these source keys (comma separated)')
    .option('--ignore <fields>', 'also leave these target fields out of the comparison (comma separated)')
    .option('--settle <ms>', 'wait this long before confirming a key that is changing (default: debounce + 2 x p99 delivery time)')
    .option('--empty-is-null', 'count empty text as null')
    .option('--report <file>', 'also write a self-contained HTML report (counts per class and field, samples with both values)')
    .option('--json', 'print a JSON summary')
    .option('--log-level <level>', 'trace, debug, info, warn, error, silent')
    .addHelpText('after', '\nExit codes: 0 the sides agree, 1 discrepancies found (see `hms-sync review list`), 2 usage,\n3 configuration error, 4 a side could not be read to the end (no report is written).\n\nExample:\n  hms-sync reconcile bridges hms-sync.yaml\n')
    .action(async (pipeline: string, configArg: string | undefined, opts: { keys?: string; ignore?: string; settle?: string; emptyIsNull?: boolean; report?: string; json?: boolean; logLevel?: string }) => {
      let settleMs: number | undefined;
      if (opts.settle !== undefined) {
        settleMs = Number(opts.settle);
        if (!Number.isInteger(settleMs) || settleMs < 0) throw new UsageError(`--settle "${opts.settle}" must be a whole number of milliseconds`);
      }
      await withConfigStore(configArg, async ({ config, store }) => {
        const logger = createLogger({ level: opts.logLevel ?? (config.logLevel === 'info' ? 'warn' : config.logLevel) });
        const ac = new AbortController();
        const onSignal = () => ac.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const rep = progressReporter(!!opts.json);
        try {
          const split = (v?: string) => v?.split(',').map((x) => x.trim()).filter(Boolean);
          const s = await runReconcile({ config, store, pipeline, logger, keys: split(opts.keys), ignore: split(opts.ignore), settleMs, emptyIsNull: opts.emptyIsNull, signal: ac.signal, onProgress: (p) => rep.update(p) });
          rep.stop();
          const repaired = config.pipelines[pipeline]?.reconcile?.autoRepair && s.open ? await autoRepair({ config, store, summary: s, logger }) : null;
          if (opts.report) {
            const samples = (await store.review.listDiscrepancies({ pipeline, status: ['open', 'ignored', 'repairing'], limit: 5000 })).filter((d) => d.runId === s.runId);
            writeFileSync(opts.report, renderReport(s, samples));
          }
          if (opts.json) printJson(repaired ? { ...s, autoRepair: repaired } : s);
          else {
            printSummary(s);
            if (repaired?.refused) process.stdout.write(`  auto-repair REFUSED: ${repaired.refused}\n`);
            else if (repaired) process.stdout.write(`  auto-repair: ${repaired.repaired} repairs queued (hms-sync run delivers them)\n`);
          }
          if (opts.report && !opts.json) process.stdout.write(`  report: ${opts.report}\n`);
          setCode(s.open > 0 ? EXIT.FAILURE : EXIT.OK);
        } finally {
          rep.stop();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      });
    });

  const review = program.command('review').description('The review queue of reconciliation: list, show, repair, ignore, assign discrepancies');
  review
    .command('list')
    .description('Discrepancies (open ones by default), oldest first')
    .argument('[config]', 'configuration file')
    .option('-p, --pipeline <name>', 'only this pipeline')
    .option('--class <class>', `only this class (${DISCREPANCY_CLASSES.join(', ')})`)
    .option('--status <status>', `only this status (${DISCREPANCY_STATUSES.join(', ')}; default open)`)
    .option('-n, --limit <n>', 'at most n', '100')
    .option('--json', 'print as JSON')
    .action(async (configArg: string | undefined, opts: { pipeline?: string; class?: string; status?: string; limit: string; json?: boolean }) => {
      const filter = { pipeline: opts.pipeline, class: checkClass(opts.class), status: checkStatus(opts.status), limit: parseLimit(opts.limit) };
      await withStoreOnly(configArg, async ({ store }) => {
        const list = await listDiscrepancies(store, filter);
        if (opts.json) printJson(list);
        else if (!list.length) process.stdout.write('no discrepancies\n');
        else printTable(list.map((d) => ({ id: d.id, pipeline: d.pipeline, key: d.key, class: d.class, status: d.status, fields: d.fields.map((f) => f.field).join(' ') || (d.error ?? ''), seen: new Date(d.lastSeen).toISOString(), assignee: d.assignee })), ['id', 'pipeline', 'key', 'class', 'status', 'fields', 'seen', 'assignee']);
        setCode(EXIT.OK);
      });
    });
  review
    .command('show')
    .description('One discrepancy with both sides\' values and the field-level difference')
    .argument('<id>', 'discrepancy id')
    .argument('[config]', 'configuration file')
    .option('--json', 'print as JSON')
    .action(async (id: string, configArg: string | undefined, opts: { json?: boolean }) => {
      if (!/^\d+$/.test(id)) throw new UsageError(`discrepancy id "${id}" must be a number (see \`hms-sync review list\`)`);
      await withStoreOnly(configArg, async ({ store }) => {
        const d = await showDiscrepancy(store, id);
        if (opts.json) printJson(d);
        else {
          process.stdout.write(`discrepancy ${d.id}: ${d.class} (${d.status}) in ${d.pipeline}, key ${d.key}${d.sourceKey && d.sourceKey !== d.key ? ` (source key ${d.sourceKey})` : ''}\n`);
          process.stdout.write(`  first seen ${new Date(d.firstSeen).toISOString()}, last seen ${new Date(d.lastSeen).toISOString()}${d.assignee ? `, assigned to ${d.assignee}` : ''}${d.reason ? `, reason: ${d.reason}` : ''}\n`);
          if (d.error) process.stdout.write(`  ${d.error}\n`);
          if (d.fields.length) printTable(d.fields.map((f) => ({ field: f.field, source: JSON.stringify(f.source), target: JSON.stringify(f.target) })), ['field', 'source', 'target']);
          else {
            if (d.source) process.stdout.write(`  source: ${JSON.stringify(d.source)}\n`);
            if (d.target) process.stdout.write(`  target: ${JSON.stringify(d.target)}\n`);
          }
        }
        setCode(EXIT.OK);
      });
    });
  review
    .command('repair')
    .description('Re-read rows from the source and deliver them through the pipeline (a delete for a row extra in the target); audited')
    .argument('[ids...]', 'discrepancy ids (or --all with filters)')
    .option('-c, --config <file>', 'configuration file')
    .option('--all', 'every open discrepancy matching the filters')
    .option('-p, --pipeline <name>', 'with --all: only this pipeline')
    .option('--class <class>', 'with --all: only this class')
    .option('--dry-run', 'say what would be queued; change nothing')
    .option('--json', 'print as JSON')
    .action(async (ids: string[], opts: { config?: string; all?: boolean; pipeline?: string; class?: string; dryRun?: boolean; json?: boolean }) => {
      for (const id of ids) if (!/^\d+$/.test(id)) throw new UsageError(`discrepancy id "${id}" must be a number (see \`hms-sync review list\`)`);
      if (!ids.length && !opts.all) throw new UsageError('give discrepancy ids, or --all (with --pipeline / --class) for every open one');
      const cls = checkClass(opts.class);
      await withConfigStore(opts.config, async ({ config, store }) => {
        const chosen = opts.all ? (await listDiscrepancies(store, { pipeline: opts.pipeline, class: cls, limit: 1_000_000 })).map((d) => d.id) : ids;
        const out = await repairDiscrepancies({ store, config, ids: chosen, actor: actor(), logger: createLogger({ level: 'warn' }), dryRun: opts.dryRun });
        if (opts.json) printJson({ dryRun: !!opts.dryRun, repairs: out });
        else if (!out.length) process.stdout.write('nothing to repair\n');
        else printTable(out.map((o) => ({ id: o.id, pipeline: o.pipeline, key: o.key, class: o.class, action: o.action, detail: o.detail })), ['id', 'pipeline', 'key', 'class', 'action', 'detail']);
        setCode(EXIT.OK);
      });
    });
  review
    .command('ignore')
    .description('Mark a discrepancy as accepted (a reason is required); it closes by itself when it disappears')
    .argument('<id>', 'discrepancy id')
    .option('-c, --config <file>', 'configuration file')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print as JSON')
    .action(async (id: string, opts: { config?: string; reason: string; json?: boolean }) => {
      if (!/^\d+$/.test(id)) throw new UsageError(`discrepancy id "${id}" must be a number`);
      await withStoreOnly(opts.config, async ({ store }) => {
        const d = await ignoreDiscrepancy(store, id, { actor: actor(), reason: opts.reason });
        if (opts.json) printJson(d);
        else process.stdout.write(`discrepancy ${d.id} ignored: ${d.reason}\n`);
        setCode(EXIT.OK);
      });
    });
  review
    .command('assign')
    .description('Assign a discrepancy to a person (--none to unassign)')
    .argument('<id>', 'discrepancy id')
    .argument('[who]', 'the person')
    .option('-c, --config <file>', 'configuration file')
    .option('--none', 'unassign')
    .option('--json', 'print as JSON')
    .action(async (id: string, who: string | undefined, opts: { config?: string; none?: boolean; json?: boolean }) => {
      if (!/^\d+$/.test(id)) throw new UsageError(`discrepancy id "${id}" must be a number`);
      if (!who && !opts.none) throw new UsageError('name the person to assign to, or --none');
      await withStoreOnly(opts.config, async ({ store }) => {
        const d = await assignDiscrepancy(store, id, { actor: actor(), assignee: opts.none ? null : who! });
        if (opts.json) printJson(d);
        else process.stdout.write(`discrepancy ${d.id} ${d.assignee ? `assigned to ${d.assignee}` : 'unassigned'}\n`);
        setCode(EXIT.OK);
      });
    });
}
