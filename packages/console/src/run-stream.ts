import { useEffect, useState } from 'preact/hooks';
import { isTerminal, runStatuses, type Run, type RunStatus, type RunStep, type Runway, type RunwayEvent } from '@runway/client';
import { applyStepEvent, EMPTY_TIMELINE, mergeSteps, type Timeline } from './timeline';

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
  /** An agent run's model turns and tool calls (none for a plain run). */
  timeline: Timeline;
}

const INITIAL: LiveRun = { status: null, text: '', steps: [], usage: null, error: null, ended: false, reconnecting: false, timeline: EMPTY_TIMELINE };

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

/**
 * The run as its events tell it, by the server's output rule: a `reset` (a retried attempt) or an
 * agent run's new model turn (`step` of kind `model`) starts the output over.
 */
export function applyEvent(live: LiveRun, event: RunwayEvent): LiveRun {
  const timeline = applyStepEvent(live.timeline, event);
  const next = timeline === live.timeline ? live : { ...live, timeline };
  return applyRunEvent(next, event);
}

function applyRunEvent(live: LiveRun, event: RunwayEvent): LiveRun {
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
    case 'step':
      return data.kind === 'model' ? { ...live, text: '' } : live;
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

/** Steps per call when the timeline is filled from the API. */
const STEPS_PAGE = 100;

/**
 * Fills the timeline from `GET /v1/runs/{id}/steps`. Only what can still change is read again:
 * pages whose steps all finished are final, so the next refresh starts after them, and a long
 * run costs each refresh a page or two. Refreshes asked for while one is under way make one more.
 */
function stepsLoader(rw: Runway, runId: string, signal: AbortSignal, apply: (steps: RunStep[]) => void): () => void {
  let from: string | undefined;
  let running = false;
  let again = false;
  const load = async () => {
    let cursor = from;
    let final = true;
    for (;;) {
      const page = await rw.runs.steps(runId, { limit: STEPS_PAGE, cursor });
      if (signal.aborted) return;
      apply(page.data);
      final &&= page.data.every((step) => step.finishedAt !== null);
      if (!page.nextCursor) return;
      if (final) from = page.nextCursor;
      cursor = page.nextCursor;
    }
  };
  return () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    const loop = async () => {
      do {
        again = false;
        // A failed read leaves the timeline as the events tell it; the next step or the end reads again.
        await load().catch(() => undefined);
      } while (again && !signal.aborted);
      running = false;
    };
    void loop();
  };
}

/** Events after which the API's steps have news: a step finished (the next began, a result came) or the run ended. */
const STEP_NEWS = new Set(['step', 'tool_result', 'end']);

/**
 * Follows a run's event stream (the SDK resumes a dropped connection with Last-Event-ID and
 * never yields an event twice) and, once it ends, reads the settled run. An agent run's timeline
 * is also filled from its steps (their tokens, durations and costs are not in the events): at the
 * start, on each resume, as steps finish, and at the end.
 */
export function useRunStream(rw: Runway, runId: string | null, onSettled: (run: Run) => void, agent = false): { live: LiveRun; error: unknown } {
  const [live, setLive] = useState<LiveRun>(INITIAL);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    setLive(INITIAL);
    setError(undefined);
    if (!runId) return;
    const controller = new AbortController();
    const refreshSteps = stepsLoader(rw, runId, controller.signal, (steps) => {
      if (steps.length > 0) setLive((l) => ({ ...l, timeline: mergeSteps(l.timeline, steps) }));
    });
    let hasSteps = agent;
    /** A resumed stream: the steps are read again once it brings an event (the connection is back). */
    let resumed = false;
    if (hasSteps) refreshSteps();
    const follow = async () => {
      const onReconnect = () => {
        setLive((l) => ({ ...l, reconnecting: true }));
        resumed = true;
        if (hasSteps) refreshSteps();
      };
      for await (const event of rw.runs.stream(runId, { signal: controller.signal, onReconnect })) {
        setLive((l) => ({ ...applyEvent(l, event), reconnecting: false }));
        hasSteps ||= event.type === 'step';
        if (hasSteps && (resumed || STEP_NEWS.has(event.type))) refreshSteps();
        resumed = false;
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
