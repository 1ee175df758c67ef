import { EventEmitter } from 'node:events';
import type { ChangeEvent, Job } from '../core/types.js';
import type { ScheduledRun } from '../reconcile/schedule.js';
import type { SourceHealthState, SourceHolder } from '../store/store.js';

/** Events the engine emits, as `subject:verb`. Background loops never throw: they emit `error`. */
export interface EngineEvents {
  /** `suppressed`: changes dropped as our own echo; `partial`: changes that flowed with our own fields taken out. */
  'source:batch': [{ pipeline: string; events: number; enqueued: number; merged: number; suppressed: number; partial: number; position?: string }];
  'source:error': [{ pipeline: string; error: Error }];
  /** A source's health changed (also recorded in the store for `status`). */
  'source:state': [{ pipeline: string; state: SourceHealthState; since: number; error: string | null }];
  /** Another live process reads this pipeline's source: this engine does not (it still delivers). */
  'source:standby': [{ pipeline: string; holder: SourceHolder }];
  /**
   * A source cannot start (a permanent problem before it ever read, or, on SQLite, another process
   * reads it) and the engine was started with `failFast`: the caller should stop (`run` exits 4 or 5).
   */
  'source:fatal': [{ pipeline: string; error: Error }];
  /** The store cannot write (capture waits for it), or can again. */
  'store:unwritable': [{ pipeline: string; error: string }];
  'store:writable': [{ pipeline: string }];
  'change': [{ pipeline: string; event: ChangeEvent }];
  /**
   * A job finished: `written` by the sink; `stale`, the sink wrote nothing because the target holds
   * this version or a newer one (version fencing); `unchanged`, the change touched no mapped field.
   * `skipped` is `outcome === 'unchanged'`.
   */
  'job:done': [{ job: Job; skipped?: boolean; outcome: 'written' | 'stale' | 'unchanged' }];
  'job:retry': [{ job: Job; error: string; retryAt: number }];
  'job:dead': [{ job: Job; error: string }];
  'worker:error': [{ pipeline: string; error: Error }];
  /** A scheduled reconciliation ended (`reconcile.schedule`): its summary, auto-repair outcome or error. */
  'reconcile:run': [ScheduledRun];
  'engine:started': [];
  'engine:stopped': [];
}

export class TypedEmitter<E extends { [K in keyof E]: unknown[] }> extends EventEmitter {
  override emit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    return super.emit(event, ...args);
  }
  override on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    return super.on(event, listener as (...a: unknown[]) => void);
  }
  override once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    return super.once(event, listener as (...a: unknown[]) => void);
  }
  override off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    return super.off(event, listener as (...a: unknown[]) => void);
  }
}
