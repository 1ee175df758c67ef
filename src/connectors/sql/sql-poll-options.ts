/** Options of a SQL polling source (the extra keys of a pipeline's `from:` block). */
import { z } from 'zod';
import { durationSchema } from './duration.js';

export const sqlPollOptionsSchema = z.strictObject({
  poll: durationSchema.default('5s').describe('Time between polls, e.g. "5s" (default 5s).'),
  incremental: z.strictObject({
    column: z.string().min(1).describe('A column that grows on every change: updated_at or a sequence number.'),
    fullScanEvery: durationSchema.default('10m').describe('How often a full scan runs to see deleted rows (default 10m).'),
  }).optional().describe('Read only rows whose column moved past the last position; a periodic full scan sees deletes.'),
  columns: z.array(z.string().min(1)).min(1).optional().describe('Columns to read (default: all). Key columns are always read.'),
  where: z.string().min(1).optional().describe('SQL condition limiting the watched rows (trusted config text). A row that stops matching counts as deleted.'),
  batchSize: z.number().int().min(1).max(100_000).default(1000).describe('Rows per page and per batch (default 1000).'),
});

export type SqlPollOptions = z.input<typeof sqlPollOptionsSchema>;
