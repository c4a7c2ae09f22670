import type { ComponentChildren } from 'preact';
import type { Run } from '@runway/client';
import { explain } from './api';

/** An error as what it means; an expired credential offers the way back to the sign-in form. */
export function ErrorNote({ error, onSignOut }: { error: unknown; onSignOut?: () => void }) {
  if (error === undefined) return null;
  const { title, detail, signInAgain } = explain(error);
  return (
    <div class="note error" role="alert">
      <strong>{title}</strong>
      {detail ? <p>{detail}</p> : null}
      {signInAgain && onSignOut ? (
        <button type="button" onClick={onSignOut}>
          Sign in again
        </button>
      ) : null}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="empty" aria-busy="true">
      Loading {what}…
    </p>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{status}</span>;
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>—</span>;
  const date = new Date(iso);
  return (
    <time dateTime={iso} title={date.toISOString()}>
      {date.toLocaleString()}
    </time>
  );
}

/** A settled run's charge; an active one's reservation. */
export function costOf(run: Pick<Run, 'cost' | 'completedAt'>): string {
  return run.completedAt ? `${run.cost.charged} credits` : `≤ ${run.cost.estimate} credits`;
}

export function Page({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section aria-labelledby="page-title">
      <header class="page-header">
        <h1 id="page-title" tabIndex={-1}>
          {title}
        </h1>
        {actions ? <div class="actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}
