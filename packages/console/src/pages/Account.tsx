import type { Account as AccountView, LedgerEntry } from '@runway/client';
import { firstOf } from '../api';
import { useConsole } from '../context';
import { usePoll } from '../hooks';
import { hrefOf } from '../route';
import { Empty, ErrorNote, Loading, Page, Time } from '../ui';

const LEDGER_ROWS = 100;

function Balance({ account }: { account: AccountView }) {
  return (
    <dl class="facts cards">
      <dt>Balance</dt>
      <dd>{account.balance} credits</dd>
      <dt>Reserved</dt>
      <dd>{account.reserved} credits</dd>
    </dl>
  );
}

function Ledger({ entries }: { entries: LedgerEntry[] }) {
  if (entries.length === 0) return <Empty>No ledger entries yet.</Empty>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">Ledger, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Kind</th>
            <th scope="col">Amount</th>
            <th scope="col">Balance after</th>
            <th scope="col">Reserved after</th>
            <th scope="col">Run</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.id}>
              <td>
                <Time iso={e.createdAt} />
              </td>
              <td>{e.kind}</td>
              <td class="num">{e.amount}</td>
              <td class="num">{e.balanceAfter}</td>
              <td class="num">{e.reservedAfter}</td>
              <td>{e.runId ? <a href={hrefOf.run(e.runId)}>{e.runId}</a> : '—'}</td>
              <td>{e.reason ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Balance, reserved credits and the ledger (the account's API key only). */
export function Account() {
  const { rw, signOut } = useConsole();
  const data = usePoll(async () => ({ account: await rw.account.get(), ledger: await firstOf(rw.account.ledger({ limit: LEDGER_ROWS }), LEDGER_ROWS) }), [rw], 5000);
  return (
    <Page title={data.data ? `Account ${data.data.account.name}` : 'Account'}>
      <ErrorNote error={data.error} onSignOut={signOut} />
      {data.data ? (
        <>
          <Balance account={data.data.account} />
          <h2>Ledger</h2>
          <Ledger entries={data.data.ledger} />
        </>
      ) : data.error === undefined ? (
        <Loading what="the account" />
      ) : null}
    </Page>
  );
}
