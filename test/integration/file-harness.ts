/**
 * Test harness for the file connector: an in-memory source state (shadow rows + position)
 * and a driver that commits each batch the way the engine does (shadow and position first,
 * then ack), with an optional crash (stop before an ack) to test restarts.
 */
import { withSnapshot } from '../../src/engine/snapshot.js';
import type { ChangeEvent } from '../../src/core/types.js';
import { silentLogger } from '../../src/core/log.js';
import type { Source, SourceContext, SourceState } from '../../src/connectors/contract.js';
import type { ShadowRow } from '../../src/store/store.js';

export interface MemoryState extends SourceState {
  shadow: Map<string, ShadowRow>;
  position: string | null;
}

export function memoryState(scope = 'file:test'): MemoryState {
  const s: MemoryState = {
    scope,
    shadow: new Map(),
    position: null,
    async getPosition() { return s.position; },
    async getShadow(keys) {
      const m = new Map<string, ShadowRow>();
      for (const k of keys) { const r = s.shadow.get(k); if (r) m.set(k, r); }
      return m;
    },
    async *listShadow() { for (const r of [...s.shadow.values()]) yield r; },
    diff: (records, opts) => snap.diff(records, opts),
    sweepDeletes: (exists, opts) => snap.sweepDeletes(exists, opts),
  };
  const snap = withSnapshot(s, { system: 'test', collection: 'test' });
  return s;
}

export function sourceContext<S, O>(systemConfig: S, options: O, state: SourceState, workDir: string, keyFields = ['PERMIT_NO']): SourceContext<S, O> {
  return { system: 'county', systemConfig, collection: 'permits', options, keyFields, state, logger: silentLogger(), workDir };
}

export interface Driver {
  events: ChangeEvent[];
  commits: number;
  acks: number;
  /** Resolves when the loop ended (stop, crash or error). */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Consume a source like the engine: commit shadow + position, then ack. `crashAfterCommits`
 * stops before that ack; `failCommit` makes that commit (1-based) throw, after which the stream
 * is restarted on the same source, as the engine does.
 */
export function drive(source: Source, state: MemoryState, opts: { crashAfterCommits?: number; failCommit?: number } = {}): Driver {
  const ac = new AbortController();
  const d: Driver = {
    events: [],
    commits: 0,
    acks: 0,
    done: Promise.resolve(),
    async stop() { ac.abort(); await d.done; await source.close(); },
  };
  let attempts = 0;
  const loop = async (): Promise<void> => {
    for await (const batch of source.stream(ac.signal)) {
      attempts++;
      if (attempts === opts.failCommit) throw new Error('simulated store failure');
      for (const row of batch.shadow ?? []) {
        if ('delete' in row) state.shadow.delete(row.key);
        else state.shadow.set(row.key, row);
      }
      if (batch.position !== undefined) state.position = batch.position;
      d.events.push(...batch.events);
      d.commits++;
      if (opts.crashAfterCommits !== undefined && d.commits >= opts.crashAfterCommits) {
        ac.abort();
        return;
      }
      if (batch.ack) { await batch.ack(); d.acks++; }
    }
  };
  d.done = (async () => {
    while (!ac.signal.aborted) {
      try {
        await loop();
        return;
      } catch (e) {
        if (opts.failCommit === undefined) throw e;
      }
    }
  })();
  return d;
}

/** Events as compact strings (`insert:P1`) for assertions. */
export function summary(events: ChangeEvent[]): string[] {
  return events.map((e) => `${e.op}:${e.key}`);
}
