import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../src/temporal/cli';

const run = promisify(execFile);

/** The schemathesis release the conformance suite is pinned to (PyPI). */
export const SCHEMATHESIS_VERSION = '4.32.5';

/** The schemathesis CLI, installed into a virtual environment under the git-ignored `.tools/` when missing. */
export async function ensureSchemathesis(): Promise<string> {
  const venv = path.join(PROJECT_ROOT, '.tools', `schemathesis-${SCHEMATHESIS_VERSION}`);
  const binary = path.join(venv, 'bin', 'schemathesis');
  if (existsSync(binary)) return binary;
  await run('python3', ['-m', 'venv', venv], { timeout: 120_000 });
  await run(path.join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`], { timeout: 600_000 });
  if (!existsSync(binary)) throw new Error(`schemathesis ${SCHEMATHESIS_VERSION} did not install into ${venv}`);
  return binary;
}
