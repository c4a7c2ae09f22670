import type { BenchResult } from './results';

/** A plain-text table with aligned columns. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 2 : 1) : '-');

/** The figures of one bench: its targets, its latency distributions, its scalar values. */
export function formatResult(result: BenchResult): string {
  const parts = [`== ${result.title} (${result.bench})${result.smoke ? ' [smoke]' : ''}`];
  if (result.targets.length) {
    parts.push(formatTable(['target', 'goal', 'measured', 'met'], result.targets.map((t) => [t.name, t.target, t.measured, t.met ? 'yes' : 'NO'])));
  }
  const series = [...Object.entries(result.latency), ...Object.entries(result.stages).map(([k, v]) => [`  stage: ${k}`, v] as const)];
  if (series.length) {
    parts.push(
      formatTable(
        ['latency (ms)', 'n', 'p50', 'p90', 'p99', 'max'],
        series.map(([name, s]) => [name, String(s.count), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)]),
      ),
    );
  }
  const values = Object.entries(result.values);
  if (values.length) parts.push(formatTable(['value', ''], values.map(([k, v]) => [k, String(v)])));
  for (const [phase, cpu] of Object.entries(result.cpu)) {
    const comps = Object.entries(cpu.byComponent)
      .sort(([, a], [, b]) => b - a)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    parts.push(`cpu ms during ${phase} (${cpu.wallMs} ms wall, machine ${Math.round(cpu.machineUtilization * 100)}% busy): ${comps}, other processes ${cpu.otherMs}`);
  }
  for (const note of result.notes) parts.push(`note: ${note}`);
  return parts.join('\n');
}
