import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../src/worker/create-worker';

/**
 * Replays every history JSON in a folder against the current workflow code and prints one JSON
 * line of results; exits 1 when any replay hits non-determinism. Runs outside jest because the
 * SDK's protobuf JSON decoding does not survive jest's module registry.
 *   npx tsx scripts/replay-histories.ts test/fixtures/histories [bundle.js]
 */
async function main() {
  const [dir = 'test/fixtures/histories', bundlePath] = process.argv.slice(2);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  const histories = files.map((f) => ({
    workflowId: path.basename(f, '.json'),
    history: JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as unknown,
  }));
  const source = bundlePath ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath: WORKFLOWS_PATH };
  const results: { workflowId: string; error: string | null }[] = [];
  for await (const result of Worker.runReplayHistories(source, histories)) {
    results.push({ workflowId: result.workflowId, error: result.error ? String(result.error) : null });
  }
  process.stdout.write(`${JSON.stringify({ replayed: results.length, results })}\n`);
  process.exitCode = results.some((r) => r.error) ? 1 : 0;
}

void main();
