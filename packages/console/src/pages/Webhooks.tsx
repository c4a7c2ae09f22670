import type { Webhook, WebhookDelivery } from '@runway/client';
import { firstOf } from '../api';
import { useConsole } from '../context';
import { usePoll } from '../hooks';
import { hrefOf } from '../route';
import { Empty, ErrorNote, Loading, Page, StatusBadge, Time } from '../ui';

const DELIVERIES = 20;

function Deliveries({ webhook, deliveries }: { webhook: Webhook; deliveries: WebhookDelivery[] }) {
  if (deliveries.length === 0) return <Empty>No deliveries yet.</Empty>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">Recent deliveries to {webhook.url}</caption>
        <thead>
          <tr>
            <th scope="col">Created</th>
            <th scope="col">Event</th>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last status code</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.map((d) => (
            <tr key={d.id}>
              <td>
                <Time iso={d.createdAt} />
              </td>
              <td>{d.eventType}</td>
              <td>
                <a href={hrefOf.run(d.runId)}>{d.runId}</a>
              </td>
              <td>
                <StatusBadge status={d.status} />
              </td>
              <td class="num">{d.attempts}</td>
              <td class="num">{d.lastStatusCode ?? '—'}</td>
              <td>{d.lastError ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Endpoint({ webhook, deliveries }: { webhook: Webhook; deliveries: WebhookDelivery[] }) {
  return (
    <article class="endpoint" aria-labelledby={`wh-${webhook.id}`}>
      <h2 id={`wh-${webhook.id}`}>{webhook.url}</h2>
      <p class="hint">
        {webhook.id} · {webhook.events.join(', ')} · {webhook.disabled ? 'disabled' : 'enabled'}
        {webhook.description ? ` · ${webhook.description}` : ''}
      </p>
      <Deliveries webhook={webhook} deliveries={deliveries} />
    </article>
  );
}

/** The account's webhook endpoints, each with its recent deliveries (the account's API key only). */
export function Webhooks() {
  const { rw, signOut } = useConsole();
  const data = usePoll(async () => {
    const hooks = await firstOf(rw.webhooks.list({ limit: 20 }), 20);
    return Promise.all(hooks.map(async (webhook) => ({ webhook, deliveries: await firstOf(rw.webhooks.deliveries(webhook.id, { limit: DELIVERIES }), DELIVERIES) })));
  }, [rw], 5000);
  return (
    <Page title="Webhooks">
      <ErrorNote error={data.error} onSignOut={signOut} />
      {data.data === undefined ? (
        data.error === undefined ? <Loading what="webhooks" /> : null
      ) : data.data.length === 0 ? (
        <Empty>No webhook endpoints yet. Register one with POST /v1/webhooks.</Empty>
      ) : (
        data.data.map(({ webhook, deliveries }) => <Endpoint key={webhook.id} webhook={webhook} deliveries={deliveries} />)
      )}
    </Page>
  );
}
