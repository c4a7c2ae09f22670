import { cpuMs, machineCpuMs } from './proc-stats';

/** The processes to account for, by component; asked again at each sample (backends come and go). */
export type ProcessMap = () => Promise<Record<string, number[]>>;

export interface CpuReport {
  wallMs: number;
  /** CPU ms used by each component during the phase. */
  byComponent: Record<string, number>;
  /** CPU ms of the whole machine (all cores): busy, and busy outside the components above. */
  machineBusyMs: number;
  otherMs: number;
  /** Busy share of the machine's capacity (all cores) during the phase, 0..1. */
  machineUtilization: number;
}

/**
 * Where the CPU went during a phase: CPU time of each component's processes (from /proc, sampled
 * every 500 ms so that short-lived database backends are seen), and of the machine as a whole,
 * which is how much the other engineers' work on the same machine took.
 */
export class CpuMeter {
  private readonly first = new Map<number, { component: string; ms: number }>();
  private readonly last = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private machineStart = machineCpuMs();
  private sampling: Promise<void> = Promise.resolve();

  constructor(private readonly processes: ProcessMap) {}

  async start(): Promise<void> {
    this.startedAt = performance.now();
    this.machineStart = machineCpuMs();
    await this.sample();
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample()).catch(() => undefined);
    }, 500);
  }

  async stop(): Promise<CpuReport> {
    if (this.timer) clearInterval(this.timer);
    await this.sampling;
    await this.sample();
    const machine = machineCpuMs();
    const byComponent: Record<string, number> = {};
    for (const [pid, { component, ms }] of this.first) {
      byComponent[component] = (byComponent[component] ?? 0) + ((this.last.get(pid) ?? ms) - ms);
    }
    for (const key of Object.keys(byComponent)) byComponent[key] = Math.round(byComponent[key] ?? 0);
    const busy = machine.busyMs - this.machineStart.busyMs;
    const total = machine.totalMs - this.machineStart.totalMs;
    const ours = Object.values(byComponent).reduce((s, v) => s + v, 0);
    return {
      wallMs: Math.round(performance.now() - this.startedAt),
      byComponent,
      machineBusyMs: Math.round(busy),
      otherMs: Math.max(0, Math.round(busy - ours)),
      machineUtilization: total > 0 ? Math.round((busy / total) * 1000) / 1000 : 0,
    };
  }

  private async sample(): Promise<void> {
    const map = await this.processes();
    for (const [component, pids] of Object.entries(map)) {
      for (const pid of pids) {
        const ms = cpuMs(pid);
        if (ms === undefined) continue;
        if (!this.first.has(pid)) this.first.set(pid, { component, ms });
        this.last.set(pid, ms);
      }
    }
  }
}
