/**
 * Echo suppression for bidirectional links, field by field.
 *
 * Before a worker writes into a collection that another pipeline watches (the reader), it records
 * a write intent for that reader: the fields and values it is about to write (and the full state).
 * When the reader's source sees a change for that key, only the fields that an intent wrote, with
 * the values it wrote, are our own echo and are taken out of the change; every other changed field
 * is a person's (or another program's) edit and flows on. A change that shows nothing but our own
 * writes is dropped.
 *
 * Consumption, per field: a field seen with the value of one of its intents consumes that intent's
 * claim on the field and every older one (the system has moved past them). For a polling source,
 * which sees only the current row, a claim older than a write acknowledged before the read began
 * cannot match (the row has moved past it); and a read that began before one of our writes of a
 * field landed cannot show a person's edit of it against a shadow that already holds our write. A field seen with a value
 * that no intent wrote consumes every intent's claim on it: someone wrote over it (or will be written
 * over by a write still in flight, whose arrival then flows back as a harmless equal-value update).
 * So a person who later sets the field back to a value we once wrote is never mistaken for our echo.
 *
 * Each reader has its own intents, whichever pipeline wrote them: several pipelines writing one
 * collection, or several pipelines watching it, never consume each other's intents.
 *
 * Pure functions: the store keeps intents (`echo_intents`), the capture loop applies the outcome.
 */
import { fingerprint, makeDiff, valuesEqual } from '../core/delta.js';
import { equivalent } from '../core/normalize.js';
import type { ChangeEvent, Delta, Doc } from '../core/types.js';
import type { EchoIntent, EchoIntentUpdate } from '../store/store.js';

/** Intents older than this are ignored and pruned: a write that has not shown up by then never will. */
export const INTENT_TTL_MS = 10 * 60_000;
/** At most this many live intents per reader and key are considered (the newest). */
export const MAX_INTENTS = 64;

/**
 * The value read back is the one we wrote, in the target's representation: equal after the
 * canonical normalisation (numbers by value, trimmed fixed-width text, timestamps as instants,
 * booleans as 1/0; core/normalize.ts). A target that stores `'007.50'` as `7.5` shows our write.
 */
export function sameValue(got: unknown, wrote: unknown): boolean {
  return valuesEqual(got, wrote) || equivalent(got, wrote);
}

export interface EchoOutcome {
  /** The delta to queue (our own fields taken out), or null when nothing of the change is left. */
  delta: Delta | null;
  /** Source field names taken out as our own echo. */
  suppressed: string[];
  /** The key's intents after this change (oldest first). */
  remaining: EchoIntent[];
  /** Store updates that record the consumption. */
  updates: EchoIntentUpdate[];
}

/**
 * Apply a key's live intents (oldest first) to the delta one change produced.
 * `ev.before` tells whether the delta was computed against a before image: without one, a field
 * that still holds the value of the state we last wrote is not a change either.
 */
