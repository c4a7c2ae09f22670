import { RUN_STOP_CHANNEL } from '../db/runs';
import type { PgListener } from '../db/pg-listener';

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
  private readonly watchers = new Map<string, Set<() => void>>();
  private unlisten: (() => void) | undefined;

  constructor(private readonly listener: PgListener) {}

  start(): void {
    this.unlisten ??= this.listener.listen([RUN_STOP_CHANNEL], {
      notify: (_channel, runId) => {
        for (const onStop of this.watchers.get(runId) ?? []) onStop();
      },
      // A stop missed meanwhile still reaches the activity through its heartbeat.
      resync: () => undefined,
    });
  }

  stop(): Promise<void> {
    this.unlisten?.();
    this.unlisten = undefined;
    return Promise.resolve();
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
