/**
 * Scheduled reconciliation and auto-repair.
 *
 * `reconcile.schedule: "0 2 * * *"` makes the engine (`hms-sync run`) reconcile the pipeline on that
 * cron schedule (croner computes the next time, in `reconcile.timezone`). With
 * `reconcile.autoRepair: true` the discrepancies a run finds are repaired without a person, through
 * the pipeline and audited as `auto-repair`, unless more rows differ than `maxAutoRepair` allows
 * (default 1% of the larger side): then nothing is repaired, the run is reported as refused at
 * error level, and the discrepancies wait in the review queue for a person.
 */
import { Cron } from 'croner';
import type { Logger } from '../core/log.js';
import { errorMessage } from '../core/errors.js';
import type { ResolvedConfig, ResolvedPipeline } from '../config/schema.js';
import type { Store } from '../store/store.js';
import { runReconcile, type ReconcileOptions, type ReconcileSummary } from './reconcile.js';
import { listDiscrepancies, repairDiscrepancies } from './review.js';

export interface AutoRepairOutcome {
  /** Repairs queued. */
  repaired: number;
  /** Refused by the guard: the reason (too many differences); null when it ran. */
  refused: string | null;
  /** The most rows the guard allows. */
  limit: number;
}

/** The most differing rows auto-repair may touch for a run over `rows` rows. */
export function autoRepairLimit(max: number | string, rows: number): number {
  if (typeof max === 'number') return max;
  return Math.floor((Number(max.slice(0, -1)) / 100) * rows);
}

/**
 * Auto-repair after a run, behind the guard. Only the run's open `missing`, `extra` and
 * `different` discrepancies are repaired (a duplicate key or an unmappable row needs a person).
 */
export async function autoRepair(input: { config: ResolvedConfig; store: Store; summary: ReconcileSummary; logger: Logger }): Promise<AutoRepairOutcome> {
  const p = input.config.pipelines[input.summary.pipeline]!;
  const rows = Math.max(input.summary.sourceRows, input.summary.targetRows);
  const limit = autoRepairLimit(p.reconcile?.maxAutoRepair ?? '1%', rows);
  const open = input.summary.open;
  if (open > limit) {
    const refused = `${open} of ${rows} rows differ, more than maxAutoRepair allows (${limit}, ${typeof p.reconcile?.maxAutoRepair === 'string' ? p.reconcile.maxAutoRepair : 'rows'}): nothing was repaired; a broken mapping or a wrong side must not rewrite a whole table. Look at \`hms-sync review list --pipeline ${p.name}\`, then repair by hand (\`hms-sync review repair --all --pipeline ${p.name}\`)`;
    input.logger.error({ pipeline: p.name, open, rows, limit }, `auto-repair refused: ${refused}`);
    return { repaired: 0, refused, limit };
  }
  const ids = (await listDiscrepancies(input.store, { pipeline: p.name, limit: 1_000_000 }))
    .filter((d) => d.runId === input.summary.runId && (d.class === 'missing' || d.class === 'extra' || d.class === 'different'))
    .map((d) => d.id);
  if (!ids.length) return { repaired: 0, refused: null, limit };
  const out = await repairDiscrepancies({ store: input.store, config: input.config, ids, actor: 'hms-sync (auto-repair)', logger: input.logger, auto: true });
  const repaired = out.filter((o) => o.action !== 'none').length;
  input.logger.info({ pipeline: p.name, repaired }, `auto-repair queued ${repaired} repairs`);
  return { repaired, refused: null, limit };
}

/** Timers the schedule runs on (tests inject a fake clock). */
export interface ScheduleClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: ScheduleClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref?.(); return t; },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ScheduledRun {
  pipeline: string;
  /** The slot (epoch ms) the run was scheduled for. */
  slot: number;
  summary?: ReconcileSummary;
  autoRepair?: AutoRepairOutcome;
  error?: string;
}

