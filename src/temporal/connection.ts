import { Client, Connection, type ClientInterceptors } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';

/** `interceptors`: the tracing ones when tracing is on (a workflow start then carries the caller's trace). */
export async function connectClient(address: string, namespace: string, interceptors?: ClientInterceptors): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace, interceptors });
}

/** A client that connects on its first call: a process that can work without Temporal starts without it. */
export function lazyClient(address: string, namespace: string, interceptors?: ClientInterceptors): Client {
  return new Client({ connection: Connection.lazy({ address }), namespace, interceptors });
}

/** Waits until the server answers for the namespace (the dev server registers it after boot). */
export async function waitForNamespace(address: string, namespace: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
      await sleep(200);
    }
  }
  throw new Error(`Temporal at ${address} did not serve namespace ${namespace}: ${String(lastError)}`);
}
