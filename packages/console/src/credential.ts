/**
 * Who the console calls the API as: the account's API key (typed into the sign-in form) or a
 * scoped token (from a `#token=` link). Kept in sessionStorage: it lasts as long as the tab and
 * is never sent anywhere but to this origin's API.
 */
export interface Grant {
  scope: { runs?: string[]; sessions?: string[]; user?: string };
  permissions: string[];
  /** Unix ms; null when the token does not say. */
  expiresAt: number | null;
}

export type Credential = { kind: 'key'; secret: string } | { kind: 'token'; secret: string; grant: Grant };

const STORAGE_KEY = 'runway.console.credential';

function base64UrlJson(part: string): unknown {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/**
 * What a token says it grants, read (not verified: the API verifies every call) only to decide
 * which pages to show. Null when it is not a readable token.
 */
export function grantOf(token: string): Grant | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const claims = base64UrlJson(payload) as { scope?: Grant['scope']; perm?: string[]; exp?: number };
    if (!claims.scope || typeof claims.scope !== 'object') return null;
    return { scope: claims.scope, permissions: claims.perm ?? ['read'], expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : null };
  } catch (err) {
    console.warn('not a readable scoped token', err);
    return null;
  }
}

export function loadCredential(): Credential | null {
  const raw = sessionStorage.getItem(STORAGE_KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Credential;
  } catch (err) {
    console.warn('stored credential unreadable; signing out', err);
    sessionStorage.removeItem(STORAGE_KEY);
    return null;
  }
}

export function saveCredential(credential: Credential): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credential));
}

export function clearCredential(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/**
 * A `#token=…` link's credential, read and removed from the address bar (and so from the
 * history, bookmarks and screenshots), but not kept yet: the console asks first when it would
 * replace the tab's credential or let its holder write (see main.tsx). Null without a link.
 */
export function takeTokenLink(): Extract<Credential, { kind: 'token' }> | null {
  const match = /^#token=([^&]+)/.exec(location.hash);
  if (!match?.[1]) return null;
  let token: string;
  try {
    token = decodeURIComponent(match[1]);
  } catch (err) {
    console.warn('unreadable #token= link', err);
    token = match[1];
  }
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  const grant = grantOf(token) ?? { scope: {}, permissions: ['read'], expiresAt: null };
  return { kind: 'token', secret: token, grant };
}

/** Whether a token lets its holder change anything (start or stop runs, send requests): then its scope is shown before it is used. */
export function writes(grant: Grant): boolean {
  return grant.permissions.some((p) => p !== 'read');
}

/** What the signed-in caller may see and do; the API enforces it, the console only hides what would fail. */
export interface Abilities {
  account: boolean;
  webhooks: boolean;
  sessions: boolean;
  create: boolean;
  stop: boolean;
  retry: boolean;
  /** The end user a user-scoped token is fixed to. */
  user: string | null;
  /** The one run a run-scoped token covers, when it covers exactly one. */
  singleRun: string | null;
}

export function abilitiesOf(credential: Credential): Abilities {
  if (credential.kind === 'key') {
    return { account: true, webhooks: true, sessions: true, create: true, stop: true, retry: true, user: null, singleRun: null };
  }
  const { scope, permissions } = credential.grant;
  const runs = scope.runs ?? [];
  return {
    account: false,
    webhooks: false,
    sessions: scope.runs === undefined,
    create: permissions.includes('create') && scope.user !== undefined,
    stop: permissions.includes('stop'),
    retry: false,
    user: scope.user ?? null,
    singleRun: runs.length === 1 ? (runs[0] ?? null) : null,
  };
}
