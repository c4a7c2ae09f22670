import { Client, Connection, type ClientInterceptors } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
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

/**
 * Sets how long the server keeps closed workflows' histories, to match Runway's own retention
 * (RUNWAY_RETENTION_DAYS; with retention off, the server's longest default we choose: 30 days).
 */
export async function setNamespaceRetention(address: string, namespace: string, days: number): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 5000 });
  try {
    await connection.workflowService.updateNamespace({
      namespace,
      config: { workflowExecutionRetentionTtl: msToTs(`${days > 0 ? days : 30} days`) },
    });
  } finally {
    await connection.close();
  }
}
