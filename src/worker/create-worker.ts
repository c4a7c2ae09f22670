import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { Config } from '../config';
import type { Db } from '../db/database';
import type { Logger } from '../logger';
import { createProviderRegistry } from '../providers/create-registry';
import { Sandbox } from '../workspaces/sandbox';
import type { ProviderRegistry } from '../providers/registry';
import { progressSignal } from '../../workflows/definitions';
import { RunStopListener } from './run-stop-listener';
import { launcherFor } from '../runs/run-launcher';
import { WebhookDispatcher } from '../webhooks/dispatcher';
import { registerRetentionSchedule } from './retention-schedule';
import type { WorkerTracing } from '../telemetry';

export const WORKFLOWS_PATH = path.resolve(__dirname, '..', '..', 'workflows');

export interface RunwayWorkerDeps {
  config: Config;
  db: Db;
  client: Client;
  logger: Logger;
  secretsKey: Buffer;
  providers?: ProviderRegistry;
  /** A prebuilt bundle (tests build one per run); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * Tracing's interceptors and workflow span sink (src/telemetry), when it is on. A prebuilt
   * `workflowBundle` must then have been bundled with `tracing.workflowModules` (the worker uses
   * a bundle's interceptors, not its options'); bundled at start, they are included.
   */
  tracing?: WorkerTracing;
}

/**
 * The task queue only this machine polls. A workspace lives on one machine's disk, so the steps
 * that use it (execute, cleanup) are sent here by the workflow (Temporal's worker-specific task
 * queue pattern). Stable across restarts of the worker on the same host, so a restarted worker
 * picks its workspaces' work up again.
 */
export function hostTaskQueue(taskQueue: string, hostId = process.env.RUNWAY_WORKER_HOST_ID ?? os.hostname()): string {
  return `${taskQueue}@${hostId}`;
}

/** The pollers of one worker process (platform, host, webhooks), run and stopped together. */
export interface RunwayWorker {
  run(): Promise<void>;
  shutdown(): void;
  getState(): ReturnType<Worker['getState']>;
}

/**
 * A worker running the run and session workflows and all activities on the platform's task
 * queue, plus the same activities on this host's own queue (see `hostTaskQueue`), plus webhook
 * deliveries on their own queue with their own slots (RUNWAY_WEBHOOK_CONCURRENCY), so that
 * attempts against slow receivers never take a model call's or a workspace's slot. The platform
 * queue keeps the delivery workflow and activities registered: deliveries started there before
 * the queues were split finish there.
 */
export async function createRunwayWorker(deps: RunwayWorkerDeps): Promise<{ worker: RunwayWorker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect({ address: deps.config.temporal.address });
  const hostQueue = hostTaskQueue(deps.config.temporal.taskQueue);
  const stops = new RunStopListener({ databaseUrl: deps.config.databaseUrl, logger: deps.logger });
  // Starts runs an API admitted but did not start (it died, or Temporal was down meanwhile).
  const relay = launcherFor({ config: deps.config, db: deps.db, temporal: deps.client, logger: deps.logger });
  const warn = (message: string) => deps.logger.warn(message);
  // One sandbox (and one detection of bubblewrap) for setup commands and CLI agents alike.
  const sandbox = new Sandbox(deps.config.workspaces, deps.config.workspacesDir, warn);
  const activities = createActivities({
    sandbox,
    stops,
    hostTaskQueue: hostQueue,
    eventBatchMs: deps.config.eventBatchMs,
    db: deps.db,
    providers: deps.providers ?? createProviderRegistry(deps.config, warn, sandbox),
    secretsKey: deps.secretsKey,
    workspacesDir: deps.config.workspacesDir,
    workspaces: deps.config.workspaces,
    logger: deps.logger,
    webhooks: deps.config.webhooks,
    retention: deps.config.retention,
    logLimits: deps.config.logLimits,
    reportProgress: async (runId, report) => {
      await deps.client.workflow
        .getHandle(runId)
        .signal(progressSignal, report)
        .catch((err: unknown) => deps.logger.debug({ err, runId }, 'progress signal not delivered'));
    },
  });
  const common = {
    connection,
    namespace: deps.config.temporal.namespace,
    activities,
    // Stops reach an activity through its heartbeats: keep them frequent so a stop lands fast.
    maxHeartbeatThrottleInterval: '300 ms',
    defaultHeartbeatThrottleInterval: '300 ms',
    maxConcurrentActivityTaskExecutions: 200,
    maxEagerActivityReservationsPerWorkflowTask: deps.config.workerEagerActivities,
    shutdownGraceTime: '10 seconds',
    // Activities that ignore their cancellation after the grace time cannot hold a stopping worker forever.
    shutdownForceTime: '1 minute',
    ...(deps.tracing ? { interceptors: deps.tracing.interceptors, sinks: deps.tracing.sinks } : {}),
  } satisfies Partial<WorkerOptions>;
  // One bundle for both workflow pollers (bundling is seconds of CPU).
  const workflowBundle =
    deps.workflowBundle ??
    (await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: deps.tracing?.workflowModules }));
  const shared = await Worker.create({ ...common, taskQueue: deps.config.temporal.taskQueue, workflowBundle });
  const host = await Worker.create({ ...common, taskQueue: hostQueue });
  const { attemptWebhookDelivery, recordLostWebhookAttempt, failWebhookDelivery } = activities;
  const deliveries = await Worker.create({
    ...common,
    taskQueue: deps.config.webhooks.taskQueue,
    // Only the delivery workflow is started on this queue; its activities default to it.
    activities: { attemptWebhookDelivery, recordLostWebhookAttempt, failWebhookDelivery },
    maxConcurrentActivityTaskExecutions: deps.config.webhooks.concurrency,
    workflowBundle,
  });
  const webhooks = new WebhookDispatcher({
    db: deps.db,
    client: deps.client,
    databaseUrl: deps.config.databaseUrl,
    taskQueue: deps.config.webhooks.taskQueue,
    settings: deps.config.webhooks,
    logger: deps.logger,
  });
  const worker: RunwayWorker = {
    run: async () => {
      stops.start();
      relay.startRelay();
      webhooks.start();
      const registration = new AbortController();
      const registered = registerRetentionSchedule(deps.client, deps.config.temporal.taskQueue, deps.config.retention, deps.logger, registration.signal);
      try {
        await Promise.all([shared.run(), host.run(), deliveries.run()]);
      } finally {
        registration.abort();
        await Promise.all([registered, relay.close(), stops.stop(), webhooks.stop()]);
      }
    },
    shutdown: () => {
      for (const w of [shared, host, deliveries]) if (w.getState() === 'RUNNING') w.shutdown();
    },
    getState: () => shared.getState(),
  };
  return { worker, connection };
}
