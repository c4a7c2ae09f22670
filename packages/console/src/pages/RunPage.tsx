import { useEffect, useState } from 'preact/hooks';
import { isTerminal, type Run, type RunStatus } from '@runway/client';
import { isNotFound } from '../api';
import { useConsole } from '../context';
import { useAction } from '../hooks';
import { hrefOf, navigate } from '../route';
import { useRunStream, type LiveRun } from '../run-stream';
import { costOf, Empty, ErrorNote, Loading, Page, StatusBadge, Time } from '../ui';
import { RunTimeline } from './RunTimeline';

/** An agent run (it has tools), or a run that recorded steps all the same. */
const isAgentRun = (run: Run) => run.tools !== null || run.steps > 0;

function Steps({ steps }: { steps: LiveRun['steps'] }) {
  if (steps.length === 0) return null;
  return (
    <ol class="steps" aria-label="Progress">
      {steps.map((s, i) => (
        <li key={`${i}-${s.step}`}>
          <strong>{s.step}</strong> {s.message}
          {s.pct !== undefined ? <progress max={100} value={s.pct} aria-label={`${s.step} ${Math.round(s.pct)}%`} /> : null}
        </li>
      ))}
    </ol>
  );
}

function Facts({ run, live }: { run: Run; live: LiveRun }) {
  const usage = live.usage ?? run.usage;
  return (
    <dl class="facts">
      <dt>Model</dt>
      <dd>{run.model}</dd>
      <dt>User</dt>
      <dd>{run.user ?? '—'}</dd>
      <dt>Created</dt>
      <dd>
        <Time iso={run.createdAt} />
      </dd>
      <dt>Usage</dt>
      <dd>
        {usage.inputTokens} in / {usage.outputTokens} out tokens
      </dd>
      <dt>Cost</dt>
      <dd>
        {costOf(run)} (estimate {run.cost.estimate}, refunded {run.cost.refunded})
      </dd>
      {run.tools !== null ? (
        <>
          <dt>Tools</dt>
          <dd>{run.tools.map((t) => (t.type === 'workspace' ? t.name : t.url)).join(', ')}</dd>
          <dt>Steps</dt>
          <dd>
            {run.steps} (at most {run.maxSteps ?? '—'} model turns)
          </dd>
        </>
      ) : null}
      {run.sessionId ? (
        <>
          <dt>Session</dt>
          <dd>
            <a href={hrefOf.session(run.sessionId)}>{run.sessionId}</a>
          </dd>
        </>
      ) : null}
      {run.retryOf ? (
        <>
          <dt>Retry of</dt>
          <dd>
            <a href={hrefOf.run(run.retryOf)}>{run.retryOf}</a>
          </dd>
        </>
      ) : null}
    </dl>
  );
}

function Controls({ run, status }: { run: Run; status: RunStatus }) {
  const { rw, can, signOut } = useConsole();
  const action = useAction();
  const stop = () => action.run(() => rw.runs.stop(run.id));
  const retry = () => action.run(async () => navigate(hrefOf.run((await rw.runs.retry(run.id)).id)));
  const active = !isTerminal(status);
  return (
    <div class="actions">
      {can.stop && active ? (
        <button type="button" onClick={stop} disabled={action.pending || status === 'stopping'}>
          Stop
        </button>
      ) : null}
      {can.retry && !active ? (
        <button type="button" onClick={retry} disabled={action.pending}>
          Retry
        </button>
      ) : null}
      <ErrorNote error={action.error} onSignOut={signOut} />
    </div>
  );
}

/** One run: its output as it is generated, status, progress steps, an agent run's timeline, usage, cost and error. */
export function RunPage({ id }: { id: string }) {
  const { rw, signOut } = useConsole();
  const [run, setRun] = useState<Run | undefined>(undefined);
  const [loadError, setLoadError] = useState<unknown>(undefined);
  useEffect(() => {
    setRun(undefined);
    setLoadError(undefined);
    rw.runs.get(id).then(setRun, setLoadError);
  }, [rw, id]);
  const { live, error: streamError } = useRunStream(rw, run ? id : null, setRun, run ? isAgentRun(run) : false);
  if (isNotFound(loadError)) {
    return (
      <Page title="Run not found">
        <Empty>No run {id} here: it does not exist, or it is not yours to see.</Empty>
      </Page>
    );
  }
  if (!run) return <Page title={`Run ${id}`}>{loadError ? <ErrorNote error={loadError} onSignOut={signOut} /> : <Loading what="the run" />}</Page>;
  const status = live.status ?? run.status;
  const error = live.error ?? run.error;
  const text = live.text === '' && isTerminal(run.status) ? run.output : live.text;
  return (
    <Page title={`Run ${run.id}`} actions={<Controls run={run} status={status} />}>
      <p class="status-line" role="status" aria-live="polite">
        Status: <StatusBadge status={status} />
        {live.reconnecting ? <span class="hint"> reconnecting…</span> : null}
      </p>
      <Steps steps={live.steps} />
      <h2>Prompt</h2>
      <pre class="prompt">{run.prompt}</pre>
      {isAgentRun(run) || live.timeline.steps.length > 0 ? <RunTimeline timeline={live.timeline} /> : null}
      <h2 id="output-title">Output</h2>
      <pre class="output" aria-live="polite" aria-labelledby="output-title" data-testid="output">
        {text}
      </pre>
      {run.truncated ? <p class="hint">The output was cut at the spend cap.</p> : null}
      {error ? (
        <div class="note error" role="alert">
          <strong>{error.code}</strong> {error.message}
        </div>
      ) : null}
      <ErrorNote error={streamError} onSignOut={signOut} />
      <Facts run={run} live={live} />
    </Page>
  );
}
