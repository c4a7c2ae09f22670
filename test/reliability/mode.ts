import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Sizes of the reliability scenarios: `quick` (the default, inside `npm test`) or `full`
 * (`npm run test:reliability`, RUNWAY_RELIABILITY=full).
 */
export const FULL = process.env.RUNWAY_RELIABILITY === 'full';
export const size = (quick: number, full: number) => (FULL ? full : quick);

/** A scenario's figures: printed, and kept in test/artifacts/ (ignored by git) for the README. */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const line = { scenario, mode: FULL ? 'full' : 'quick', ...figures };
  process.stdout.write(`reliability ${JSON.stringify(line)}\n`);
  const dir = path.join(__dirname, '..', 'artifacts');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `reliability-${scenario}-${line.mode}.json`), `${JSON.stringify(line, null, 2)}\n`);
}
