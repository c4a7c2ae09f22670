import { mkdir, statfs } from 'node:fs/promises';
import { WorkspaceError } from './errors';

/** Free space (for unprivileged writers) of the file system holding `dir`, in MiB. */
export async function freeSpaceMb(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const stats = await statfs(dir);
  return Math.floor((stats.bavail * stats.bsize) / (1024 * 1024));
}

/** Refuses to start a clone that would likely fill the disk other runs share. */
export async function assertFreeSpace(dir: string, minFreeMb: number): Promise<number> {
  const free = await freeSpaceMb(dir);
  if (free < minFreeMb) {
    throw new WorkspaceError(
      'workspace_disk_full',
      `disk_check: only ${free} MiB free under the workspaces folder; at least ${minFreeMb} MiB are required (RUNWAY_WORKSPACE_MIN_FREE_MB)`,
    );
  }
  return free;
}
