import type { BenchResult } from './results';
import type { BenchStack, StackNeeds } from './stack';

export interface BenchContext {
  stack: BenchStack;
  smoke: boolean;
  log: (msg: string) => void;
}

/** One benchmark: what it needs from the stack, and how it measures. */
export interface Bench {
  /** Its npm script is `bench:<name>`. */
  name: string;
  title: string;
  needs: StackNeeds;
  run(ctx: BenchContext): Promise<BenchResult>;
}

/** A result with nothing measured yet; the bench fills it in. */
export function newResult(bench: Bench, smoke: boolean, params: BenchResult['params']): BenchResult {
  return {
    bench: bench.name,
    title: bench.title,
    smoke,
    startedAt: new Date().toISOString(),
    durationMs: 0,
    params,
    latency: {},
    values: {},
    targets: [],
    stages: {},
    cpu: {},
    notes: [],
    chart: null,
  };
}

export const fmtMs = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
