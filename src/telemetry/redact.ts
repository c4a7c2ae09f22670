import type { Attributes, AttributeValue, Context } from '@opentelemetry/api';
import type { tracing } from '@opentelemetry/sdk-node';

/** Query parameters that carry credentials (`?access_token=` on event streams, signed URLs). */
const SECRET_QUERY = /([?&;](?:access_token|token|api[_-]?key|key|sig|signature)=)[^&#\s]*/gi;
const BEARER = /\b(Bearer|Basic)\s+[\w.~+/=-]+/gi;
/** Attribute names whose value is a credential whatever it looks like. */
const SECRET_KEY = /authorization|api[_-]?key|secret|password|access_token|cookie/i;
const REDACTED = '[redacted]';

export function redactText(text: string): string {
  return text.replace(SECRET_QUERY, `$1${REDACTED}`).replace(BEARER, `$1 ${REDACTED}`);
}

function redactValue(value: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? redactText(v) : v)) as AttributeValue;
  return value;
}

/** Scrubs credentials from a span's attributes, in place. */
export function redactAttributes(attributes: Attributes): void {
  for (const [key, value] of Object.entries(attributes)) {
    attributes[key] = SECRET_KEY.test(key) ? REDACTED : redactValue(value);
  }
}

/**
 * Every span passes here before it is exported, whichever code made it (ours, the Temporal
 * interceptors, the workflow sink): a credential that some attribute picked up never leaves
 * the process. Span names are not touched: ours are routes and step names, never URLs.
 */
export class RedactingSpanProcessor implements tracing.SpanProcessor {
  constructor(private readonly inner: tracing.SpanProcessor) {}

  onStart(span: tracing.Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }

  onEnd(span: tracing.ReadableSpan): void {
    redactAttributes(span.attributes);
    for (const event of span.events) if (event.attributes) redactAttributes(event.attributes);
    this.inner.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}
