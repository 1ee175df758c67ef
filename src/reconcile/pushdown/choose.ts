/**
 * Which engine reconciles a pipeline: `auto` (the default) pushes the comparison down to SQL when
 * it can be (plan.ts) and streams otherwise, saying why in the summary's `engineNote`; `stream`
 * always streams; `pushdown` refuses (ConfigError) a pipeline it cannot push down.
 */
import { ConfigError } from '../../core/errors.js';
import type { NormalizeOptions } from '../../core/normalize.js';
import type { ResolvedConfig, ResolvedPipeline } from '../../config/schema.js';
import { planPushdown, type PlanResult } from './plan.js';

export type ReconcileEngine = 'auto' | 'stream' | 'pushdown';

export async function chooseEngine(input: {
  engine?: ReconcileEngine; keys?: string[]; injectedReaders: boolean; config: ResolvedConfig; p: ResolvedPipeline; norm: NormalizeOptions; ignore: Set<string>;
}): Promise<PlanResult> {
  const engine = input.engine ?? 'auto';
  let result: PlanResult;
  if (engine === 'stream') result = { note: 'the streamed engine was asked for' };
  else if (input.keys) result = { note: 'only the given keys are compared (--keys)' };
  else if (input.injectedReaders) result = { note: 'the Readers were given by the caller' };
  else result = await planPushdown(input.config, input.p, input.norm, input.ignore);
  if (engine === 'pushdown' && result.note !== undefined) throw new ConfigError(`pipeline "${input.p.name}": the pushdown engine cannot reconcile it: ${result.note}`);
  return result;
}
