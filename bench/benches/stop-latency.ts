import { temporal } from '@temporalio/proto';
import { fmtMs, newResult, type Bench, type BenchContext } from '../lib/bench';
import { createRun, echoRunBody, stopRun } from '../lib/api-client';
import { CpuMeter } from '../lib/cpu-meter';
import { waitForRunsToDrain } from '../lib/drain';
import { createBenchAccount } from '../lib/fixtures';
import { chartSeries } from '../lib/results';
import { openEventStream, type EventStreamClient } from '../lib/sse-client';
import { summarize } from '../lib/stats';
import { wallClockMs } from '../lib/clock';

const EventType = temporal.api.enums.v1.EventType;
const DEMO_DELAY_MS = 20;
const WORDS = 500; // 10 s of output at 20 ms a token: every run is mid-stream when stopped

interface StopSample {
  runId: string;
  sentWallMs: number;
  /** Stop request sent → 202, and → the `end` event with status `stopped` reached the client. */
  acceptedMs: number;
  stoppedMs: number;
  endWallMs: number;
}

function eventMs(event: temporal.api.history.v1.IHistoryEvent): number {
  const t = event.eventTime;
  if (!t) return Number.NaN;
  const seconds = typeof t.seconds === 'number' ? t.seconds : (t.seconds?.toNumber() ?? 0);
  return seconds * 1000 + (t.nanos ?? 0) / 1e6;
}

/**
 * Stop request → the run's `end` event (status stopped) at a client following it, for runs
 * stopped mid-stream in bursts. The workflow histories split the time: API until the signal is
 * recorded, the workflow task that cancels the activity, the heartbeat that carries the
 * cancellation to the activity, and settle + delivery of the closing events.
 */
export const stopLatencyBench: Bench = {
  name: 'stop',
  title: 'Stop latency: stop request → run stopped',
  needs: { platformWorkerDelayMs: DEMO_DELAY_MS },
  async run({ stack, smoke, log }: BenchContext) {
    const waves = smoke ? 1 : 10;
    const perWave = smoke ? 5 : 20;
    const result = newResult(stopLatencyBench, smoke, { waves, runsPerWave: perWave, demoDelayMs: DEMO_DELAY_MS, words: WORDS });
    const account = await createBenchAccount(stack.db, 'stop');
    const samples: StopSample[] = [];
    const meter = new CpuMeter(stack.processes);
    await meter.start();

    for (let wave = 0; wave < waves; wave++) {
      log(`stop: wave ${wave + 1}/${waves}, ${perWave} runs`);
      const runIds = await Promise.all(Array.from({ length: perWave }, () => createRun(stack.api.baseUrl, account.apiKey, echoRunBody(WORDS, WORDS))));
      const clients: EventStreamClient[] = [];
      try {
        const watched = await Promise.all(
          runIds.map(async (runId) => {
            let markStreaming: () => void = () => undefined;
            let markEnded: (end: { status: string; monoMs: number; wallMs: number }) => void = () => undefined;
            const streaming = new Promise<void>((resolve) => (markStreaming = resolve));
            const ended = new Promise<{ status: string; monoMs: number; wallMs: number }>((resolve) => (markEnded = resolve));
            const client = await openEventStream({
              url: `${stack.api.baseUrl}/v1/runs/${runId}/events`,
              apiKey: account.apiKey,
              onEvent: (e) => {
                if (e.type === 'delta') markStreaming();
                if (e.type === 'end') markEnded({ status: (JSON.parse(e.data) as { status: string }).status, monoMs: e.monoMs, wallMs: e.wallMs });
              },
            });
            clients.push(client);
            return { runId, streaming, ended };
          }),
        );
        await withTimeout(Promise.all(watched.map((w) => w.streaming)), 60_000, 'runs did not start streaming');
        const stopped = await Promise.all(
          watched.map(async ({ runId, ended }) => {
            const sentWallMs = wallClockMs();
            const sent = performance.now();
            const status = await stopRun(stack.api.baseUrl, account.apiKey, runId);
            const acceptedMs = performance.now() - sent;
            if (status !== 202) throw new Error(`stop of ${runId} answered ${status}`);
            const end = await withTimeout(ended, 30_000, `run ${runId} did not end`);
            if (end.status !== 'stopped') throw new Error(`run ${runId} ended ${end.status}, not stopped`);
            return { runId, sentWallMs, acceptedMs, stoppedMs: end.monoMs - sent, endWallMs: end.wallMs };
          }),
        );
        samples.push(...stopped);
      } finally {
        for (const c of clients) c.close();
      }
      await waitForRunsToDrain(stack.db, undefined, log);
    }
    result.cpu['stop waves'] = await meter.stop();

    const stages = await historyStages(stack.temporal.workflow, samples);
    for (const [name, values] of Object.entries(stages)) result.stages[name] = summarize(values);
    const stoppedMs = samples.map((s) => s.stoppedMs);
    result.latency['stop request → end event (stopped) at client'] = summarize(stoppedMs);
    result.latency['stop request → 202'] = summarize(samples.map((s) => s.acceptedMs));
    const p99 = result.latency['stop request → end event (stopped) at client']?.p99 ?? Infinity;
    result.targets.push({ name: 'stop latency', target: 'p99 ≤ 1 s', measured: fmtMs(p99), met: p99 <= 1000 });
    result.notes.push(
      `${perWave} runs stopped at once per wave, each while streaming (demo/echo, ${DEMO_DELAY_MS} ms per token)`,
      'the API NOTIFYs the stop as it records it: the worker executing the run aborts the model call and the execute activity completes as stopped; otherwise the workflow cancels it and the cancellation waits for the next heartbeat (every 200 ms, throttled to 300 ms)',
    );
    result.chart = { title: `Stop latency (${samples.length} runs, ${perWave} stopped at once)`, targetMs: 1000, series: [chartSeries('stop → stopped', stoppedMs)] };
    return result;
  },
};

