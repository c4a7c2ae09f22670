import { RUN_STOP_CHANNEL } from '../db/runs';
import type { Logger } from '../logger';
import { PgListener } from '../streams/pg-listener';

/** Lets an activity hear of its run's stop; returns the function that stops listening. */
export interface RunStopWatcher {
  watch(runId: string, onStop: () => void): () => void;
}

/**
 * Stop requests, heard out of band. A stop still reaches the workflow as a signal and the
 * activity as a cancellation through its next heartbeat; this lets the worker that executes the
 * run abort the model call as soon as the API has recorded the stop, which saves a workflow task
 * and a heartbeat round trip. A notification missed while reconnecting costs only that speed.
 */
export class RunStopListener implements RunStopWatcher {
  private readonly listener: PgListener;
  private readonly watchers = new Map<string, Set<() => void>>();

  constructor(options: { databaseUrl: string; logger: Logger }) {
    this.listener = new PgListener({
      connectionString: options.databaseUrl,
      channels: [RUN_STOP_CHANNEL],
      logger: options.logger,
      applicationName: 'runway-stop-listener',
      onNotification: (_channel, runId) => {
        for (const onStop of this.watchers.get(runId) ?? []) onStop();
      },
      onConnected: () => undefined,
    });
  }

  start(): void {
    this.listener.start();
  }

  async stop(): Promise<void> {
    await this.listener.stop();
  }

  watch(runId: string, onStop: () => void): () => void {
    let set = this.watchers.get(runId);
    if (!set) this.watchers.set(runId, (set = new Set()));
    set.add(onStop);
    return () => {
      set.delete(onStop);
      if (set.size === 0 && this.watchers.get(runId) === set) this.watchers.delete(runId);
    };
  }
}
