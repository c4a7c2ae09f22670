import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A CPU profiler preloaded into the API and worker processes (`--require`): Node 20 refuses
 * `--cpu-prof` in NODE_OPTIONS, so the probe starts V8's profiler through `inspector` and writes
 * `<dir>/<pid>.cpuprofile` when the process exits (the in-thread session answers synchronously,
 * so it works inside the 'exit' handler). Open it in Chrome DevTools or speedscope.
 */
function probeSource(dir: string): string {
  return `const inspector = require('node:inspector');
const fs = require('node:fs');
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.start');
process.on('exit', () => {
  session.post('Profiler.stop', (err, result) => {
    if (!err) fs.writeFileSync(${JSON.stringify(dir)} + '/' + process.pid + '.cpuprofile', JSON.stringify(result.profile));
  });
});
`;
}

/** Writes the probe into `workDir`; returns the NODE_OPTIONS flag that preloads it. */
export function cpuProfileFlag(workDir: string, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const file = path.join(workDir, 'cpu-profile.cjs');
  writeFileSync(file, probeSource(path.resolve(outDir)));
  return `--require ${file}`;
}
