/** hms-sync public API. */
export { z } from 'zod';
export { makeDiff, computeDelta, mergeDeltas, fingerprint, canonicalKey, stableStringify } from './core/delta.js';
export * from './core/errors.js';
export type { ChangeEvent, Delta, Doc, Job, JobState, Op } from './core/types.js';
export { idempotencyKey } from './core/types.js';
export { createLogger, silentLogger, type Logger } from './core/log.js';
export type * from './connectors/contract.js';
export { defineConnector } from './connectors/contract.js';
export { getConnector, listDrivers, registerConnector } from './connectors/registry.js';
export type * from './store/store.js';
export { openStore } from './store/open-store.js';
export { loadConfig, parseConfig } from './config/load-config.js';
export type { ResolvedConfig, ResolvedPipeline } from './config/schema.js';
export { compileMapping } from './core/mapping.js';
export { createEngine, Engine, type EngineOptions, type ChangeHook } from './engine/engine.js';
export { onChange, enqueue, start, stop, Connector, type ConnectorOpenOptions, type StreamOptions } from './sdk.js';
