import { useState } from 'preact/hooks';
import { isTerminal, type Run } from '@runway/client';
import { firstOf, isNotFound } from '../api';
import { useConsole } from '../context';
import { useAction, usePoll } from '../hooks';
import { hrefOf } from '../route';
import { useRunStream } from '../run-stream';
import { costOf, Empty, ErrorNote, Loading, Page, StatusBadge } from '../ui';

/** Most requests a session page shows (oldest of them first). */
const MAX_REQUESTS = 100;

/** A request that is still going streams its output; an ended one shows what it stored. */
function LiveOutput({ run }: { run: Run }) {
  const { rw } = useConsole();
  const { live } = useRunStream(rw, run.id, () => undefined);
  return (
    <pre class="output" aria-live="polite" aria-label={`Output of ${run.id}`}>
      {live.text}
    </pre>
  );
}

function Request({ run, index }: { run: Run; index: number }) {
  return (
    <li class="request">
      <header>
        <span>#{index + 1}</span> <a href={hrefOf.run(run.id)}>{run.id}</a> <StatusBadge status={run.status} /> <span class="hint">{costOf(run)}</span>
      </header>
      <pre class="prompt" aria-label={`Prompt of ${run.id}`}>
        {run.prompt}
      </pre>
      {!isTerminal(run.status) ? (
        <LiveOutput run={run} />
      ) : (
        <pre class="output" aria-label={`Output of ${run.id}`}>
          {run.output}
        </pre>
      )}
      {run.error ? <p class="error-text">{run.error.message}</p> : null}
    </li>
  );
}

function FollowUp({ sessionId, onSent }: { sessionId: string; onSent: () => void }) {
  const { rw, signOut } = useConsole();
  const [prompt, setPrompt] = useState('');
  const action = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      await rw.sessions.request(sessionId, { prompt });
      setPrompt('');
      onSent();
    });
  };
  return (
    <form class="stack" onSubmit={submit}>
      <label for="follow-up">Follow-up</label>
      <textarea id="follow-up" rows={3} required value={prompt} onInput={(e) => setPrompt(e.currentTarget.value)} />
      <div class="actions">
        <button type="submit" disabled={action.pending || prompt.trim() === ''}>
          Send
        </button>
      </div>
      <ErrorNote error={action.error} onSignOut={signOut} />
    </form>
  );
}

/** A session: its requests in order with their outputs (live), a follow-up box, and Close. */
export function SessionPage({ id }: { id: string }) {
  const { rw, can, signOut } = useConsole();
  const session = usePoll(() => rw.sessions.get(id), [rw, id]);
  const requests = usePoll(async () => (await firstOf(rw.runs.list({ sessionId: id, limit: MAX_REQUESTS }), MAX_REQUESTS)).reverse(), [rw, id]);
  const close = useAction();
  if (isNotFound(session.error)) {
    return (
      <Page title="Session not found">
        <Empty>No session {id} here: it does not exist, or it is not yours to see.</Empty>
      </Page>
    );
  }
  const s = session.data;
  const open = s?.status === 'open';
  const closeIt = () => close.run(async () => {
    await rw.sessions.close(id);
    session.reload();
  });
  const actions = can.stop && open ? (
    <button type="button" onClick={closeIt} disabled={close.pending}>
      Close session
    </button>
  ) : null;
  return (
    <Page title={`Session ${id}`} actions={actions}>
      <ErrorNote error={session.error ?? requests.error ?? close.error} onSignOut={signOut} />
      {s ? (
        <p role="status">
          Status: <StatusBadge status={s.status} /> · {s.model} · user {s.user ?? '—'}
        </p>
      ) : (
        <Loading what="the session" />
      )}
      <h2>Requests</h2>
      {requests.data === undefined ? null : requests.data.length === 0 ? (
        <Empty>No requests yet: send the first one below.</Empty>
      ) : (
        <ol class="requests" aria-label="Requests, in order">
          {requests.data.map((run, i) => (
            <Request key={run.id} run={run} index={i} />
          ))}
        </ol>
      )}
      {open && can.create ? <FollowUp sessionId={id} onSent={requests.reload} /> : null}
    </Page>
  );
}
