import path from 'node:path';

export interface BenchOptions {
  /** Bench names to run (empty: all of them). */
  names: string[];
  /** A few seconds per bench: proves the bench works (CI), measures nothing worth reporting. */
  smoke: boolean;
  /** Where the JSON and SVG go; by default a fresh folder under bench/results/. */
  outDir: string;
}

const RESULTS_ROOT = path.resolve(__dirname, '..', 'results');

/** `tsx bench/run-all.ts [name…] [--smoke] [--out DIR]`; `BENCH_SMOKE=1` also selects smoke mode. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const names: string[] = [];
  let smoke = env.BENCH_SMOKE === '1' || env.BENCH_SMOKE === 'true';
  let outDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--smoke') smoke = true;
    else if (arg === '--out') outDir = argv[++i];
    else if (arg.startsWith('--out=')) outDir = arg.slice('--out='.length);
    else if (arg.startsWith('-')) throw new Error(`unknown option ${arg} (use --smoke, --out DIR)`);
    else names.push(arg);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    names,
    smoke,
    outDir: path.resolve(outDir ?? path.join(RESULTS_ROOT, `${stamp}${smoke ? '-smoke' : ''}`)),
  };
}
