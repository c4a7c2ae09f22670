import type { Logger } from './logger';

/**
 * One long-lived part of a process (its HTTP server, a relay, a listener, its database pool).
 * A process declares its services as a list, from the ones everything else needs (the database)
 * to the ones that take work in (the HTTP server, the Temporal pollers): they start in that order
 * and stop in the reverse one, so a process stops accepting work first, drains, and closes its
 * database last.
 */
export interface Service {
  readonly name: string;
  start(): void | Promise<void>;
  /** Resolves once the service has stopped and finished what it had under way. */
  stop(): Promise<void>;
}

/** A resource opened before the list was declared (a pool, a connection): only closed. */
export function resource(name: string, close: () => Promise<unknown>): Service {
  return { name, start: () => undefined, stop: async () => void (await close()) };
}

/** The services started so far; `stop` stops them in reverse order. */
export interface RunningServices {
  stop(): Promise<void>;
}

/**
 * Starts the services in order. A service that fails to start stops the ones already started,
 * and its error is thrown. A service that fails to stop is logged, and the next ones still stop.
 */
export async function startServices(services: readonly Service[], logger: Logger): Promise<RunningServices> {
  const started: Service[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const service of started.reverse()) {
        await service.stop().catch((err: unknown) => logger.error({ err, service: service.name }, 'service did not stop cleanly'));
      }
    })());
  try {
    for (const service of services) {
      await service.start();
      started.push(service);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
