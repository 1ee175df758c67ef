/** Helpers for sinks honouring the abort signal of a delivery call (see Sink.write). */

/** Why a sink call was aborted, for its error message (the delivery's time limit, a shutdown, a lost lease). */
export function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r.message;
  return r === undefined ? 'aborted' : String(r);
}
