/**
 * Echo suppression for bidirectional links. Before a worker writes into a collection that another
 * pipeline watches, it records a write intent (the fields and values it is about to write). When
 * the watcher sees a change for that key, a matching intent marks it as our own echo: the change
 * is dropped, and that intent and every older one are consumed (the target has moved past them).
 * A change that matches no intent is genuine; the intents stay (their writes may still land) until
 * they expire. Pure functions: the engine stores intents as shadow rows.
 */
import { valuesEqual } from '../core/delta.js';
import type { ChangeEvent, Doc } from '../core/types.js';
import type { ShadowDelete, ShadowRow } from '../store/store.js';

export interface WriteIntent {
  /** The fields written (null for a delete). */
  doc: Doc | null;
  /** Epoch ms when recorded. */
  at: number;
}

/** Intents older than this are dropped: a write that has not shown up by then never will. */
export const INTENT_TTL_MS = 10 * 60_000;
const MAX_INTENTS = 32;

export function intentsOf(row: ShadowRow | undefined, now = Date.now()): WriteIntent[] {
  const list = (row?.doc as { intents?: WriteIntent[] } | null | undefined)?.intents;
  return Array.isArray(list) ? list.filter((i) => now - i.at < INTENT_TTL_MS) : [];
}

export function intentRow(scope: string, key: string, fingerprint: string, intents: WriteIntent[]): ShadowRow | ShadowDelete {
  if (!intents.length) return { scope, key, delete: true };
  return { scope, key, fingerprint, doc: { intents: intents.slice(-MAX_INTENTS) } };
}

/** True when the event shows exactly what the intent wrote. */
export function matchesIntent(ev: ChangeEvent, intent: WriteIntent): boolean {
  if (ev.op === 'delete') return intent.doc === null;
  if (!intent.doc || !ev.after) return false;
  for (const [k, v] of Object.entries(intent.doc)) {
    const got = ev.after[k];
    if (valuesEqual(got, v)) continue;
    // legacy systems hand back numbers as strings and the other way round
    if (got != null && v != null && typeof got !== 'object' && typeof v !== 'object' && String(got) === String(v)) continue;
    return false;
  }
  return true;
}

/**
 * Check an event against a key's outstanding intents (oldest first).
 * Returns whether it is an echo and the intents that remain.
 */
export function checkEcho(ev: ChangeEvent, intents: WriteIntent[]): { echo: boolean; remaining: WriteIntent[] } {
  for (let i = intents.length - 1; i >= 0; i--) {
    if (matchesIntent(ev, intents[i]!)) return { echo: true, remaining: intents.slice(i + 1) };
  }
  return { echo: false, remaining: intents };
}
