import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTemporalCli } from '../../src/temporal/cli';
import { connectClient, waitForNamespace } from '../../src/temporal/connection';
import { freePort, waitForPort } from '../../src/temporal/dev-server';
import { runPool, timed } from '../lib/concurrency';
import { cpuMs } from '../lib/proc-stats';
import { summarize } from '../lib/stats';
import { formatTable } from '../lib/table';

/**
 * Experiment behind the start/throughput findings: how fast the Temporal dev server accepts
 * workflow starts (32 concurrent clients) depending on its SQLite settings. The dev server
 * starts with `--db-filename` and SQLite's default rollback journal; WAL is one flag away.
 * Run: `npx tsx bench/experiments/temporal-sqlite.ts [starts]`.
 */
const VARIANTS: [string, string[]][] = [
  ['file (as src/temporal/dev-server.ts starts it)', ['--db-filename', '{dir}/t.sqlite']],
  ['file + journal_mode=wal', ['--db-filename', '{dir}/t.sqlite', '--sqlite-pragma', 'journal_mode=wal']],
  ['file + wal + synchronous=normal', ['--db-filename', '{dir}/t.sqlite', '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal']],
  ['in-memory (no --db-filename)', []],
];

async function trial(cli: string, args: string[], starts: number): Promise<string[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runway-sqlite-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  try {
    const extra = args.map((a) => a.replace('{dir}', dir));
    child = spawn(cli, ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--namespace', 'runway', '--headless', '--log-level', 'warn', ...extra], { stdio: 'ignore' });
    await waitForPort('127.0.0.1', port, 60_000);
    await waitForNamespace(`127.0.0.1:${port}`, 'runway');
    const client = await connectClient(`127.0.0.1:${port}`, 'runway');
    try {
      let n = 0;
      const load = async (count: number, clients = 32) => {
        const latencies: number[] = [];
        await runPool(count, clients, async () => {
          // No worker polls this queue: the start alone is measured.
          const { ms } = await timed(() => client.workflow.start('none', { taskQueue: 'nobody', workflowId: `w-${n++}` }));
          latencies.push(ms);
        });
        return latencies;
      };
      await load(100);
      const pid = child.pid ?? 0;
      const cpuBefore = cpuMs(pid) ?? 0;
      const began = performance.now();
      const s = summarize(await load(starts));
      const wallMs = performance.now() - began;
      const serverCpu = ((cpuMs(pid) ?? 0) - cpuBefore) / starts;
      const one = summarize(await load(50, 1));
      return [String(Math.round((starts / wallMs) * 1000)), s.p50.toFixed(1), s.p99.toFixed(1), one.p50.toFixed(1), serverCpu.toFixed(2)];
    } finally {
      await client.connection.close();
    }
  } finally {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const starts = Number(process.argv[2] ?? 1000);
  const cli = await ensureTemporalCli();
  const rows: string[][] = [];
  for (const [label, args] of VARIANTS) rows.push([label, ...(await trial(cli, args, starts))]);
  process.stdout.write(`${formatTable(['dev server', 'starts/s (32 clients)', 'p50 ms', 'p99 ms', 'p50 ms, 1 client', 'server CPU ms/start'], rows)}\n`);
  process.stdout.write(`load average now: ${os.loadavg().map((v) => v.toFixed(2)).join(', ')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
