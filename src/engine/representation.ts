/**
 * Never write a value into a system that differs from the one it holds only in representation.
 *
 * On a bidirectional link the target of one pipeline is the source of the other, and its reader
 * keeps a shadow of its rows as it last saw them. When the target already holds a value that
 * means the same as the one about to be written (`'007.50'` there, `7.5` here; `'AB  '` there,
 * `'AB'` here), the target's own representation is written instead, and a field whose only change
 * is its representation is not written at all. Without this, a system that normalises values
 * (a numeric column, a JSON API) would rewrite the legacy side's representation on every write
 * that carries the field along.
 *
 * Fields the source changed are compared across types only (core/normalize.ts `sameAcrossTypes`):
 * a person who changes the text `'00501'` to `'501'` has made a change, and it is written.
 * Fields carried along unchanged are compared by canonical value (`equivalent`).
 */
import { fingerprint } from '../core/delta.js';
import { equivalent, sameAcrossTypes } from '../core/normalize.js';
import type { Doc } from '../core/types.js';
import type { SinkItem } from '../connectors/contract.js';
import type { StateStore } from '../store/store.js';
import type { Route } from './route.js';

/**
 * Rewrites the items in place to the target's representation; returns the indexes of items left
 * with nothing to write (an update whose every changed field the target already holds).
 */
export async function keepTargetRepresentation(store: Pick<StateStore, 'getShadow'>, route: Pick<Route, 'echoReaders' | 'targetKey'>, items: SinkItem[], readerKey: (state: Doc | null, fields: string[]) => string | null): Promise<Set<number>> {
  const unchanged = new Set<number>();
  if (!route.echoReaders.length || !items.length) return unchanged;
  const known: Array<Doc | null> = items.map(() => null);
  for (const reader of route.echoReaders) {
    const keys = items.map((it, i) => (it.delta.state && known[i] === null ? readerKey(it.delta.state, reader.key) ?? it.delta.key : null));
    const wanted = [...new Set(keys.filter((k): k is string => k !== null))];
    if (!wanted.length) continue;
    const rows = await store.getShadow(reader.scope, wanted);
    keys.forEach((k, i) => {
      const doc = k === null ? null : rows.get(k)?.doc ?? null;
      if (doc && known[i] === null) known[i] = doc;
    });
  }
  const keyFields = new Set(route.targetKey);
  items.forEach((item, i) => {
    const there = known[i];
    const d = item.delta;
    if (!there || !d.state) return;
    let touched = false;
    const state: Doc = { ...d.state };
    const changed: Doc = { ...d.changed };
    for (const f of Object.keys(state)) {
      if (keyFields.has(f) || !Object.prototype.hasOwnProperty.call(there, f)) continue;
      const theirs = there[f];
      const ours = state[f];
      if (theirs === ours) continue;
      const isChange = d.op === 'update' && Object.prototype.hasOwnProperty.call(changed, f);
      if (isChange ? !sameAcrossTypes(ours, theirs) : !equivalent(ours, theirs)) continue;
      state[f] = theirs;
      if (isChange) delete changed[f];
      else if (Object.prototype.hasOwnProperty.call(changed, f)) changed[f] = theirs;
      touched = true;
    }
    if (!touched) return;
    d.state = state;
    d.changed = changed;
    d.fingerprint = fingerprint(state);
    if (d.op === 'update' && Object.keys(changed).length === 0) unchanged.add(i);
  });
  return unchanged;
}
