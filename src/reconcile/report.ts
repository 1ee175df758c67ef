/**
 * The reconcile report as one self-contained HTML file (no scripts, no external assets): counts per
 * class, differences per field, and samples of each class with both sides' values.
 */
import type { Discrepancy, DiscrepancyClass } from '../store/review-store.js';
import type { ReconcileSummary } from './reconcile.js';

const CLASS_TEXT: Record<DiscrepancyClass, string> = {
  missing: 'missing in the target',
  extra: 'extra in the target',
  different: 'different',
  duplicate: 'duplicate key',
  unmappable: 'unmappable (mapping error)',
};

function esc(v: unknown): string {
  const s = typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Render the report; `samples` are the run's discrepancies (at most `perClass` of each class are shown). */
export function renderReport(s: ReconcileSummary, samples: Discrepancy[], opts: { perClass?: number; generatedAt?: Date } = {}): string {
  const perClass = opts.perClass ?? 20;
  const at = (opts.generatedAt ?? new Date()).toISOString();
  const classes = (Object.keys(CLASS_TEXT) as DiscrepancyClass[]);
  const rows = classes.map((c) => `<tr><td>${esc(CLASS_TEXT[c])}</td><td class="n">${s.counts[c]}</td></tr>`).join('');
  const fields = Object.entries(s.fieldCounts).sort((a, b) => b[1] - a[1]).map(([f, n]) => `<tr><td><code>${esc(f)}</code></td><td class="n">${n}</td></tr>`).join('');
  const sections = classes.filter((c) => s.counts[c] > 0).map((c) => {
    const of = samples.filter((d) => d.class === c);
    const shown = of.slice(0, perClass);
    const body = shown.map((d) => {
      if (d.class === 'different') {
        return d.fields.map((f, i) => `<tr>${i === 0 ? `<td rowspan="${d.fields.length}"><code>${esc(d.key)}</code></td>` : ''}<td><code>${esc(f.field)}</code></td><td>${esc(f.source)}</td><td>${esc(f.target)}</td></tr>`).join('');
      }
      const detail = d.error ?? (d.source ? JSON.stringify(d.source) : d.target ? JSON.stringify(d.target) : '');
      return `<tr><td><code>${esc(d.key)}</code></td><td colspan="3">${esc(detail)}</td></tr>`;
    }).join('');
    const head = c === 'different' ? '<tr><th>key</th><th>field</th><th>source (mapped)</th><th>target</th></tr>' : '<tr><th>key</th><th colspan="3">values</th></tr>';
    return `<h2>${esc(CLASS_TEXT[c])}: ${s.counts[c]}</h2><table>${head}${body}</table>${of.length < s.counts[c] || shown.length < of.length ? `<p class="note">${shown.length} of ${s.counts[c]} shown; \`hms-sync review list --pipeline ${esc(s.pipeline)} --class ${c}\` lists them all.</p>` : ''}`;
  }).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hms-sync reconcile: ${esc(s.pipeline)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;max-width:70rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #cfd5e0;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#eef1f6}.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#17663a}.bad{color:#a4161a}.note{color:#5b6475}
code{font-family:ui-monospace,monospace}
</style></head><body>
<h1>Reconciliation of <code>${esc(s.pipeline)}</code></h1>
<p>Run ${esc(s.runId)} at ${esc(at)}: ${s.sourceRows} source rows and ${s.targetRows} target rows compared on ${s.fields.length} fields (${s.fields.map((f) => `<code>${esc(f)}</code>`).join(', ')}) in ${s.durationMs} ms.</p>
<p class="${s.open ? 'bad' : 'ok'}"><strong>${s.discrepancies === 0 ? 'The two sides agree.' : `${s.discrepancies} discrepancies (${s.open} open, ${s.ignored} ignored).`}</strong>${s.unsettled.length ? ` ${s.unsettled.length} keys were still changing and were not reported; the next run looks again.` : ''}</p>
<table><tr><th>class</th><th>rows</th></tr>${rows}</table>
${fields ? `<h2>Differences per field</h2><table><tr><th>field</th><th>rows</th></tr>${fields}</table>` : ''}
${sections}
</body></html>
`;
}
