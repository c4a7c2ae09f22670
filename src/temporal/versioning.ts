import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { WorkerOptions } from '@temporalio/worker';
import { tsToMs } from '@temporalio/common/lib/time';
import type { Logger } from '../logger';
import type { Service } from '../services';
import { PROJECT_ROOT } from './cli';

/**
 * Worker Versioning: every worker polls as one version (deployment = the task queue, build =
 * RUNWAY_BUILD_ID) of a Temporal Worker Deployment. Run workflows are PINNED to the build they
 * started on (workflows/versioning.ts), so a changed run workflow needs no patch: open runs finish
 * on the old build's workers while new runs start on the new one. Everything else follows the
 * deployment's current version (AUTO_UPGRADE) and keeps `patched()` for changes.
 */

export interface VersioningSettings {
  /** RUNWAY_BUILD_ID, or undefined for `<package version>+<git short commit>` (see `buildIdOf`). */
  buildId?: string;
  /** RUNWAY_BUILD_PROMOTE: whether a worker makes its build the deployment's current version. */
  promote: boolean;
}

/** The build id this checkout runs as: the operator's, else the package version plus the commit. */
export function buildIdOf(settings: VersioningSettings, root = PROJECT_ROOT): string {
  if (settings.buildId) return settings.buildId;
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  return `${version}+${gitCommit(root) ?? 'dev'}`;
}

function gitCommit(root: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined; // no git, or not a checkout (a Docker image): the build is "dev" unless RUNWAY_BUILD_ID says otherwise
  }
}

/** The version a worker on `taskQueue` polls as. Temporal refuses '.' in a deployment name. */
export function deploymentVersionOf(taskQueue: string, settings: VersioningSettings): WorkerDeploymentVersion {
  return { deploymentName: taskQueue.replaceAll('.', '-'), buildId: buildIdOf(settings) };
}

/**
 * The options to spread into a versioned Worker.create. Workflows not annotated in
 * workflows/versioning.ts follow the current version: for them a change still needs a patch, as
 * before versioning, and none can be left waiting for a build that is gone.
 */
export function versionedWorkerOptions(version: WorkerDeploymentVersion): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  return { workerDeploymentOptions: { version, useWorkerVersioning: true, defaultVersioningBehavior: 'AUTO_UPGRADE' } };
}

const PROMOTE_ATTEMPTS = 15;
const MAX_RETRY_DELAY_MS = 5_000;

/**
 * Makes `version` its deployment's current version, so that new workflows (and auto-upgrading
 * ones) go to this build, unless it has been current before (an operator rolled back to an older
 * build, or an old build is kept running to drain its pinned runs: neither may take current back)
 * or the current version is newer than it. Until a version is current, new workflows wait in
 * their task queue: they are not lost. Retried while the server has not yet seen this version's
 * pollers; several workers of one build may call it at once (setting the same version twice is
 * harmless, and the conflict token stops a write based on a stale read).
 */
export async function promoteVersion(client: Client, version: WorkerDeploymentVersion, logger: Logger, signal: AbortSignal): Promise<void> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      const outcome = await client.withAbortSignal(signal, () => promoteOnce(client, version));
      if (outcome === 'waiting') throw new Error('the server has not seen this version poll yet');
      if (outcome === 'promoted' || outcome === 'already current') logger.info({ ...version, outcome }, 'this build is the current version');
      else logger.warn({ ...version, outcome }, 'this build is left as it is, not current');
      return;
    } catch (err) {
      if (signal.aborted) return; // the worker stopped first
      if (attempt >= PROMOTE_ATTEMPTS) {
        logger.error({ err, ...version }, 'could not make this build the current version; new workflows wait until an operator sets it (temporal worker deployment set-current-version)');
        return;
      }
      logger.debug({ err, ...version, attempt }, 'current version not set yet; retrying');
      await sleep(Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** attempt), undefined, { signal }).catch(() => undefined);
    }
  }
}

/** `promoteVersion` in the background when the operator wants it (RUNWAY_BUILD_PROMOTE); stopping abandons it. */
export function promotionService(client: Client, version: WorkerDeploymentVersion, settings: VersioningSettings, logger: Logger): Service {
  const abandon = new AbortController();
  let promoting: Promise<void> | undefined;
  return {
    name: 'current version promotion',
    start: () => {
      if (settings.promote) promoting = promoteVersion(client, version, logger, abandon.signal);
    },
    stop: async () => {
      abandon.abort();
      await promoting;
    },
  };
}

type PromoteOutcome = 'promoted' | 'already current' | 'waiting' | 'was current before' | 'a newer version is current';

async function promoteOnce(client: Client, version: WorkerDeploymentVersion): Promise<PromoteOutcome> {
  const { namespace } = client.options;
  const described = await client.workflowService.describeWorkerDeployment({ namespace, deploymentName: version.deploymentName });
  const info = described.workerDeploymentInfo;
  const current = info?.routingConfig?.currentDeploymentVersion;
  if (current?.buildId === version.buildId) return 'already current';
  const summaries = info?.versionSummaries ?? [];
  const ours = summaries.find((s) => s.deploymentVersion?.buildId === version.buildId);
  if (!ours) return 'waiting';
  if (ours.firstActivationTime) return 'was current before';
  const theirs = summaries.find((s) => s.deploymentVersion?.buildId === current?.buildId);
  if (theirs && tsToMs(theirs.createTime) > tsToMs(ours.createTime)) return 'a newer version is current';
  await client.workflowService.setWorkerDeploymentCurrentVersion({
    namespace,
    deploymentName: version.deploymentName,
    buildId: version.buildId,
    // The same version in the deprecated form, for servers that predate `buildId` here.
    version: `${version.deploymentName}.${version.buildId}`,
    conflictToken: described.conflictToken,
    identity: client.options.identity,
  });
  return 'promoted';
}
