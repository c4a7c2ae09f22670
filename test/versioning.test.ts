import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createLogger } from '../src/logger';
import { deploymentVersionOf, promoteVersion, versionedWorkerOptions } from '../src/temporal/versioning';
import { bearer, createAccount, startRun, waitForRun } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';

const { VersioningBehavior } = temporal.api.enums.v1;

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

/** The workflow's versioning as the server records it once a workflow task has completed. */
async function versioningOf(client: Client, workflowId: string) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const info = (await client.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo?.versioningInfo;
    if (info?.behavior || Date.now() > deadline) return { behavior: info?.behavior, buildId: info?.deploymentVersion?.buildId };
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function currentBuildOf(client: Client, deploymentName: string): Promise<string | undefined> {
  const { workerDeploymentInfo } = await client.workflowService.describeWorkerDeployment({ namespace: client.options.namespace, deploymentName });
  return workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? undefined;
}

test('a run is pinned to the build that started it, a session follows the current build', async () => {
  const build = process.env.RUNWAY_BUILD_ID;
  expect(build).toBeTruthy();
  const account = await createAccount(stack, 1000);
  const run = await startRun(stack, account, { prompt: 'pinned', model: 'demo/echo' });
  expect((await waitForRun(stack, account, run.body.id)).status).toBe('succeeded');
  expect(await versioningOf(stack.temporal, run.body.id)).toEqual({ behavior: VersioningBehavior.VERSIONING_BEHAVIOR_PINNED, buildId: build });

  const session = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'demo/echo', maxTokens: 20 });
  expect(session.status).toBe(201);
  expect(await versioningOf(stack.temporal, session.body.id)).toEqual({ behavior: VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE, buildId: build });
  expect(await currentBuildOf(stack.temporal, stack.config.temporal.taskQueue)).toBe(build);
});

test('a new build becomes current; an older one started again does not take it back', async () => {
  const taskQueue = `versioning-${randomBytes(4).toString('hex')}`;
  const logger = createLogger('test', 'warn');
  const connection = await NativeConnection.connect({ address: stack.config.temporal.address });
  const startBuild = async (buildId: string) => {
    const version = deploymentVersionOf(taskQueue, { buildId, promote: true });
    const worker = await Worker.create({
      connection,
      namespace: stack.config.temporal.namespace,
      taskQueue,
      workflowBundle: { codePath: process.env.RUNWAY_TEST_BUNDLE as string },
      ...versionedWorkerOptions(version),
    });
    const running = worker.run();
    const promoting = new AbortController();
    // Two workers of one build start at once.
    await Promise.all([1, 2].map(() => promoteVersion(stack.temporal, version, logger, promoting.signal)));
    return async () => {
      worker.shutdown();
      await running;
    };
  };
  try {
    const stopOld = await startBuild('old');
    expect(await currentBuildOf(stack.temporal, taskQueue)).toBe('old');
    const stopNew = await startBuild('new');
    expect(await currentBuildOf(stack.temporal, taskQueue)).toBe('new');
    await stopOld();
    const stopOldAgain = await startBuild('old'); // e.g. kept to drain its pinned runs
    expect(await currentBuildOf(stack.temporal, taskQueue)).toBe('new');
    await stopOldAgain();
    await stopNew();
  } finally {
    await connection.close();
  }
});
