import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import type { Delta } from '../core/types.js';
import { applySets, discardDeadLetter, listAudit, listDeadLetters, parseDeltaPayload, replayDeadLetter, showDeadLetter } from '../ops/dlq.js';
import { actor, printJson, printTable, shorten, withStore } from './common.js';

/** `hms-sync dlq`: argument parsing and printing over the operator actions of ops/dlq.ts. */

interface StoreOpts { store?: string; config?: string; json?: boolean }

/** A job id as the store writes it: a positive integer (text, so ids past 2^53 stay exact). */
export function parseJobId(text: string): string {
  if (!/^[1-9][0-9]{0,18}$/.test(text.trim())) throw new UsageError(`job id ${JSON.stringify(text)} is not valid; a job id is a positive whole number such as 42 (\`hms-sync dlq list\` shows them)`);
  return text.trim();
}

/** The config as a positional argument (`dlq list c.yaml`, like `status` and `jobs`) or `--config`. */
function withConfig(positional: string | undefined, opts: StoreOpts): StoreOpts {
  if (positional === undefined) return opts;
  if (opts.config !== undefined && path.resolve(opts.config) !== path.resolve(positional)) {
    throw new UsageError(`two configuration files given (${positional} and --config ${opts.config}); give one`);
  }
  return { ...opts, config: positional };
}

/** `dlq show c.yaml 42` as well as `dlq show 42 c.yaml`: a config file name first and an id second are swapped. */
function idAndConfig(first: string, second: string | undefined): [string, string | undefined] {
  const looksLikeId = (t: string) => /^[1-9][0-9]*$/.test(t.trim());
  if (second !== undefined && !looksLikeId(first) && looksLikeId(second) && (/\.ya?ml$/i.test(first) || existsSync(first))) return [parseJobId(second), first];
  return [parseJobId(first), second];
}

/** `--limit` as a positive integer (commander passes text). */
export function parseLimit(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`--limit "${text}" is not valid; give a positive whole number, e.g. --limit 20`);
  return n;
}

function editInEditor(payload: Delta): Delta {
  const dir = mkdtempSync(path.join(tmpdir(), 'hms-sync-dlq-'));
  const file = path.join(dir, 'payload.json');
  try {
    writeFileSync(file, `${JSON.stringify(payload, null, 2)}\n`);
    const editor = process.env.VISUAL ?? process.env.EDITOR ?? 'vi';
    const r = spawnSync(editor, [file], { stdio: 'inherit', shell: true });
    if (r.status !== 0) throw new UsageError(`editor "${editor}" exited with ${r.status}; nothing replayed`);
    return parseDeltaPayload(readFileSync(file, 'utf8'), 'edited payload');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readPayloadFile(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`--payload ${file}: cannot read it (${(err as Error).message}); give a JSON file with the delta, or - for stdin`, { cause: err });
  }
}

const CONFIG_ARG = 'configuration file, for its store (default: --config, $HMS_SYNC_CONFIG or ./hms-sync.yaml)';

