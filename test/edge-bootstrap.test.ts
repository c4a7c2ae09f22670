import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolvePlatformSecrets } from '../src/bootstrap';
import { ConfigError, loadConfig } from '../src/config';

const ROOT = path.resolve(__dirname, '..');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'runway-secrets-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * A process that resolves the platform secrets of each folder in turn, each at a planned instant
 * (busy-waiting for it) so that all the processes reach a folder together, as processes started
 * together by `npm start` do. Prints `[adminToken, secretsKey]` per folder.
 */
const CHILD = `
const { resolvePlatformSecrets } = require(${JSON.stringify(path.join(ROOT, 'src/bootstrap.ts'))});
const { loadConfig } = require(${JSON.stringify(path.join(ROOT, 'src/config.ts'))});
const dirs = JSON.parse(process.env.DIRS);
const startAt = Number(process.env.START_AT);
const now = () => performance.timeOrigin + performance.now();
const out = [];
for (let i = 0; i < dirs.length; i++) {
  while (now() < startAt + i * 2) {}
  try {
    const s = resolvePlatformSecrets(loadConfig({ PATH: process.env.PATH, RUNWAY_DATA_DIR: dirs[i] }));
    out.push([s.adminToken, s.secretsKey.toString('base64')]);
  } catch (err) {
    out.push(['error: ' + err.message, '']);
  }
}
process.stdout.write(JSON.stringify(out));
`;

function runChild(dirs: string[], startAt: number): Promise<[string, string][]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--eval', CHILD], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DIRS: JSON.stringify(dirs), START_AT: String(startAt) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as [string, string][]) : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

describe('generated admin token and sealing key', () => {
  test('processes resolving them together all get the same complete values, written with mode 600', async () => {
    const root = mkdtempSync(path.join(scratch, 'race-'));
    const dirs = Array.from({ length: 300 }, (_, i) => path.join(root, String(i)));
    const startAt = Date.now() + 5_000; // every child is up and waiting by then
    const results = await Promise.all(Array.from({ length: 4 }, () => runChild(dirs, startAt)));
    dirs.forEach((dir, i) => {
      const seen = results.map((r) => r[i] as [string, string]);
      for (const [token, key] of seen) {
        expect(token.length).toBeGreaterThanOrEqual(32); // 24 random bytes, base64url
        expect(Buffer.from(key, 'base64')).toHaveLength(32);
      }
      expect(new Set(seen.map((s) => s.join(' '))).size).toBe(1);
      expect(readdirSync(dir).sort()).toEqual(['admin-token', 'secrets.key']); // no temporary file left
      for (const name of ['admin-token', 'secrets.key']) expect(statSync(path.join(dir, name)).mode & 0o777).toBe(0o600);
    });
  }, 60_000);

  test('an empty or damaged file is refused with a clear error instead of being used', () => {
    const dir = mkdtempSync(path.join(scratch, 'bad-'));
    writeFileSync(path.join(dir, 'admin-token'), '');
    const config = loadConfig({ PATH: process.env.PATH, RUNWAY_DATA_DIR: dir });
    expect(() => resolvePlatformSecrets(config)).toThrow(ConfigError);
    expect(() => resolvePlatformSecrets(config)).toThrow(/admin-token does not hold a valid value/);
  });
});
