import { useEffect, useState } from 'preact/hooks';
import { isTerminal, runStatuses, type Run, type RunStatus, type Runway, type RunwayEvent } from '@runway/client';

export interface ProgressStep {
  step: string;
  message: string;
  pct?: number;
}

export interface LiveRun {
  status: RunStatus | null;
  text: string;
  steps: ProgressStep[];
  usage: { inputTokens: number; outputTokens: number } | null;
  error: { code: string; message: string } | null;
  ended: boolean;
  reconnecting: boolean;
}

const INITIAL: LiveRun = { status: null, text: '', steps: [], usage: null, error: null, ended: false, reconnecting: false };

/** One progress report per step: a later report of the same step replaces the earlier one. */
function withStep(steps: ProgressStep[], data: { step?: string; message?: string; pct?: number }): ProgressStep[] {
  if (!data.step) return steps;
  const next: ProgressStep = { step: data.step, message: data.message ?? '', pct: data.pct };
  const last = steps[steps.length - 1];
  if (last?.step === next.step) return [...steps.slice(0, -1), next];
  return [...steps, next];
}

/** An event's status when it is one the API declares; otherwise the one known before. */
function statusOf(data: Record<string, unknown>, known: RunStatus | null): RunStatus | null {
  return runStatuses.find((status) => status === data.status) ?? known;
}

/** The run as its events tell it; the reset rule applied (a `reset` starts the output over). */
export function applyEvent(live: LiveRun, event: RunwayEvent): LiveRun {
  const data = (event.data ?? {}) as Record<string, unknown>;
  switch (event.type) {
    case 'status':
      return { ...live, status: statusOf(data, live.status) };
    case 'progress':
      return { ...live, steps: withStep(live.steps, data as { step?: string; message?: string; pct?: number }) };
    case 'delta':
      return { ...live, text: live.text + (typeof data.text === 'string' ? data.text : '') };
    case 'reset':
      return { ...live, text: '' };
    case 'usage':
      return { ...live, usage: data as LiveRun['usage'] };
    case 'error':
      return { ...live, error: data as LiveRun['error'] };
    case 'end':
      return { ...live, ended: true, status: statusOf(data, live.status) };
    default:
      return live;
  }
}

/** The run after its stream's `end`: the terminal status is written with it, so a read or two sees it. */
async function settledRun(rw: Runway, runId: string, signal: AbortSignal): Promise<Run> {
  for (let i = 0; ; i++) {
    const run = await rw.runs.get(runId);
    if (isTerminal(run.status) || i >= 20 || signal.aborted) return run;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Follows a run's event stream (the SDK resumes a dropped connection with Last-Event-ID and
 * never yields an event twice) and, once it ends, reads the settled run.
 */
export function useRunStream(rw: Runway, runId: string | null, onSettled: (run: Run) => void): { live: LiveRun; error: unknown } {
  const [live, setLive] = useState<LiveRun>(INITIAL);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    setLive(INITIAL);
    setError(undefined);
    if (!runId) return;
    const controller = new AbortController();
    const follow = async () => {
      const onReconnect = () => setLive((l) => ({ ...l, reconnecting: true }));
      for await (const event of rw.runs.stream(runId, { signal: controller.signal, onReconnect })) {
        setLive((l) => ({ ...applyEvent(l, event), reconnecting: false }));
      }
      onSettled(await settledRun(rw, runId, controller.signal));
    };
    follow().catch((err: unknown) => {
      if (!controller.signal.aborted) setError(err);
    });
    return () => controller.abort();
  }, [rw, runId]);
  return { live, error };
}
