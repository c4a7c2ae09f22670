import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as received over OTLP http/json, flattened. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** Attribute values as JSON-ish values (strings, numbers, booleans, arrays, objects). */
  attributes: Record<string, unknown>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
}
interface OtlpKeyValue {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: OtlpKeyValue[];
}
interface OtlpTraces {
  resourceSpans?: { resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

function valueOf(v: OtlpValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(valueOf);
  if (v.kvlistValue) return attributesOf(v.kvlistValue.values);
  return undefined;
}

function attributesOf(kvs: OtlpKeyValue[] = []): Record<string, unknown> {
  return Object.fromEntries(kvs.map((kv) => [kv.key, valueOf(kv.value)]));
}

/**
 * An OTLP collector in the test process: accepts `POST /v1/traces` in http/json (what the
 * platform's exporter sends) and keeps every span, and every raw body, for assertions.
 */
export class OtlpCollector {
  readonly spans: ReceivedSpan[] = [];
  readonly bodies: string[] = [];
  /** Requests of any kind, traces or not (a test of "tracing off" expects none). */
  requests = 0;
  private server?: http.Server;

  get endpoint(): string {
    const { port } = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(port, '127.0.0.1', resolve);
    });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.requests++;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) {
      res.writeHead(415).end();
      return;
    }
    const body = Buffer.concat(chunks).toString('utf8');
    this.bodies.push(body);
    for (const rs of (JSON.parse(body) as OtlpTraces).resourceSpans ?? []) {
      const service = String(attributesOf(rs.resource?.attributes)['service.name']);
      for (const span of (rs.scopeSpans ?? []).flatMap((s) => s.spans ?? [])) {
        this.spans.push({
          service,
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId || undefined,
          name: span.name,
          attributes: attributesOf(span.attributes),
        });
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }
}
