import { agentBench } from './benches/agent';
import { eventLatencyBench } from './benches/event-latency';
import { memoryBench } from './benches/memory';
import { replayBench } from './benches/replay';
import { startLatencyBench } from './benches/start-latency';
import { stopLatencyBench } from './benches/stop-latency';
import { throughputBench } from './benches/throughput';
import { webhooksBench } from './benches/webhooks';
import type { Bench } from './lib/bench';
import { Cleanup } from './lib/cleanup';
import { waitForRunsToDrain, waitForWorkflowsToClose } from './lib/drain';
import { formatSnapshot, machineInfo, snapshot } from './lib/environment';
import { parseOptions } from './lib/options';
import { writeJson, writeText, type BenchResult } from './lib/results';
import { startBenchStack, type StackNeeds } from './lib/stack';
import { renderCharts } from './lib/svg-chart';
import { formatResult, formatTable } from './lib/table';

/**
 * Runs the benchmarks against one stack of their own: `tsx bench/run-all.ts [name…] [--smoke]
 * [--out DIR]`. Ordered so that the memory bench sees a fresh API process and the benches that
 * need the platform worker with a different demo delay come last.
 */
const BENCHES: Bench[] = [memoryBench, replayBench, eventLatencyBench, startLatencyBench, throughputBench, agentBench, webhooksBench, stopLatencyBench];

const log = (msg: string) => process.stdout.write(`[bench] ${msg}\n`);

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const unknown = options.names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length) {
    process.stderr.write(`unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  const selected = options.names.length ? BENCHES.filter((b) => options.names.includes(b.name)) : BENCHES;
  const needs: StackNeeds = {
    platformWorkerDelayMs: selected.find((b) => b.needs.platformWorkerDelayMs !== undefined)?.needs.platformWorkerDelayMs,
    benchWorker: selected.some((b) => b.needs.benchWorker),
    fakeModel: selected.some((b) => b.needs.fakeModel),
  };
  const startedAt = new Date().toISOString();
  const before = snapshot();
  log(formatSnapshot('before', before));
  const results: BenchResult[] = [];
  const failures: { bench: string; error: string }[] = [];
  const cleanup = new Cleanup();
  cleanup.onSignals(log);
  try {
    const stack = await startBenchStack(needs, cleanup, log);
    for (const bench of selected) {
      const began = performance.now();
      try {
        if (bench.needs.platformWorkerDelayMs !== undefined) await stack.ensurePlatformWorker(bench.needs.platformWorkerDelayMs);
        if (bench.needs.benchWorker) await stack.ensureBenchWorker();
        // A bench that failed may have left work behind: it would weigh on this one's figures.
        await waitForRunsToDrain(stack.db, undefined, log);
        await waitForWorkflowsToClose(stack.temporal, stack.benchTaskQueue);
        const result = await bench.run({ stack, smoke: options.smoke, log });
        result.durationMs = Math.round(performance.now() - began);
        results.push(result);
        writeJson(options.outDir, `${bench.name}.json`, result);
        process.stdout.write(`\n${formatResult(result)}\n\n`);
      } catch (err) {
        const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
        failures.push({ bench: bench.name, error });
        log(`${bench.name} FAILED: ${error}`);
      }
    }
  } catch (err) {
    failures.push({ bench: 'stack', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    log(`could not start the stack: ${String(err)}`);
  } finally {
    log('stopping everything the bench started');
    await cleanup.run(log);
  }
  const after = snapshot();
  log(formatSnapshot('after', after));

  const charts = results.flatMap((r) => (r.chart ? [r.chart] : []));
  const svg = charts.length ? writeText(options.outDir, 'latency.svg', renderCharts(`Runway latency percentiles${options.smoke ? ' (smoke)' : ''}`, charts)) : null;
  const summaryFile = writeJson(options.outDir, 'summary.json', {
    startedAt,
    finishedAt: new Date().toISOString(),
    smoke: options.smoke,
    machine: machineInfo(),
    environment: { before, after },
    benches: selected.map((b) => b.name),
    results,
    failures,
  });
  const targets = results.flatMap((r) => r.targets.map((t) => [r.bench, t.name, t.target, t.measured, t.met ? 'yes' : 'NO']));
  process.stdout.write(`\n${formatTable(['bench', 'target', 'goal', 'measured', 'met'], targets)}\n\n`);
  log(`results: ${summaryFile}${svg ? `, chart: ${svg}` : ''}`);
  if (options.smoke) log('smoke mode: the figures only prove the benches run; do not report them');
  for (const f of failures) log(`FAILED ${f.bench}`);
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
