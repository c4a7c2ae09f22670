/** A problem+json answer of the API (or a failure to reach it), with the problem's fields. */
export class RunwayError extends Error {
  override readonly name = 'RunwayError';

  constructor(
    /** The HTTP status; 0 when the API could not be reached. */
    readonly status: number,
    /** The problem type URI, e.g. `https://runway.dev/problems/insufficient-credits`. */
    readonly type: string,
    readonly title: string,
    readonly detail: string,
    /** Field errors of a `validation-error`. */
    readonly errors: { path: string; message: string }[] = [],
    /** Every field of the problem, extensions included (`estimate`, `scope`, …). */
    readonly problem: Record<string, unknown> = {},
    /** Seconds the server asked to wait before trying again (`Retry-After`), when it said. */
    readonly retryAfter: number | null = null,
  ) {
    super(`${status} ${title}: ${detail}`);
  }

  /** The problem's short name: the last part of its type URI (`not-found`, `too-many-active-runs`, …). */
  get code(): string {
    return this.type.split('/').pop() ?? this.type;
  }

  static async fromResponse(res: Response): Promise<RunwayError> {
    const text = await res.text().catch(() => '');
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not problem+json (a proxy's page, say): keep the status and the text
    }
    const str = (v: unknown, fallback: string) => (typeof v === 'string' ? v : fallback);
    return new RunwayError(
      res.status,
      str(body.type, 'about:blank'),
      str(body.title, res.statusText || 'HTTP error'),
      str(body.detail, text.slice(0, 500)),
      Array.isArray(body.errors) ? (body.errors as { path: string; message: string }[]) : [],
      body,
      retryAfterSeconds(res.headers.get('retry-after')),
    );
  }
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date; null when absent or unreadable. */
function retryAfterSeconds(value: string | null): number | null {
  if (value === null || value.trim() === '') return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}
