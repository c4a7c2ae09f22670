import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'runs' }
  | { page: 'new-run' }
  | { page: 'run'; id: string }
  | { page: 'sessions' }
  | { page: 'session'; id: string }
  | { page: 'account' }
  | { page: 'webhooks' }
  | { page: 'unknown' };

/** Hash routes (`#/runs/run_…`): the API serves one index.html, and `#token=` links share the fragment. */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second] = parts;
  if (!first || first === 'runs') {
    if (!second) return { page: 'runs' };
    return second === 'new' ? { page: 'new-run' } : { page: 'run', id: second };
  }
  if (first === 'sessions') return second ? { page: 'session', id: second } : { page: 'sessions' };
  if (first === 'account') return { page: 'account' };
  if (first === 'webhooks') return { page: 'webhooks' };
  return { page: 'unknown' };
}

export const hrefOf = {
  runs: () => '#/runs',
  newRun: () => '#/runs/new',
  run: (id: string) => `#/runs/${encodeURIComponent(id)}`,
  sessions: () => '#/sessions',
  session: (id: string) => `#/sessions/${encodeURIComponent(id)}`,
  account: () => '#/account',
  webhooks: () => '#/webhooks',
};

export function navigate(href: string): void {
  location.hash = href;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