export function filterEcho(ev: ChangeEvent, delta: Delta | null, intents: readonly EchoIntent[]): EchoOutcome {
  if (!intents.length || !delta) return { delta, suppressed: [], remaining: [...intents], updates: [] };
  const working = intents.map((i) => ({ intent: i, fields: i.fields ? { ...i.fields } : null, touched: false, deleted: false }));

  if (delta.op === 'delete') {
    let newestDelete = -1;
    working.forEach((w, i) => { if (w.fields === null) newestDelete = i; });
    // the row is gone: our delete coming back (echo), or someone else's (flows); either way no
    // field intent can be seen any more except through a new insert, so every intent is consumed
    for (const w of working) w.deleted = true;
    return finish(working, newestDelete >= 0 ? null : delta, newestDelete >= 0 ? ['*'] : []);
  }

  const after = delta.state ?? ev.after ?? {};
  const suppressed: string[] = [];
  // a change that shows the row consumes our delete intents (the row exists again or still)
  for (const w of working) if (w.fields === null) w.deleted = true;
  const newestState = [...working].reverse().find((w) => w.intent.state)?.intent.state ?? null;
  for (const f of Object.keys(delta.changed)) {
    const claims = working.filter((w) => w.fields && !w.deleted && Object.prototype.hasOwnProperty.call(w.fields, f));
    if (claims.length) {
      // A polling source's read shows every write acknowledged before it began: claims older than
      // the newest such write are superseded and cannot be what the row shows (it would be a person
      // setting an old value again). A change stream's event shows a past point: any claim may match.
      let floor = 0;
      if (ev.readAt !== undefined) {
        for (let i = claims.length - 1; i >= 0; i--) {
          const landed = claims[i]!.intent.landedAt;
          if (landed !== null && landed <= ev.readAt) { floor = i; break; }
        }
      }
      let hit = -1;
      for (let i = claims.length - 1; i >= floor; i--) if (sameValue(after[f], claims[i]!.fields![f])) { hit = i; break; }
      if (hit < 0 && ev.readAt !== undefined && claims.some((c) => c.intent.landedAt !== null && c.intent.landedAt > ev.readAt!)) {
        // the read began before our write landed, but its shadow already holds what we wrote (the
        // shadow is updated at landing): the value shown is the old one, not an edit. Our write
        // shows on the next read.
        suppressed.push(f);
        continue;
      }
      if (hit >= 0) suppressed.push(f);
      // a hit consumes its claim and the older ones; a miss consumes them all
      const upTo = hit >= 0 ? hit : claims.length - 1;
      for (let i = 0; i <= upTo; i++) {
        delete claims[i]!.fields![f];
        claims[i]!.touched = true;
      }
    } else if (!ev.before && newestState && Object.prototype.hasOwnProperty.call(newestState, f) && sameValue(after[f], newestState[f])) {
      // no before image (the delta lists every field): a field still holding what we wrote is no change
      suppressed.push(f);
    }
  }
  return finish(working, suppressed.length ? without(delta, ev, suppressed) : delta, suppressed);
}

function finish(working: Array<{ intent: EchoIntent; fields: Doc | null; touched: boolean; deleted: boolean }>, delta: Delta | null, suppressed: string[]): EchoOutcome {
  const remaining: EchoIntent[] = [];
  const updates: EchoIntentUpdate[] = [];
  for (const w of working) {
    if (w.deleted || (w.fields && Object.keys(w.fields).length === 0)) {
      updates.push({ id: w.intent.id, delete: true });
      continue;
    }
    if (w.touched && w.fields) {
      updates.push({ id: w.intent.id, fields: w.fields });
      remaining.push({ ...w.intent, fields: w.fields });
    } else remaining.push(w.intent);
  }
  return { delta, suppressed, remaining, updates };
}

/** The delta without the suppressed fields, or null when none is left. */
function without(delta: Delta, ev: ChangeEvent, suppressed: string[]): Delta | null {
  const gone = new Set(suppressed);
  const changed: Doc = {};
  for (const [k, v] of Object.entries(delta.changed)) if (!gone.has(k)) changed[k] = v;
  if (Object.keys(changed).length === 0) return null;
  const state = delta.state ?? {};
  // The before state that makes the mapping at delivery time see only the remaining fields as
  // changed: the suppressed fields already hold their new values; a field absent from it (no
  // before image) counts as changed.
  let before: Doc;
  if (ev.before) {
    before = { ...ev.before };
    for (const f of suppressed) {
      if (Object.prototype.hasOwnProperty.call(state, f)) before[f] = state[f];
      else delete before[f];
    }
  } else {
    before = { ...state };
    for (const k of Object.keys(changed)) delete before[k];
  }
  const d: Delta = { ...delta, op: 'update', changed, before, base: fingerprint(before) };
  // sanity: the remaining fields are exactly what differs between before and state
  if (Object.keys(makeDiff(before, state)).length === 0) return null;
  return d;
}
