import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CpuReport } from './cpu-meter';
import { percentileOf, type LatencySummary } from './stats';

export interface TargetCheck {
  name: string;
  /** The target as written in issue #8, e.g. "p99 ≤ 50 ms". */
  target: string;
  measured: string;
  met: boolean;
}

/** A latency distribution for the chart: [percentile, ms] points. */
export interface ChartSeries {
  label: string;
  points: [number, number][];
}

export interface ChartSpec {
  title: string;
  targetMs?: number;
  series: ChartSeries[];
}

export interface BenchResult {
  bench: string;
  title: string;
  smoke: boolean;
  startedAt: string;
  durationMs: number;
  params: Record<string, string | number | boolean>;
  /** Named latency distributions, in ms. */
  latency: Record<string, LatencySummary>;
  /** Scalar figures (runs/s, KB per connection, ratios). */
  values: Record<string, number>;
  targets: TargetCheck[];
  /** Where the time goes: per-stage latency distributions, in ms. */
  stages: Record<string, LatencySummary>;
  /** CPU time by component during each measured phase. */
  cpu: Record<string, CpuReport>;
  notes: string[];
  chart: ChartSpec | null;
}

export const CHART_PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100];

/** The distribution's shape for the chart (min, percentiles, max). */
export function chartSeries(label: string, samples: readonly number[]): ChartSeries {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    label,
    points: CHART_PERCENTILES.map((p) => [p, Math.round((p === 0 ? (sorted[0] ?? 0) : percentileOf(sorted, p)) * 100) / 100]),
  };
}

export function writeJson(dir: string, name: string, value: unknown): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  return file;
}

export function writeText(dir: string, name: string, text: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}
