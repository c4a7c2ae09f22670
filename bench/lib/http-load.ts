import autocannon from 'autocannon';

export interface HttpLoadOptions {
  url: string;
  method: 'GET' | 'POST';
  /** Headers of each connection, assigned round-robin (e.g. one account per client). */
  headersPerConnection: Record<string, string>[];
  body?: string;
  amount: number;
  connections: number;
}

export interface HttpLoadResult {
  /** Response time of every request, ms. */
  latencies: number[];
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  durationMs: number;
}

/**
 * A fixed number of requests at a fixed number of concurrent connections, with autocannon
 * (keep-alive, no pipelining), recording each response time.
 */
export function httpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let nextConnection = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        method: options.method,
        connections: Math.min(options.connections, options.amount), // autocannon refuses more connections than requests
        amount: options.amount,
        pipelining: 1,
        timeout: 30,
        body: options.body,
        setupClient: (client) => {
          const headers = options.headersPerConnection[nextConnection++ % options.headersPerConnection.length];
          client.setHeaders(headers);
        },
      },
      (err, result) => {
        if (err) return reject(err);
        resolve({
          latencies,
          statuses,
          errors: result.errors,
          timeouts: result.timeouts,
          durationMs: result.duration * 1000,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    });
  });
}
