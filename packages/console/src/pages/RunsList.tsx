import { useState } from 'preact/hooks';
import { runStatuses, type Run, type RunStatus } from '@runway/client';
import { firstOf } from '../api';
import { useConsole } from '../context';
import { usePoll } from '../hooks';
import { hrefOf } from '../route';
import { costOf, Empty, ErrorNote, Loading, Page, StatusBadge, Time } from '../ui';

const PAGE_SIZE = 50;

function RunsTable({ runs }: { runs: Run[] }) {
  return (
    <div class="table-wrap cards-narrow">
      <table>
        <caption class="visually-hidden">Runs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Model</th>
            <th scope="col">User</th>
            <th scope="col">Cost</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <tr key={run.id}>
              <td data-label="Run">
                <a href={hrefOf.run(run.id)}>{run.id}</a>
              </td>
              <td data-label="Status">
                <StatusBadge status={run.status} />
              </td>
              <td data-label="Model">{run.model}</td>
              <td data-label="User">{run.user ?? '—'}</td>
              <td data-label="Cost">{costOf(run)}</td>
              <td data-label="Created">
                <Time iso={run.createdAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The newest runs, live (polled while the tab is visible), filtered by status and end user. */
export function RunsList() {
  const { rw, can, signOut } = useConsole();
  const [status, setStatus] = useState<RunStatus | ''>('');
  const [user, setUser] = useState('');
  // What is typed, applied on Enter or leaving the field: a controlled value re-rendered by every
  // poll must follow the keystrokes, or the list's refresh would put the old filter back.
  const [userDraft, setUserDraft] = useState('');
  const query = { status: status || undefined, user: can.user ? undefined : user.trim() || undefined, limit: PAGE_SIZE };
  const runs = usePoll(() => firstOf(rw.runs.list(query), PAGE_SIZE), [rw, query.status, query.user]);
  const actions = can.create ? (
    <a class="button" href={hrefOf.newRun()}>
      New run
    </a>
  ) : null;
  return (
    <Page title="Runs" actions={actions}>
      <form class="filters" role="search" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as RunStatus | '')}>
            <option value="">any</option>
            {runStatuses.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {can.user ? (
          <p class="hint">End user: {can.user}</p>
        ) : (
          <label>
            User
            <input type="search" value={userDraft} placeholder="any" onInput={(e) => setUserDraft(e.currentTarget.value)} onChange={(e) => setUser(e.currentTarget.value)} />
          </label>
        )}
      </form>
      <ErrorNote error={runs.error} onSignOut={signOut} />
      {runs.data === undefined ? (
        runs.error === undefined ? <Loading what="runs" /> : null
      ) : runs.data.length === 0 ? (
        <Empty>{status || user ? 'No runs match these filters.' : 'No runs yet.'}</Empty>
      ) : (
        <RunsTable runs={runs.data} />
      )}
    </Page>
  );
}
