import { useState } from 'preact/hooks';
import { clientFor } from '../api';
import type { Credential } from '../credential';
import { useAction } from '../hooks';
import { ErrorNote } from '../ui';

/** The account's API key, checked against the API before it is kept (in sessionStorage). */
export function SignIn({ onSignedIn, notice }: { onSignedIn: (credential: Credential) => void; notice?: string }) {
  const [key, setKey] = useState('');
  const action = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    const credential: Credential = { kind: 'key', secret: key.trim() };
    void action.run(async () => {
      await clientFor(credential).account.get();
      onSignedIn(credential);
    });
  };
  return (
    <main id="main" class="signin">
      <h1>Runway console</h1>
      {notice ? (
        <p class="note" role="status">
          {notice}
        </p>
      ) : null}
      <form onSubmit={submit} aria-describedby="signin-help">
        <label for="api-key">API key</label>
        <input id="api-key" type="password" autoComplete="off" spellcheck={false} required value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        <p id="signin-help" class="hint">
          Your account's key (<code>rwk_…</code>). It stays in this tab only. End users open a <code>#token=</code> link instead.
        </p>
        <button type="submit" disabled={action.pending || key.trim() === ''}>
          Sign in
        </button>
      </form>
      <ErrorNote error={action.error} />
    </main>
  );
}
