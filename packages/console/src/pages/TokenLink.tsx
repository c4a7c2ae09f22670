import type { Credential } from '../credential';

type TokenCredential = Extract<Credential, { kind: 'token' }>;

const PERMISSION_TEXT: Record<string, string> = {
  read: 'see runs and their output',
  stop: 'stop runs',
  create: 'start runs and send requests',
};

function scopeText(grant: TokenCredential['grant']): string {
  const { scope } = grant;
  if (scope.user) return `the runs and sessions of end user ${scope.user}`;
  if (scope.runs) return scope.runs.length === 1 ? `run ${scope.runs[0]}` : `${scope.runs.length} runs (${scope.runs.join(', ')})`;
  if (scope.sessions) return scope.sessions.length === 1 ? `session ${scope.sessions[0]}` : `${scope.sessions.length} sessions (${scope.sessions.join(', ')})`;
  return 'nothing this console can read';
}

/**
 * A `#token=` link asks before it is used: a link is easy to send, and one that silently replaced
 * the tab's credential (or signed in a stranger's end user) would make the next prompt typed here
 * go to someone else's account. What the link grants is shown before anything can be written.
 */
export function TokenLink({
  link,
  current,
  currentName,
  onUse,
  onKeep,
}: {
  link: TokenCredential;
  current: Credential | null;
  currentName: string | null;
  onUse: () => void;
  onKeep: () => void;
}) {
  const { grant } = link;
  return (
    <main id="main" class="signin">
      <h1 id="page-title" tabIndex={-1}>
        Open this link?
      </h1>
      <dl class="token-grant" aria-label="What this link grants">
        <dt>Access to</dt>
        <dd data-testid="link-scope">{scopeText(grant)}</dd>
        <dt>It lets you</dt>
        <dd data-testid="link-permissions">{grant.permissions.map((p) => PERMISSION_TEXT[p] ?? p).join('; ')}</dd>
        <dt>Until</dt>
        <dd>{grant.expiresAt === null ? 'not stated' : new Date(grant.expiresAt).toLocaleString()}</dd>
      </dl>
      {current ? (
        <p class="note" role="status">
          This tab is signed in as <strong>{currentName}</strong>. Using the link replaces that sign-in in this tab.
        </p>
      ) : (
        <p class="hint">Whatever you write here (prompts, requests) goes to the account that made this link.</p>
      )}
      <div class="stack">
        <button type="button" onClick={onUse}>
          Use this link
        </button>
        <button type="button" class="secondary" onClick={onKeep}>
          {current ? 'Keep the current sign-in' : 'Cancel'}
        </button>
      </div>
    </main>
  );
}
