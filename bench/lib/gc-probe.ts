import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PlatformProcess } from './processes';

/**
 * A memory probe preloaded into the API process (`--require`, with `--expose-gc`): on SIGUSR2 it
 * runs a full garbage collection and prints `process.memoryUsage()`. Readings after a GC measure
 * what connections hold, not how much garbage happened to be around. Nothing in src/ changes:
 * the probe is written at run time into the bench's work dir and passed through NODE_OPTIONS.
 */
const MARK = '[gc-probe] ';
const PROBE_SOURCE = `process.on('SIGUSR2', () => {
  globalThis.gc();
  process.stdout.write(${JSON.stringify(MARK)} + JSON.stringify(process.memoryUsage()) + '\\n');
});
`;

export interface ProbedMemory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Writes the probe into `dir`; returns the environment that preloads it. */
export function gcProbeEnv(dir: string): Record<string, string> {
  const file = path.join(dir, 'gc-probe.cjs');
  writeFileSync(file, PROBE_SOURCE);
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --require ${file}`.trim() };
}

/** Asks the process for a full GC and its memory usage right after (bytes). */
export async function collectGarbageAndMeasure(proc: PlatformProcess, timeoutMs = 10_000): Promise<ProbedMemory> {
  const seen = proc.output().split(MARK).length;
  proc.child.kill('SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const parts = proc.output().split(MARK);
    if (parts.length > seen) {
      const line = (parts[parts.length - 1] ?? '').split('\n')[0] ?? '';
      return JSON.parse(line) as ProbedMemory;
    }
    if (Date.now() > deadline) throw new Error(`${proc.name} did not answer the memory probe (is it preloaded?)`);
    await sleep(20);
  }
}
