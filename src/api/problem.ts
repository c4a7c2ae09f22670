export const PROBLEM_BASE = 'https://runway.dev/problems/';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { path: string; message: string }[];
  [extension: string]: unknown;
}

/** An HTTP error with a stable `type`, rendered as application/problem+json. */
export class Problem extends Error {
  override name = 'Problem';
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail);
  }

  body(): ProblemBody {
    return { type: PROBLEM_BASE + this.slug, title: this.title, status: this.status, detail: this.detail, ...this.extensions };
  }
}

export const problems = {
  notFound: (what = 'resource') => new Problem(404, 'not-found', 'Not found', `no such ${what}`),
  unauthorized: (detail = 'a valid bearer API key is required') =>
    new Problem(401, 'unauthorized', 'Unauthorized', detail),
  conflict: (slug: string, detail: string) => new Problem(409, slug, 'Conflict', detail),
  validation: (errors: { path: string; message: string }[]) =>
    new Problem(400, 'validation-error', 'Invalid request', errors.map((e) => `${e.path || 'body'}: ${e.message}`).join('; '), {
      errors,
    }),
};
