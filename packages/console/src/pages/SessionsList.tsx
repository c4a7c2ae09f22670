import type { Session } from '@runway/client';
import { firstOf } from '../api';
import { useConsole } from '../context';
import { useAction, usePoll } from '../hooks';
import { hrefOf, navigate } from '../route';
import { Empty, ErrorNote, Loading, Page, StatusBadge, Time } from '../ui';

const PAGE_SIZE = 50;

function SessionsTable({ sessions }: { sessions: Session[] }) {
  return (
    <div class="table-wrap cards-narrow">
      <table>
        <caption class="visually-hidden">Sessions, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Status</th>
            <th scope="col">Model</th>
            <th scope="col">User</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => (
            <tr key={s.id}>
              <td data-label="Session">
                <a href={hrefOf.session(s.id)}>{s.id}</a>
              </td>
              <td data-label="Status">
                <StatusBadge status={s.status} />
              </td>
              <td data-label="Model">{s.model}</td>
              <td data-label="User">{s.user ?? '—'}</td>
              <td data-label="Created">
                <Time iso={s.createdAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function SessionsList() {
  const { rw, can, signOut } = useConsole();
  const sessions = usePoll(() => firstOf(rw.sessions.list({ limit: PAGE_SIZE }), PAGE_SIZE), [rw]);
  const create = useAction();
  const newSession = () => create.run(async () => navigate(hrefOf.session((await rw.sessions.create({})).id)));
  const actions = can.create ? (
    <button type="button" onClick={newSession} disabled={create.pending}>
      New session
    </button>
  ) : null;
  return (
    <Page title="Sessions" actions={actions}>
      <ErrorNote error={create.error ?? sessions.error} onSignOut={signOut} />
      {sessions.data === undefined ? (
        sessions.error === undefined ? <Loading what="sessions" /> : null
      ) : sessions.data.length === 0 ? (
        <Empty>No sessions yet.</Empty>
      ) : (
        <SessionsTable sessions={sessions.data} />
      )}
    </Page>
  );
}
