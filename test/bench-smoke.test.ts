import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The benchmarks' smoke mode, as CI runs it: `npm run bench -- --smoke` in a child process (its
 * own Temporal server, database, API and workers), which must exit 0 and write its JSON. The
 * figures of a smoke run mean nothing; the full benches are run by hand (README, Performance).
 */
const ROOT = path.resolve(__dirname, '..');
const BENCHES = ['memory', 'replay', 'events', 'start', 'throughput', 'agent', 'webhooks', 'stop'];
const TIMEOUT_MS = 150_000;

interface Outcome {
  code: number | null;
  output: string;
}

function runSmoke(outDir: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let output = '';
    // Its own process group, so that a hung run can be stopped together with what it started.
    const child = spawn('npm', ['run', '--silent', 'bench', '--', '--smoke', '--out', outDir], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
      output += `\n[test] smoke run killed after ${TIMEOUT_MS} ms\n`;
    }, TIMEOUT_MS - 10_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const readJson = (file: string): Record<string, unknown> => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

describe('benchmarks, smoke mode', () => {
  const outDir = mkdtempSync(path.join(os.tmpdir(), 'runway-bench-smoke-'));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it(
    'runs every bench against its own stack, exits 0 and writes its results',
    async () => {
      const { code, output } = await runSmoke(outDir);
      if (code !== 0) throw new Error(`npm run bench -- --smoke exited ${code}:\n${output.slice(-6000)}`);

      const summary = readJson(path.join(outDir, 'summary.json'));
      expect(summary).toMatchObject({ smoke: true, benches: BENCHES, failures: [] });
      expect(summary.environment).toMatchObject({
        before: { loadAverage: { '1m': expect.any(Number) } },
        after: { loadAverage: { '1m': expect.any(Number) } },
      });
      expect(summary.results).toHaveLength(BENCHES.length);

      for (const name of BENCHES) {
        const result = readJson(path.join(outDir, `${name}.json`));
        expect(result).toMatchObject({ bench: name, smoke: true, durationMs: expect.any(Number) });
        const targets = result.targets as unknown[];
        expect(targets.length).toBeGreaterThan(0);
        for (const target of targets) {
          expect(target).toEqual({ name: expect.any(String), target: expect.any(String), measured: expect.any(String), met: expect.any(Boolean) });
        }
        const figures = Object.keys(result.latency as object).length + Object.keys(result.values as object).length;
        expect(figures).toBeGreaterThan(0);
      }
      const svg = path.join(outDir, 'latency.svg');
      expect(existsSync(svg)).toBe(true);
      expect(readFileSync(svg, 'utf8')).toMatch(/^<svg /);
    },
    TIMEOUT_MS,
  );
});
