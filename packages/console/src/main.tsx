import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { clientFor } from './api';
import { Console, type ConsoleContext } from './context';
import { abilitiesOf, clearCredential, loadCredential, saveCredential, takeTokenLink, writes, type Credential } from './credential';
import { Account } from './pages/Account';
import { NewRun } from './pages/NewRun';
import { RunPage } from './pages/RunPage';
import { RunsList } from './pages/RunsList';
import { SessionPage } from './pages/SessionPage';
import { SessionsList } from './pages/SessionsList';
import { SignIn } from './pages/SignIn';
import { TokenLink } from './pages/TokenLink';
import { Webhooks } from './pages/Webhooks';
import { hrefOf, navigate, useRoute, type Route } from './route';
import { Empty, Page } from './ui';
import './style.css';

function Nav({ ctx, route, who }: { ctx: ConsoleContext; route: Route; who: string }) {
  const { can } = ctx;
  const links: { href: string; label: string; current: boolean }[] = [
    { href: hrefOf.runs(), label: 'Runs', current: route.page === 'runs' || route.page === 'run' || route.page === 'new-run' },
  ];
  if (can.sessions) links.push({ href: hrefOf.sessions(), label: 'Sessions', current: route.page === 'sessions' || route.page === 'session' });
  if (can.account) links.push({ href: hrefOf.account(), label: 'Account', current: route.page === 'account' });
  if (can.webhooks) links.push({ href: hrefOf.webhooks(), label: 'Webhooks', current: route.page === 'webhooks' });
  return (
    <header class="topbar">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <span class="brand">Runway</span>
      <nav aria-label="Console">
        <ul>
          {links.map((l) => (
            <li key={l.href}>
              <a href={l.href} aria-current={l.current ? 'page' : undefined}>
                {l.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <span class="who">{who}</span>
      <button type="button" class="secondary" onClick={ctx.signOut}>
        Sign out
      </button>
    </header>
  );
}

function Content({ route, ctx }: { route: Route; ctx: ConsoleContext }) {
  switch (route.page) {
    case 'runs':
      return <RunsList />;
    case 'new-run':
      return <NewRun />;
    case 'run':
      return <RunPage id={route.id} />;
    case 'sessions':
      return ctx.can.sessions ? <SessionsList /> : <NotHere />;
    case 'session':
      return <SessionPage id={route.id} />;
    case 'account':
      return ctx.can.account ? <Account /> : <NotHere />;
    case 'webhooks':
      return ctx.can.webhooks ? <Webhooks /> : <NotHere />;
    default:
      return <NotHere />;
  }
}

function NotHere() {
  return (
    <Page title="Not found">
      <Empty>
        There is no such page here. <a href={hrefOf.runs()}>See the runs.</a>
      </Empty>
    </Page>
  );
}

function whoOf(credential: Credential): string {
  if (credential.kind === 'key') return 'Account key';
  const { scope } = credential.grant;
  if (scope.user) return `End user ${scope.user}`;
  if (scope.runs) return `Link to ${scope.runs.length === 1 ? 'one run' : `${scope.runs.length} runs`}`;
  return `Link to ${scope.sessions?.length ?? 0} session(s)`;
}

function expired(credential: Credential): boolean {
  return credential.kind === 'token' && credential.grant.expiresAt !== null && credential.grant.expiresAt <= Date.now();
}

function SignedIn({ credential, signOut }: { credential: Credential; signOut: () => void }) {
  const route = useRoute();
  const ctx = useMemo<ConsoleContext>(() => ({ rw: clientFor(credential), can: abilitiesOf(credential), signOut }), [credential, signOut]);
  // A link to one run opens that run.
  useEffect(() => {
    if (ctx.can.singleRun && route.page === 'runs') navigate(hrefOf.run(ctx.can.singleRun));
  }, [ctx, route.page]);
  useEffect(() => document.getElementById('page-title')?.focus(), [route]);
  return (
    <Console.Provider value={ctx}>
      <Nav ctx={ctx} route={route} who={whoOf(credential)} />
      <main id="main">
        <Content route={route} ctx={ctx} />
      </main>
    </Console.Provider>
  );
}

const EXPIRED = 'Your session has expired or the key is invalid — sign in again';

const LINK_EXPIRED = 'That link has expired; ask for a new one';

interface State {
  credential: Credential | null;
  notice?: string;
  /** A `#token=` link waiting for the person's answer (see TokenLink). */
  link?: Extract<Credential, { kind: 'token' }>;
}

/**
 * The credential to start with: the tab's (an expired token is dropped), or a `#token=` link's.
 * A link is used at once only when it changes nothing and writes nothing (a read-only link in a
 * tab not signed in); otherwise it waits, with what it grants shown, for the person to choose.
 */
function initialState(): State {
  const link = takeTokenLink();
  let credential = loadCredential();
  let notice: string | undefined;
  if (credential && expired(credential)) {
    clearCredential();
    credential = null;
    notice = EXPIRED;
  }
  if (!link || link.secret === credential?.secret) return { credential, notice };
  if (expired(link)) return { credential, notice: LINK_EXPIRED };
  if (!credential && !writes(link.grant)) {
    saveCredential(link);
    return { credential: link };
  }
  return { credential, notice, link };
}

function App() {
  const [state, setState] = useState(initialState);
  const signOut = useMemo(() => () => {
    clearCredential();
    setState({ credential: null });
  }, []);
  useEffect(() => {
    // A token link opened in a tab that is already showing the console.
    const onHash = () => {
      if (/^#token=/.test(location.hash)) setState(initialState());
    };
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    if (state.link) document.getElementById('page-title')?.focus();
  }, [state.link]);
  const { link } = state;
  if (link) {
    const use = () => {
      saveCredential(link);
      setState({ credential: link });
    };
    const keep = () => setState({ credential: state.credential, notice: state.notice });
    return <TokenLink link={link} current={state.credential} currentName={state.credential ? whoOf(state.credential) : null} onUse={use} onKeep={keep} />;
  }
  if (!state.credential) {
    const onSignedIn = (credential: Credential) => {
      saveCredential(credential);
      setState({ credential });
    };
    return <SignIn onSignedIn={onSignedIn} notice={state.notice} />;
  }
  return <SignedIn credential={state.credential} signOut={signOut} />;
}

render(<App />, document.getElementById('app') as HTMLElement);
