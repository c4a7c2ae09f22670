import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Resident memory of a process from /proc (Linux): total and anonymous (heap, stacks) in KB. */
export function residentKb(pid: number): { rssKb: number; anonKb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssKb: field('VmRSS'), anonKb: field('RssAnon') };
}

let ticksPerSecond: number | undefined;

/** CPU time (user + system) a process has used so far, in ms; undefined once it is gone. */
export function cpuMs(pid: number): number | undefined {
  return statCpuMs(`/proc/${pid}/stat`);
}

function statCpuMs(file: string): number | undefined {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  let stat: string;
  try {
    stat = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may contain spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

/**
 * CPU ms used so far by each thread of a process, keyed by thread id, with the thread's name
 * (Node's main thread, libuv and V8 helpers, worker threads, Temporal core's tokio threads).
 */
export function threadCpuMs(pid: number): Map<number, { name: string; ms: number }> {
  const threads = new Map<number, { name: string; ms: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return threads;
  }
  for (const tid of tids) {
    const ms = statCpuMs(`/proc/${pid}/task/${tid}/stat`);
    let name = '?';
    try {
      name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      // the thread ended between the two reads
    }
    if (ms !== undefined) threads.set(Number(tid), { name, ms });
  }
  return threads;
}

/** Busy and total CPU time of the whole machine so far (all cores), in ms, from /proc/stat. */
export function machineCpuMs(): { busyMs: number; totalMs: number } {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((s, v) => s + v, 0); // guest time is already in user
  const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
  return { busyMs: ((total - idle) * 1000) / ticksPerSecond, totalMs: (total * 1000) / ticksPerSecond };
}

/**
 * The processes using CPU right now (`top`, second sample, so %CPU is current rather than a
 * lifetime average), to say what else was running on the machine.
 */
export function busiestProcesses(limit = 8): string[] {
  try {
    const out = execFileSync('top', ['-b', '-c', '-n', '2', '-d', '0.5', '-o', '%CPU', '-w', '220'], { encoding: 'utf8' });
    const second = out.slice(out.lastIndexOf('  PID '));
    return second
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 12 && Number(f[8]) >= 1)
      .slice(0, limit)
      .map((f) => `${f[8]}% pid ${f[0]} ${f.slice(11).join(' ')}`.slice(0, 180));
  } catch {
    return [];
  }
}
