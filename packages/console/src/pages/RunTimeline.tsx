import type { ModelStep, Timeline, ToolStep } from '../timeline';

/**
 * An agent run's steps: each model turn and each tool call, as they happen. Model and tool text
 * is untrusted: it is only ever rendered as text (JSX text nodes), never as HTML. The window of
 * steps is bounded (timeline.ts), so each render is too. (No preact/compat `memo`: importing
 * compat changes every form's onChange into onInput, which the runs list's filters rely on not being.)
 */

/** Characters of a tool's arguments or result shown; the API bounds results already (16 KiB). */
const MAX_SHOWN_CHARS = 16_384;

function bounded(text: string): { shown: string; cut: boolean } {
  return text.length > MAX_SHOWN_CHARS ? { shown: text.slice(0, MAX_SHOWN_CHARS), cut: true } : { shown: text, cut: false };
}

/** The model's JSON arguments, indented when they parse (within the bound), else as they are. */
function argumentsText(raw: string): string {
  if (raw.length > MAX_SHOWN_CHARS) return raw;
  try {
    return JSON.stringify(JSON.parse(raw), null, 2) ?? raw;
  } catch {
    return raw;
  }
}

const credits = (n: number) => `${n} credit${n === 1 ? '' : 's'}`;

function duration(ms: number | null): string | null {
  if (ms === null) return null;
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The facts of a step, joined; a step still going says so. */
function Meta({ parts, running }: { parts: (string | null)[]; running: boolean }) {
  const shown = parts.filter((p): p is string => p !== null);
  return <span class="hint">{running ? 'running…' : shown.join(' · ')}</span>;
}

function ModelTurn({ step }: { step: ModelStep }) {
  const { usage } = step;
  const calls = step.toolCalls.length;
  return (
    <li class="timeline-step timeline-model" data-kind="model" data-index={step.index}>
      <div class="timeline-head">
        <strong>Model turn</strong>
        <span class="hint">step {step.index + 1}</span>
        <Meta
          running={step.finishedAt === null}
          parts={[`${usage.inputTokens} in / ${usage.outputTokens} out tokens`, duration(step.durationMs), credits(step.cost), calls > 0 ? `${calls} tool call${calls === 1 ? '' : 's'}` : null]}
        />
      </div>
      <details>
        <summary>Text ({step.text.length} characters)</summary>
        <pre class="timeline-text">{step.text}</pre>
      </details>
    </li>
  );
}

function Block({ label, text, cutByServer = false }: { label: string; text: string; cutByServer?: boolean }) {
  const { shown, cut } = bounded(text);
  return (
    <div class="timeline-block">
      <span class="hint">
        {label}
        {cutByServer || cut ? <span class="badge timeline-truncated">truncated</span> : null}
      </span>
      <pre>{shown}</pre>
    </div>
  );
}

function ToolCall({ step }: { step: ToolStep }) {
  const running = step.finishedAt === null && step.result === null;
  return (
    <li class="timeline-step timeline-tool" data-kind="tool" data-index={step.index}>
      <div class="timeline-head">
        <strong>Tool call</strong>
        <code class="timeline-name">{step.name}</code>
        <Meta running={running} parts={[duration(step.durationMs), step.finishedAt ? credits(step.cost) : null]} />
      </div>
      <Block label="Arguments" text={argumentsText(step.arguments)} />
      {step.error !== null ? (
        <p class="timeline-error error-text">
          <strong>Error</strong> {bounded(step.error).shown}
        </p>
      ) : null}
      {step.result !== null && (step.result !== '' || step.error === null) ? <Block label="Result" text={step.result} cutByServer={step.truncated} /> : null}
    </li>
  );
}

export function RunTimeline({ timeline }: { timeline: Timeline }) {
  return (
    <>
      <h2 id="timeline-title">Steps</h2>
      {timeline.earlier > 0 ? <p class="hint">{timeline.earlier} earlier steps are not shown (the API lists them all).</p> : null}
      {timeline.steps.length === 0 ? <p class="hint">No step yet.</p> : null}
      <ol class="timeline" aria-labelledby="timeline-title" data-testid="timeline">
        {timeline.steps.map((step) => (step.kind === 'model' ? <ModelTurn key={step.index} step={step} /> : <ToolCall key={step.index} step={step} />))}
      </ol>
    </>
  );
}
