import { isEvent, type RunStep, type RunwayEvent } from '@runway/client';

export type ModelStep = Extract<RunStep, { kind: 'model' }>;
export type ToolStep = Extract<RunStep, { kind: 'tool' }>;

/**
 * An agent run's steps as the page shows them: the newest MAX_SHOWN, by index. A run may have
 * tens of thousands of steps (500 turns of up to 128 calls); keeping a window makes each event's
 * work and each render bounded, whatever the run's length. The API lists them all.
 */
export interface Timeline {
  steps: RunStep[];
  /** Steps before the window (known from the highest index seen). */
  earlier: number;
}

export const MAX_SHOWN = 200;
export const EMPTY_TIMELINE: Timeline = { steps: [], earlier: 0 };

/** A step as its `step` event begins it: what the events will tell arrives later. */
function begun(index: number, kind: 'model' | 'tool'): RunStep {
  const times = { index, startedAt: '', finishedAt: null, durationMs: null, cost: 0 };
  if (kind === 'model') return { ...times, kind, text: '', toolCalls: [], usage: { inputTokens: 0, outputTokens: 0 } };
  return { ...times, kind, callId: '', name: '', arguments: '', result: null, truncated: false, error: null };
}

/** The steps in index order (each index once), cut to the newest MAX_SHOWN. */
function windowOf(steps: RunStep[]): Timeline {
  const sorted = steps.sort((a, b) => a.index - b.index);
  const last = sorted[sorted.length - 1];
  const kept = sorted.slice(-MAX_SHOWN);
  return { steps: kept, earlier: last ? last.index + 1 - kept.length : 0 };
}

/** `t` with the step at `position` of its window replaced by `change(step)`. */
function updateAt(t: Timeline, position: number, change: (step: RunStep) => RunStep): Timeline {
  const step = t.steps[position];
  if (!step) return t;
  const steps = t.steps.slice();
  steps[position] = change(step);
  return { ...t, steps };
}

/** The window position of the run's current model turn (the newest one), or -1. */
function currentTurn(t: Timeline): number {
  for (let i = t.steps.length - 1; i >= 0; i--) if (t.steps[i]?.kind === 'model') return i;
  return -1;
}

function withStepBegun(t: Timeline, index: number, kind: 'model' | 'tool'): Timeline {
  if (t.steps.some((s) => s.index === index)) return t; // known already (from the API)
  return windowOf([...t.steps, begun(index, kind)]);
}

/** A tool call's details go to the step its `step` event just began (the newest tool step). */
function withToolCall(t: Timeline, call: { callId: string; name: string; arguments: string }): Timeline {
  const position = t.steps.length - 1;
  const last = t.steps[position];
  if (last?.kind !== 'tool' || last.callId !== '') return t;
  return updateAt(t, position, (s) => ({ ...s, callId: call.callId, name: call.name, arguments: call.arguments }));
}

function withToolResult(t: Timeline, r: { callId: string; result: string; truncated: boolean; error?: string }): Timeline {
  const position = t.steps.findIndex((s) => s.kind === 'tool' && s.callId === r.callId && s.result === null);
  if (position < 0) return t;
  return updateAt(t, position, (s) => ({ ...s, result: r.result, truncated: r.truncated, error: r.error ?? null }));
}

/** Text goes to the current model turn while it runs (a `reset` starts it over, as the output). */
function withTurnText(t: Timeline, change: (text: string) => string): Timeline {
  const position = currentTurn(t);
  const step = t.steps[position];
  if (step?.kind !== 'model' || step.finishedAt !== null) return t;
  return updateAt(t, position, (s) => (s.kind === 'model' ? { ...s, text: change(s.text) } : s));
}

/** The timeline after one run event (events that are not about steps leave it as it is). */
export function applyStepEvent(t: Timeline, event: RunwayEvent): Timeline {
  if (isEvent(event, 'step')) return withStepBegun(t, event.data.index, event.data.kind);
  if (isEvent(event, 'tool_call')) return withToolCall(t, event.data);
  if (isEvent(event, 'tool_result')) return withToolResult(t, event.data);
  if (isEvent(event, 'delta') && t.steps.length > 0) return withTurnText(t, (text) => text + event.data.text);
  if (isEvent(event, 'reset') && t.steps.length > 0) return withTurnText(t, () => '');
  return t;
}

/**
 * The API's steps merged in: a finished step is final, so the API's copy wins; of a step still
 * going, what the events told is newer (a model turn's text is written to its step only when the
 * turn ends).
 */
export function mergeSteps(t: Timeline, fetched: RunStep[]): Timeline {
  const byIndex = new Map(t.steps.map((s) => [s.index, s]));
  for (const step of fetched) {
    const known = byIndex.get(step.index);
    if (!known || step.finishedAt !== null) byIndex.set(step.index, step);
    else if (known.kind === 'model' && step.kind === 'model') byIndex.set(step.index, { ...step, text: known.text });
    else if (known.kind === 'tool' && step.kind === 'tool') byIndex.set(step.index, { ...step, ...(known.result !== null ? { result: known.result, truncated: known.truncated, error: known.error } : {}) });
  }
  return windowOf([...byIndex.values()]);
}