export function register(program: Command, setCode: (code: number) => void): void {
  const dlq = program.command('dlq').description('Inspect, edit, replay or discard dead-lettered jobs (every action is audited)');
  const common = (c: Command) => c.option('-c, --config <file>', 'configuration file (for its store), instead of the [config] argument').option('--store <url>', 'state store URL instead of the config\'s').option('--json', 'print as JSON');

  common(dlq.command('list').description('List dead letters').argument('[config]', CONFIG_ARG).option('-p, --pipeline <name>', 'only this pipeline').option('-n, --limit <n>', 'at most n', '100'))
    .action(async (configArg: string | undefined, opts: StoreOpts & { pipeline?: string; limit: string }) => {
      const limit = parseLimit(opts.limit);
      await withStore(withConfig(configArg, opts), setCode, async (store) => {
        const jobs = await listDeadLetters(store, { pipeline: opts.pipeline, limit });
        if (opts.json) printJson(jobs);
        else if (!jobs.length) process.stdout.write('no dead letters\n');
        else printTable(jobs.map((j) => ({ id: j.id, pipeline: j.pipeline, target: j.target, key: j.key, op: j.payload.op, attempts: j.attempts, updated: new Date(j.updatedAt).toISOString(), lastError: shorten(j.lastError, 80) })), ['id', 'pipeline', 'target', 'key', 'op', 'attempts', 'updated', 'lastError']);
      });
    });

  common(dlq.command('show').description('Show one job with its payload and last error').argument('<id>', 'job id').argument('[config]', CONFIG_ARG))
    .action(async (idArg: string, configArg: string | undefined, opts: StoreOpts) => {
      const [id, cfg] = idAndConfig(idArg, configArg);
      await withStore(withConfig(cfg, opts), setCode, async (store) => {
        const job = await showDeadLetter(store, id);
        if (opts.json) printJson(job);
        else {
          process.stdout.write(`job ${job.id}  pipeline ${job.pipeline} -> ${job.target}  key ${job.key}\nstate ${job.state}, attempts ${job.attempts}/${job.maxAttempts}, version ${job.version}, updated ${new Date(job.updatedAt).toISOString()}\nlast error: ${job.lastError ?? '-'}\npayload:\n${JSON.stringify(job.payload, null, 2)}\n`);
        }
      });
    });

  common(dlq.command('replay').description('Put a dead letter back in the queue, optionally editing its payload first').argument('<id>', 'job id')
    .option('--set <field=value...>', 'change fields of the payload state before replaying (value parsed as JSON when possible)', [])
    .option('--payload <file>', 'replace the payload with this JSON file (- for stdin)')
    .option('--edit', 'edit the payload in $EDITOR first')
    .option('--force', 'replay even when a newer job of the same key was delivered since (it would be overwritten by this older state)'))
    .argument('[config]', CONFIG_ARG)
    .action(async (idArg: string, configArg: string | undefined, opts: StoreOpts & { set: string[]; payload?: string; edit?: boolean; force?: boolean }) => {
      const [id, cfg] = idAndConfig(idArg, configArg);
      await withStore(withConfig(cfg, opts), setCode, async (store) => {
        const job = await showDeadLetter(store, id);
        let payload: Delta | undefined;
        if (opts.payload) payload = parseDeltaPayload(readPayloadFile(opts.payload), opts.payload);
        if (opts.edit) payload = editInEditor(payload ?? job.payload);
        if (opts.set.length) payload = applySets(payload ?? job.payload, opts.set);
        // Refused (exit 5) when a newer job of the key was delivered since, unless --force.
        const replayed = await replayDeadLetter(store, id, { actor: actor(), payload, force: opts.force === true });
        if (opts.json) printJson(replayed);
        else process.stdout.write(`job ${id} is pending again (version ${replayed.version})${payload ? ' with the edited payload' : ''}\n`);
      });
    });

  common(dlq.command('discard').description('Remove a dead letter for good').argument('<id>', 'job id').argument('[config]', CONFIG_ARG).option('--reason <text>', 'why (kept in the audit log)'))
    .action(async (idArg: string, configArg: string | undefined, opts: StoreOpts & { reason?: string }) => {
      const [id, cfg] = idAndConfig(idArg, configArg);
      await withStore(withConfig(cfg, opts), setCode, async (store) => {
        const result = await discardDeadLetter(store, id, { actor: actor(), reason: opts.reason });
        if (opts.json) printJson(result);
        else process.stdout.write(`job ${id} discarded\n`);
      });
    });

  common(dlq.command('audit').description('Show the audit log of operator actions').argument('[config]', CONFIG_ARG).option('-n, --limit <n>', 'at most n', '50'))
    .action(async (configArg: string | undefined, opts: StoreOpts & { limit: string }) => {
      const limit = parseLimit(opts.limit);
      await withStore(withConfig(configArg, opts), setCode, async (store) => {
        const entries = await listAudit(store, { limit });
        if (opts.json) printJson(entries);
        else printTable(entries.map((e) => ({ at: new Date(e.at).toISOString(), actor: e.actor, action: e.action, job: e.jobId, details: e.details })), ['at', 'actor', 'action', 'job', 'details']);
      });
    });
}
