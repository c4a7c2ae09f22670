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
import { deploymentVersionOf, promotionService, versionedWorkerOptions } from '../temporal/versioning';
import type { WorkerTracing } from '../telemetry';
import { PgListener } from '../db/pg-listener';
import { startServices, type Service } from '../services';

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

/** The services of one worker process, ending with its pollers (platform, host, webhooks): run and stopped together. */
export interface RunwayWorker {
  /** Starts every service, resolves once the pollers have stopped and the services with them. */
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
  // The process's one LISTEN connection: stops and webhook deliveries share it.
  const listener = new PgListener({ connectionString: deps.config.databaseUrl, logger: deps.logger, applicationName: 'runway-worker-listener' });
  const stops = new RunStopListener(listener);
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
    mcp: { allowPrivate: deps.config.agents.mcpAllowPrivate, timeoutMs: deps.config.agents.mcpTimeoutMs },
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
  const version = deploymentVersionOf(deps.config.temporal.taskQueue, deps.config.temporal.versioning);
  const shared = await Worker.create({ ...common, ...versionedWorkerOptions(version), taskQueue: deps.config.temporal.taskQueue, workflowBundle });
  // Unversioned: a workspace's steps must reach its machine whichever build the machine runs now
  // (a pinned run's activity goes to its own build only on queues that build polls).
  const host = await Worker.create({ ...common, taskQueue: hostQueue });
  const { attemptWebhookDelivery, recordLostWebhookAttempt, failWebhookDelivery } = activities;
  const deliveries = await Worker.create({
    ...common,
    ...versionedWorkerOptions(version),
    taskQueue: deps.config.webhooks.taskQueue,
    // Only the delivery workflow is started on this queue; its activities default to it.
    activities: { attemptWebhookDelivery, recordLostWebhookAttempt, failWebhookDelivery },
    maxConcurrentActivityTaskExecutions: deps.config.webhooks.concurrency,
    workflowBundle,
  });
  const webhooks = new WebhookDispatcher({
    db: deps.db,
    client: deps.client,
    listener,
    taskQueue: deps.config.webhooks.taskQueue,
    settings: deps.config.webhooks,
    deadlineMs: deps.config.starts.deadlineMs,
    logger: deps.logger,
  });
  const pollers = pollersOf([shared, host, deliveries]);
  // Started in this order, stopped in the reverse one: the pollers stop taking tasks and drain first.
  const services: Service[] = [
    { name: 'notifications listener', start: () => undefined, stop: () => listener.close() },
    { name: 'run stop listener', start: () => stops.start(), stop: () => stops.stop() },
    { name: 'run outbox relay', start: () => relay.startRelay(), stop: () => relay.close() },
    { name: 'webhook outbox relay', start: () => webhooks.start(), stop: () => webhooks.stop() },
    retentionScheduleService(deps),
    pollers,
    // After the pollers: the server must have seen this build poll before it can be made current.
    promotionService(deps.client, version, deps.config.temporal.versioning, deps.logger),
  ];
  const worker: RunwayWorker = {
    run: async () => {
      const running = await startServices(services, deps.logger);
      try {
        await pollers.done();
      } finally {
        await running.stop();
      }
    },
    shutdown: () => pollers.shutdown(),
    getState: () => shared.getState(),
  };
  return { worker, connection };
}

/** Temporal pollers as one service: started together, stopped together; `done` fails as soon as one of them does. */
function pollersOf(workers: Worker[]): Service & { done(): Promise<void>; shutdown(): void } {
  let runs: Promise<void>[] = [];
  /** A shutdown asked for before the pollers started (the services before them still starting) keeps them from starting. */
  let shutDown = false;
  const shutdown = () => {
    shutDown = true;
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  return {
    name: 'Temporal pollers',
    start: () => {
      if (!shutDown) runs = workers.map((w) => w.run());
    },
    stop: async () => {
      shutdown();
      // A poller's failure is `done`'s (the process's run), not reported again here.
      await Promise.allSettled(runs);
    },
    done: async () => void (await Promise.all(runs)),
    shutdown,
  };
}

/** The retention schedule, registered in the background (Temporal may still be starting); stopping abandons it. */
function retentionScheduleService(deps: RunwayWorkerDeps): Service {
  const registration = new AbortController();
  let registered: Promise<void> | undefined;
  return {
    name: 'retention schedule',
    start: () => {
      registered = registerRetentionSchedule(deps.client, deps.config.temporal.taskQueue, deps.config.retention, deps.logger, registration.signal);
    },
    stop: async () => {
      registration.abort();
      await registered;
    },
  };
}