export interface ReconcileScheduler {
  /** Next scheduled time per pipeline (epoch ms). */
  next(): Record<string, number | null>;
  stop(): Promise<void>;
}

/** Pipelines with a `reconcile.schedule`. */
export function scheduledPipelines(config: ResolvedConfig): ResolvedPipeline[] {
  return Object.values(config.pipelines).filter((p) => p.enabled && p.reconcile?.schedule);
}

/**
 * Run every scheduled pipeline's reconciliation at its times. A slot is taken once per store (the
 * slot is recorded as a position, so a second process on the same store that sees it skips it).
 * Runs never overlap for one pipeline; a run that is still going when its next slot comes skips that slot.
 */
export function startReconcileSchedule(input: {
  config: ResolvedConfig; store: Store; logger: Logger; clock?: ScheduleClock; onRun?: (r: ScheduledRun) => void;
  /** Only these pipelines (default: every scheduled one). */
  only?: string[];
  reconcile?: Partial<ReconcileOptions>;
}): ReconcileScheduler {
  const clock = input.clock ?? realClock;
  const timers = new Map<string, unknown>();
  const nextAt = new Map<string, number | null>();
  const running = new Map<string, Promise<void>>();
  let stopped = false;
  const ac = new AbortController();
  const arm = (p: ResolvedPipeline) => {
    if (stopped) return;
    const cron = new Cron(p.reconcile.schedule!, { paused: true, ...(p.reconcile.timezone ? { timezone: p.reconcile.timezone } : {}) });
    const next = cron.nextRun(new Date(clock.now()));
    nextAt.set(p.name, next ? next.getTime() : null);
    if (!next) return;
    // long waits are armed in steps (timers hold at most ~24.8 days)
    const wait = Math.min(next.getTime() - clock.now(), 2 ** 31 - 1);
    timers.set(p.name, clock.setTimeout(() => {
      if (clock.now() < next.getTime()) return arm(p);
      fire(p, next.getTime());
      arm(p);
    }, Math.max(0, wait)));
  };
  const fire = (p: ResolvedPipeline, slot: number) => {
    if (running.has(p.name)) {
      input.logger.warn({ pipeline: p.name }, 'scheduled reconciliation skipped: the previous run is still going');
      return;
    }
    const run = (async () => {
      const r: ScheduledRun = { pipeline: p.name, slot };
      try {
        const slotId = `reconcile-schedule:${p.name}`;
        if ((await input.store.getPosition(slotId)) === String(slot)) return; // another process took this slot
        await input.store.commit({ jobs: [], position: { source: slotId, position: String(slot) } });
        input.logger.info({ pipeline: p.name, slot: new Date(slot).toISOString() }, 'scheduled reconciliation starts');
        r.summary = await runReconcile({ config: input.config, store: input.store, pipeline: p.name, logger: input.logger, signal: ac.signal, ...input.reconcile });
        const s = r.summary;
        input.logger[s.open ? 'warn' : 'info']({ pipeline: p.name, counts: s.counts, open: s.open, durationMs: s.durationMs }, s.open ? `reconciliation found ${s.open} discrepancies; see hms-sync review list --pipeline ${p.name}` : 'reconciliation: the two sides agree');
        if (p.reconcile.autoRepair && s.open) r.autoRepair = await autoRepair({ config: input.config, store: input.store, summary: s, logger: input.logger });
      } catch (err) {
        r.error = errorMessage(err);
        input.logger.error({ pipeline: p.name, err: r.error }, 'scheduled reconciliation failed; the next slot runs as planned');
      } finally {
        running.delete(p.name);
        input.onRun?.(r);
      }
    })();
    running.set(p.name, run);
  };
  for (const p of scheduledPipelines(input.config)) if (!input.only || input.only.includes(p.name)) arm(p);
  return {
    next: () => Object.fromEntries(nextAt),
    async stop() {
      stopped = true;
      for (const t of timers.values()) clock.clearTimeout(t);
      ac.abort();
      await Promise.allSettled(running.values());
    },
  };
}
