import type { ChartSpec } from './results';

/**
 * Latency percentile charts as one SVG: a panel per bench, x on a "nines" scale (50, 90, 99,
 * 99.9 evenly spaced, as HdrHistogram plots do), y logarithmic in ms, the target dashed.
 */
const WIDTH = 760;
const PLOT_HEIGHT = 220;
const LEGEND_ROW = 18;
const MARGIN = { left: 64, right: 24, top: 36, bottom: 34 };
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];
const X_TICKS = [0, 50, 90, 99, 99.9];
const MAX_X = 3.3; // where "max" (percentile 100) is drawn, a little beyond 99.9

function nines(p: number): number {
  return p >= 100 ? MAX_X : Math.min(MAX_X, -Math.log10(1 - p / 100));
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);
}

function yTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(lo)); decade <= hi; decade *= 10) {
    for (const m of [1, 2, 5]) if (decade * m >= lo && decade * m <= hi) ticks.push(decade * m);
  }
  return ticks;
}

function panelHeight(spec: ChartSpec): number {
  return MARGIN.top + PLOT_HEIGHT + MARGIN.bottom + spec.series.length * LEGEND_ROW + 16;
}

function panel(spec: ChartSpec, top: number): string {
  const values = spec.series.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => v > 0);
  if (spec.targetMs) values.push(spec.targetMs);
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...values))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(lo * 10, ...values)));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PLOT_HEIGHT;
  const x = (p: number) => MARGIN.left + (nines(p) / MAX_X) * plotW;
  const y = (v: number) => top + MARGIN.top + plotH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;
  const out: string[] = [];
  out.push(`<text x="${MARGIN.left}" y="${top + 22}" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`);
  for (const t of yTicks(lo, hi)) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${y(t) + 4}" font-size="11" text-anchor="end">${t} ms</text>`);
  }
  for (const p of [...X_TICKS, 100]) {
    out.push(`<line x1="${x(p)}" x2="${x(p)}" y1="${top + MARGIN.top}" y2="${top + MARGIN.top + plotH}" stroke="#e5e5e5"/>`);
    const label = p === 0 ? 'min' : p === 100 ? 'max' : `p${p}`;
    out.push(`<text x="${x(p)}" y="${top + MARGIN.top + plotH + 16}" font-size="11" text-anchor="middle">${label}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${top + MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  if (spec.targetMs) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(spec.targetMs)}" y2="${y(spec.targetMs)}" stroke="#d62728" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${MARGIN.left + plotW - 4}" y="${y(spec.targetMs) - 5}" font-size="11" fill="#d62728" text-anchor="end">target ${spec.targetMs} ms</text>`);
  }
  spec.series.forEach((series, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    const path = series.points.map(([p, v], j) => `${j === 0 ? 'M' : 'L'}${x(p).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const [p, v] of series.points) out.push(`<circle cx="${x(p).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${color}"/>`);
    const ly = top + MARGIN.top + plotH + MARGIN.bottom + i * LEGEND_ROW;
    out.push(`<rect x="${MARGIN.left}" y="${ly - 5}" width="14" height="3" fill="${color}"/>`);
    out.push(`<text x="${MARGIN.left + 20}" y="${ly}" font-size="12">${escapeXml(series.label)}</text>`);
  });
  return out.join('\n');
}

export function renderCharts(title: string, specs: ChartSpec[]): string {
  const panels: string[] = [];
  let top = 40;
  for (const spec of specs) {
    panels.push(panel(spec, top));
    top += panelHeight(spec);
  }
  const height = top;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="17" font-weight="bold">${escapeXml(title)}</text>`,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}
