import { Runway, RunwayError } from '@runway/client';
import type { Credential } from './credential';

/** The console calls the API of the origin that served it, so no CORS is involved. */
export function clientFor(credential: Credential): Runway {
  const auth = credential.kind === 'key' ? { apiKey: credential.secret } : { token: credential.secret };
  // One retry: a person is waiting, and a refusal (429) is better shown than hidden behind backoff.
  return new Runway({ baseUrl: location.origin, maxRetries: 1, ...auth });
}

export interface Explained {
  title: string;
  detail?: string;
  /** The credential no longer works: the only way on is to sign in again. */
  signInAgain?: boolean;
}

function tooManyRuns(err: RunwayError): Explained {
  const scope = err.problem.scope;
  const who = scope === 'user' ? 'this end user' : scope === 'account' ? 'this account' : 'this caller';
  const wait = err.retryAfter !== null ? ` Try again in ${err.retryAfter} s.` : ' Wait for one to finish, or stop one.';
  return { title: 'Too many active runs', detail: `The limit of active runs for ${who} is reached.${wait}` };
}

/** An error as what it means to the person looking at it. */
export function explain(err: unknown): Explained {
  if (!(err instanceof RunwayError)) return { title: 'Something went wrong', detail: String(err) };
  if (err.status === 0) return { title: 'The API cannot be reached', detail: err.detail };
  if (err.status === 401) return { title: 'Your session has expired or the key is invalid — sign in again', signInAgain: true };
  if (err.status === 402) {
    const { estimate, balance } = err.problem;
    const numbers = typeof estimate === 'number' && typeof balance === 'number' ? ` This run needs ${estimate} credits; ${balance} are available.` : '';
    return { title: 'Insufficient credits', detail: `The account does not have enough credits.${numbers}` };
  }
  if (err.status === 429 && err.code === 'too-many-active-runs') return tooManyRuns(err);
  if (err.status === 429) {
    const wait = err.retryAfter !== null ? ` Try again in ${err.retryAfter} s.` : '';
    return { title: err.title, detail: `${err.detail}${wait}` };
  }
  if (err.status === 403) return { title: 'Not allowed with this link', detail: err.detail };
  if (err.status === 404) return { title: 'Not found', detail: 'It does not exist, or it is not yours to see.' };
  return { title: err.title, detail: err.detail };
}

export function isNotFound(err: unknown): boolean {
  return err instanceof RunwayError && err.status === 404;
}

/** The first `limit` items of a paged list (the SDK follows pages; only the first is fetched). */
export async function firstOf<T>(items: AsyncGenerator<T>, limit: number): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) {
    out.push(item);
    if (out.length >= limit) break;
  }
  return out;
}