/** Per-stage durations from each stopped run's workflow history (server timestamps, same clock). */
async function historyStages(
  workflows: { getHandle(id: string): { fetchHistory(): Promise<temporal.api.history.v1.IHistory> } },
  samples: StopSample[],
): Promise<Record<string, number[]>> {
  const stages: Record<string, number[]> = {
    'request → stop signal recorded (API, DB, signal RPC)': [],
    'request → execute activity ended, when the worker heard the NOTIFY (completed as stopped)': [],
    'request → execute activity ended, through the workflow cancellation (heartbeat)': [],
    'execute activity ended → end event at client (workflow task, settle, NOTIFY, SSE)': [],
  };
  for (const sample of samples) {
    const history = await workflows.getHandle(sample.runId).fetchHistory();
    const events = history.events ?? [];
    const first = (type: temporal.api.enums.v1.EventType, match: (e: temporal.api.history.v1.IHistoryEvent) => boolean = () => true) => {
      const event = events.find((e) => e.eventType === type && match(e));
      return event ? eventMs(event) : Number.NaN;
    };
    // The execute activity also signals progress: the stop is the signal named `stop`.
    const signaled = first(
      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'stop',
    );
    // A run without a workspace has one (non-local) activity: executeModel.
    const completed = first(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
    const canceled = first(EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED);
    const ended = Number.isFinite(completed) ? completed : canceled;
    stages['request → stop signal recorded (API, DB, signal RPC)']?.push(signaled - sample.sentWallMs);
    stages['request → execute activity ended, when the worker heard the NOTIFY (completed as stopped)']?.push(completed - sample.sentWallMs);
    stages['request → execute activity ended, through the workflow cancellation (heartbeat)']?.push(canceled - sample.sentWallMs);
    stages['execute activity ended → end event at client (workflow task, settle, NOTIFY, SSE)']?.push(sample.endWallMs - ended);
  }
  for (const key of Object.keys(stages)) stages[key] = (stages[key] ?? []).filter(Number.isFinite);
  return stages;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
